package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/controllers"
	"github.com/skiff-sh/skiff/web/client"
)

func newRolloutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout status|history|undo|pause|resume deployment/NAME",
		Short: "Follow, list, undo, pause or resume a Deployment's rollout",
		Long: `Manage the rollout of a Deployment (deployment/web, or deployment web).

  skiff rollout status deployment/web        follow the rollout until it ends
  skiff rollout history deployment/web       its revisions (one per ReplicaSet)
  skiff rollout undo deployment/web          back to the previous revision
  skiff rollout undo deploy/web --to-revision 2
  skiff rollout pause deployment/web         stop rolling out template changes
  skiff rollout resume deployment/web`,
	}
	cmd.AddCommand(newRolloutStatusCmd(), newRolloutHistoryCmd(), newRolloutUndoCmd(),
		newRolloutPauseCmd(true), newRolloutPauseCmd(false))
	cmd.RunE = needSubcommand
	return cmd
}

// rolloutKinds are the kinds rollout works on; status also follows
// DaemonSets.
func rolloutKinds() []string { return []string{"Deployment"} }

func rolloutStatusKinds() []string { return []string{"Deployment", "DaemonSet"} }

func completeRollout(kinds func() []string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return completeObjects(cmd, args, toComplete, kinds()...)
	}
}

// oneObject reads the one object a rollout command names.
func oneObject(args []string, kinds ...string) (objectRef, error) {
	_, refs, err := parseObjectArgs(args, kinds...)
	if err != nil {
		return objectRef{}, err
	}
	if len(refs) != 1 {
		return objectRef{}, fmt.Errorf("name one object, like deployment/web")
	}
	return refs[0], nil
}

type rolloutStatusOptions struct {
	namespace string
	watch     bool
	timeout   time.Duration
}

func newRolloutStatusCmd() *cobra.Command {
	var o rolloutStatusOptions
	cmd := &cobra.Command{
		Use:   "status (deployment|daemonset)/NAME",
		Short: "Follow a rollout until it ends",
		Long: `Print a line each time a rollout makes progress, until it ends:

  Waiting for deployment "web" rollout to finish: 2 of 4 updated replicas are available...
  deployment "web" successfully rolled out

It exits 0 once the rollout is done, and 1 when the Deployment exceeds its
progress deadline (spec.progressDeadlineSeconds), is paused mid-rollout, is
deleted, or --timeout passes.`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeRollout(rolloutStatusKinds),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRolloutStatus(cmd, args, o)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", true, "follow the rollout until it ends (false: print its state once)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "give up after this long, like 5m (0: wait for as long as it takes)")
	return cmd
}

func runRolloutStatus(cmd *cobra.Command, args []string, o rolloutStatusOptions) error {
	ref, err := oneObject(args, rolloutStatusKinds()...)
	if err != nil {
		return err
	}
	if o.timeout < 0 {
		return errors.New("--timeout must be 0 (no limit) or more")
	}
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	ns := namespaceOrDefault(o.namespace)
	out := cmd.OutOrStdout()
	last := ""
	// show prints a status line unless it repeats the last one; it
	// reports whether the rollout ended.
	show := func(obj api.Object) (bool, error) {
		msg, done, err := rolloutStatus(obj)
		if err != nil {
			return true, err
		}
		if msg != last {
			fmt.Fprintln(out, msg)
			last = msg
		}
		return done, nil
	}
	obj, err := c.GetObject(ctx, ref.info, ns, ref.name)
	if err != nil {
		return err
	}
	if done, err := show(obj); done || err != nil || !o.watch {
		return err
	}
	events, err := c.Watch(ctx, ref.info, ns, client.WatchOptions{
		FieldSelector: "metadata.name=" + ref.name, ResourceVersion: obj.GetObjectMeta().ResourceVersion,
	})
	if err != nil {
		return rolloutWaitError(ctx, ref, o.timeout, err)
	}
	for ev := range events {
		switch ev.Type {
		case api.WatchBookmark:
			continue
		case api.WatchError:
			return ev.Err
		case api.WatchDeleted:
			return fmt.Errorf("%s %q was deleted during its rollout", ref.info.Singular, ref.name)
		}
		if done, err := show(ev.Object); done || err != nil {
			return err
		}
	}
	return rolloutWaitError(ctx, ref, o.timeout, ctx.Err())
}

func rolloutWaitError(ctx context.Context, ref objectRef, timeout time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %s waiting for the rollout of %s %q; see skiff describe %s %s", timeout, ref.info.Singular, ref.name, ref.info.Singular, ref.name)
	}
	return err
}

// rolloutStatus says where a rollout stands, as kubectl rollout status
// does: a line, whether the rollout is done, and an error when it cannot
// finish.
func rolloutStatus(obj api.Object) (string, bool, error) {
	switch o := obj.(type) {
	case *api.Deployment:
		return deploymentRolloutStatus(o)
	case *api.DaemonSet:
		return daemonSetRolloutStatus(o)
	}
	return "", false, fmt.Errorf("%s has no rollout status", api.KindOf(obj).Resource)
}

func deploymentRolloutStatus(d *api.Deployment) (string, bool, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...", false, nil
	}
	st := d.Status
	if c := api.FindCondition(st.Conditions, api.DeploymentProgressing); c != nil && c.Reason == "ProgressDeadlineExceeded" {
		return "", true, fmt.Errorf("deployment %q exceeded its progress deadline (%s); see skiff describe deployment %s", d.Name, strings.TrimSuffix(c.Message, "."), d.Name)
	}
	want := replicasOf(d.Spec.Replicas)
	var msg string
	switch {
	case st.UpdatedReplicas < want:
		msg = fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", d.Name, st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		msg = fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", d.Name, st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		msg = fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", d.Name, st.AvailableReplicas, st.UpdatedReplicas)
	default:
		return fmt.Sprintf("deployment %q successfully rolled out", d.Name), true, nil
	}
	if d.Spec.Paused {
		return msg, true, fmt.Errorf("deployment %q is paused mid-rollout; resume it with: skiff rollout resume deployment/%s", d.Name, d.Name)
	}
	return msg, false, nil
}

func daemonSetRolloutStatus(ds *api.DaemonSet) (string, bool, error) {
	if t := ds.Spec.UpdateStrategy.Type; t != "" && t != api.RollingUpdateDaemonSetStrategyType {
		return "", true, fmt.Errorf("daemon set %q uses the %s update strategy: rollout status follows RollingUpdate only", ds.Name, t)
	}
	if ds.Generation > ds.Status.ObservedGeneration {
		return "Waiting for daemon set spec update to be observed...", false, nil
	}
	st := ds.Status
	switch {
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...", ds.Name, st.UpdatedNumberScheduled, st.DesiredNumberScheduled), false, nil
	case st.NumberAvailable < st.DesiredNumberScheduled:
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...", ds.Name, st.NumberAvailable, st.DesiredNumberScheduled), false, nil
	}
	return fmt.Sprintf("daemon set %q successfully rolled out", ds.Name), true, nil
}

type rolloutHistoryOptions struct {
	namespace string
	revision  int64
}

func newRolloutHistoryCmd() *cobra.Command {
	var o rolloutHistoryOptions
	cmd := &cobra.Command{
		Use:   "history deployment/NAME",
		Short: "List a Deployment's revisions",
		Long: `List the revisions of a Deployment: one per ReplicaSet it keeps
(spec.revisionHistoryLimit of them besides the current one), oldest first.
With --revision, show that revision's pod template.`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeRollout(rolloutKinds),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRolloutHistory(cmd, args, o)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	cmd.Flags().Int64Var(&o.revision, "revision", 0, "show the pod template of this revision")
	return cmd
}

// changeCauseAnnotation says why a revision was made, as in Kubernetes.
const changeCauseAnnotation = "kubernetes.io/change-cause"

func runRolloutHistory(cmd *cobra.Command, args []string, o rolloutHistoryOptions) error {
	ref, err := oneObject(args, rolloutKinds()...)
	if err != nil {
		return err
	}
	if o.revision < 0 {
		return errors.New("--revision must be a revision number, as skiff rollout history lists them")
	}
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	d, rss, err := deploymentAndReplicaSets(ctx, c, namespaceOrDefault(o.namespace), ref.name)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.revision > 0 {
		rs := revisionOf(rss, o.revision)
		if rs == nil {
			return fmt.Errorf("deployment %q has no revision %d; skiff rollout history deployment/%s lists them", d.Name, o.revision, d.Name)
		}
		fmt.Fprintf(out, "%s/%s with revision #%d\n", qualifiedKind(ref.info), d.Name, o.revision)
		desc := newDescriber(out)
		tmpl := templateWithoutHash(rs.Spec.Template)
		desc.podTemplate(0, &tmpl)
		return desc.flush()
	}
	if len(rss) == 0 {
		fmt.Fprintf(out, "%s/%s has no revisions yet\n", qualifiedKind(ref.info), d.Name)
		return nil
	}
	fmt.Fprintf(out, "%s/%s\n", qualifiedKind(ref.info), d.Name)
	t := newTable(out)
	fmt.Fprintln(t, "REVISION\tREPLICASET\tIMAGES\tCHANGE-CAUSE")
	for _, rs := range rss {
		cause := rs.Annotations[changeCauseAnnotation]
		fmt.Fprintf(t, "%d\t%s\t%s\t%s\n", controllers.Revision(rs), rs.Name, orNone(containerImages(&rs.Spec.Template.Spec)), orNone(cause))
	}
	return t.Flush()
}

// deploymentAndReplicaSets reads a Deployment and its ReplicaSets, oldest
// revision first.
func deploymentAndReplicaSets(ctx context.Context, c *client.Client, ns, name string) (*api.Deployment, []*api.ReplicaSet, error) {
	info, _ := api.LookupKind("Deployment")
	obj, err := c.GetObject(ctx, info, ns, name)
	if err != nil {
		return nil, nil, err
	}
	d := obj.(*api.Deployment)
	rss, err := ownedReplicaSets(ctx, c, d)
	if err != nil {
		return nil, nil, err
	}
	return d, rss, nil
}

func revisionOf(rss []*api.ReplicaSet, rev int64) *api.ReplicaSet {
	for _, rs := range rss {
		if controllers.Revision(rs) == rev {
			return rs
		}
	}
	return nil
}

// templateWithoutHash is a ReplicaSet's pod template as its Deployment
// had it: without the pod-template-hash label the controller added.
func templateWithoutHash(t api.PodTemplateSpec) api.PodTemplateSpec {
	if _, ok := t.Labels[controllers.PodTemplateHashLabel]; !ok {
		return t
	}
	labels := make(map[string]string, len(t.Labels))
	for k, v := range t.Labels {
		if k != controllers.PodTemplateHashLabel {
			labels[k] = v
		}
	}
	t.Labels = labels
	return t
}

type rolloutUndoOptions struct {
	namespace  string
	toRevision int64
}

func newRolloutUndoCmd() *cobra.Command {
	var o rolloutUndoOptions
	cmd := &cobra.Command{
		Use:   "undo deployment/NAME [--to-revision N]",
		Short: "Roll a Deployment back to an earlier revision",
		Long: `Put an earlier revision's pod template back into the Deployment (the
previous revision, or --to-revision N from skiff rollout history); the
Deployment then rolls it out as it would any change, and that revision
becomes the newest.`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeRollout(rolloutKinds),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRolloutUndo(cmd, args, o)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	cmd.Flags().Int64Var(&o.toRevision, "to-revision", 0, "the revision to go back to (0: the previous one)")
	return cmd
}

func runRolloutUndo(cmd *cobra.Command, args []string, o rolloutUndoOptions) error {
	ref, err := oneObject(args, rolloutKinds()...)
	if err != nil {
		return err
	}
	if o.toRevision < 0 {
		return errors.New("--to-revision must be a revision number, as skiff rollout history lists them (0: the previous one)")
	}
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	ns := namespaceOrDefault(o.namespace)
	skipped := int64(0)
	_, _, err = modifyObject(ctx, c, ref.info, ns, ref.name, func(obj api.Object) (bool, error) {
		d := obj.(*api.Deployment)
		if d.Spec.Paused {
			return false, fmt.Errorf("deployment %q is paused: resume it first (skiff rollout resume deployment/%s), then undo", d.Name, d.Name)
		}
		rss, err := ownedReplicaSets(ctx, c, d)
		if err != nil {
			return false, err
		}
		target, err := undoTarget(d, rss, o.toRevision)
		if err != nil {
			return false, err
		}
		tmpl := templateWithoutHash(target.Spec.Template)
		if controllers.TemplateHash(&tmpl) == controllers.TemplateHash(&d.Spec.Template) {
			skipped = controllers.Revision(target)
			return false, nil
		}
		d.Spec.Template = tmpl
		return true, nil
	})
	if err != nil {
		return err
	}
	if skipped > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "%s/%s skipped rollback (the current template already is revision %d)\n", qualifiedKind(ref.info), ref.name, skipped)
		return nil
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s/%s rolled back\n", qualifiedKind(ref.info), ref.name)
	return nil
}

// undoTarget picks the ReplicaSet to roll back to: revision rev, or with
// rev 0 the newest revision before the current (highest) one.
func undoTarget(d *api.Deployment, rss []*api.ReplicaSet, rev int64) (*api.ReplicaSet, error) {
	if rev > 0 {
		if rs := revisionOf(rss, rev); rs != nil {
			return rs, nil
		}
		return nil, fmt.Errorf("deployment %q has no revision %d; skiff rollout history deployment/%s lists them", d.Name, rev, d.Name)
	}
	var current, previous *api.ReplicaSet
	for _, rs := range rss { // oldest first
		previous, current = current, rs
	}
	if previous == nil {
		return nil, fmt.Errorf("deployment %q has no earlier revision to roll back to; skiff rollout history deployment/%s lists its revisions", d.Name, d.Name)
	}
	return previous, nil
}

type rolloutPauseOptions struct {
	namespace string
}

// newRolloutPauseCmd makes pause (pause true) or resume.
func newRolloutPauseCmd(pause bool) *cobra.Command {
	var o rolloutPauseOptions
	verb, short, long := "resume", "Resume a paused Deployment's rollout",
		`Set spec.paused to false: the Deployment rolls out the template changes
made while it was paused.`
	if pause {
		verb, short, long = "pause", "Pause a Deployment's rollout",
			`Set spec.paused: the Deployment stops rolling out template changes (it still
scales) until skiff rollout resume. Several changes can then be rolled out
as one.`
	}
	cmd := &cobra.Command{
		Use:               verb + " deployment/NAME",
		Short:             short,
		Long:              long,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeRollout(rolloutKinds),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := oneObject(args, rolloutKinds()...)
			if err != nil {
				return err
			}
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			_, changed, err := modifyObject(cmd.Context(), c, ref.info, namespaceOrDefault(o.namespace), ref.name, func(obj api.Object) (bool, error) {
				d := obj.(*api.Deployment)
				if d.Spec.Paused == pause {
					return false, nil
				}
				d.Spec.Paused = pause
				return true, nil
			})
			if err != nil {
				return err
			}
			state := verb + "d"
			if !changed {
				state = "already " + map[bool]string{true: "paused", false: "resumed (not paused)"}[pause]
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s %s\n", qualifiedKind(ref.info), ref.name, state)
			return nil
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	return cmd
}
