package api

// DefaultNamespace is the namespace of objects that name none.
const DefaultNamespace = "default"

// DefaultTerminationGracePeriodSeconds is how long a pod gets to stop.
const DefaultTerminationGracePeriodSeconds int64 = 30

// SetDefaults fills the fields a user may leave out, as Kubernetes' API
// server does: the type fields, the namespace, the restart policy, the grace
// period.
func SetDefaults(obj Object) {
	info := KindOf(obj)
	tm := obj.GetTypeMeta()
	tm.Kind, tm.APIVersion = info.Kind, info.APIVersion()
	m := obj.GetObjectMeta()
	if info.Namespaced && m.Namespace == "" {
		m.Namespace = DefaultNamespace
	}
	if p, ok := obj.(*Pod); ok {
		if p.Spec.RestartPolicy == "" {
			p.Spec.RestartPolicy = RestartPolicyAlways
		}
		if p.Spec.TerminationGracePeriodSeconds == nil {
			g := DefaultTerminationGracePeriodSeconds
			p.Spec.TerminationGracePeriodSeconds = &g
		}
		defaultNodeTolerations(&p.Spec)
	}
	setWorkloadDefaults(obj)
}

// defaultNodeTolerations gives a pod Kubernetes' default tolerations of the
// unreachable and not-ready NoExecute taints (300 s), unless it already
// tolerates them: a pod is replaced elsewhere five minutes after its node
// went away. DaemonSet pods tolerate them without a limit and stay.
func defaultNodeTolerations(s *PodSpec) {
	for _, key := range []string{TaintNodeNotReady, TaintNodeUnreachable} {
		has := false
		for _, t := range s.Tolerations {
			if (t.Key == key || (t.Key == "" && t.Operator == "Exists")) && (t.Effect == "" || t.Effect == "NoExecute") {
				has = true
			}
		}
		if !has {
			secs := DefaultTolerationSeconds
			s.Tolerations = append(s.Tolerations, Toleration{Key: key, Operator: "Exists", Effect: "NoExecute", TolerationSeconds: &secs})
		}
	}
}
