package admission

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// SystemNamespace holds what the control plane itself runs. It and
// api.DefaultNamespace always exist: the controllers create them at start
// and they may not be deleted.
const SystemNamespace = "skiff-system"

// SystemNamespaces are the namespaces that always exist.
func SystemNamespaces() []string { return []string{api.DefaultNamespace, SystemNamespace} }

// IsSystemNamespace reports whether name is one of SystemNamespaces.
func IsSystemNamespace(name string) bool { return slices.Contains(SystemNamespaces(), name) }

// maxOwnerWalk bounds how many owners a cycle check reads from the store.
const maxOwnerWalk = 1000

// Admit decides whether obj, defaulted and validated, may be created; call
// it right before store.CreateObject. It refuses:
//   - a namespaced object whose namespace does not exist (an error wrapping
//     store.ErrNotFound that names metadata.namespace) or is Terminating
//     (ErrForbidden);
//   - owner references to kinds Skiff does not serve, a namespaced owner
//     of a cluster-scoped object, or references that close a cycle
//     (api.FieldErrors naming metadata.ownerReferences);
//   - for a pod, a quota overrun (see AdmitPod).
//
// A pod created with generateName and counted against a quota gets its
// name here, so that the quota's reservation can name it.
func Admit(ctx context.Context, st *store.Store, obj api.Object) error {
	return AdmitWith(ctx, st, obj, nil)
}

// AdmitWith is Admit with the namespace's ResourceQuotas as the caller's
// watched cache holds them (nil reads them from the store, which costs a
// JetStream consumer per pod). The charge itself is a compare-and-swap on
// each quota either way; a quota created a moment ago and not yet in the
// cache may miss its first pods, which its controller's recount then
// counts, as with Kubernetes' informer-backed quota admission.
func AdmitWith(ctx context.Context, st *store.Store, obj api.Object, quotas []*api.ResourceQuota) error {
	info := api.KindOf(obj)
	m := obj.GetObjectMeta()
	if info.Namespaced {
		if err := checkNamespace(ctx, st, info, m, true); err != nil {
			return err
		}
	}
	if err := checkOwners(ctx, st, info, m); err != nil {
		return err
	}
	if p, ok := obj.(*api.Pod); ok {
		return admitQuota(ctx, st, p, quotas)
	}
	return nil
}

// AdmitUpdate decides whether obj may replace the stored object of the
// same name: its owner references must name served kinds and close no
// cycle (api.FieldErrors naming metadata.ownerReferences). Namespace and
// quota rules do not apply to updates, as in Kubernetes (finalizers must
// still be removable in a namespace being deleted).
func AdmitUpdate(ctx context.Context, st *store.Store, obj api.Object) error {
	return checkOwners(ctx, st, api.KindOf(obj), obj.GetObjectMeta())
}

// AdmitPod is what the controllers call before creating a pod: a pod may
// not be created in a namespace that is Terminating, nor take its
// namespace over a ResourceQuota (an error wrapping ErrForbidden, worded as
// Kubernetes words it). A missing namespace is not checked here: the pod's
// owner passed admission in it.
//
// quotas, when not nil, are the namespace's ResourceQuotas as the caller's
// informer holds them; nil reads them from the store. Controllers pass their
// cache: listing the store costs a JetStream consumer per pod, which at
// fleet scale is the slowest part of a create. Either way the charge itself
// is a compare-and-swap on each quota, so nothing overshoots.
func AdmitPod(ctx context.Context, st *store.Store, pod *api.Pod, quotas []*api.ResourceQuota) error {
	if err := checkNamespace(ctx, st, api.KindOf(pod), &pod.ObjectMeta, false); err != nil {
		return err
	}
	return admitQuota(ctx, st, pod, quotas)
}

// displayName is the name an error shows for an object that may not have
// one yet.
func displayName(m *api.ObjectMeta) string {
	if m.Name == "" {
		return m.GenerateName
	}
	return m.Name
}

// checkNamespace refuses a create in a Terminating namespace, and when
// mustExist in a missing one. System namespaces always exist.
func checkNamespace(ctx context.Context, st *store.Store, info api.KindInfo, m *api.ObjectMeta, mustExist bool) error {
	if IsSystemNamespace(m.Namespace) {
		return nil
	}
	obj, err := st.GetObject(ctx, api.KindOf(&api.Namespace{}), "", m.Namespace)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if !mustExist {
			return nil
		}
		return &namespaceNotFound{name: m.Namespace}
	case err != nil:
		return fmt.Errorf("admit %s %s/%s: read its namespace: %w", info.Singular, m.Namespace, displayName(m), err)
	}
	ns := obj.(*api.Namespace)
	if ns.DeletionTimestamp != nil || ns.Status.Phase == api.NamespaceTerminating {
		return &ForbiddenError{Resource: info.Resource, Name: displayName(m),
			Reason: fmt.Sprintf("metadata.namespace: unable to create new content in namespace %s because it is being terminated", m.Namespace)}
	}
	return nil
}

// namespaceNotFound refuses a create in a namespace that does not exist;
// errors.Is(err, store.ErrNotFound) holds for it.
type namespaceNotFound struct{ name string }

func (e *namespaceNotFound) Error() string {
	return fmt.Sprintf("namespaces %q not found: metadata.namespace must name an existing namespace; create it first", e.name)
}

func (e *namespaceNotFound) Is(target error) bool { return target == store.ErrNotFound }

// ownerKind resolves an owner reference's kind, or says why it cannot.
func ownerKind(ref api.OwnerReference) (api.KindInfo, error) {
	info, ok := api.LookupKind(ref.Kind)
	if !ok || info.Kind != ref.Kind {
		return api.KindInfo{}, fmt.Errorf("%q is not a kind Skiff serves (one of %s)", ref.Kind, strings.Join(api.KindNames(), ", "))
	}
	return info, nil
}

// OwnerKind resolves an owner reference to the kind it names; ok is false
// for a kind Skiff does not serve.
func OwnerKind(ref api.OwnerReference) (api.KindInfo, bool) {
	info, err := ownerKind(ref)
	return info, err == nil
}

// OwnerNamespace is the namespace an owner named by ref lives in, for a
// dependent in ns: its own for a namespaced owner, none for a
// cluster-scoped one.
func OwnerNamespace(owner api.KindInfo, ns string) string {
	if !owner.Namespaced {
		return ""
	}
	return ns
}

// checkOwners checks each reference's kind and that no reference closes a
// cycle back to the object.
func checkOwners(ctx context.Context, st *store.Store, info api.KindInfo, m *api.ObjectMeta) error {
	var errs api.FieldErrors
	for i, ref := range m.OwnerReferences {
		p := fmt.Sprintf("metadata.ownerReferences[%d]", i)
		oinfo, err := ownerKind(ref)
		if err != nil {
			errs = append(errs, api.FieldError{Field: p + ".kind", Type: api.ErrTypeNotSupported, Detail: err.Error()})
			continue
		}
		if ref.APIVersion != oinfo.APIVersion() {
			errs = append(errs, api.FieldError{Field: p + ".apiVersion", Type: api.ErrTypeInvalid,
				Detail: fmt.Sprintf("%q: %s is served as %s", ref.APIVersion, oinfo.Kind, oinfo.APIVersion())})
		}
		if !info.Namespaced && oinfo.Namespaced {
			errs = append(errs, api.FieldError{Field: p + ".kind", Type: api.ErrTypeInvalid,
				Detail: fmt.Sprintf("a cluster-scoped %s cannot be owned by a namespaced %s", info.Kind, oinfo.Kind)})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if m.UID == "" {
		// A new object has no uid yet, so nothing stored can refer to it:
		// it cannot close a cycle. Updates can.
		return nil
	}
	for i, ref := range m.OwnerReferences {
		path, err := cycleThrough(ctx, st, info, m, ref)
		if err != nil {
			return err
		}
		if path != nil {
			return api.FieldErrors{{Field: fmt.Sprintf("metadata.ownerReferences[%d]", i), Type: api.ErrTypeInvalid,
				Detail: fmt.Sprintf("would make an ownership cycle: %s; an object cannot own, even indirectly, what owns it", strings.Join(path, " is owned by "))}}
		}
	}
	return nil
}

// cycleThrough follows owners from ref, by uid through the store, and
// returns the path back to the object (m) if there is one. Owners that are
// gone (not found, or found with another uid) end a branch.
func cycleThrough(ctx context.Context, st *store.Store, info api.KindInfo, m *api.ObjectMeta, ref api.OwnerReference) ([]string, error) {
	type step struct {
		ns   string
		ref  api.OwnerReference
		path []string
	}
	self := fmt.Sprintf("%s %s", info.Kind, m.Name)
	queue := []step{{ns: m.Namespace, ref: ref, path: []string{self}}}
	seen := map[string]bool{}
	for reads := 0; len(queue) > 0 && reads < maxOwnerWalk; reads++ {
		s := queue[0]
		queue = queue[1:]
		if s.ref.UID == m.UID {
			return append(s.path, self), nil
		}
		if seen[s.ref.UID] {
			continue
		}
		seen[s.ref.UID] = true
		oinfo, err := ownerKind(s.ref)
		if err != nil {
			continue // not resolvable: no cycle through it
		}
		owner, err := st.GetObject(ctx, oinfo, OwnerNamespace(oinfo, s.ns), s.ref.Name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("check owner references of %s: %w", self, err)
		}
		om := owner.GetObjectMeta()
		if om.UID != s.ref.UID {
			continue // the owner is gone; another object took its name
		}
		path := append(slices.Clip(s.path), fmt.Sprintf("%s %s", oinfo.Kind, om.Name))
		for _, next := range om.OwnerReferences {
			queue = append(queue, step{ns: om.Namespace, ref: next, path: path})
		}
	}
	return nil, nil
}
