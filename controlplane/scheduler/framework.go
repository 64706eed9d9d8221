package scheduler

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/skiff-sh/skiff/api"
)

// FilterPlugin rules nodes out. Filter returns nil when the pod may run on
// the node, or why it may not: one or more reasons, each phrased to follow
// "N node(s) …" ("had insufficient memory"). Reasons are counted per node
// in the pod's Unschedulable message.
type FilterPlugin interface {
	Name() string
	Filter(cs *CycleState, pod *api.Pod, n *NodeInfo) (reasons []string)
}

// PreFilterPlugin is a FilterPlugin that first looks at the whole cluster,
// once per pod (counting matching pods per topology domain, say), and keeps
// what it found in the CycleState for Filter. It returns skip when the pod
// asks nothing of it: Filter then passes every node without being called.
type PreFilterPlugin interface {
	FilterPlugin
	PreFilter(cs *CycleState, pod *api.Pod) (skip bool)
}

// ScorePlugin ranks the nodes that passed every filter; higher is better.
// Raw scores are mapped to 0–100 by Normalize when the plugin has it
// (ScoreNormalizer), else clamped to 0–100, then multiplied by Weight when
// the plugin has it (Weighted), else 1, and summed over plugins.
type ScorePlugin interface {
	Name() string
	Score(cs *CycleState, pod *api.Pod, n *NodeInfo) int64
}

// PreScorePlugin is a ScorePlugin that looks at the whole cluster once per
// pod, before the feasible nodes are scored. It returns skip when it would
// score every node the same: Score is then not called.
type PreScorePlugin interface {
	ScorePlugin
	PreScore(cs *CycleState, pod *api.Pod, feasible []*NodeInfo) (skip bool)
}

// ScoreNormalizer maps one plugin's raw scores over the feasible nodes to
// 0–100, in place.
type ScoreNormalizer interface {
	Normalize(scores []int64)
}

// Weighted gives a score plugin's weight in the sum.
type Weighted interface {
	Weight() int64
}

// MaxNodeScore is the best normalized score of one plugin.
const MaxNodeScore int64 = 100

// CycleState is what one scheduling decision knows beyond a single node:
// the cluster, the pod's requests, and what plugins computed for this pod.
type CycleState struct {
	c    *cache
	pod  *podInfo
	data map[string]any
}

// Requests are the pod's requests (see PodRequests).
func (cs *CycleState) Requests() Resources { return cs.pod.req }

// NonZeroRequests are the pod's requests for scoring (see PodRequests).
func (cs *CycleState) NonZeroRequests() Resources { return cs.pod.nonZero }

// Nodes are every registered node, by name. The slice must not be changed.
func (cs *CycleState) Nodes() []*NodeInfo { return cs.c.nodeList() }

// NodeInfo returns a registered node by name, or nil.
func (cs *CycleState) NodeInfo(name string) *NodeInfo {
	if ni := cs.c.nodes[name]; ni != nil && ni.Node != nil {
		return ni
	}
	return nil
}

// MatchingPods counts, per node name, the bound non-terminal pods in the
// namespaces whose labels match sel (a nil selector matches none). The map
// must not be changed.
func (cs *CycleState) MatchingPods(namespaces []string, sel *api.LabelSelector) map[string]int {
	return cs.c.matching(namespaces, sel)
}

// Write keeps a plugin's data for this pod under key (the plugin's name).
func (cs *CycleState) Write(key string, v any) {
	if cs.data == nil {
		cs.data = map[string]any{}
	}
	cs.data[key] = v
}

// Read returns what Write kept under key, or nil.
func (cs *CycleState) Read(key string) any { return cs.data[key] }

// ErrUnschedulable is matched (errors.Is) by the *FitError of a pod no node
// fits.
var ErrUnschedulable = errors.New("unschedulable")

// FitError says why no node fits a pod, counted per reason, and reads as
// kube-scheduler's message: "0/5 nodes are available: 3 node(s) had
// insufficient memory, 2 node(s) had untolerated taint {edge: true}."
// (reasons sorted as text, as Kubernetes does).
type FitError struct {
	NumNodes int
	// Reasons counts the nodes that gave each reason.
	Reasons map[string]int
}

func (e *FitError) Error() string {
	if e.NumNodes == 0 {
		return "0/0 nodes are available: no nodes registered."
	}
	parts := make([]string, 0, len(e.Reasons))
	for r, n := range e.Reasons {
		parts = append(parts, fmt.Sprintf("%d node(s) %s", n, r))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", e.NumNodes, strings.Join(parts, ", "))
}

// Is makes errors.Is(err, ErrUnschedulable) true.
func (e *FitError) Is(target error) bool { return target == ErrUnschedulable }

// framework runs a pod through filters and scores. It is used by one
// goroutine at a time and keeps its buffers between decisions.
type framework struct {
	filters []FilterPlugin
	scores  []ScorePlugin
	weights []int64

	active     []FilterPlugin
	feasible   []*NodeInfo
	total, raw []int64
}

func newFramework(filters []FilterPlugin, scores []ScorePlugin) *framework {
	f := &framework{filters: filters, scores: scores, weights: make([]int64, len(scores))}
	for i, s := range scores {
		f.weights[i] = 1
		if w, ok := s.(Weighted); ok {
			f.weights[i] = w.Weight()
		}
	}
	return f
}

// decide picks the node for a pod: every filter must pass, then the
// highest weighted score wins; ties go to the node with fewer pods (spread),
// then to the first name. It returns a *FitError when no node passes.
func (f *framework) decide(c *cache, pi *podInfo) (string, error) {
	cs := &CycleState{c: c, pod: pi}
	p := pi.pod
	nodes := c.nodeList()
	if len(nodes) == 0 {
		return "", &FitError{}
	}
	f.active = f.active[:0]
	for _, fp := range f.filters {
		if pf, ok := fp.(PreFilterPlugin); ok && pf.PreFilter(cs, p) {
			continue
		}
		f.active = append(f.active, fp)
	}
	var reasons map[string]int
	feasible := f.feasible[:0]
	for _, n := range nodes {
		ok := true
		for _, fp := range f.active {
			if rs := fp.Filter(cs, p, n); len(rs) > 0 {
				if reasons == nil {
					reasons = map[string]int{}
				}
				for _, r := range rs {
					reasons[r]++
				}
				ok = false
				break
			}
		}
		if ok {
			feasible = append(feasible, n)
		}
	}
	f.feasible = feasible
	defer clear(f.feasible) // keep no NodeInfo alive between decisions
	switch len(feasible) {
	case 0:
		return "", &FitError{NumNodes: len(nodes), Reasons: reasons}
	case 1:
		return feasible[0].Node.Name, nil
	}
	total := grow(f.total, len(feasible))
	raw := grow(f.raw, len(feasible))
	f.total, f.raw = total, raw
	for i, sp := range f.scores {
		if ps, ok := sp.(PreScorePlugin); ok && ps.PreScore(cs, p, feasible) {
			continue
		}
		for j, n := range feasible {
			raw[j] = sp.Score(cs, p, n)
		}
		if nz, ok := sp.(ScoreNormalizer); ok {
			nz.Normalize(raw)
		}
		for j := range raw {
			total[j] += f.weights[i] * min(max(raw[j], 0), MaxNodeScore)
		}
	}
	best := 0
	for j := 1; j < len(feasible); j++ {
		if total[j] > total[best] || total[j] == total[best] && feasible[j].Pods < feasible[best].Pods {
			best = j
		}
	}
	return feasible[best].Node.Name, nil
}

// grow returns buf resized to n and zeroed.
func grow(buf []int64, n int) []int64 {
	if cap(buf) < n {
		return make([]int64, n)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}
