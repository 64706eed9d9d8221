package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/web/client"
)

type deleteOptions struct {
	namespace     string
	gracePeriod   int64
	force         bool
	cascade       string
	labelSelector string
	dryRun        string
}

func newDeleteCmd() *cobra.Command {
	var o deleteOptions
	cmd := &cobra.Command{
		Use:   "delete KIND NAME... | KIND/NAME... | KIND -l SELECTOR",
		Short: "Delete objects",
		Long: `Delete objects by kind and name (deployment web, or deployment/web), or every
object of a kind that matches -l.

--cascade says what becomes of what the object owns (a Deployment's
ReplicaSets and their pods, a Job's pods):
  background  delete the object now; its dependents are deleted after it (default)
  foreground  delete the dependents first; the object shows a deletionTimestamp until they are gone
  orphan      delete the object only; its dependents stay, without an owner

A pod running on a node is stopped by its agent within its grace period
(spec.terminationGracePeriodSeconds, or --grace-period) and shows as
Terminating until the agent confirms. --force (or --grace-period=0) removes
it from the control plane at once, without waiting for the node.

--dry-run=server asks the server to check each delete as a real one (the
object exists, your token may delete it) and deletes nothing;
--dry-run=client only reads the objects and prints what would be deleted.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeKindAndNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDelete(cmd, args, o)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	f := cmd.Flags()
	f.Int64Var(&o.gracePeriod, "grace-period", -1, "seconds a pod gets to stop (-1: the pod's own terminationGracePeriodSeconds)")
	f.BoolVar(&o.force, "force", false, "remove pods at once, without waiting for their node to stop them")
	f.StringVar(&o.cascade, "cascade", "background", "what becomes of the dependents: background, foreground or orphan")
	f.StringVarP(&o.labelSelector, "selector", "l", "", "delete every object of the kind whose labels match, like app=web")
	addDryRunFlag(cmd, &o.dryRun)
	_ = cmd.RegisterFlagCompletionFunc("cascade", cobra.FixedCompletions([]string{"background", "foreground", "orphan"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces)
	return cmd
}

// propagationPolicy maps --cascade to the API's propagationPolicy
// (kubectl's true and false still mean background and orphan).
func propagationPolicy(cascade string) (string, error) {
	switch strings.ToLower(cascade) {
	case "background", "true":
		return "Background", nil
	case "foreground":
		return "Foreground", nil
	case "orphan", "false":
		return "Orphan", nil
	}
	return "", fmt.Errorf("--cascade %q is not one of background, foreground, orphan", cascade)
}

func runDelete(cmd *cobra.Command, args []string, o deleteOptions) error {
	info, refs, err := parseObjectArgs(args, allKinds()...)
	if err != nil {
		return err
	}
	switch {
	case len(refs) == 0 && o.labelSelector == "":
		return fmt.Errorf("name the %s to delete (skiff delete %s NAME), or select them with -l", info.Resource, info.Singular)
	case len(refs) > 0 && o.labelSelector != "":
		return errors.New("names and a label selector (-l) cannot be combined: drop one")
	}
	if o.gracePeriod < -1 {
		return errors.New("--grace-period must be -1 (the pod's own) or more")
	}
	policy, err := propagationPolicy(o.cascade)
	if err != nil {
		return err
	}
	mode, err := parseDryRun(o.dryRun)
	if err != nil {
		return err
	}
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	opts := client.DeleteOptions{PropagationPolicy: policy, DryRun: mode == dryRunServer}
	switch {
	case o.force:
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	case o.gracePeriod >= 0:
		opts.GracePeriodSeconds = &o.gracePeriod
	}
	ns := namespaceOrDefault(o.namespace)
	if o.labelSelector != "" {
		listNS := ns
		if !info.Namespaced {
			listNS = ""
		}
		objs, _, err := listAll(cmd.Context(), c, info, listNS, client.ListOptions{LabelSelector: o.labelSelector})
		if err != nil {
			return selectorFlagError(err)
		}
		if len(objs) == 0 {
			fmt.Fprintln(cmd.ErrOrStderr(), "No resources found")
			return nil
		}
		for _, obj := range objs {
			refs = append(refs, objectRef{info: info, name: obj.GetObjectMeta().Name})
		}
	}
	var errs []error
	for _, r := range refs {
		del := func() error {
			_, err := c.DeleteObject(cmd.Context(), r.info, ns, r.name, opts)
			return err
		}
		if mode == dryRunClient {
			del = func() error {
				_, err := c.GetObject(cmd.Context(), r.info, ns, r.name)
				return err
			}
		}
		if err := del(); err != nil {
			if isConnectionError(err) {
				return err // every other name would fail the same way
			}
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %q deleted%s\n", qualifiedKind(r.info), r.name, mode.suffix())
	}
	return errors.Join(errs...)
}
