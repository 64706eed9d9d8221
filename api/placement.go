package api

// Placement helpers shared by the scheduler and the controllers that bind
// pods themselves (the DaemonSet controller): which runtime a pod needs and
// which taints its tolerations cover. They live here so both read the same
// rule and neither imports the other.

// Runtime handler names a node offers (NodeStatus.Runtimes).
const (
	RuntimeHandlerWasm       = RuntimeClassWasm
	RuntimeHandlerContainerd = "containerd"
)

// Taint effects, as in Kubernetes.
const (
	TaintEffectNoSchedule       = "NoSchedule"
	TaintEffectPreferNoSchedule = "PreferNoSchedule"
	TaintEffectNoExecute        = "NoExecute"
)

// The taints the node lifecycle puts on a node that stops reporting
// (TaintNodeNotReady, TaintNodeUnreachable) are in node.go.

// RuntimeHandlerFor is the runtime handler a pod with this spec needs:
// "wasm" for a Wasm pod, "containerd" for any other.
func RuntimeHandlerFor(s *PodSpec) string {
	if s.IsWasm() {
		return RuntimeHandlerWasm
	}
	return RuntimeHandlerContainerd
}

// ToleratesTaint reports whether the toleration covers the taint: the
// effect matches (an empty effect matches every effect) and either the
// operator is Exists with the taint's key (or no key: every taint), or the
// operator is Equal (or empty) with the taint's key and value.
func (t Toleration) ToleratesTaint(taint Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	switch t.Operator {
	case "Exists":
		return t.Key == "" || t.Key == taint.Key
	case "", "Equal":
		return t.Key == taint.Key && t.Value == taint.Value
	}
	return false
}

// TolerationsTolerateTaint reports whether any toleration covers the taint.
func TolerationsTolerateTaint(ts []Toleration, taint Taint) bool {
	for _, t := range ts {
		if t.ToleratesTaint(taint) {
			return true
		}
	}
	return false
}
