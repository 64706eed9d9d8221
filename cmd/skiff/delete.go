package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/web/client"
)

type deleteOptions struct {
	namespace   string
	gracePeriod int64
	force       bool
}

func newDeleteCmd() *cobra.Command {
	var o deleteOptions
	cmd := &cobra.Command{
		Use:   "delete (pod|po) NAME...",
		Short: "Delete pods",
		Long: `Delete pods. A pod running on a node is stopped by its agent within its grace
period (spec.terminationGracePeriodSeconds, or --grace-period) and shows as
Terminating until the agent confirms. --force (or --grace-period=0) removes
it from the control plane at once, without waiting for the node.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDelete(cmd, args, o)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	cmd.Flags().Int64Var(&o.gracePeriod, "grace-period", -1, "seconds the pod gets to stop (-1: the pod's own terminationGracePeriodSeconds)")
	cmd.Flags().BoolVar(&o.force, "force", false, "remove the pod at once, without waiting for its node to stop it")
	return cmd
}

func runDelete(cmd *cobra.Command, args []string, o deleteOptions) error {
	info, err := lookupKind(args[0], "Pod")
	if err != nil {
		return err
	}
	if o.gracePeriod < -1 {
		return errors.New("--grace-period must be -1 (the pod's own) or more")
	}
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	var opts client.DeleteOptions
	switch {
	case o.force:
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	case o.gracePeriod >= 0:
		opts.GracePeriodSeconds = &o.gracePeriod
	}
	ns := namespaceOrDefault(o.namespace)
	var errs []error
	for _, name := range args[1:] {
		if _, err := c.DeleteObject(cmd.Context(), info, ns, name, opts); err != nil {
			var ce *client.ConnectionError
			if errors.As(err, &ce) {
				return err // every other name would fail the same way
			}
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %q deleted\n", info.Singular, name)
	}
	return errors.Join(errs...)
}
