package admission

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/skiff-sh/skiff/api"
)

// A hostPath volume shows a pod the node's own files: `hostPath: /` is the
// node. So only cluster administrators may write pods, or pod templates,
// that use them. Templates are the gate for workloads: the controllers
// create their pods inside the control plane, without the API. The agent
// checks again against its own allowlist (edge.Options.HostPathAllow),
// so a path must also be one the node's operator allowed.

// HostPathFields lists the field paths of obj's hostPath volumes, such as
// "spec.volumes[0].hostPath" or "spec.template.spec.volumes[1].hostPath".
func HostPathFields(obj api.Object) []string {
	spec, p, ok := api.PodSpecOf(obj)
	if !ok {
		return nil
	}
	var fields []string
	for i, v := range spec.Volumes {
		if v.HostPath != nil {
			fields = append(fields, fmt.Sprintf("%s.volumes[%d].hostPath", p, i))
		}
	}
	return fields
}

// AdmitHostPath refuses obj (ErrForbidden, naming each hostPath field)
// when it uses hostPath volumes and mayUseHostPath is false: the writer is
// not a cluster administrator. stored is the version obj replaces (nil for
// a create); an update that leaves the pod spec as it was passes, so that
// labels, annotations and replicas of an administrator's workload can
// still be changed by others, as Kubernetes' Pod Security admission lets
// such updates through.
func AdmitHostPath(obj, stored api.Object, mayUseHostPath bool) error {
	if mayUseHostPath {
		return nil
	}
	fields := HostPathFields(obj)
	if len(fields) == 0 {
		return nil
	}
	if stored != nil {
		was, _, _ := api.PodSpecOf(stored)
		now, _, _ := api.PodSpecOf(obj)
		if was != nil && reflect.DeepEqual(was, now) {
			return nil
		}
	}
	info := api.KindOf(obj)
	return &ForbiddenError{Resource: info.Resource, Name: displayName(obj.GetObjectMeta()), Fields: fields,
		Reason: fmt.Sprintf("%s: hostPath volumes mount the node's own files and take an admin token of all namespaces; use an emptyDir, configMap or secret volume instead",
			strings.Join(fields, ", "))}
}
