package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/controllers"
	"github.com/skiff-sh/skiff/web/client"
)

type describeOptions struct {
	namespace     string
	labelSelector string
	events        int
}

func newDescribeCmd() *cobra.Command {
	var o describeOptions
	cmd := &cobra.Command{
		Use:   "describe KIND [NAME...] | KIND/NAME...",
		Short: "Show an object's details and its recent events",
		Long: `Show the details of objects, as kubectl describe does: their key fields,
status and conditions, what they own or run, and their recent events.

The events are read through the API (GET /api/v1/namespaces/NS/events with
the object as fieldSelector), as kubectl describe reads them. When the API
cannot serve them, describe says so in one line and shows the object
without its events.

  skiff describe pod web-1
  skiff describe deployment/web
  skiff describe nodes                  every node
  skiff describe pods -l app=web        every pod with that label`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeKindAndNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDescribe(cmd, args, o)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	cmd.Flags().StringVarP(&o.labelSelector, "selector", "l", "", "describe every object of the kind whose labels match, like app=web")
	cmd.Flags().IntVar(&o.events, "events", describeEvents, "show at most this many of the object's newest events (0: none)")
	_ = cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces)
	return cmd
}

// describeEvents is how many of its newest events describe shows.
const describeEvents = 20

func runDescribe(cmd *cobra.Command, args []string, o describeOptions) error {
	info, refs, err := parseObjectArgs(args, allKinds()...)
	if err != nil {
		return err
	}
	if len(refs) > 0 && o.labelSelector != "" {
		return errors.New("names and a label selector (-l) cannot be combined: drop one")
	}
	if o.events < 0 {
		return errors.New("--events must be 0 (none) or more")
	}
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	ns := namespaceOrDefault(o.namespace)
	var objs []api.Object
	var errs []error
	if len(refs) == 0 {
		listNS := ns
		if !info.Namespaced {
			listNS = ""
		}
		objs, _, err = listAll(ctx, c, info, listNS, client.ListOptions{LabelSelector: o.labelSelector, Limit: 500})
		if err != nil {
			return selectorFlagError(err)
		}
		if len(objs) == 0 {
			if info.Namespaced {
				fmt.Fprintf(cmd.ErrOrStderr(), "No resources found in %s namespace.\n", ns)
			} else {
				fmt.Fprintln(cmd.ErrOrStderr(), "No resources found")
			}
			return nil
		}
	}
	for _, r := range refs {
		obj, err := c.GetObject(ctx, r.info, ns, r.name)
		if err != nil {
			if isConnectionError(err) {
				return err
			}
			errs = append(errs, err)
			continue
		}
		objs = append(objs, obj)
	}
	ev := &describeEventSource{c: c, limit: o.events, warn: cmd.ErrOrStderr()}
	out := cmd.OutOrStdout()
	for i, obj := range objs {
		if i > 0 {
			fmt.Fprintln(out)
		}
		if err := describeObject(ctx, out, c, obj, ev); err != nil {
			if isConnectionError(err) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// describeEventSource reads objects' events for describe through the
// API; when that fails it says so once.
type describeEventSource struct {
	c     *client.Client
	limit int
	warn  io.Writer

	failed bool
}

// events returns an object's newest events, oldest first, or an error
// already reported to the user.
func (s *describeEventSource) events(ctx context.Context, obj api.Object) ([]*api.Event, error) {
	info := api.KindOf(obj)
	m := obj.GetObjectMeta()
	q := eventsOfObject(info, m.Namespace, m.Name)
	evs, _, err := s.c.ListEvents(ctx, q.namespace, client.ListOptions{FieldSelector: q.fieldSelector, Limit: int64(s.limit)})
	if err != nil && ctx.Err() == nil && !s.failed {
		s.failed = true
		fmt.Fprintf(s.warn, "warning: events not shown: %v\n", err)
	}
	return evs, err
}

// describer writes "Key:  value" lines, nested by indentation, aligned as
// kubectl's describe output.
type describer struct {
	w   *tabwriter.Writer
	now time.Time
}

func newDescriber(w io.Writer) *describer {
	return &describer{w: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0), now: time.Now()}
}

// kv writes "key:\tvalue" at an indentation level.
func (d *describer) kv(level int, key string, format string, args ...any) {
	fmt.Fprintf(d.w, "%s%s:\t%s\n", strings.Repeat("  ", level), key, fmt.Sprintf(format, args...))
}

// section writes "key:" alone, for nested lines.
func (d *describer) section(level int, key string) {
	fmt.Fprintf(d.w, "%s%s:\n", strings.Repeat("  ", level), key)
}

// line writes a raw line at a level; tabs separate cells.
func (d *describer) line(level int, format string, args ...any) {
	fmt.Fprintf(d.w, "%s%s\n", strings.Repeat("  ", level), fmt.Sprintf(format, args...))
}

// list writes key: with the first item on its line and each next one
// below it, or <none>.
func (d *describer) list(level int, key string, items []string) {
	if len(items) == 0 {
		d.kv(level, key, "<none>")
		return
	}
	d.kv(level, key, "%s", items[0])
	for _, it := range items[1:] {
		fmt.Fprintf(d.w, "%s\t%s\n", strings.Repeat("  ", level), it)
	}
}

func (d *describer) flush() error { return d.w.Flush() }

func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func timestamp(t time.Time) string {
	if t.IsZero() {
		return "<unset>"
	}
	return t.Local().Format(time.RFC1123Z)
}

// meta writes what every object has: name, namespace, labels,
// annotations, creation time and owner.
func (d *describer) meta(obj api.Object) {
	m := obj.GetObjectMeta()
	info := api.KindOf(obj)
	d.kv(0, "Name", "%s", m.Name)
	if info.Namespaced {
		d.kv(0, "Namespace", "%s", m.Namespace)
	}
	d.list(0, "Labels", sortedPairs(m.Labels))
	d.list(0, "Annotations", sortedPairs(m.Annotations))
	d.kv(0, "CreationTimestamp", "%s", timestamp(m.CreationTimestamp))
	if owner := controllers.ControllerOf(obj); owner != nil {
		d.kv(0, "Controlled By", "%s/%s", owner.Kind, owner.Name)
	}
	if m.DeletionTimestamp != nil {
		d.kv(0, "Terminating Since", "%s", timestamp(*m.DeletionTimestamp))
	}
	if len(m.Finalizers) > 0 {
		d.kv(0, "Finalizers", "%s", strings.Join(m.Finalizers, ", "))
	}
}

// describeObject writes one object's description and its events.
func describeObject(ctx context.Context, w io.Writer, c *client.Client, obj api.Object, ev *describeEventSource) error {
	d := newDescriber(w)
	switch o := obj.(type) {
	case *api.Pod:
		d.meta(o)
		d.pod(o)
	case *api.Node:
		pods, err := podsOn(ctx, c, o.Name)
		if err != nil {
			return err
		}
		d.meta(o)
		d.node(o, pods)
	case *api.Deployment:
		rss, err := ownedReplicaSets(ctx, c, o)
		if err != nil {
			return err
		}
		d.meta(o)
		d.deployment(o, rss)
	case *api.ReplicaSet:
		pods, err := ownedPods(ctx, c, o.Namespace, o.UID)
		if err != nil {
			return err
		}
		d.meta(o)
		d.replicaSet(o, pods)
	case *api.DaemonSet:
		d.meta(o)
		d.daemonSet(o)
	case *api.Job:
		d.meta(o)
		d.job(o)
	case *api.CronJob:
		d.meta(o)
		d.cronJob(o)
	case *api.Namespace:
		d.meta(o)
		d.kv(0, "Status", "%s", namespacePhase(o))
	case *api.ConfigMap:
		d.meta(o)
		d.configMap(o)
	case *api.Secret:
		d.meta(o)
		d.secret(o)
	case *api.ResourceQuota:
		d.meta(o)
		d.quota(o)
	default:
		d.meta(obj)
	}
	if ev.limit > 0 {
		events, err := ev.events(ctx, obj)
		d.events(events, err)
	}
	return d.flush()
}

func (d *describer) events(events []*api.Event, err error) {
	switch {
	case err != nil:
		d.kv(0, "Events", "<unavailable>")
		return
	case len(events) == 0:
		d.kv(0, "Events", "<none>")
		return
	}
	d.section(0, "Events")
	d.line(1, "Type\tReason\tAge\tFrom\tMessage")
	d.line(1, "----\t------\t----\t----\t-------")
	for _, e := range events {
		from := e.Source.Component
		if e.Source.Host != "" && e.InvolvedObject.Kind == "Node" {
			from = "node/" + e.Source.Host
		}
		d.line(1, "%s\t%s\t%s\t%s\t%s", e.Type, e.Reason, age(eventTime(e), d.now), from, e.Message)
	}
}

func (d *describer) pod(p *api.Pod) {
	d.kv(0, "Node", "%s", orNone(p.Spec.NodeName))
	runtime := "container"
	if p.Spec.IsWasm() {
		runtime = "wasm"
	}
	d.kv(0, "Runtime", "%s", runtime)
	if p.Status.StartTime != nil {
		d.kv(0, "Start Time", "%s", timestamp(*p.Status.StartTime))
	}
	d.kv(0, "Status", "%s", podStatus(p))
	if p.Status.Reason != "" {
		d.kv(0, "Reason", "%s", p.Status.Reason)
	}
	if p.Status.Message != "" {
		d.kv(0, "Message", "%s", p.Status.Message)
	}
	d.kv(0, "IP", "%s", orNone(p.Status.HostIP))
	if len(p.Spec.InitContainers) > 0 {
		d.section(0, "Init Containers")
		d.containers(1, p.Spec.InitContainers, p.Status.InitContainerStatuses)
	}
	d.section(0, "Containers")
	d.containers(1, p.Spec.Containers, p.Status.ContainerStatuses)
	if len(p.Status.Conditions) > 0 {
		d.section(0, "Conditions")
		d.line(1, "Type\tStatus\tReason")
		for _, c := range p.Status.Conditions {
			d.line(1, "%s\t%s\t%s", c.Type, c.Status, c.Reason)
		}
	} else {
		d.kv(0, "Conditions", "<none>")
	}
	d.volumes(0, p.Spec.Volumes)
	d.list(0, "Node-Selectors", sortedPairs(p.Spec.NodeSelector))
	d.list(0, "Tolerations", tolerations(p.Spec.Tolerations))
}

func (d *describer) containers(level int, cs []api.Container, statuses []api.ContainerStatus) {
	byName := map[string]api.ContainerStatus{}
	for _, s := range statuses {
		byName[s.Name] = s
	}
	for _, c := range cs {
		d.section(level, c.Name)
		d.kv(level+1, "Image", "%s", c.Image)
		if len(c.Command) > 0 {
			d.kv(level+1, "Command", "%s", strings.Join(c.Command, " "))
		}
		if len(c.Args) > 0 {
			d.kv(level+1, "Args", "%s", strings.Join(c.Args, " "))
		}
		if len(c.Ports) > 0 {
			var ports []string
			for _, p := range c.Ports {
				proto := p.Protocol
				if proto == "" {
					proto = "TCP"
				}
				ports = append(ports, fmt.Sprintf("%d/%s", p.ContainerPort, proto))
			}
			d.kv(level+1, "Ports", "%s", strings.Join(ports, ", "))
		}
		if s, ok := byName[c.Name]; ok {
			d.containerState(level+1, "State", s.State)
			if s.LastState != (api.ContainerState{}) {
				d.containerState(level+1, "Last State", s.LastState)
			}
			d.kv(level+1, "Ready", "%t", s.Ready)
			d.kv(level+1, "Restart Count", "%d", s.RestartCount)
		}
		d.resources(level+1, "Limits", c.Resources.Limits)
		d.resources(level+1, "Requests", c.Resources.Requests)
		var env []string
		for _, e := range c.Env {
			switch {
			case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
				env = append(env, fmt.Sprintf("%s from secret %s key %s", e.Name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key))
			case e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil:
				env = append(env, fmt.Sprintf("%s from configmap %s key %s", e.Name, e.ValueFrom.ConfigMapKeyRef.Name, e.ValueFrom.ConfigMapKeyRef.Key))
			case e.ValueFrom != nil:
				env = append(env, e.Name+" (from the pod)")
			default:
				env = append(env, e.Name+"="+e.Value)
			}
		}
		d.list(level+1, "Environment", env)
		if len(c.VolumeMounts) > 0 {
			var mounts []string
			for _, m := range c.VolumeMounts {
				mode := "rw"
				if m.ReadOnly {
					mode = "ro"
				}
				mounts = append(mounts, fmt.Sprintf("%s from %s (%s)", m.MountPath, m.Name, mode))
			}
			d.list(level+1, "Mounts", mounts)
		}
	}
}

func (d *describer) containerState(level int, key string, s api.ContainerState) {
	switch {
	case s.Running != nil:
		d.kv(level, key, "Running")
		if !s.Running.StartedAt.IsZero() {
			d.kv(level+1, "Started", "%s", timestamp(s.Running.StartedAt))
		}
	case s.Waiting != nil:
		d.kv(level, key, "Waiting")
		if s.Waiting.Reason != "" {
			d.kv(level+1, "Reason", "%s", s.Waiting.Reason)
		}
		if s.Waiting.Message != "" {
			d.kv(level+1, "Message", "%s", s.Waiting.Message)
		}
	case s.Terminated != nil:
		t := s.Terminated
		d.kv(level, key, "Terminated")
		if t.Reason != "" {
			d.kv(level+1, "Reason", "%s", t.Reason)
		}
		d.kv(level+1, "Exit Code", "%d", t.ExitCode)
		if t.Signal != 0 {
			d.kv(level+1, "Signal", "%d", t.Signal)
		}
		if !t.StartedAt.IsZero() {
			d.kv(level+1, "Started", "%s", timestamp(t.StartedAt))
		}
		if !t.FinishedAt.IsZero() {
			d.kv(level+1, "Finished", "%s", timestamp(t.FinishedAt))
		}
	default:
		d.kv(level, key, "Waiting")
	}
}

func (d *describer) resources(level int, key string, rl api.ResourceList) {
	if len(rl) == 0 {
		return
	}
	d.section(level, key)
	names := make([]string, 0, len(rl))
	for n := range rl {
		names = append(names, string(n))
	}
	sort.Strings(names)
	for _, n := range names {
		d.kv(level+1, n, "%s", rl[api.ResourceName(n)])
	}
}

func (d *describer) volumes(level int, vols []api.Volume) {
	if len(vols) == 0 {
		d.kv(level, "Volumes", "<none>")
		return
	}
	d.section(level, "Volumes")
	for _, v := range vols {
		d.section(level+1, v.Name)
		switch {
		case v.ConfigMap != nil:
			d.kv(level+2, "Type", "ConfigMap")
			d.kv(level+2, "Name", "%s", v.ConfigMap.Name)
		case v.Secret != nil:
			d.kv(level+2, "Type", "Secret")
			d.kv(level+2, "SecretName", "%s", v.Secret.SecretName)
		case v.EmptyDir != nil:
			d.kv(level+2, "Type", "EmptyDir")
		case v.HostPath != nil:
			d.kv(level+2, "Type", "HostPath")
			d.kv(level+2, "Path", "%s", v.HostPath.Path)
		}
	}
}

func tolerations(ts []api.Toleration) []string {
	var out []string
	for _, t := range ts {
		s := t.Key
		if t.Operator == "Exists" && t.Key == "" {
			s = "op=Exists"
		} else if t.Value != "" {
			s += "=" + t.Value
		}
		if t.Effect != "" {
			s += ":" + t.Effect
		}
		if t.TolerationSeconds != nil {
			s += fmt.Sprintf(" for %ds", *t.TolerationSeconds)
		}
		out = append(out, s)
	}
	return out
}

// podTemplate writes the pod a workload makes.
func (d *describer) podTemplate(level int, t *api.PodTemplateSpec) {
	d.section(level, "Pod Template")
	d.list(level+1, "Labels", sortedPairs(t.Labels))
	if len(t.Annotations) > 0 {
		d.list(level+1, "Annotations", sortedPairs(t.Annotations))
	}
	runtime := "container"
	if t.Spec.IsWasm() {
		runtime = "wasm"
	}
	d.kv(level+1, "Runtime", "%s", runtime)
	if len(t.Spec.InitContainers) > 0 {
		d.section(level+1, "Init Containers")
		d.containers(level+2, t.Spec.InitContainers, nil)
	}
	d.section(level+1, "Containers")
	d.containers(level+2, t.Spec.Containers, nil)
	d.volumes(level+1, t.Spec.Volumes)
	d.list(level+1, "Node-Selectors", sortedPairs(t.Spec.NodeSelector))
	d.list(level+1, "Tolerations", tolerations(t.Spec.Tolerations))
}

func (d *describer) conditions(conds []api.Condition) {
	if len(conds) == 0 {
		return
	}
	d.section(0, "Conditions")
	d.line(1, "Type\tStatus\tReason")
	d.line(1, "----\t------\t------")
	for _, c := range conds {
		d.line(1, "%s\t%s\t%s", c.Type, c.Status, c.Reason)
	}
}

func (d *describer) deployment(dep *api.Deployment, rss []*api.ReplicaSet) {
	st := dep.Status
	d.kv(0, "Selector", "%s", orNone(formatSelector(dep.Spec.Selector)))
	d.kv(0, "Replicas", "%d desired | %d updated | %d total | %d available | %d unavailable",
		replicasOf(dep.Spec.Replicas), st.UpdatedReplicas, st.Replicas, st.AvailableReplicas, st.UnavailableReplicas)
	strategy := dep.Spec.Strategy.Type
	if strategy == "" {
		strategy = api.RollingUpdateDeploymentStrategyType
	}
	d.kv(0, "StrategyType", "%s", strategy)
	d.kv(0, "MinReadySeconds", "%d", dep.Spec.MinReadySeconds)
	if ru := dep.Spec.Strategy.RollingUpdate; strategy == api.RollingUpdateDeploymentStrategyType && ru != nil {
		d.kv(0, "RollingUpdateStrategy", "%s max unavailable, %s max surge", intOrString(ru.MaxUnavailable), intOrString(ru.MaxSurge))
	}
	if dep.Spec.Paused {
		d.kv(0, "Paused", "true")
	}
	if p := dep.Spec.ProgressDeadlineSeconds; p != nil {
		d.kv(0, "ProgressDeadlineSeconds", "%d", *p)
	}
	d.podTemplate(0, &dep.Spec.Template)
	d.conditions(st.Conditions)
	hash := controllers.TemplateHash(&dep.Spec.Template)
	var newRS []string
	var old []string
	for _, rs := range rss {
		line := fmt.Sprintf("%s (%d/%d replicas created, revision %d)", rs.Name, rs.Status.Replicas, replicasOf(rs.Spec.Replicas), controllers.Revision(rs))
		if rs.Labels[controllers.PodTemplateHashLabel] == hash {
			newRS = append(newRS, line)
		} else if replicasOf(rs.Spec.Replicas) > 0 || rs.Status.Replicas > 0 {
			old = append(old, line)
		}
	}
	d.list(0, "OldReplicaSets", old)
	d.list(0, "NewReplicaSet", newRS)
}

func intOrString(v *api.IntOrString) string {
	if v == nil {
		return "<unset>"
	}
	if v.IsString {
		return v.StrVal
	}
	return strconv.Itoa(int(v.IntVal))
}

func (d *describer) replicaSet(rs *api.ReplicaSet, pods []*api.Pod) {
	d.kv(0, "Selector", "%s", orNone(formatSelector(rs.Spec.Selector)))
	if rev := controllers.Revision(rs); rev > 0 {
		d.kv(0, "Revision", "%d", rev)
	}
	d.kv(0, "Replicas", "%d current / %d desired", rs.Status.Replicas, replicasOf(rs.Spec.Replicas))
	d.kv(0, "Pods Status", "%s", podPhaseCounts(pods))
	d.podTemplate(0, &rs.Spec.Template)
	d.conditions(rs.Status.Conditions)
}

// podPhaseCounts is kubectl's "Pods Status" line.
func podPhaseCounts(pods []*api.Pod) string {
	var running, waiting, succeeded, failed int
	for _, p := range pods {
		switch p.Status.Phase {
		case api.PodRunning:
			running++
		case api.PodSucceeded:
			succeeded++
		case api.PodFailed:
			failed++
		default:
			waiting++
		}
	}
	return fmt.Sprintf("%d Running / %d Waiting / %d Succeeded / %d Failed", running, waiting, succeeded, failed)
}

func (d *describer) daemonSet(ds *api.DaemonSet) {
	st := ds.Status
	d.kv(0, "Selector", "%s", orNone(formatSelector(ds.Spec.Selector)))
	d.kv(0, "Node-Selector", "%s", orNone(formatLabels(ds.Spec.Template.Spec.NodeSelector)))
	d.kv(0, "Desired Number of Nodes Scheduled", "%d", st.DesiredNumberScheduled)
	d.kv(0, "Current Number of Nodes Scheduled", "%d", st.CurrentNumberScheduled)
	d.kv(0, "Number of Nodes Scheduled with Up-to-date Pods", "%d", st.UpdatedNumberScheduled)
	d.kv(0, "Number of Nodes Scheduled with Available Pods", "%d", st.NumberAvailable)
	d.kv(0, "Number of Nodes Misscheduled", "%d", st.NumberMisscheduled)
	d.kv(0, "Pods Ready", "%d", st.NumberReady)
	strategy := ds.Spec.UpdateStrategy.Type
	if strategy == "" {
		strategy = api.RollingUpdateDaemonSetStrategyType
	}
	d.kv(0, "Update Strategy", "%s", strategy)
	d.podTemplate(0, &ds.Spec.Template)
	d.conditions(st.Conditions)
}

func (d *describer) job(j *api.Job) {
	st := j.Status
	d.kv(0, "Selector", "%s", orNone(formatSelector(j.Spec.Selector)))
	if p := j.Spec.Parallelism; p != nil {
		d.kv(0, "Parallelism", "%d", *p)
	}
	if c := j.Spec.Completions; c != nil {
		d.kv(0, "Completions", "%d", *c)
	} else {
		d.kv(0, "Completions", "<unset>")
	}
	if b := j.Spec.BackoffLimit; b != nil {
		d.kv(0, "Backoff Limit", "%d", *b)
	}
	if a := j.Spec.ActiveDeadlineSeconds; a != nil {
		d.kv(0, "Active Deadline Seconds", "%ds", *a)
	}
	if boolOf(j.Spec.Suspend) {
		d.kv(0, "Suspend", "true")
	}
	if st.StartTime != nil {
		d.kv(0, "Start Time", "%s", timestamp(*st.StartTime))
	}
	if st.CompletionTime != nil {
		d.kv(0, "Completed At", "%s", timestamp(*st.CompletionTime))
	}
	if dur := jobDuration(j, d.now); dur != "" {
		d.kv(0, "Duration", "%s", dur)
	}
	d.kv(0, "Pods Statuses", "%d Active / %d Succeeded / %d Failed", st.Active, st.Succeeded, st.Failed)
	d.podTemplate(0, &j.Spec.Template)
	d.conditions(st.Conditions)
}

func (d *describer) cronJob(cj *api.CronJob) {
	d.kv(0, "Schedule", "%s", cj.Spec.Schedule)
	if tz := cj.Spec.TimeZone; tz != nil {
		d.kv(0, "Time Zone", "%s", *tz)
	}
	policy := cj.Spec.ConcurrencyPolicy
	if policy == "" {
		policy = api.AllowConcurrent
	}
	d.kv(0, "Concurrency Policy", "%s", policy)
	d.kv(0, "Suspend", "%t", boolOf(cj.Spec.Suspend))
	if l := cj.Spec.SuccessfulJobsHistoryLimit; l != nil {
		d.kv(0, "Successful Job History Limit", "%d", *l)
	}
	if l := cj.Spec.FailedJobsHistoryLimit; l != nil {
		d.kv(0, "Failed Job History Limit", "%d", *l)
	}
	if s := cj.Spec.StartingDeadlineSeconds; s != nil {
		d.kv(0, "Starting Deadline Seconds", "%ds", *s)
	}
	last := "<unset>"
	if t := cj.Status.LastScheduleTime; t != nil {
		last = timestamp(*t)
	}
	d.kv(0, "Last Schedule Time", "%s", last)
	if t := cj.Status.LastSuccessfulTime; t != nil {
		d.kv(0, "Last Successful Time", "%s", timestamp(*t))
	}
	var active []string
	for _, r := range cj.Status.Active {
		active = append(active, r.Name)
	}
	d.list(0, "Active Jobs", active)
	d.podTemplate(0, &cj.Spec.JobTemplate.Spec.Template)
}

func (d *describer) configMap(cm *api.ConfigMap) {
	d.line(0, "")
	d.line(0, "Data")
	d.line(0, "====")
	keys := make([]string, 0, len(cm.Data))
	for k := range cm.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d.line(0, "%s:", k)
		d.line(0, "----")
		d.line(0, "%s", strings.TrimRight(cm.Data[k], "\n"))
		d.line(0, "")
	}
	if len(cm.BinaryData) > 0 {
		d.line(0, "BinaryData")
		d.line(0, "====")
		bkeys := make([]string, 0, len(cm.BinaryData))
		for k := range cm.BinaryData {
			bkeys = append(bkeys, k)
		}
		sort.Strings(bkeys)
		for _, k := range bkeys {
			d.line(0, "%s: %d bytes", k, len(cm.BinaryData[k]))
		}
		d.line(0, "")
	}
}

func (d *describer) secret(s *api.Secret) {
	d.line(0, "")
	d.kv(0, "Type", "%s", orNone(s.Type))
	d.line(0, "")
	d.line(0, "Data")
	d.line(0, "====")
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d.kv(0, k, "%d bytes", len(s.Data[k]))
	}
}

func (d *describer) quota(q *api.ResourceQuota) {
	hard := q.Status.Hard
	if len(hard) == 0 {
		hard = q.Spec.Hard
	}
	names := make([]string, 0, len(hard))
	for n := range hard {
		names = append(names, string(n))
	}
	sort.Strings(names)
	d.line(0, "Resource\tUsed\tHard")
	d.line(0, "--------\t----\t----")
	for _, n := range names {
		used := q.Status.Used[api.ResourceName(n)]
		if used == "" {
			used = "0"
		}
		d.line(0, "%s\t%s\t%s", n, used, hard[api.ResourceName(n)])
	}
}

func (d *describer) node(n *api.Node, pods []*api.Pod) {
	status := "Unknown"
	if c := n.Status.Condition(api.NodeReady); c != nil {
		status = "NotReady"
		if c.Status == api.ConditionTrue {
			status = "Ready"
		}
	}
	d.kv(0, "Status", "%s", status)
	var taints []string
	for _, t := range n.Spec.Taints {
		s := t.Key
		if t.Value != "" {
			s += "=" + t.Value
		}
		taints = append(taints, s+":"+t.Effect)
	}
	d.list(0, "Taints", taints)
	d.kv(0, "Unschedulable", "%t", n.Spec.Unschedulable)
	if len(n.Status.Conditions) > 0 {
		d.section(0, "Conditions")
		d.line(1, "Type\tStatus\tLastHeartbeatTime\tReason\tMessage")
		d.line(1, "----\t------\t-----------------\t------\t-------")
		for _, c := range n.Status.Conditions {
			d.line(1, "%s\t%s\t%s\t%s\t%s", c.Type, c.Status, timestamp(c.LastHeartbeatTime), c.Reason, c.Message)
		}
	}
	var addrs []string
	for _, a := range n.Status.Addresses {
		addrs = append(addrs, a.Type+": "+a.Address)
	}
	d.list(0, "Addresses", addrs)
	d.resources(0, "Capacity", n.Status.Capacity)
	d.resources(0, "Allocatable", n.Status.Allocatable)
	info := n.Status.NodeInfo
	d.section(0, "System Info")
	d.kv(1, "Operating System", "%s", orNone(info.OperatingSystem))
	d.kv(1, "Architecture", "%s", orNone(info.Architecture))
	d.kv(1, "Kernel Version", "%s", orNone(info.KernelVersion))
	d.kv(1, "Agent Version", "%s", orNone(info.AgentVersion))
	var runtimes []string
	for _, r := range n.Status.Runtimes {
		runtimes = append(runtimes, r.Name)
	}
	d.kv(0, "Runtimes", "%s", orNone(strings.Join(runtimes, ", ")))

	var active []*api.Pod
	for _, p := range pods {
		if podCounts(p) {
			active = append(active, p)
		}
	}
	cpuAlloc := n.Status.Allocatable[api.ResourceCPU].MilliValue()
	memAlloc := n.Status.Allocatable[api.ResourceMemory].Value()
	d.kv(0, "Non-terminated Pods", "(%d in total)", len(active))
	var total podResources
	if len(active) > 0 {
		d.line(1, "Namespace\tName\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge")
		d.line(1, "---------\t----\t------------\t----------\t---------------\t-------------\t---")
		for _, p := range active {
			r := resourcesOf(p)
			total.cpuReq += r.cpuReq
			total.memReq += r.memReq
			total.cpuLim += r.cpuLim
			total.memLim += r.memLim
			d.line(1, "%s\t%s\t%s (%s)\t%s (%s)\t%s (%s)\t%s (%s)\t%s", p.Namespace, p.Name,
				formatMilliCPU(r.cpuReq), percent(r.cpuReq, cpuAlloc), formatMilliCPU(r.cpuLim), percent(r.cpuLim, cpuAlloc),
				formatMemory(r.memReq), percent(r.memReq, memAlloc), formatMemory(r.memLim), percent(r.memLim, memAlloc),
				age(p.CreationTimestamp, d.now))
		}
	}
	d.section(0, "Allocated resources")
	d.line(1, "Resource\tRequests\tLimits")
	d.line(1, "--------\t--------\t------")
	d.line(1, "cpu\t%s (%s)\t%s (%s)", formatMilliCPU(total.cpuReq), percent(total.cpuReq, cpuAlloc), formatMilliCPU(total.cpuLim), percent(total.cpuLim, cpuAlloc))
	d.line(1, "memory\t%s (%s)\t%s (%s)", formatMemory(total.memReq), percent(total.memReq, memAlloc), formatMemory(total.memLim), percent(total.memLim, memAlloc))
}

// podsOn lists the pods bound to a node, in every namespace.
func podsOn(ctx context.Context, c *client.Client, node string) ([]*api.Pod, error) {
	info, _ := api.LookupKind("Pod")
	objs, _, err := listAll(ctx, c, info, "", client.ListOptions{FieldSelector: "spec.nodeName=" + node, Limit: 500})
	if err != nil {
		return nil, err
	}
	pods := make([]*api.Pod, 0, len(objs))
	for _, o := range objs {
		pods = append(pods, o.(*api.Pod))
	}
	return pods, nil
}

// ownedPods lists the pods of a namespace whose controller has uid.
func ownedPods(ctx context.Context, c *client.Client, ns, uid string) ([]*api.Pod, error) {
	info, _ := api.LookupKind("Pod")
	objs, _, err := listAll(ctx, c, info, ns, client.ListOptions{Limit: 500})
	if err != nil {
		return nil, err
	}
	var pods []*api.Pod
	for _, o := range objs {
		if r := controllers.ControllerOf(o); r != nil && r.UID == uid {
			pods = append(pods, o.(*api.Pod))
		}
	}
	return pods, nil
}

// ownedReplicaSets lists a Deployment's ReplicaSets, oldest revision first.
func ownedReplicaSets(ctx context.Context, c *client.Client, d *api.Deployment) ([]*api.ReplicaSet, error) {
	info, _ := api.LookupKind("ReplicaSet")
	objs, _, err := listAll(ctx, c, info, d.Namespace, client.ListOptions{Limit: 500})
	if err != nil {
		return nil, err
	}
	var rss []*api.ReplicaSet
	for _, o := range objs {
		if r := controllers.ControllerOf(o); r != nil && r.UID == d.UID {
			rss = append(rss, o.(*api.ReplicaSet))
		}
	}
	sort.Slice(rss, func(i, j int) bool { return controllers.Revision(rss[i]) < controllers.Revision(rss[j]) })
	return rss, nil
}
