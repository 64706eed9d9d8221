package admission

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Propagation policies of a delete, as Kubernetes' propagationPolicy.
const (
	// PropagationBackground deletes the object now; the garbage collector
	// then deletes its dependents. The default.
	PropagationBackground = "Background"
	// PropagationForeground marks the object; the garbage collector deletes
	// its dependents (those with blockOwnerDeletion first), then the
	// object.
	PropagationForeground = "Foreground"
	// PropagationOrphan marks the object; the garbage collector removes its
	// owner reference from its dependents, which stay, then deletes it.
	PropagationOrphan = "Orphan"
)

// Finalizers the garbage collector acts on, as in Kubernetes.
const (
	FinalizerForeground = "foregroundDeletion"
	FinalizerOrphan     = "orphan"
)

// DeleteOptions tune a delete, as Kubernetes' DeleteOptions.
type DeleteOptions struct {
	// PropagationPolicy is Background (the default when empty),
	// Foreground or Orphan.
	PropagationPolicy string
	// GracePeriodSeconds overrides a pod's terminationGracePeriodSeconds;
	// 0 removes it at once (force). Other kinds ignore it.
	GracePeriodSeconds *int64
	// ResourceVersion, when set, is a precondition: the delete happens only
	// if the object is still at that version (store.ErrConflict otherwise).
	ResourceVersion string
}

// deleteAttempts bounds the retries of a delete that races with writers.
const deleteAttempts = 10

// CheckPropagationPolicy says what is wrong with a propagationPolicy
// value, or nil for "", Background, Foreground and Orphan.
func CheckPropagationPolicy(p string) error {
	switch p {
	case "", PropagationBackground, PropagationForeground, PropagationOrphan:
		return nil
	}
	return fmt.Errorf("%q is not a propagation policy: use %s, %s or %s", p, PropagationBackground, PropagationForeground, PropagationOrphan)
}

// Delete deletes one object as the REST API's DELETE does, and returns it
// as it was last stored (marked, when its deletion is not finished):
//   - a Namespace is marked Terminating (deletionTimestamp, status.phase)
//     and the NamespaceController deletes its contents, then it; the
//     system namespaces are refused (ErrForbidden);
//   - Background, with no finalizers left on the object: it is deleted now,
//     a pod the way store.DeletePod does (gracefully through its node
//     unless forced);
//   - Foreground or Orphan: the object gets deletionTimestamp and the
//     finalizer foregroundDeletion or orphan; the garbage collector
//     finishes;
//   - an object with other finalizers only gets deletionTimestamp; the
//     garbage collector deletes it when its finalizers are gone.
//
// It returns store.ErrNotFound when there is nothing to delete,
// store.ErrConflict when opts.ResourceVersion is not the stored version,
// and api.FieldErrors for a bad propagation policy.
func Delete(ctx context.Context, st *store.Store, info api.KindInfo, ns, name string, opts DeleteOptions) (api.Object, error) {
	if err := CheckPropagationPolicy(opts.PropagationPolicy); err != nil {
		return nil, api.FieldErrors{{Field: "propagationPolicy", Type: api.ErrTypeNotSupported, Detail: err.Error()}}
	}
	if opts.ResourceVersion != "" {
		if _, err := store.ParseResourceVersion(opts.ResourceVersion); err != nil {
			return nil, api.FieldErrors{{Field: "preconditions.resourceVersion", Type: api.ErrTypeInvalid, Detail: err.Error()}}
		}
	}
	if !info.Namespaced {
		ns = ""
	}
	if info.Kind == "Namespace" {
		return deleteNamespace(ctx, st, name, opts)
	}
	finalizer := ""
	switch opts.PropagationPolicy {
	case PropagationForeground:
		finalizer = FinalizerForeground
	case PropagationOrphan:
		finalizer = FinalizerOrphan
	}
	for range deleteAttempts {
		cur, err := st.GetObject(ctx, info, ns, name)
		if err != nil {
			return nil, err
		}
		m := cur.GetObjectMeta()
		if err := precondition(info, ns, name, opts.ResourceVersion, m.ResourceVersion); err != nil {
			return nil, err
		}
		if finalizer == "" && len(m.Finalizers) == 0 {
			if _, ok := cur.(*api.Pod); ok {
				p, err := store.DeletePod(ctx, store.For[*api.Pod](st), ns, name, opts.GracePeriodSeconds, time.Now())
				if err != nil {
					return nil, err
				}
				return p, nil
			}
			err := st.DeleteObject(ctx, info, ns, name, m.ResourceVersion)
			if errors.Is(err, store.ErrConflict) && opts.ResourceVersion == "" {
				continue // changed since it was read: decide again
			}
			if err != nil {
				return nil, err
			}
			return cur, nil
		}
		if !markDeleting(cur, finalizer, opts.GracePeriodSeconds, time.Now()) {
			return cur, nil // already marked as asked
		}
		err = st.UpdateObject(ctx, cur)
		if errors.Is(err, store.ErrConflict) && opts.ResourceVersion == "" {
			continue
		}
		if err != nil {
			return nil, err
		}
		return cur, nil
	}
	return nil, fmt.Errorf("delete %s %s: it kept changing while being deleted: %w", info.Singular, qualified(ns, name), store.ErrConflict)
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// precondition checks a delete's resourceVersion precondition.
func precondition(info api.KindInfo, ns, name, want, have string) error {
	if want == "" || want == have {
		return nil
	}
	return fmt.Errorf("delete %s %s: the resourceVersion in the precondition (%s) does not match the stored one (%s): %w",
		info.Singular, qualified(ns, name), want, have, store.ErrConflict)
}

// markDeleting sets deletionTimestamp (and for a pod its grace period) and
// the finalizer of the policy (replacing the other policy's); it reports
// whether anything changed.
func markDeleting(obj api.Object, finalizer string, grace *int64, now time.Time) bool {
	m := obj.GetObjectMeta()
	changed := false
	if m.DeletionTimestamp == nil {
		t := now.UTC().Truncate(time.Second)
		m.DeletionTimestamp = &t
		if p, ok := obj.(*api.Pod); ok && p.Spec.NodeName != "" && !p.Status.Phase.Terminal() {
			g := api.DefaultTerminationGracePeriodSeconds
			switch {
			case grace != nil:
				g = *grace
			case p.Spec.TerminationGracePeriodSeconds != nil:
				g = *p.Spec.TerminationGracePeriodSeconds
			}
			m.DeletionGracePeriodSeconds = &g
		}
		changed = true
	}
	if finalizer == "" {
		return changed
	}
	other := FinalizerOrphan
	if finalizer == FinalizerOrphan {
		other = FinalizerForeground
	}
	if i := slices.Index(m.Finalizers, other); i >= 0 {
		m.Finalizers = slices.Delete(m.Finalizers, i, i+1)
		changed = true
	}
	if !slices.Contains(m.Finalizers, finalizer) {
		m.Finalizers = append(m.Finalizers, finalizer)
		changed = true
	}
	return changed
}

// deleteNamespace marks a namespace Terminating; the NamespaceController
// deletes what is in it and then the namespace.
func deleteNamespace(ctx context.Context, st *store.Store, name string, opts DeleteOptions) (api.Object, error) {
	if IsSystemNamespace(name) {
		return nil, &ForbiddenError{Resource: "namespaces", Name: name, Reason: "this namespace may not be deleted"}
	}
	info := api.KindOf(&api.Namespace{})
	ns, err := store.For[*api.Namespace](st).Mutate(ctx, "", name, func(n *api.Namespace) error {
		if err := precondition(info, "", name, opts.ResourceVersion, n.ResourceVersion); err != nil {
			return err
		}
		if n.DeletionTimestamp != nil && n.Status.Phase == api.NamespaceTerminating {
			return store.ErrSkip
		}
		if n.DeletionTimestamp == nil {
			t := time.Now().UTC().Truncate(time.Second)
			n.DeletionTimestamp = &t
		}
		n.Status.Phase = api.NamespaceTerminating
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ns, nil
}
