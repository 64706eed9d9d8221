package scheduler

import (
	"fmt"

	"github.com/skiff-sh/skiff/api"
)

// NodeInfo is a node with what the scheduler knows is bound to it.
type NodeInfo struct {
	Node *api.Node
	// Pods is the number of non-terminal pods bound to the node.
	Pods int
}

// FilterPlugin rules nodes out. Filter returns "" when the pod may run on
// the node, or the reason it may not, phrased to follow "N node(s) …".
type FilterPlugin interface {
	Name() string
	Filter(pod *api.Pod, n *NodeInfo) (reason string)
}

// ScorePlugin ranks the nodes that passed every filter; higher is better.
type ScorePlugin interface {
	Name() string
	Score(pod *api.Pod, n *NodeInfo) int64
}

// DefaultFilters are the filters a scheduler uses unless told otherwise.
func DefaultFilters() []FilterPlugin {
	return []FilterPlugin{nodeReady{}, nodeUnschedulable{}, runtimeClass{}, nodeSelector{}, taintToleration{}, podCapacity{}}
}

// DefaultScores are the scores a scheduler uses unless told otherwise.
func DefaultScores() []ScorePlugin { return []ScorePlugin{leastPods{}} }

type nodeReady struct{}

func (nodeReady) Name() string { return "NodeReady" }
func (nodeReady) Filter(_ *api.Pod, n *NodeInfo) string {
	if !n.Node.IsReady() {
		return "are not ready"
	}
	return ""
}

type nodeUnschedulable struct{}

func (nodeUnschedulable) Name() string { return "NodeUnschedulable" }
func (nodeUnschedulable) Filter(_ *api.Pod, n *NodeInfo) string {
	if n.Node.Spec.Unschedulable {
		return "are cordoned (unschedulable)"
	}
	return ""
}

// RuntimeContainerd is the runtime handler name of OCI containers.
const RuntimeContainerd = "containerd"

// RuntimeFor is the runtime handler a pod needs.
func RuntimeFor(p *api.Pod) string {
	if p.Spec.IsWasm() {
		return api.RuntimeClassWasm
	}
	return RuntimeContainerd
}

type runtimeClass struct{}

func (runtimeClass) Name() string { return "RuntimeClass" }
func (runtimeClass) Filter(p *api.Pod, n *NodeInfo) string {
	if r := RuntimeFor(p); !n.Node.Status.HasRuntime(r) {
		return fmt.Sprintf("have no %s runtime", r)
	}
	return ""
}

type nodeSelector struct{}

func (nodeSelector) Name() string { return "NodeSelector" }
func (nodeSelector) Filter(p *api.Pod, n *NodeInfo) string {
	for k, v := range p.Spec.NodeSelector {
		if n.Node.Labels[k] != v {
			return "didn't match the pod's node selector"
		}
	}
	return ""
}

type taintToleration struct{}

func (taintToleration) Name() string { return "TaintToleration" }
func (taintToleration) Filter(p *api.Pod, n *NodeInfo) string {
	for _, t := range n.Node.Spec.Taints {
		if t.Effect != "NoSchedule" && t.Effect != "NoExecute" {
			continue
		}
		if !tolerates(p.Spec.Tolerations, t) {
			if t.Value != "" {
				return fmt.Sprintf("had untolerated taint {%s=%s:%s}", t.Key, t.Value, t.Effect)
			}
			return fmt.Sprintf("had untolerated taint {%s:%s}", t.Key, t.Effect)
		}
	}
	return ""
}

func tolerates(ts []api.Toleration, t api.Taint) bool {
	for _, tol := range ts {
		if tol.Effect != "" && tol.Effect != t.Effect {
			continue
		}
		switch tol.Operator {
		case "Exists":
			if tol.Key == "" || tol.Key == t.Key {
				return true
			}
		case "", "Equal":
			if tol.Key == t.Key && tol.Value == t.Value {
				return true
			}
		}
	}
	return false
}

type podCapacity struct{}

func (podCapacity) Name() string { return "PodCapacity" }
func (podCapacity) Filter(_ *api.Pod, n *NodeInfo) string {
	q, ok := n.Node.Status.Allocatable[api.ResourcePods]
	if ok && q.Value() > 0 && int64(n.Pods) >= q.Value() {
		return "are full (too many pods)"
	}
	return ""
}

type leastPods struct{}

func (leastPods) Name() string                        { return "LeastPods" }
func (leastPods) Score(_ *api.Pod, n *NodeInfo) int64 { return -int64(n.Pods) }
