package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/scheduler"
	"github.com/skiff-sh/skiff/web/client"
)

func newTopCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top nodes|pods",
		Short: "Show the cpu and memory pods request, per node or per pod (requested, not measured)",
		Long: `Show cpu and memory per node or per pod.

Skiff has no metrics pipeline yet: top reports what pods REQUEST (and, for
pods, their limits) as written in their specs, not what they use. Per node
it sets the requests of the pods bound there beside what the node offers
(status.allocatable), which is what the scheduler fills; a pod that requests
nothing counts as nothing.`,
	}
	cmd.AddCommand(newTopNodesCmd(), newTopPodsCmd())
	cmd.RunE = needSubcommand
	return cmd
}

// needSubcommand runs a command that only groups others: with no
// argument it prints its help, with another it says which ones exist.
func needSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return fmt.Errorf("unknown command %q for %q: use one of %s", args[0], cmd.CommandPath(), strings.Join(names, ", "))
}

type topOptions struct {
	namespace     string
	allNamespaces bool
	labelSelector string
	sortBy        string
}

func newTopNodesCmd() *cobra.Command {
	var o topOptions
	cmd := &cobra.Command{
		Use:     "nodes [NAME]",
		Aliases: []string{"node", "no"},
		Short:   "Per node: the cpu and memory its pods request, against what it offers (requested, not measured)",
		Long: `Per node: the sum of the cpu and memory requests of the pods bound to it
(pods that ended are not counted), what the node offers pods
(status.allocatable), the share requested, and how many pods it runs.

These are requested, not measured, resources: Skiff has no metrics yet.`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeNodeNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTopNodes(cmd, args, o)
		},
	}
	cmd.Flags().StringVarP(&o.labelSelector, "selector", "l", "", "only nodes whose labels match, like kubernetes.io/arch=arm64")
	cmd.Flags().StringVar(&o.sortBy, "sort-by", "", "sort by cpu or memory requests, the most first")
	return cmd
}

func newTopPodsCmd() *cobra.Command {
	var o topOptions
	cmd := &cobra.Command{
		Use:     "pods [NAME]",
		Aliases: []string{"pod", "po"},
		Short:   "Per pod: the cpu and memory it requests and its limits (requested, not measured)",
		Long: `Per pod: the sum of its containers' cpu and memory requests (a container
with a limit and no request requests its limit, as in Kubernetes) and
limits, and the node it is bound to.

These are requested, not measured, resources: Skiff has no metrics yet.`,
		Args: cobra.MaximumNArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			info, _ := api.LookupKind("Pod")
			return objectNames(cmd, info), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTopPods(cmd, args, o)
		},
	}
	addNamespaceFlag(cmd, &o.namespace)
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "pods of every namespace")
	cmd.Flags().StringVarP(&o.labelSelector, "selector", "l", "", "only pods whose labels match, like app=web")
	cmd.Flags().StringVar(&o.sortBy, "sort-by", "", "sort by cpu or memory requests, the most first")
	_ = cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces)
	return cmd
}

func completeNodeNames(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	info, _ := api.LookupKind("Node")
	return objectNames(cmd, info), cobra.ShellCompDirectiveNoFileComp
}

func checkSortBy(s string) error {
	switch s {
	case "", "cpu", "memory":
		return nil
	}
	return fmt.Errorf("--sort-by %q is not one of cpu, memory", s)
}

// podResources are a pod's cpu (millicores) and memory (bytes) requests
// and limits. Requests are what the scheduler counts (scheduler.PodRequests).
type podResources struct {
	cpuReq, memReq int64
	cpuLim, memLim int64
	// hasCPULimit and hasMemLimit say whether any container sets the limit.
	hasCPULimit, hasMemLimit bool
}

func resourcesOf(p *api.Pod) podResources {
	req, _ := scheduler.PodRequests(p)
	r := podResources{cpuReq: req.MilliCPU, memReq: req.Memory}
	for _, c := range p.Spec.Containers {
		if q, ok := c.Resources.Limits[api.ResourceCPU]; ok {
			r.cpuLim += q.MilliValue()
			r.hasCPULimit = true
		}
		if q, ok := c.Resources.Limits[api.ResourceMemory]; ok {
			r.memLim += q.Value()
			r.hasMemLimit = true
		}
	}
	return r
}

// podCounts reports whether a pod holds its node's resources: bound and
// not ended.
func podCounts(p *api.Pod) bool { return p.Spec.NodeName != "" && !p.Status.Phase.Terminal() }

func formatMilliCPU(m int64) string { return fmt.Sprintf("%dm", m) }

// formatMemory writes bytes in Mi as kubectl top does, Ki below 1Mi.
func formatMemory(b int64) string {
	if b > 0 && b < 1<<20 {
		return fmt.Sprintf("%dKi", (b+1023)>>10)
	}
	return fmt.Sprintf("%dMi", (b+(1<<20)-1)>>20)
}

func percent(part, whole int64) string {
	if whole <= 0 {
		return "<unknown>"
	}
	return fmt.Sprintf("%d%%", part*100/whole)
}

type nodeUsage struct {
	node           *api.Node
	cpuReq, memReq int64
	cpuAlloc       int64
	memAlloc       int64
	pods           int
}

func runTopNodes(cmd *cobra.Command, args []string, o topOptions) error {
	if err := checkSortBy(o.sortBy); err != nil {
		return err
	}
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	nodeKind, _ := api.LookupKind("Node")
	podKind, _ := api.LookupKind("Pod")
	var nodes []api.Object
	if len(args) == 1 {
		n, err := c.GetObject(ctx, nodeKind, "", args[0])
		if err != nil {
			return err
		}
		nodes = []api.Object{n}
	} else {
		nodes, _, err = listAll(ctx, c, nodeKind, "", client.ListOptions{LabelSelector: o.labelSelector, Limit: 500})
		if err != nil {
			return selectorFlagError(err)
		}
	}
	if len(nodes) == 0 {
		fmt.Fprintln(cmd.ErrOrStderr(), "No resources found")
		return nil
	}
	pods, _, err := listAll(ctx, c, podKind, "", client.ListOptions{Limit: 500})
	if err != nil {
		return err
	}
	usage := map[string]*nodeUsage{}
	var rows []*nodeUsage
	for _, obj := range nodes {
		n := obj.(*api.Node)
		u := &nodeUsage{node: n, cpuAlloc: n.Status.Allocatable[api.ResourceCPU].MilliValue(), memAlloc: n.Status.Allocatable[api.ResourceMemory].Value()}
		usage[n.Name] = u
		rows = append(rows, u)
	}
	for _, obj := range pods {
		p := obj.(*api.Pod)
		u := usage[p.Spec.NodeName]
		if u == nil || !podCounts(p) {
			continue
		}
		r := resourcesOf(p)
		u.cpuReq += r.cpuReq
		u.memReq += r.memReq
		u.pods++
	}
	sortUsage(rows, o.sortBy, func(u *nodeUsage) (int64, int64, string) { return u.cpuReq, u.memReq, u.node.Name })
	t := newTable(cmd.OutOrStdout())
	fmt.Fprintln(t, "NAME\tCPU(requests)\tCPU(allocatable)\tCPU%\tMEMORY(requests)\tMEMORY(allocatable)\tMEMORY%\tPODS")
	for _, u := range rows {
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", u.node.Name,
			formatMilliCPU(u.cpuReq), allocatable(u.cpuAlloc, formatMilliCPU), percent(u.cpuReq, u.cpuAlloc),
			formatMemory(u.memReq), allocatable(u.memAlloc, formatMemory), percent(u.memReq, u.memAlloc), u.pods)
	}
	return t.Flush()
}

func allocatable(v int64, format func(int64) string) string {
	if v <= 0 {
		return "<unknown>"
	}
	return format(v)
}

// sortUsage sorts rows by name, or by cpu or memory, the most first.
func sortUsage[T any](rows []T, by string, key func(T) (cpu, mem int64, name string)) {
	sort.SliceStable(rows, func(i, j int) bool {
		ci, mi, ni := key(rows[i])
		cj, mj, nj := key(rows[j])
		switch {
		case by == "cpu" && ci != cj:
			return ci > cj
		case by == "memory" && mi != mj:
			return mi > mj
		}
		return ni < nj
	})
}

func runTopPods(cmd *cobra.Command, args []string, o topOptions) error {
	if err := checkSortBy(o.sortBy); err != nil {
		return err
	}
	if len(args) == 1 && o.allNamespaces {
		return errors.New("a pod cannot be retrieved by name across all namespaces: drop -A or the name")
	}
	c, err := apiClient(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	podKind, _ := api.LookupKind("Pod")
	ns := namespaceOrDefault(o.namespace)
	listNS := ns
	if o.allNamespaces {
		listNS = ""
	}
	opts := client.ListOptions{LabelSelector: o.labelSelector, Limit: 500}
	if len(args) == 1 {
		opts.FieldSelector = "metadata.name=" + args[0]
	}
	objs, _, err := listAll(ctx, c, podKind, listNS, opts)
	if err != nil {
		return selectorFlagError(err)
	}
	if len(objs) == 0 {
		if len(args) == 1 {
			return fmt.Errorf("pod %q not found in namespace %s", args[0], ns)
		}
		if o.allNamespaces {
			fmt.Fprintln(cmd.ErrOrStderr(), "No resources found")
		} else {
			fmt.Fprintf(cmd.ErrOrStderr(), "No resources found in %s namespace.\n", ns)
		}
		return nil
	}
	type row struct {
		p *api.Pod
		r podResources
	}
	var rows []row
	for _, obj := range objs {
		p := obj.(*api.Pod)
		rows = append(rows, row{p: p, r: resourcesOf(p)})
	}
	sortUsage(rows, o.sortBy, func(r row) (int64, int64, string) { return r.r.cpuReq, r.r.memReq, r.p.Namespace + "/" + r.p.Name })
	t := newTable(cmd.OutOrStdout())
	header := []string{"NAME", "CPU(requests)", "CPU(limits)", "MEMORY(requests)", "MEMORY(limits)", "NODE"}
	if o.allNamespaces {
		header = append([]string{"NAMESPACE"}, header...)
	}
	fmt.Fprintln(t, strings.Join(header, "\t"))
	for _, r := range rows {
		cpuLim, memLim := "<none>", "<none>"
		if r.r.hasCPULimit {
			cpuLim = formatMilliCPU(r.r.cpuLim)
		}
		if r.r.hasMemLimit {
			memLim = formatMemory(r.r.memLim)
		}
		cells := []string{r.p.Name, formatMilliCPU(r.r.cpuReq), cpuLim, formatMemory(r.r.memReq), memLim, orNone(r.p.Spec.NodeName)}
		if o.allNamespaces {
			cells = append([]string{r.p.Namespace}, cells...)
		}
		fmt.Fprintln(t, strings.Join(cells, "\t"))
	}
	return t.Flush()
}
