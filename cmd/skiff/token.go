package main

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/web/client"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens (needs an admin token)",
		Long: `API tokens are bearer tokens with a role and a namespace scope:

  admin  everything (nodes, namespaces, quotas, tokens); with --namespace,
         everything in that namespace
  edit   read, and create, update, patch and delete namespaced objects
         (not ResourceQuotas); upload Wasm artifacts
  view   get, list, watch and read pod logs (not Secrets)

'skiff up' and 'skiff server' make an admin token on first start and write it
into the client config. The server keeps only a SHA-256 of each token: a new
token is printed once. Use it with $SKIFF_TOKEN or in the client config's token.`,
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd(), newTokenWhoAmICmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var req api.TokenRequest
	var role string
	var ttl time.Duration
	var join bool
	var labels []string
	cmd := &cobra.Command{
		Use:   "create --role admin|edit|view [--namespace NS] [--name NAME] [--ttl DURATION] | --join [--ttl 24h] [--label k=v]",
		Short: "Make a token and print it (shown only this once)",
		Example: `  skiff token create --role view --namespace team-a
  skiff token create --role edit --namespace team-a --name ci --ttl 720h
  skiff token create --join --ttl 24h --label site=north   # for: skiff agent --server nats://… --token …`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if join {
				return createJoinToken(cmd, req.Name, ttl, cmd.Flags().Changed("ttl"), labels, role, req.Namespace)
			}
			if len(labels) > 0 {
				return fmt.Errorf("--label is for join tokens: add --join")
			}
			if role == "" {
				return fmt.Errorf("--role is required: one of %s, %s, %s", api.RoleAdmin, api.RoleEdit, api.RoleView)
			}
			req.Role = api.Role(role)
			if ttl < 0 {
				return fmt.Errorf("--ttl %s must be positive (or 0 for no expiry)", ttl)
			}
			if ttl > 0 {
				secs := int64(math.Ceil(ttl.Seconds()))
				req.ExpirationSeconds = &secs
			}
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			tok, err := c.CreateToken(cmd.Context(), req)
			if err != nil {
				return tokenCommandError(err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok.Token)
			fmt.Fprintf(cmd.ErrOrStderr(), "token %q (%s, %s%s) created; it is shown only once\n",
				tok.Name, tok.Role, scopeOf(tok.Namespace), expiryOf(tok))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&role, "role", "", "admin, edit or view (required)")
	f.StringVarP(&req.Namespace, "namespace", "n", "", "limit the token to this namespace (default: all namespaces)")
	f.StringVar(&req.Name, "name", "", "the token's name (default: generated, token-xxxxx)")
	f.DurationVar(&ttl, "ttl", 0, "how long the token is valid, like 24h (default: no expiry; 24h for --join, where 0 is no expiry)")
	f.BoolVar(&join, "join", false, "make a join token, with which devices join as nodes (skiff agent --token)")
	f.StringSliceVar(&labels, "label", nil, "with --join: a label key=value every node that joins with the token gets (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("role", cobra.FixedCompletions([]string{string(api.RoleAdmin), string(api.RoleEdit), string(api.RoleView)}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func newTokenListCmd() *cobra.Command {
	var join bool
	cmd := &cobra.Command{
		Use:   "list [--join]",
		Short: "List tokens (without their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			if join {
				return listJoinTokens(cmd, c)
			}
			toks, err := c.ListTokens(cmd.Context())
			if err != nil {
				return tokenCommandError(err)
			}
			now := time.Now()
			w := newTable(cmd.OutOrStdout())
			fmt.Fprintln(w, "NAME\tROLE\tNAMESPACE\tAGE\tEXPIRES")
			for _, t := range toks {
				ns := t.Namespace
				if ns == "" {
					ns = "*"
				}
				expires := "never"
				switch {
				case t.Expired(now):
					expires = "expired"
				case t.ExpirationTimestamp != nil:
					expires = "in " + age(now, *t.ExpirationTimestamp)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, ns, age(t.CreationTimestamp, now), expires)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&join, "join", false, "list join tokens instead of API tokens")
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME...",
		Short: "Revoke tokens: they stop working at once",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			for _, name := range args {
				_, err := c.RevokeToken(cmd.Context(), name)
				if errors.Is(err, client.ErrNotFound) {
					// Not an API token: maybe a join token.
					if _, jerr := c.RevokeJoinToken(cmd.Context(), name); jerr == nil {
						fmt.Fprintf(cmd.OutOrStdout(), "join token %q revoked\n", name)
						continue
					}
				}
				if err != nil {
					return tokenCommandError(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "token %q revoked\n", name)
			}
			return nil
		},
	}
}

func newTokenWhoAmICmd() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the token this client uses: its name, role and namespace",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			tok, err := c.WhoAmI(cmd.Context())
			if err != nil {
				return tokenCommandError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %q (%s, %s%s)\n", tok.Name, tok.Role, scopeOf(tok.Namespace), expiryOf(tok))
			return nil
		},
	}
}

// tokenCommandError adds what to do to a refusal.
// createJoinToken makes a join token and prints it with how to use it.
func createJoinToken(cmd *cobra.Command, name string, ttl time.Duration, ttlSet bool, labels []string, role, namespace string) error {
	if role != "" || namespace != "" {
		return fmt.Errorf("--join makes a join token for devices: it has no --role or --namespace")
	}
	req := api.JoinTokenRequest{Name: name}
	if ttl < 0 {
		return fmt.Errorf("--ttl %s must be positive (or 0 for no expiry)", ttl)
	}
	if ttlSet {
		secs := int64(math.Ceil(ttl.Seconds()))
		req.ExpirationSeconds = &secs
	}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return fmt.Errorf("--label %q: want key=value", l)
		}
		if req.Labels == nil {
			req.Labels = map[string]string{}
		}
		req.Labels[k] = v
	}
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	info, err := c.CreateJoinToken(cmd.Context(), req)
	if err != nil {
		return tokenCommandError(err)
	}
	fmt.Fprintln(cmd.OutOrStdout(), info.Token)
	exp := "no expiry"
	if info.ExpirationTimestamp != nil {
		exp = "expires " + info.ExpirationTimestamp.Local().Format(time.RFC3339)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "join token %q (%s) created; it is shown only once. On a device:\n  skiff agent --server <the NATS URL of the control plane> --node-name NAME --token %s\n", info.Name, exp, info.Token)
	return nil
}

func listJoinTokens(cmd *cobra.Command, c *client.Client) error {
	toks, err := c.ListJoinTokens(cmd.Context())
	if err != nil {
		return tokenCommandError(err)
	}
	now := time.Now()
	w := newTable(cmd.OutOrStdout())
	fmt.Fprintln(w, "NAME\tAGE\tEXPIRES\tLABELS")
	for _, t := range toks {
		expires := "never"
		switch {
		case t.Revoked:
			expires = "revoked"
		case t.ExpirationTimestamp != nil && !now.Before(*t.ExpirationTimestamp):
			expires = "expired"
		case t.ExpirationTimestamp != nil:
			expires = "in " + age(now, *t.ExpirationTimestamp)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Name, age(t.CreationTimestamp, now), expires, formatLabels(t.Labels))
	}
	return w.Flush()
}

func tokenCommandError(err error) error {
	switch {
	case client.IsUnauthorized(err):
		return fmt.Errorf("%w (set $%s, or the token in %s)", err, client.EnvToken, client.DefaultConfigPath())
	case client.IsForbidden(err):
		return fmt.Errorf("%w (managing tokens takes an admin token of all namespaces)", err)
	}
	return err
}

func scopeOf(ns string) string {
	if ns == "" {
		return "all namespaces"
	}
	return "namespace " + ns
}

func expiryOf(t api.Token) string {
	if t.ExpirationTimestamp == nil {
		return ""
	}
	return ", expires " + t.ExpirationTimestamp.UTC().Format(time.RFC3339)
}
