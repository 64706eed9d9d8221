package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/api"
)

type getOptions struct {
	namespace     string
	allNamespaces bool
	output        string
}

func newGetCmd() *cobra.Command {
	var o getOptions
	cmd := &cobra.Command{
		Use:   "get (pods|nodes) [NAME]",
		Short: "List pods or nodes, or show one",
		Long: `List pods or nodes as a table, or show one.

  skiff get pods                 pods in the default namespace
  skiff get pods -A              pods in every namespace
  skiff get pod hello -o yaml    one pod as YAML
  skiff get nodes -o wide        nodes with versions and addresses`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGet(cmd, args, o)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list pods in every namespace")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "output format: wide, yaml, json or name")
	return cmd
}

func runGet(cmd *cobra.Command, args []string, o getOptions) error {
	info, err := lookupKind(args[0], "Pod", "Node")
	if err != nil {
		return err
	}
	switch o.output {
	case "", "wide", "yaml", "json", "name":
	default:
		return fmt.Errorf("--output %q is not one of wide, yaml, json, name", o.output)
	}
	name := ""
	if len(args) == 2 {
		name = args[1]
		if o.allNamespaces {
			return errors.New("a resource cannot be retrieved by name across all namespaces: drop -A or the name")
		}
	}
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	ns := namespaceOrDefault(o.namespace)
	listNS := ns
	if o.allNamespaces {
		listNS = ""
	}
	var objs []api.Object
	if name != "" {
		obj, err := c.GetObject(cmd.Context(), info, ns, name)
		if err != nil {
			return err
		}
		objs = []api.Object{obj}
	} else {
		l, err := c.ListObjects(cmd.Context(), info, listNS)
		if err != nil {
			return err
		}
		objs = l.Items
	}
	out := cmd.OutOrStdout()
	for _, obj := range objs {
		tm := obj.GetTypeMeta()
		tm.Kind, tm.APIVersion = info.Kind, info.APIVersion()
	}
	switch o.output {
	case "yaml", "json":
		return printObjects(out, o.output, objs, name != "")
	case "name":
		for _, obj := range objs {
			fmt.Fprintf(out, "%s/%s\n", info.Singular, obj.GetObjectMeta().Name)
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
	now := time.Now()
	wide := o.output == "wide"
	switch info.Kind {
	case "Pod":
		return printPodTable(out, objs, o.allNamespaces, wide, now)
	default:
		return printNodeTable(out, objs, wide, now)
	}
}

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

func printPodTable(w io.Writer, objs []api.Object, withNamespace, wide bool, now time.Time) error {
	t := newTable(w)
	cols := []string{"NAME", "READY", "STATUS", "NODE", "RUNTIME", "AGE"}
	if withNamespace {
		cols = append([]string{"NAMESPACE"}, cols...)
	}
	if wide {
		cols = append(cols, "RESTARTS", "IP", "IMAGES")
	}
	fmt.Fprintln(t, strings.Join(cols, "\t"))
	for _, obj := range objs {
		p, ok := obj.(*api.Pod)
		if !ok {
			continue
		}
		row := podRow(p, now)
		if withNamespace {
			row = append([]string{p.Namespace}, row...)
		}
		if wide {
			row = append(row, strconv.Itoa(int(podRestarts(p))), orNone(p.Status.HostIP), podImages(p))
		}
		fmt.Fprintln(t, strings.Join(row, "\t"))
	}
	return t.Flush()
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

func printNodeTable(w io.Writer, objs []api.Object, wide bool, now time.Time) error {
	t := newTable(w)
	cols := []string{"NAME", "STATUS", "ARCH", "OS", "RUNTIMES", "AGE"}
	if wide {
		cols = append(cols, "VERSION", "KERNEL", "INTERNAL-IP")
	}
	fmt.Fprintln(t, strings.Join(cols, "\t"))
	for _, obj := range objs {
		n, ok := obj.(*api.Node)
		if !ok {
			continue
		}
		row := nodeRow(n, now)
		if wide {
			info := n.Status.NodeInfo
			row = append(row, orNone(info.AgentVersion), orNone(info.KernelVersion), orNone(nodeAddress(n, "InternalIP")))
		}
		fmt.Fprintln(t, strings.Join(row, "\t"))
	}
	return t.Flush()
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
