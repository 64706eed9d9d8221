package api

import "time"

// Well-known node labels, as in Kubernetes.
const (
	LabelArch     = "kubernetes.io/arch"
	LabelOS       = "kubernetes.io/os"
	LabelHostname = "kubernetes.io/hostname"
	// AgentLabelPrefix starts the keys of labels an agent may set on its
	// own Node besides the three above (node restriction; see
	// docs/security.md). Every other label belongs to the API.
	AgentLabelPrefix = "agent.skiff.sh/"
)

// AgentOwnsLabel reports whether key is a label a node's agent may set and
// remove on its own Node.
func AgentOwnsLabel(key string) bool {
	switch key {
	case LabelArch, LabelOS, LabelHostname:
		return true
	}
	return len(key) > len(AgentLabelPrefix) && key[:len(AgentLabelPrefix)] == AgentLabelPrefix
}

// NoExecute taints the control plane puts on nodes that are not Ready,
// as Kubernetes does.
const (
	// TaintNodeUnreachable: the node's agent stopped renewing its lease.
	TaintNodeUnreachable = "node.kubernetes.io/unreachable"
	// TaintNodeNotReady: the node reports itself not ready.
	TaintNodeNotReady = "node.kubernetes.io/not-ready"
)

// DefaultTolerationSeconds is how long a pod stays on a node that became
// unreachable or not ready before it is replaced elsewhere, unless its
// tolerations say otherwise (Kubernetes' DefaultTolerationSeconds).
const DefaultTolerationSeconds int64 = 300

// Node is a machine that runs an edge agent.
type Node struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       NodeSpec   `json:"spec,omitzero"`
	Status     NodeStatus `json:"status,omitzero"`
}

// NodeSpec is the desired state of a node.
type NodeSpec struct {
	Unschedulable bool    `json:"unschedulable,omitempty"`
	Taints        []Taint `json:"taints,omitempty"`
}

// Taint repels pods that do not tolerate it.
type Taint struct {
	Key       string     `json:"key"`
	Value     string     `json:"value,omitempty"`
	Effect    string     `json:"effect"`
	TimeAdded *time.Time `json:"timeAdded,omitempty"`
}

// NodeConditionType names a node condition.
type NodeConditionType string

// NodeReady is true while the node's agent renews its lease.
const NodeReady NodeConditionType = "Ready"

// NodeCondition is one observation of a node's state.
type NodeCondition struct {
	Type               NodeConditionType `json:"type"`
	Status             ConditionStatus   `json:"status"`
	LastHeartbeatTime  time.Time         `json:"lastHeartbeatTime,omitzero"`
	LastTransitionTime time.Time         `json:"lastTransitionTime,omitzero"`
	Reason             string            `json:"reason,omitempty"`
	Message            string            `json:"message,omitempty"`
}

// NodeStatus is the observed state of a node, reported by its agent.
type NodeStatus struct {
	Capacity    ResourceList    `json:"capacity,omitempty"`
	Allocatable ResourceList    `json:"allocatable,omitempty"`
	Conditions  []NodeCondition `json:"conditions,omitempty"`
	Addresses   []NodeAddress   `json:"addresses,omitempty"`
	NodeInfo    NodeSystemInfo  `json:"nodeInfo,omitzero"`
	// Runtimes lists the runtime handlers this node's agent can run:
	// "wasm" for wazero, "containerd" for OCI containers.
	Runtimes []NodeRuntimeHandler `json:"runtimeHandlers,omitempty"`
}

// NodeRuntimeHandler is one runtime the node offers.
type NodeRuntimeHandler struct {
	Name string `json:"name"`
}

// HasRuntime reports whether the node offers the named runtime handler.
func (s *NodeStatus) HasRuntime(name string) bool {
	for _, r := range s.Runtimes {
		if r.Name == name {
			return true
		}
	}
	return false
}

// Condition returns the condition of the given type, or nil.
func (s *NodeStatus) Condition(t NodeConditionType) *NodeCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// SetCondition adds or replaces the condition of c's type, keeping
// LastTransitionTime when the status did not change.
func (s *NodeStatus) SetCondition(c NodeCondition) {
	if old := s.Condition(c.Type); old != nil {
		if old.Status == c.Status && !old.LastTransitionTime.IsZero() {
			c.LastTransitionTime = old.LastTransitionTime
		}
		*old = c
		return
	}
	s.Conditions = append(s.Conditions, c)
}

// IsReady reports whether the node's Ready condition is True.
func (n *Node) IsReady() bool {
	c := n.Status.Condition(NodeReady)
	return c != nil && c.Status == ConditionTrue
}

// NodeAddress is an address the node is reachable at.
type NodeAddress struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

// NodeSystemInfo describes the node's platform and agent.
type NodeSystemInfo struct {
	MachineID       string `json:"machineID,omitempty"`
	KernelVersion   string `json:"kernelVersion,omitempty"`
	OSImage         string `json:"osImage,omitempty"`
	OperatingSystem string `json:"operatingSystem"`
	Architecture    string `json:"architecture"`
	AgentVersion    string `json:"kubeletVersion,omitempty"`
}
