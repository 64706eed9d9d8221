package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/api"
)

func newCompletionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a script that completes skiff's commands, flags, kinds and object
names (read from the API as you type) in your shell.

  bash:        source <(skiff completion bash)
               or: skiff completion bash > /etc/bash_completion.d/skiff
               (needs the bash-completion package)
  zsh:         skiff completion zsh > "${fpath[1]}/_skiff"
               (with "autoload -U compinit; compinit" in ~/.zshrc)
  fish:        skiff completion fish > ~/.config/fish/completions/skiff.fish
  powershell:  skiff completion powershell | Out-String | Invoke-Expression`,
		Args:                  cobra.ExactArgs(1),
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return fmt.Errorf("no completion for shell %q: use bash, zsh, fish or powershell", args[0])
		},
	}
}

// completionTimeout bounds the API requests made while completing, so a
// missing server never hangs the shell.
const completionTimeout = 2 * time.Second

// completeKindAndNames completes the first argument with kinds and the
// next ones with the names of that kind's objects.
func completeKindAndNames(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return completeObjects(cmd, args, toComplete, allKinds()...)
}

// completeObjects completes "KIND NAME..." among the supported kinds; a
// word with a slash completes as KIND/NAME.
func completeObjects(cmd *cobra.Command, args []string, toComplete string, supported ...string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) == 0 {
		if kind, prefix, ok := strings.Cut(toComplete, "/"); ok {
			info, err := lookupKind(kind, supported...)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, n := range objectNames(cmd, info) {
				if strings.HasPrefix(n, prefix) {
					out = append(out, kind+"/"+n)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, s := range supported {
			if info, ok := api.LookupKind(s); ok {
				out = append(out, info.Resource)
				out = append(out, info.ShortNames...)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	if strings.Contains(args[0], "/") {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	info, err := lookupKind(args[0], supported...)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return objectNames(cmd, info), cobra.ShellCompDirectiveNoFileComp
}

// objectNames lists the names of a kind's objects in the namespace of
// the command's -n flag; nothing when the API cannot be reached in time.
func objectNames(cmd *cobra.Command, info api.KindInfo) []string {
	c, err := apiClient(cmd)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(contextOf(cmd), completionTimeout)
	defer cancel()
	ns := ""
	if info.Namespaced {
		ns = api.DefaultNamespace
		if f := cmd.Flags().Lookup("namespace"); f != nil && f.Value.String() != "" {
			ns = f.Value.String()
		}
	}
	l, err := c.ListObjects(ctx, info, ns)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(l.Items))
	for _, o := range l.Items {
		names = append(names, o.GetObjectMeta().Name)
	}
	return names
}

// completeNamespaces completes -n with the namespaces the API holds.
func completeNamespaces(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	info, _ := api.LookupKind("Namespace")
	return objectNames(cmd, info), cobra.ShellCompDirectiveNoFileComp
}

// contextOf is the command's context, or a background one when the
// command runs without (completion called directly).
func contextOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
