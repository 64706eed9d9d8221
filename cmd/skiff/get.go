package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/web/client"
)

type getOptions struct {
	namespace     string
	allNamespaces bool
	output        string
	labelSelector string
	fieldSelector string
	watch         bool
	watchOnly     bool
	watchEvents   bool
	chunkSize     int64
}

func newGetCmd() *cobra.Command {
	var o getOptions
	cmd := &cobra.Command{
		Use:   "get KIND [NAME] | KIND/NAME",
		Short: "List objects of a kind, or show one; -w follows changes",
		Long: `List the objects of a kind as a table, or show one.

Kinds (short names as in kubectl): ` + kindList() + `.

  skiff get pods                          pods in the default namespace
  skiff get deploy -A                     deployments in every namespace
  skiff get pods -l app=web,tier!=db      pods by label (=, ==, !=, in (a,b), notin (a,b), key, !key)
  skiff get pods --field-selector spec.nodeName=edge-1,status.phase=Running
  skiff get rs -w                         the replicasets, then a row for every change
  skiff get deployment/web -o yaml        one deployment as YAML
  skiff get nodes -o wide                 nodes with versions and addresses
  skiff get cj -o name                    cronjob.batch/NAME, one per line`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: completeKindAndNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGet(cmd, args, o)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	f := cmd.Flags()
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list the objects of every namespace")
	f.StringVarP(&o.output, "output", "o", "", "output format: wide, yaml, json or name")
	f.StringVarP(&o.labelSelector, "selector", "l", "", "label selector, like app=web,tier!=db,env in (a,b),!legacy")
	f.StringVar(&o.fieldSelector, "field-selector", "", "field selector, like spec.nodeName=edge-1,status.phase=Running (metadata.name, metadata.namespace and, for pods, spec.nodeName, status.phase…)")
	f.BoolVarP(&o.watch, "watch", "w", false, "after listing, print a row for every change until interrupted")
	f.BoolVar(&o.watchOnly, "watch-only", false, "print only the changes, not the current objects")
	f.BoolVar(&o.watchEvents, "output-watch-events", false, "with --watch, say what happened (ADDED, MODIFIED, DELETED) in an EVENT column")
	f.Int64Var(&o.chunkSize, "chunk-size", 500, "read large lists in pages of this many objects (0: one request)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"wide", "yaml", "json", "name"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces)
	return cmd
}

func runGet(cmd *cobra.Command, args []string, o getOptions) error {
	info, refs, err := parseObjectArgs(args, allKinds()...)
	if err != nil {
		return err
	}
	if len(refs) > 1 {
		return errors.New("get shows one object by name, or a list: name one object, or use -l to select several")
	}
	switch o.output {
	case "", "wide", "yaml", "json", "name":
	default:
		return fmt.Errorf("--output %q is not one of wide, yaml, json, name", o.output)
	}
	if o.chunkSize < 0 {
		return fmt.Errorf("--chunk-size %d must be 0 or more", o.chunkSize)
	}
	o.watch = o.watch || o.watchOnly
	name := ""
	if len(refs) == 1 {
		name = refs[0].name
		if o.allNamespaces && info.Namespaced {
			return errors.New("a resource cannot be retrieved by name across all namespaces: drop -A or the name")
		}
		if o.labelSelector != "" {
			return errors.New("a name and a label selector (-l) cannot be combined: drop one")
		}
	}
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	ns := namespaceOrDefault(o.namespace)
	listNS := ns
	if o.allNamespaces || !info.Namespaced {
		listNS = ""
	}
	ctx := cmd.Context()
	var objs []api.Object
	var rv string
	if name != "" && o.fieldSelector == "" {
		obj, err := c.GetObject(ctx, info, ns, name)
		if err != nil {
			return err
		}
		objs, rv = []api.Object{obj}, obj.GetObjectMeta().ResourceVersion
	} else {
		fieldSelector := o.fieldSelector
		if name != "" {
			fieldSelector, listNS = joinSelectors("metadata.name="+name, fieldSelector), ns
			if !info.Namespaced {
				listNS = ""
			}
		}
		objs, rv, err = listAll(ctx, c, info, listNS, client.ListOptions{
			LabelSelector: o.labelSelector, FieldSelector: fieldSelector, Limit: o.chunkSize,
		})
		if err != nil {
			return selectorFlagError(err)
		}
	}
	for _, obj := range objs {
		setKind(obj, info)
	}
	if o.watch {
		return watchObjects(cmd, c, info, ns, listNS, name, rv, objs, o)
	}
	out := cmd.OutOrStdout()
	switch o.output {
	case "yaml", "json":
		return printObjects(out, o.output, objs, name != "")
	case "name":
		for _, obj := range objs {
			fmt.Fprintf(out, "%s/%s\n", qualifiedKind(info), obj.GetObjectMeta().Name)
		}
		return nil
	}
	if len(objs) == 0 {
		switch {
		case !info.Namespaced || o.allNamespaces:
			fmt.Fprintln(cmd.ErrOrStderr(), "No resources found")
		default:
			fmt.Fprintf(cmd.ErrOrStderr(), "No resources found in %s namespace.\n", ns)
		}
		return nil
	}
	header, rows := tableOf(info, objs, o.allNamespaces, o.output == "wide", time.Now())
	t := newTable(out)
	fmt.Fprintln(t, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(t, strings.Join(r, "\t"))
	}
	return t.Flush()
}

// allKinds is every kind Skiff serves, for lookupKind.
func allKinds() []string {
	var out []string
	for _, k := range api.Kinds() {
		out = append(out, k.Kind)
	}
	return out
}

// kindList names the kinds with their short names, for help texts.
func kindList() string {
	var names []string
	for _, k := range api.Kinds() {
		n := k.Resource
		if len(k.ShortNames) > 0 {
			n += " (" + strings.Join(k.ShortNames, ", ") + ")"
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

// qualifiedKind is how kubectl names a kind in what it prints: the
// singular, followed by the group outside the core group
// ("deployment.apps", "cronjob.batch", "pod").
func qualifiedKind(info api.KindInfo) string {
	if info.Group == "" {
		return info.Singular
	}
	return info.Singular + "." + info.Group
}

// lookupQualifiedKind is lookupKind that also reads the kind with its
// group, as get -o name and apply print it ("deployment.apps").
func lookupQualifiedKind(arg string, supported ...string) (api.KindInfo, error) {
	info, err := lookupKind(arg, supported...)
	if err == nil {
		return info, nil
	}
	if base, group, ok := strings.Cut(arg, "."); ok {
		if q, qerr := lookupKind(base, supported...); qerr == nil && q.Group != "" && strings.EqualFold(q.Group, group) {
			return q, nil
		}
	}
	return api.KindInfo{}, err
}

// objectRef is one object named on the command line.
type objectRef struct {
	info api.KindInfo
	name string
}

// parseObjectArgs reads the objects a command names, as "KIND NAME..." or
// "KIND/NAME...", among the supported kinds. It returns the (first) kind
// and the named objects, none for a bare "KIND".
func parseObjectArgs(args []string, supported ...string) (api.KindInfo, []objectRef, error) {
	if len(args) == 0 {
		return api.KindInfo{}, nil, errors.New("name a kind, like pods or deployment/web")
	}
	if !strings.Contains(args[0], "/") {
		info, err := lookupQualifiedKind(args[0], supported...)
		if err != nil {
			return api.KindInfo{}, nil, err
		}
		var refs []objectRef
		for _, a := range args[1:] {
			if strings.Contains(a, "/") {
				return api.KindInfo{}, nil, fmt.Errorf("%q: name objects either as KIND NAME... or as KIND/NAME..., not both", a)
			}
			refs = append(refs, objectRef{info: info, name: a})
		}
		return info, refs, nil
	}
	var refs []objectRef
	for _, a := range args {
		kind, name, ok := strings.Cut(a, "/")
		if !ok || name == "" || strings.Contains(name, "/") {
			return api.KindInfo{}, nil, fmt.Errorf("%q: name objects either as KIND NAME... or as KIND/NAME..., not both", a)
		}
		info, err := lookupQualifiedKind(kind, supported...)
		if err != nil {
			return api.KindInfo{}, nil, err
		}
		refs = append(refs, objectRef{info: info, name: name})
	}
	return refs[0].info, refs, nil
}

// selectorFlagError names the flag, not the API parameter, when the
// server refused a selector.
func selectorFlagError(err error) error {
	st, ok := client.StatusOf(err)
	if !ok || st.Details == nil || len(st.Details.Causes) != 1 {
		return err
	}
	flag := map[string]string{api.ParamLabelSelector: "--selector (-l)", api.ParamFieldSelector: "--field-selector"}[st.Details.Causes[0].Field]
	if flag == "" {
		return err
	}
	return fmt.Errorf("%s: %s", flag, st.Details.Causes[0].Message)
}

func setKind(obj api.Object, info api.KindInfo) {
	tm := obj.GetTypeMeta()
	tm.Kind, tm.APIVersion = info.Kind, info.APIVersion()
}

// listAll reads every page of a list and returns the items and the
// first page's resourceVersion (a watch from it misses nothing).
func listAll(ctx context.Context, c *client.Client, info api.KindInfo, ns string, opts client.ListOptions) ([]api.Object, string, error) {
	var objs []api.Object
	rv := ""
	for {
		l, err := c.ListObjects(ctx, info, ns, opts)
		if err != nil {
			if client.IsExpired(err) {
				return nil, "", fmt.Errorf("the list changed too much while it was read in pages; run the command again, or with a larger --chunk-size: %w", err)
			}
			return nil, "", err
		}
		if rv == "" {
			rv = l.ResourceVersion
		}
		objs = append(objs, l.Items...)
		if l.Continue == "" {
			return objs, rv, nil
		}
		opts.Continue = l.Continue
	}
}

// watchObjects prints the current objects (unless --watch-only), then one
// row (or document) per change until the command's context ends.
func watchObjects(cmd *cobra.Command, c *client.Client, info api.KindInfo, ns, listNS, name, rv string, objs []api.Object, o getOptions) error {
	ctx := cmd.Context()
	fieldSelector := o.fieldSelector
	watchNS := listNS
	if name != "" {
		fieldSelector = joinSelectors("metadata.name="+name, fieldSelector)
		watchNS = ns
	}
	events, err := c.Watch(ctx, info, watchNS, client.WatchOptions{LabelSelector: o.labelSelector, FieldSelector: fieldSelector, ResourceVersion: rv})
	if err != nil {
		return selectorFlagError(err)
	}
	p := &watchPrinter{w: cmd.OutOrStdout(), info: info, o: o}
	shown := map[string]bool{}
	for _, obj := range objs {
		shown[watchKey(obj)] = true
	}
	if !o.watchOnly {
		if err := p.initial(objs); err != nil {
			return err
		}
	} else if err := p.initial(nil); err != nil {
		return err
	}
	for ev := range events {
		switch ev.Type {
		case api.WatchBookmark:
			continue
		case api.WatchError:
			if client.IsExpired(ev.Err) {
				return fmt.Errorf("the watch fell too far behind the server; run the command again: %w", ev.Err)
			}
			return ev.Err
		case api.WatchDeleted:
			// After a reconnect the server may name objects this watch
			// never showed.
			if !shown[watchKey(ev.Object)] {
				continue
			}
			delete(shown, watchKey(ev.Object))
		default:
			shown[watchKey(ev.Object)] = true
		}
		setKind(ev.Object, info)
		if err := p.event(ev.Type, ev.Object); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func watchKey(obj api.Object) string {
	m := obj.GetObjectMeta()
	return m.Namespace + "/" + m.Name
}

func joinSelectors(a, b string) string {
	if b == "" {
		return a
	}
	return a + "," + b
}

// watchPrinter prints objects as they change: table rows whose columns
// keep the widths of the first rows, or YAML/JSON documents, or names.
type watchPrinter struct {
	w      io.Writer
	info   api.KindInfo
	o      getOptions
	widths []int
}

func (p *watchPrinter) initial(objs []api.Object) error {
	switch p.o.output {
	case "yaml", "json", "name":
		for _, obj := range objs {
			if err := p.event(api.WatchAdded, obj); err != nil {
				return err
			}
		}
		return nil
	}
	header, rows := tableOf(p.info, objs, p.o.allNamespaces, p.o.output == "wide", time.Now())
	if p.o.watchEvents {
		header = append([]string{"EVENT"}, header...)
		for i := range rows {
			rows[i] = append([]string{string(api.WatchAdded)}, rows[i]...)
		}
	}
	p.widths = make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, cell := range r {
			p.widths[i] = max(p.widths[i], utf8.RuneCountInString(cell))
		}
	}
	if err := p.row(header); err != nil {
		return err
	}
	for _, r := range rows {
		if err := p.row(r); err != nil {
			return err
		}
	}
	return nil
}

func (p *watchPrinter) event(typ api.WatchEventType, obj api.Object) error {
	switch p.o.output {
	case "name":
		line := fmt.Sprintf("%s/%s", p.info.Singular, obj.GetObjectMeta().Name)
		if p.o.watchEvents {
			line = string(typ) + " " + line
		}
		_, err := fmt.Fprintln(p.w, line)
		return err
	case "yaml", "json":
		var v any = obj
		if p.o.watchEvents {
			v = map[string]any{"type": typ, "object": obj}
		}
		if p.o.output == "yaml" {
			b, err := yaml.Marshal(v)
			if err != nil {
				return fmt.Errorf("encode yaml: %w", err)
			}
			_, err = fmt.Fprintf(p.w, "---\n%s", b)
			return err
		}
		b, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return fmt.Errorf("encode json: %w", err)
		}
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	}
	_, rows := tableOf(p.info, []api.Object{obj}, p.o.allNamespaces, p.o.output == "wide", time.Now())
	if len(rows) == 0 {
		return nil
	}
	row := rows[0]
	if p.o.watchEvents {
		row = append([]string{string(typ)}, row...)
	}
	return p.row(row)
}

// row prints cells padded to the column widths, as newTable would.
func (p *watchPrinter) row(cells []string) error {
	var b strings.Builder
	for i, cell := range cells {
		b.WriteString(cell)
		if i == len(cells)-1 {
			break
		}
		w := 0
		if i < len(p.widths) {
			w = p.widths[i]
		}
		b.WriteString(strings.Repeat(" ", max(w-utf8.RuneCountInString(cell), 0)+tablePadding))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(p.w, b.String())
	return err
}

// tablePadding is the space between columns, as newTable's.
const tablePadding = 3

// printObjects writes one object, or a List of them, as YAML or JSON.
func printObjects(w io.Writer, format string, objs []api.Object, single bool) error {
	var v any = map[string]any{"apiVersion": "v1", "kind": "List", "items": objs}
	if single {
		v = objs[0]
	}
	var b []byte
	var err error
	if format == "json" {
		b, err = json.MarshalIndent(v, "", "    ")
		b = append(b, '\n')
	} else {
		b, err = yaml.Marshal(v)
	}
	if err != nil {
		return fmt.Errorf("encode %s: %w", format, err)
	}
	_, err = w.Write(b)
	return err
}

// podRow is NAME, READY, STATUS, NODE, RUNTIME, AGE of a pod.
func podRow(p *api.Pod, now time.Time) []string {
	ready := 0
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready && cs.State.Running != nil {
			ready++
		}
	}
	runtime := "container"
	if p.Spec.IsWasm() {
		runtime = "wasm"
	}
	return []string{
		p.Name,
		fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers)),
		podStatus(p),
		orNone(p.Spec.NodeName),
		runtime,
		age(p.CreationTimestamp, now),
	}
}

// podStatus is the STATUS column, as kubectl computes it: the phase, or
// the pod's reason, or the reason a container waits or ended with
// (ErrImagePull, CrashLoopBackOff, Completed, Error), or Terminating.
func podStatus(p *api.Pod) string {
	reason := string(p.Status.Phase)
	if reason == "" {
		reason = string(api.PodPending)
	}
	if p.Status.Reason != "" {
		reason = p.Status.Reason
	}
	running := false
	for i := len(p.Status.ContainerStatuses) - 1; i >= 0; i-- {
		st := p.Status.ContainerStatuses[i].State
		switch {
		case st.Waiting != nil && st.Waiting.Reason != "":
			reason = st.Waiting.Reason
		case st.Terminated != nil && st.Terminated.Reason != "":
			reason = st.Terminated.Reason
		case st.Terminated != nil && st.Terminated.Signal != 0:
			reason = fmt.Sprintf("Signal:%d", st.Terminated.Signal)
		case st.Terminated != nil && st.Terminated.ExitCode == 0:
			reason = "Completed"
		case st.Terminated != nil:
			reason = "Error"
		case st.Running != nil:
			running = true
		}
	}
	if reason == "Completed" && running {
		reason = string(api.PodRunning)
	}
	if p.DeletionTimestamp != nil {
		reason = "Terminating"
	}
	return reason
}

func podRestarts(p *api.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

func podImages(p *api.Pod) string {
	imgs := make([]string, len(p.Spec.Containers))
	for i, c := range p.Spec.Containers {
		imgs[i] = c.Image
	}
	return strings.Join(imgs, ",")
}

// nodeRow is NAME, STATUS, ARCH, OS, RUNTIMES, AGE of a node.
func nodeRow(n *api.Node, now time.Time) []string {
	status := "Unknown"
	if c := n.Status.Condition(api.NodeReady); c != nil {
		status = "NotReady"
		if c.Status == api.ConditionTrue {
			status = "Ready"
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	arch, osName := n.Status.NodeInfo.Architecture, n.Status.NodeInfo.OperatingSystem
	if arch == "" {
		arch = n.Labels[api.LabelArch]
	}
	if osName == "" {
		osName = n.Labels[api.LabelOS]
	}
	var runtimes []string
	for _, r := range n.Status.Runtimes {
		runtimes = append(runtimes, r.Name)
	}
	return []string{n.Name, status, orNone(arch), orNone(osName), orNone(strings.Join(runtimes, ",")), age(n.CreationTimestamp, now)}
}

func nodeAddress(n *api.Node, typ string) string {
	for _, a := range n.Status.Addresses {
		if a.Type == typ {
			return a.Address
		}
	}
	return ""
}
