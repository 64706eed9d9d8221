package scheduler

import (
	"fmt"
	"slices"

	"github.com/skiff-sh/skiff/api"
)

// DefaultFilters are the filters a scheduler uses unless told otherwise,
// in the order a node is tried against them (its first failing filter
// gives its reasons).
func DefaultFilters() []FilterPlugin {
	return []FilterPlugin{
		NodeReady{}, NodeUnschedulable{}, RuntimeClass{}, NodeSelector{}, NodeAffinity{},
		TaintToleration{}, NodePorts{}, NodeResourcesFit{}, InterPodAntiAffinity{}, PodTopologySpread{},
	}
}

// DefaultScores are the scores a scheduler uses unless told otherwise,
// with kube-scheduler's weights.
func DefaultScores() []ScorePlugin {
	return []ScorePlugin{LeastAllocated{}, NodeAffinity{}, TaintToleration{}, InterPodAntiAffinity{}, PodTopologySpread{}}
}

// Reasons, phrased to follow "N node(s) ".
const (
	ReasonNotReady             = "are not ready"
	ReasonCordoned             = "are cordoned (unschedulable)"
	ReasonNodeSelector         = "didn't match the pod's node selector"
	ReasonNodeAffinity         = "didn't match the pod's node affinity"
	ReasonTooManyPods          = "are full (too many pods)"
	ReasonInsufficientCPU      = "had insufficient cpu"
	ReasonInsufficientMemory   = "had insufficient memory"
	ReasonAntiAffinity         = "didn't match pod anti-affinity rules"
	ReasonExistingAntiAffinity = "didn't satisfy existing pods anti-affinity rules"
	ReasonTopologySpread       = "didn't match pod topology spread constraints"
	ReasonTopologySpreadLabel  = "didn't match pod topology spread constraints (missing required label)"
	ReasonNodePorts            = "didn't have free ports for the requested pod ports"
)

// Reason slices returned by filters; shared, never changed.
var (
	reasonNotReady             = []string{ReasonNotReady}
	reasonCordoned             = []string{ReasonCordoned}
	reasonNodeSelector         = []string{ReasonNodeSelector}
	reasonNodeAffinity         = []string{ReasonNodeAffinity}
	reasonAntiAffinity         = []string{ReasonAntiAffinity}
	reasonExistingAntiAffinity = []string{ReasonExistingAntiAffinity}
	reasonTopologySpread       = []string{ReasonTopologySpread}
	reasonTopologySpreadLabel  = []string{ReasonTopologySpreadLabel}
	reasonNodePorts            = []string{ReasonNodePorts}
)

// NodeReady keeps pods off nodes whose Ready condition is not True.
type NodeReady struct{}

func (NodeReady) Name() string { return "NodeReady" }

func (NodeReady) Filter(_ *CycleState, _ *api.Pod, n *NodeInfo) []string {
	if !n.ready {
		return reasonNotReady
	}
	return nil
}

// NodeUnschedulable keeps pods off cordoned nodes.
type NodeUnschedulable struct{}

func (NodeUnschedulable) Name() string { return "NodeUnschedulable" }

func (NodeUnschedulable) Filter(_ *CycleState, _ *api.Pod, n *NodeInfo) []string {
	if n.Node.Spec.Unschedulable {
		return reasonCordoned
	}
	return nil
}

// RuntimeContainerd is the runtime handler name of OCI containers.
const RuntimeContainerd = api.RuntimeHandlerContainerd

// RuntimeFor is the runtime handler a pod needs (api.RuntimeHandlerFor).
func RuntimeFor(p *api.Pod) string { return api.RuntimeHandlerFor(&p.Spec) }

// RuntimeClass puts a pod only on a node that offers its runtime: a Wasm
// pod on a node with the wasm handler, any other on one with containerd.
// Wasm pods are architecture-neutral: nothing filters them by
// kubernetes.io/arch or os unless the pod asks (nodeSelector, affinity).
type RuntimeClass struct{}

func (RuntimeClass) Name() string { return "RuntimeClass" }

func (RuntimeClass) Filter(_ *CycleState, p *api.Pod, n *NodeInfo) []string {
	if r := RuntimeFor(p); !n.Node.Status.HasRuntime(r) {
		return []string{fmt.Sprintf("have no %s runtime", r)}
	}
	return nil
}

// NodeSelector puts a pod only on nodes with every label of its
// nodeSelector (kubernetes.io/arch and os among them).
type NodeSelector struct{}

func (NodeSelector) Name() string { return "NodeSelector" }

func (NodeSelector) PreFilter(_ *CycleState, p *api.Pod) bool { return len(p.Spec.NodeSelector) == 0 }

func (NodeSelector) Filter(_ *CycleState, p *api.Pod, n *NodeInfo) []string {
	if !matchesNodeSelector(p, n.Node) {
		return reasonNodeSelector
	}
	return nil
}

func matchesNodeSelector(p *api.Pod, n *api.Node) bool {
	for k, v := range p.Spec.NodeSelector {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// NodeAffinity filters by the pod's required node affinity and scores by
// its preferred terms: the sum of the weights of the terms a node matches,
// scaled so the best node has MaxNodeScore.
type NodeAffinity struct{}

func (NodeAffinity) Name() string  { return "NodeAffinity" }
func (NodeAffinity) Weight() int64 { return 2 }

func (NodeAffinity) PreFilter(_ *CycleState, p *api.Pod) bool {
	a := p.Spec.Affinity
	return a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil
}

func (NodeAffinity) Filter(_ *CycleState, p *api.Pod, n *NodeInfo) []string {
	if !matchesRequiredAffinity(p, n.Node) {
		return reasonNodeAffinity
	}
	return nil
}

func matchesRequiredAffinity(p *api.Pod, n *api.Node) bool {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return true
	}
	return a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.Matches(n.Name, n.Labels)
}

func (NodeAffinity) PreScore(_ *CycleState, p *api.Pod, _ []*NodeInfo) bool {
	a := p.Spec.Affinity
	return a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0
}

func (NodeAffinity) Score(_ *CycleState, p *api.Pod, n *NodeInfo) int64 {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return 0
	}
	var s int64
	for _, t := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		if t.Weight > 0 && t.Preference.Matches(n.Node.Name, n.Node.Labels) {
			s += int64(t.Weight)
		}
	}
	return s
}

func (NodeAffinity) Normalize(scores []int64) { scaleToMax(scores, false) }

// scaleToMax maps scores to 0–MaxNodeScore in proportion to the highest;
// reverse makes the lowest best.
func scaleToMax(scores []int64, reverse bool) {
	top := slices.Max(scores)
	for i, s := range scores {
		switch {
		case top <= 0 && reverse:
			scores[i] = MaxNodeScore
		case top <= 0:
			scores[i] = 0
		case reverse:
			scores[i] = MaxNodeScore - s*MaxNodeScore/top
		default:
			scores[i] = s * MaxNodeScore / top
		}
	}
}

// TaintToleration keeps pods off nodes with a NoSchedule or NoExecute taint
// they do not tolerate, and prefers nodes with fewer PreferNoSchedule
// taints they do not tolerate.
type TaintToleration struct{}

func (TaintToleration) Name() string  { return "TaintToleration" }
func (TaintToleration) Weight() int64 { return 3 }

func (TaintToleration) Filter(_ *CycleState, p *api.Pod, n *NodeInfo) []string {
	for _, t := range n.Node.Spec.Taints {
		if t.Effect != api.TaintEffectNoSchedule && t.Effect != api.TaintEffectNoExecute {
			continue
		}
		if !tolerates(p.Spec.Tolerations, t) {
			return []string{fmt.Sprintf("had untolerated taint {%s: %s}", t.Key, t.Value)}
		}
	}
	return nil
}

func (TaintToleration) Score(_ *CycleState, p *api.Pod, n *NodeInfo) int64 {
	var s int64
	for _, t := range n.Node.Spec.Taints {
		if t.Effect == api.TaintEffectPreferNoSchedule && !tolerates(p.Spec.Tolerations, t) {
			s++
		}
	}
	return s
}

func (TaintToleration) Normalize(scores []int64) { scaleToMax(scores, true) }

// tolerates is Kubernetes' rule, shared with the DaemonSet controller.
func tolerates(ts []api.Toleration, t api.Taint) bool { return api.TolerationsTolerateTaint(ts, t) }

// NodeResourcesFit puts a pod only where its requests fit: status.allocatable
// minus the requests of the non-terminal pods bound to the node (those this
// scheduler just bound included), and under allocatable pods. Each
// resource short is its own reason, as in Kubernetes.
type NodeResourcesFit struct{}

func (NodeResourcesFit) Name() string { return "NodeResourcesFit" }

func (NodeResourcesFit) Filter(cs *CycleState, _ *api.Pod, n *NodeInfo) []string {
	var out []string
	if n.MaxPods > 0 && int64(n.Pods) >= n.MaxPods {
		out = append(out, ReasonTooManyPods)
	}
	req := cs.Requests()
	if req.MilliCPU > 0 && req.MilliCPU > n.Allocatable.MilliCPU-n.Requested.MilliCPU {
		out = append(out, ReasonInsufficientCPU)
	}
	if req.Memory > 0 && req.Memory > n.Allocatable.Memory-n.Requested.Memory {
		out = append(out, ReasonInsufficientMemory)
	}
	return out
}

// NodePorts keeps two pods that want the same host port (and protocol, on
// the same or a wildcard host IP) off one node.
type NodePorts struct{}

func (NodePorts) Name() string { return "NodePorts" }

func (NodePorts) PreFilter(cs *CycleState, _ *api.Pod) bool { return len(cs.pod.ports) == 0 }

func (NodePorts) Filter(cs *CycleState, _ *api.Pod, n *NodeInfo) []string {
	for _, want := range cs.pod.ports {
		if n.portTaken(want) {
			return reasonNodePorts
		}
	}
	return nil
}

// LeastAllocated prefers the node with the most room left after the pod,
// cpu and memory weighing the same: the mean of (allocatable − requested)
// / allocatable, on 0–100. Containers without requests count as
// DefaultMilliCPURequest and DefaultMemoryRequest, so they spread too.
type LeastAllocated struct{}

func (LeastAllocated) Name() string { return "LeastAllocated" }

func (LeastAllocated) Score(cs *CycleState, _ *api.Pod, n *NodeInfo) int64 {
	req := cs.NonZeroRequests()
	cpu := freeFraction(n.Allocatable.MilliCPU, n.NonZeroRequested.MilliCPU+req.MilliCPU)
	mem := freeFraction(n.Allocatable.Memory, n.NonZeroRequested.Memory+req.Memory)
	return (cpu + mem) / 2
}

func freeFraction(alloc, used int64) int64 {
	if alloc <= 0 || used >= alloc {
		return 0
	}
	// Divide first where the product could overflow (memory in bytes).
	if alloc > 1<<50 {
		return (alloc - used) / (alloc / MaxNodeScore)
	}
	return (alloc - used) * MaxNodeScore / alloc
}

// domainSet is a set of topology domains under one key.
type domainSet struct {
	key    string
	values map[string]bool
}

func (d domainSet) has(n *api.Node) bool {
	v, ok := topologyValue(n, d.key)
	return ok && d.values[v]
}

// domainsOf are the domains under key of the nodes in perNode.
func domainsOf(cs *CycleState, key string, perNode map[string]int) domainSet {
	d := domainSet{key: key, values: map[string]bool{}}
	for name := range perNode {
		if ni := cs.NodeInfo(name); ni != nil {
			if v, ok := topologyValue(ni.Node, key); ok {
				d.values[v] = true
			}
		}
	}
	return d
}

// InterPodAntiAffinity keeps a pod out of every topology domain (the nodes
// sharing a value of the term's topologyKey; kubernetes.io/hostname is the
// node) that already runs a pod its required anti-affinity terms select
// (in the term's namespaces, default the pod's own), and, symmetrically,
// out of the domains of existing pods whose required anti-affinity selects
// it. Preferred terms, the pod's and existing pods', lower a node's score
// by their weight for each such pod in its domain.
type InterPodAntiAffinity struct{}

func (InterPodAntiAffinity) Name() string  { return "InterPodAntiAffinity" }
func (InterPodAntiAffinity) Weight() int64 { return 2 }

type antiAffinityState struct {
	own, existing []domainSet
}

func (InterPodAntiAffinity) PreFilter(cs *CycleState, p *api.Pod) bool {
	var st antiAffinityState
	for _, t := range cs.pod.terms {
		if t.weight == 0 {
			if d := domainsOf(cs, t.topologyKey, cs.MatchingPods(t.namespaces, t.selector)); len(d.values) > 0 {
				st.own = append(st.own, d)
			}
		}
	}
	for _, et := range cs.c.terms {
		if et.weight == 0 && et.matches(p) {
			if d := domainsOf(cs, et.topologyKey, et.perNode); len(d.values) > 0 {
				st.existing = append(st.existing, d)
			}
		}
	}
	if len(st.own)+len(st.existing) == 0 {
		return true
	}
	cs.Write("InterPodAntiAffinity", &st)
	return false
}

func (t *antiTerm) matches(p *api.Pod) bool {
	return slices.Contains(t.namespaces, p.Namespace) && t.selector.Matches(p.Labels)
}

func (InterPodAntiAffinity) Filter(cs *CycleState, _ *api.Pod, n *NodeInfo) []string {
	st, _ := cs.Read("InterPodAntiAffinity").(*antiAffinityState)
	if st == nil {
		return nil
	}
	for _, d := range st.existing {
		if d.has(n.Node) {
			return reasonExistingAntiAffinity
		}
	}
	for _, d := range st.own {
		if d.has(n.Node) {
			return reasonAntiAffinity
		}
	}
	return nil
}

// antiAffinityScore is the weight against each node: per node for terms
// keyed by kubernetes.io/hostname while every node's hostname label is its
// name (the common case, no map of domains to build), else per domain
// (key → value → sum).
type antiAffinityScore struct {
	perNode  []weightedCounts
	byDomain map[string]map[string]int64
}

type weightedCounts struct {
	counts map[string]int
	weight int64
}

func (s *antiAffinityScore) add(cs *CycleState, key string, perNode map[string]int, weight int64) {
	if len(perNode) == 0 {
		return
	}
	if key == api.LabelHostname && cs.c.hostnameNotName == 0 {
		s.perNode = append(s.perNode, weightedCounts{perNode, weight})
		return
	}
	for name, count := range perNode {
		ni := cs.NodeInfo(name)
		if ni == nil {
			continue
		}
		v, ok := topologyValue(ni.Node, key)
		if !ok {
			continue
		}
		if s.byDomain == nil {
			s.byDomain = map[string]map[string]int64{}
		}
		if s.byDomain[key] == nil {
			s.byDomain[key] = map[string]int64{}
		}
		s.byDomain[key][v] += weight * int64(count)
	}
}

func (InterPodAntiAffinity) PreScore(cs *CycleState, p *api.Pod, _ []*NodeInfo) bool {
	s := &antiAffinityScore{}
	for _, t := range cs.pod.terms {
		if t.weight > 0 {
			s.add(cs, t.topologyKey, cs.MatchingPods(t.namespaces, t.selector), t.weight)
		}
	}
	for _, et := range cs.c.terms {
		if et.weight > 0 && et.matches(p) {
			s.add(cs, et.topologyKey, et.perNode, et.weight)
		}
	}
	if len(s.perNode) == 0 && len(s.byDomain) == 0 {
		return true
	}
	cs.Write("InterPodAntiAffinity/score", s)
	return false
}

func (InterPodAntiAffinity) Score(cs *CycleState, _ *api.Pod, n *NodeInfo) int64 {
	s, _ := cs.Read("InterPodAntiAffinity/score").(*antiAffinityScore)
	if s == nil {
		return 0
	}
	var total int64
	for _, wc := range s.perNode {
		total -= wc.weight * int64(wc.counts[n.Node.Name])
	}
	for key, byValue := range s.byDomain {
		if v, ok := topologyValue(n.Node, key); ok {
			total -= byValue[v]
		}
	}
	return total
}

func (InterPodAntiAffinity) Normalize(scores []int64) { minMax(scores) }

// minMax maps the lowest score to 0 and the highest to MaxNodeScore; all
// equal gives all 0, as kube-scheduler's InterPodAffinity does.
func minMax(scores []int64) {
	lo, hi := slices.Min(scores), slices.Max(scores)
	for i, s := range scores {
		if hi == lo {
			scores[i] = 0
		} else {
			scores[i] = (s - lo) * MaxNodeScore / (hi - lo)
		}
	}
}

// PodTopologySpread keeps a workload's pods spread over the values of a
// node label. For a DoNotSchedule constraint a node passes when placing the
// pod there keeps the skew within maxSkew: skew = matching pods in the
// node's domain + 1 (if the pod matches its own selector) − the fewest in
// any domain. Pods are counted in the pod's namespace; the domains are
// those of nodes that have every constraint's key and match the pod's
// nodeSelector and required node affinity (Kubernetes' default node
// inclusion policy). A node without the key fails. ScheduleAnyway
// constraints score instead: fewer matching pods in the node's domain is
// better.
type PodTopologySpread struct{}

func (PodTopologySpread) Name() string  { return "PodTopologySpread" }
func (PodTopologySpread) Weight() int64 { return 2 }

type spreadConstraint struct {
	key       string
	maxSkew   int64
	selfMatch int64
	counts    map[string]int64 // domain → matching pods
	min       int64
}

// policyOf is a constraint's whenUnsatisfiable, DoNotSchedule when unset.
func policyOf(c api.TopologySpreadConstraint) string {
	if c.WhenUnsatisfiable == "" {
		return api.DoNotSchedule
	}
	return c.WhenUnsatisfiable
}

// spreadState counts, for the pod's constraints of one policy, the
// matching pods per domain over the eligible nodes, and the fewest. Only
// nodes with matching pods are visited: a domain without any counts 0.
func spreadState(cs *CycleState, p *api.Pod, policy string) []spreadConstraint {
	var out []spreadConstraint
	var perNode []map[string]int
	var keys []string
	for _, c := range p.Spec.TopologySpreadConstraints {
		if policyOf(c) != policy {
			continue
		}
		sc := spreadConstraint{key: c.TopologyKey, maxSkew: int64(c.MaxSkew), counts: map[string]int64{}}
		if c.LabelSelector.Matches(p.Labels) {
			sc.selfMatch = 1
		}
		out = append(out, sc)
		perNode = append(perNode, cs.MatchingPods([]string{p.Namespace}, c.LabelSelector))
		keys = append(keys, c.TopologyKey)
	}
	if len(out) == 0 {
		return nil
	}
	el := cs.c.eligibleFor(p, keys)
	for i := range out {
		sc := &out[i]
		for name, count := range perNode[i] {
			if vals, ok := el.node[name]; ok {
				sc.counts[vals[i]] += int64(count)
			}
		}
		if len(sc.counts) < el.domains[i] {
			continue // an eligible domain has none: min is 0
		}
		first := true
		for _, n := range sc.counts {
			if first || n < sc.min {
				sc.min, first = n, false
			}
		}
	}
	return out
}

type spreadFilterState struct{ constraints []spreadConstraint }

func (PodTopologySpread) PreFilter(cs *CycleState, p *api.Pod) bool {
	c := spreadState(cs, p, api.DoNotSchedule)
	if c == nil {
		return true
	}
	cs.Write("PodTopologySpread", &spreadFilterState{c})
	return false
}

func (PodTopologySpread) Filter(cs *CycleState, _ *api.Pod, n *NodeInfo) []string {
	st, _ := cs.Read("PodTopologySpread").(*spreadFilterState)
	if st == nil {
		return nil
	}
	for _, c := range st.constraints {
		v, ok := topologyValue(n.Node, c.key)
		if !ok {
			return reasonTopologySpreadLabel
		}
		if c.counts[v]+c.selfMatch-c.min > c.maxSkew {
			return reasonTopologySpread
		}
	}
	return nil
}

type spreadScoreState struct{ constraints []spreadConstraint }

func (PodTopologySpread) PreScore(cs *CycleState, p *api.Pod, _ []*NodeInfo) bool {
	c := spreadState(cs, p, api.ScheduleAnyway)
	if c == nil {
		return true
	}
	cs.Write("PodTopologySpread/score", &spreadScoreState{c})
	return false
}

// Score is the matching pods in the node's domains, or -1 for a node
// without every key (it scores 0 after Normalize).
func (PodTopologySpread) Score(cs *CycleState, _ *api.Pod, n *NodeInfo) int64 {
	st, _ := cs.Read("PodTopologySpread/score").(*spreadScoreState)
	if st == nil {
		return 0
	}
	var s int64
	for _, c := range st.constraints {
		v, ok := topologyValue(n.Node, c.key)
		if !ok {
			return -1
		}
		s += c.counts[v]
	}
	return s
}

// Normalize makes the fewest matching pods MaxNodeScore and the most 0;
// nodes without the keys get 0.
func (PodTopologySpread) Normalize(scores []int64) {
	lo, hi, seen := int64(0), int64(0), false
	for _, s := range scores {
		if s < 0 {
			continue
		}
		if !seen || s < lo {
			lo = s
		}
		if !seen || s > hi {
			hi = s
		}
		seen = true
	}
	for i, s := range scores {
		switch {
		case s < 0:
			scores[i] = 0
		case hi == lo:
			scores[i] = MaxNodeScore
		default:
			scores[i] = (hi - s) * MaxNodeScore / (hi - lo)
		}
	}
}
