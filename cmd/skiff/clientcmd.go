package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/web/client"
)

// This file holds what the client commands (apply, get, logs, delete)
// share: the --server flag, the API client, namespaces, kinds, tables.

const serverFlag = "server"

// addClientFlags adds the flags every client command reads to the root, as
// persistent flags.
func addClientFlags(root *cobra.Command) {
	root.PersistentFlags().String(serverFlag, "",
		fmt.Sprintf("URL of the Skiff API (default: $%s, the server in the client config file, or %s)", client.EnvServer, client.DefaultServer))
}

// apiClient returns a client of the API the flags, environment and config
// file point to.
func apiClient(cmd *cobra.Command) (*client.Client, error) {
	server, token, ca, err := clientSettings(cmd)
	if err != nil {
		return nil, err
	}
	return client.New(server, client.WithUserAgent("skiff/"+version), client.WithToken(token), client.WithCA(ca)), nil
}

// addNamespaceFlag adds -n/--namespace.
func addNamespaceFlag(cmd *cobra.Command, ns *string) {
	cmd.Flags().StringVarP(ns, "namespace", "n", "", "namespace (default \"default\")")
}

func namespaceOrDefault(ns string) string {
	if ns == "" {
		return api.DefaultNamespace
	}
	return ns
}

// lookupKind resolves a kind argument ("pods", "po", "Pod") among the kinds
// a command supports, or says which ones it does in one line.
func lookupKind(arg string, supported ...string) (api.KindInfo, error) {
	info, ok := api.LookupKind(arg)
	if ok {
		for _, s := range supported {
			if s == info.Kind {
				return info, nil
			}
		}
	}
	var names []string
	for _, s := range supported {
		k, _ := api.LookupKind(s)
		n := k.Resource
		if len(k.ShortNames) > 0 {
			n += " (" + strings.Join(k.ShortNames, ", ") + ")"
		}
		names = append(names, n)
	}
	return api.KindInfo{}, fmt.Errorf("unknown resource type %q: use one of %s", arg, strings.Join(names, ", "))
}

// newTable writes aligned columns as kubectl does.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
}

// age formats how long ago t was, as kubectl's AGE column: 5s, 3m, 2h, 4d.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d < 2*365*24*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return fmt.Sprintf("%dy", int(d.Hours()/24/365))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// dryRunMode is --dry-run: none (write), client (check locally, write
// nothing, send nothing that writes) or server (the server checks the
// write as a real one: dryRun=All).
type dryRunMode string

const (
	dryRunNone   dryRunMode = "none"
	dryRunClient dryRunMode = "client"
	dryRunServer dryRunMode = "server"
	// dryRunUnset is what a bare --dry-run parses to, refused as kubectl
	// refuses it.
	dryRunUnset dryRunMode = "unchanged"
)

// addDryRunFlag adds kubectl's --dry-run=none|client|server.
func addDryRunFlag(cmd *cobra.Command, mode *string) {
	cmd.Flags().StringVar(mode, "dry-run", string(dryRunNone), `"none", "client" or "server": with client, only print what would be sent; with server, the server checks everything a real request passes (validation, namespace, quota, rights) and nothing is stored`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = string(dryRunUnset)
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{"none", "client", "server"}, cobra.ShellCompDirectiveNoFileComp))
}

func parseDryRun(v string) (dryRunMode, error) {
	switch m := dryRunMode(strings.ToLower(v)); m {
	case dryRunNone, dryRunClient, dryRunServer:
		return m, nil
	case dryRunUnset:
		return "", errors.New("--dry-run needs a value: --dry-run=none, --dry-run=client or --dry-run=server")
	}
	return "", fmt.Errorf("--dry-run %q is not one of none, client, server", v)
}

// suffix is what kubectl appends to a line about a dry run.
func (m dryRunMode) suffix() string {
	switch m {
	case dryRunClient:
		return " (dry run)"
	case dryRunServer:
		return " (server dry run)"
	}
	return ""
}

// writeOptions are the client's options for a write in this mode.
func (m dryRunMode) writeOptions() []client.WriteOption {
	if m == dryRunServer {
		return []client.WriteOption{client.DryRun()}
	}
	return nil
}
