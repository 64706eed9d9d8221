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
	}
	setWorkloadDefaults(obj)
}
