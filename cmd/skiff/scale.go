package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/controllers"
	"github.com/skiff-sh/skiff/web/client"
)

type scaleOptions struct {
	namespace       string
	replicas        int32
	currentReplicas int32
}

// scalableKinds are the kinds with spec.replicas.
func scalableKinds() []string { return []string{"Deployment", "ReplicaSet"} }

func newScaleCmd() *cobra.Command {
	var o scaleOptions
	cmd := &cobra.Command{
		Use:   "scale (deployment|replicaset)/NAME... --replicas N",
		Short: "Set the number of replicas of a Deployment or ReplicaSet",
		Long: `Set spec.replicas of Deployments or ReplicaSets (deployment/web, or
deployment web).

The object's scale subresource is read and written back with its
resourceVersion, so a change made meanwhile by someone else is never
overwritten: the write is tried again on the new version. --current-replicas makes the change only if the
object has that many replicas now.

  skiff scale deployment/web --replicas 5
  skiff scale deploy web api --replicas 0 -n shop`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return completeObjects(cmd, args, toComplete, scalableKinds()...)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScale(cmd, args, o)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	cmd.Flags().Int32Var(&o.replicas, "replicas", -1, "the number of replicas to run (required)")
	cmd.Flags().Int32Var(&o.currentReplicas, "current-replicas", -1, "scale only if the object has this many replicas now (-1: whatever it has)")
	_ = cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces)
	return cmd
}

func runScale(cmd *cobra.Command, args []string, o scaleOptions) error {
	if !cmd.Flags().Changed("replicas") {
		return errors.New("--replicas is required: say how many replicas to run, like --replicas 3")
	}
	if o.replicas < 0 {
		return fmt.Errorf("--replicas %d must be 0 or more", o.replicas)
	}
	_, refs, err := parseObjectArgs(args, scalableKinds()...)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		return fmt.Errorf("name what to scale, like %s/NAME", args[0])
	}
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	ns := namespaceOrDefault(o.namespace)
	var errs []error
	for _, r := range refs {
		if err := scaleTo(cmd.Context(), c, r.info, ns, r.name, o); err != nil {
			if isConnectionError(err) {
				return err
			}
			errs = append(errs, err)
			continue
		}
		if r.info.Kind == "ReplicaSet" {
			// A Scale does not say who owns the object: read it.
			if obj, err := c.GetObject(cmd.Context(), r.info, ns, r.name); err == nil {
				if owner := controllers.ControllerOf(obj); owner != nil && owner.Kind == "Deployment" {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s %q belongs to deployment %q, which sets its replicas back; scale the deployment instead\n",
						qualifiedKind(r.info), r.name, owner.Name)
				}
			}
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s/%s scaled\n", qualifiedKind(r.info), r.name)
	}
	return errors.Join(errs...)
}

// scaleTo sets spec.replicas through the object's scale subresource. The
// Scale is written back with the resourceVersion it was read at, so that
// --current-replicas holds for what is written; when someone else wrote
// meanwhile (409) it is read and checked again, up to updateAttempts times.
func scaleTo(ctx context.Context, c *client.Client, info api.KindInfo, ns, name string, o scaleOptions) error {
	for attempt := 1; ; attempt++ {
		sc, err := c.GetScale(ctx, info, ns, name)
		if err != nil {
			return err
		}
		if o.currentReplicas >= 0 && sc.Spec.Replicas != o.currentReplicas {
			return fmt.Errorf("%s %q has %d replicas, not --current-replicas %d: nothing changed",
				qualifiedKind(info), name, sc.Spec.Replicas, o.currentReplicas)
		}
		if sc.Spec.Replicas == o.replicas {
			return nil
		}
		sc.Spec.Replicas = o.replicas
		_, err = c.UpdateScale(ctx, info, ns, name, sc)
		if err == nil || !client.IsConflict(err) || attempt == updateAttempts {
			return err
		}
	}
}

// modifyObject reads an object, lets change modify it, and writes it back
// with the version it read; when someone else wrote meanwhile (409) it
// reads and changes it again, up to updateAttempts times. change returns
// false when there is nothing to write. It returns the object as stored
// and whether it was written.
func modifyObject(ctx context.Context, c *client.Client, info api.KindInfo, ns, name string, change func(api.Object) (bool, error)) (api.Object, bool, error) {
	for attempt := 1; ; attempt++ {
		obj, err := c.GetObject(ctx, info, ns, name)
		if err != nil {
			return nil, false, err
		}
		changed, err := change(obj)
		if err != nil || !changed {
			return obj, false, err
		}
		stored, err := c.UpdateObject(ctx, obj)
		if err == nil {
			return stored, true, nil
		}
		if !client.IsConflict(err) || attempt == updateAttempts {
			return nil, false, err
		}
	}
}
