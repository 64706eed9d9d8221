package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/admission"
	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// GarbageCollector deletes what nobody owns any more, as
// kube-controller-manager's garbage collector does. From the informers of
// every kind it keeps a graph of owner → dependents by uid, and for each
// object it is told about:
//
//   - a dependent whose owner references all point at owners that are gone
//     (not found, or found with another uid: same name, new object) is
//     deleted (background propagation); one whose remaining owners are
//     being deleted in the foreground is deleted too, in the foreground if
//     it has dependents of its own; references to gone or
//     foreground-deleting owners are removed from a dependent that still
//     has a live owner;
//   - an object being deleted with the finalizer foregroundDeletion keeps
//     it until its dependents with blockOwnerDeletion are gone from the
//     store, then loses it;
//   - an object being deleted with the finalizer orphan has its owner
//     reference removed from every dependent, then loses the finalizer;
//   - an object being deleted with no finalizers left is removed (a pod
//     through store.DeletePod, so a running pod still stops on its node
//     first). Namespaces are the NamespaceController's.
//
// An owner that is not in the graph is looked up in the store before
// anything is deleted for it, so informers that lag one another never
// condemn a live owner's dependents.
type GarbageCollector struct {
	st  *store.Store
	q   *Queue
	log *slog.Logger
	now func() time.Time

	mu    sync.RWMutex
	nodes map[string]*gcNode         // by uid
	byKey map[string]string          // object key → uid
	deps  map[string]map[string]bool // owner uid → dependent uids
}

// gcNode is what the collector keeps of one object.
type gcNode struct {
	info       api.KindInfo
	ns, name   string
	uid        string
	owners     []api.OwnerReference
	deleting   bool
	finalizers []string
}

func (n *gcNode) key() string { return gcKey(n.info, n.ns, n.name) }

func (n *gcNode) has(finalizer string) bool { return slices.Contains(n.finalizers, finalizer) }

// waiting reports whether the object is being deleted in the foreground.
func (n *gcNode) waiting() bool { return n.deleting && n.has(admission.FinalizerForeground) }

// gcKey is the collector's queue key: resource/namespace/name, or
// resource/name for a cluster-scoped object.
func gcKey(info api.KindInfo, ns, name string) string {
	return info.Resource + "/" + informer.Key(ns, name)
}

func parseGCKey(key string) (api.KindInfo, string, string, bool) {
	resource, rest, ok := strings.Cut(key, "/")
	if !ok {
		return api.KindInfo{}, "", "", false
	}
	info, ok := api.LookupKind(resource)
	if !ok || info.Resource != resource {
		return api.KindInfo{}, "", "", false
	}
	ns, name := splitKey(rest)
	return info, ns, name, true
}

// NewGarbageCollector wires the collector to the informers of every kind.
func NewGarbageCollector(inf *informer.Set, st *store.Store, log *slog.Logger) *GarbageCollector {
	gc := &GarbageCollector{st: st, q: NewQueue(5*time.Millisecond, time.Minute), log: log, now: time.Now,
		nodes: map[string]*gcNode{}, byKey: map[string]string{}, deps: map[string]map[string]bool{}}
	gcWatch(gc, inf.Pods)
	gcWatch(gc, inf.Nodes)
	gcWatch(gc, inf.Namespaces)
	gcWatch(gc, inf.ResourceQuotas)
	gcWatch(gc, inf.Deployments)
	gcWatch(gc, inf.ReplicaSets)
	gcWatch(gc, inf.DaemonSets)
	gcWatch(gc, inf.Jobs)
	gcWatch(gc, inf.CronJobs)
	gcWatch(gc, inf.ConfigMaps)
	gcWatch(gc, inf.Secrets)
	return gc
}

func gcWatch[T api.Object](gc *GarbageCollector, inf *informer.Informer[T]) {
	info := inf.Resource().Info()
	inf.AddHandler(informer.Handler[T]{
		OnAdd:    func(o T) { gc.upsert(info, o) },
		OnUpdate: func(_, cur T) { gc.upsert(info, cur) },
		OnDelete: func(o T) { gc.remove(o) },
	})
}

// Runner returns the collector's runner.
func (gc *GarbageCollector) Runner(workers int) *Runner {
	return &Runner{Name: "garbagecollector", Queue: gc.q, R: gc, Workers: workers, Resync: time.Minute, Log: gc.log, Keys: gc.keys}
}

// keys are the objects the collector may have work for.
func (gc *GarbageCollector) keys() []string {
	gc.mu.RLock()
	defer gc.mu.RUnlock()
	var out []string
	for _, n := range gc.nodes {
		if len(n.owners) > 0 || n.deleting {
			out = append(out, n.key())
		}
	}
	return out
}

func (gc *GarbageCollector) upsert(info api.KindInfo, obj api.Object) {
	m := obj.GetObjectMeta()
	n := &gcNode{info: info, ns: m.Namespace, name: m.Name, uid: m.UID, owners: slices.Clone(m.OwnerReferences),
		deleting: m.DeletionTimestamp != nil, finalizers: slices.Clone(m.Finalizers)}
	if !info.Namespaced {
		n.ns = ""
	}
	var enqueue []string
	gc.mu.Lock()
	key := n.key()
	if prev, ok := gc.byKey[key]; ok && prev != n.uid {
		enqueue = append(enqueue, gc.removeLocked(prev)...) // re-created under the same name
	}
	old := gc.nodes[n.uid]
	if old != nil {
		for _, r := range old.owners {
			gc.unlinkLocked(r.UID, n.uid)
			if !hasOwner(n.owners, r.UID) {
				if o := gc.nodes[r.UID]; o != nil && o.deleting {
					enqueue = append(enqueue, o.key()) // one blocker fewer
				}
			}
		}
	}
	for _, r := range n.owners {
		if gc.deps[r.UID] == nil {
			gc.deps[r.UID] = map[string]bool{}
		}
		gc.deps[r.UID][n.uid] = true
	}
	gc.nodes[n.uid] = n
	gc.byKey[key] = n.uid

	if n.deleting && info.Kind != "Namespace" {
		switch {
		case n.has(admission.FinalizerForeground), n.has(admission.FinalizerOrphan):
			enqueue = append(enqueue, key)
		case len(n.finalizers) == 0 && (info.Kind != "Pod" || (old != nil && len(old.finalizers) > 0)):
			// A pod being deleted gracefully is its node's to finish;
			// one whose last finalizer just went is the collector's.
			enqueue = append(enqueue, key)
		}
	}
	if !n.deleting {
		for _, r := range n.owners {
			if o := gc.nodes[r.UID]; o == nil || o.waiting() {
				enqueue = append(enqueue, key) // possibly dangling, or to follow its owner
				break
			}
		}
	}
	if old != nil && (old.deleting != n.deleting || !slices.Equal(old.finalizers, n.finalizers)) {
		for d := range gc.deps[n.uid] {
			if dn := gc.nodes[d]; dn != nil {
				enqueue = append(enqueue, dn.key())
			}
		}
	}
	gc.mu.Unlock()
	for _, k := range enqueue {
		gc.q.Add(k)
	}
}

func hasOwner(refs []api.OwnerReference, uid string) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}

func (gc *GarbageCollector) unlinkLocked(owner, dependent string) {
	if d := gc.deps[owner]; d != nil {
		delete(d, dependent)
		if len(d) == 0 {
			delete(gc.deps, owner)
		}
	}
}

func (gc *GarbageCollector) remove(obj api.Object) {
	gc.mu.Lock()
	enqueue := gc.removeLocked(obj.GetObjectMeta().UID)
	gc.mu.Unlock()
	for _, k := range enqueue {
		gc.q.Add(k)
	}
}

// removeLocked drops an object from the graph and returns the keys that
// must be looked at again: its dependents (their owner is gone) and its
// owners being deleted (one blocker fewer).
func (gc *GarbageCollector) removeLocked(uid string) []string {
	n := gc.nodes[uid]
	if n == nil {
		return nil
	}
	var out []string
	for _, r := range n.owners {
		gc.unlinkLocked(r.UID, uid)
		if o := gc.nodes[r.UID]; o != nil && o.deleting {
			out = append(out, o.key())
		}
	}
	delete(gc.nodes, uid)
	if gc.byKey[n.key()] == uid {
		delete(gc.byKey, n.key())
	}
	for d := range gc.deps[uid] {
		if dn := gc.nodes[d]; dn != nil {
			out = append(out, dn.key())
		}
	}
	return out
}

// node returns a copy of the object's node, or nil.
func (gc *GarbageCollector) node(key string) *gcNode {
	gc.mu.RLock()
	defer gc.mu.RUnlock()
	n := gc.nodes[gc.byKey[key]]
	if n == nil {
		return nil
	}
	cp := *n
	return &cp
}

// dependents returns copies of the nodes that name uid as an owner, with
// whether that reference blocks the owner's deletion.
func (gc *GarbageCollector) dependents(uid string) (deps []*gcNode, blocking int) {
	gc.mu.RLock()
	defer gc.mu.RUnlock()
	for d := range gc.deps[uid] {
		dn := gc.nodes[d]
		if dn == nil {
			continue
		}
		cp := *dn
		deps = append(deps, &cp)
		for _, r := range dn.owners {
			if r.UID == uid && r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion {
				blocking++
				break
			}
		}
	}
	return deps, blocking
}

// Reconcile does what one object needs: finish its deletion, or delete or
// unlink it when its owners are gone.
func (gc *GarbageCollector) Reconcile(ctx context.Context, key string) (time.Duration, error) {
	n := gc.node(key)
	if n == nil {
		return 0, nil
	}
	if n.deleting {
		switch {
		case n.info.Kind == "Namespace":
			return 0, nil
		case n.has(admission.FinalizerForeground):
			return gc.finishForeground(ctx, n)
		case n.has(admission.FinalizerOrphan):
			return 0, gc.finishOrphan(ctx, n)
		case len(n.finalizers) == 0:
			return 0, gc.removeMarked(ctx, n)
		}
		return 0, nil // other finalizers: their owners remove them
	}
	if len(n.owners) == 0 {
		return 0, nil
	}
	return 0, gc.checkOwners(ctx, n)
}

// Owner states.
const (
	ownerSolid    = iota // exists and is not being deleted in the foreground
	ownerDangling        // gone: not found, or another object with its name
	ownerWaiting         // being deleted in the foreground
)

// ownerState looks an owner up in the graph, and in the store when the
// graph does not have it.
func (gc *GarbageCollector) ownerState(ctx context.Context, n *gcNode, ref api.OwnerReference) (int, error) {
	oinfo, ok := admission.OwnerKind(ref)
	if !ok || (!n.info.Namespaced && oinfo.Namespaced) {
		return ownerSolid, nil // never delete for a reference that cannot be resolved
	}
	ns := admission.OwnerNamespace(oinfo, n.ns)
	gc.mu.RLock()
	o := gc.nodes[ref.UID]
	inGraph := o != nil && o.info.Kind == oinfo.Kind && o.ns == ns && o.name == ref.Name
	waiting := inGraph && o.waiting()
	gc.mu.RUnlock()
	if inGraph {
		if waiting {
			return ownerWaiting, nil
		}
		return ownerSolid, nil
	}
	obj, err := gc.st.GetObject(ctx, oinfo, ns, ref.Name)
	if errors.Is(err, store.ErrNotFound) {
		return ownerDangling, nil
	}
	if err != nil {
		return 0, fmt.Errorf("look up owner %s %s of %s: %w", oinfo.Kind, ref.Name, n.key(), err)
	}
	m := obj.GetObjectMeta()
	switch {
	case m.UID != ref.UID:
		return ownerDangling, nil
	case m.DeletionTimestamp != nil && slices.Contains(m.Finalizers, admission.FinalizerForeground):
		return ownerWaiting, nil
	}
	return ownerSolid, nil
}

// checkOwners deletes a dependent without live owners, or unlinks it from
// the owners that are gone or going.
func (gc *GarbageCollector) checkOwners(ctx context.Context, n *gcNode) error {
	var solid, dangling, waiting int
	drop := map[string]bool{}
	for _, ref := range n.owners {
		s, err := gc.ownerState(ctx, n, ref)
		if err != nil {
			return err
		}
		switch s {
		case ownerSolid:
			solid++
		case ownerDangling:
			dangling++
			drop[ref.UID] = true
		case ownerWaiting:
			waiting++
			drop[ref.UID] = true
		}
	}
	if len(drop) == 0 {
		return nil
	}
	if solid > 0 {
		_, err := gc.mutate(ctx, n, func(o api.Object) bool {
			m := o.GetObjectMeta()
			kept := slices.DeleteFunc(slices.Clone(m.OwnerReferences), func(r api.OwnerReference) bool { return drop[r.UID] })
			if len(kept) == len(m.OwnerReferences) {
				return false
			}
			m.OwnerReferences = kept
			return true
		})
		if err == nil {
			gc.log.Info("removed owner references to owners gone or being deleted", "object", n.key(), "removed", len(drop))
		}
		return notFoundIsDone(err)
	}
	policy := admission.PropagationBackground
	if waiting > 0 {
		if deps, _ := gc.dependents(n.uid); len(deps) > 0 {
			policy = admission.PropagationForeground
		}
	}
	cur, err := gc.st.GetObject(ctx, n.info, n.ns, n.name)
	if err != nil {
		return notFoundIsDone(err)
	}
	if cur.GetObjectMeta().UID != n.uid {
		return nil
	}
	_, err = admission.Delete(ctx, gc.st, n.info, n.ns, n.name, admission.DeleteOptions{PropagationPolicy: policy, ResourceVersion: cur.GetObjectMeta().ResourceVersion})
	if err != nil {
		return notFoundIsDone(err)
	}
	gc.log.Info("deleting dependent whose owners are gone", "object", n.key(), "propagation", policy, "dangling", dangling, "waiting", waiting)
	return nil
}

// finishForeground deletes an owner's dependents, then lets the owner go
// once none with blockOwnerDeletion is left in the store.
func (gc *GarbageCollector) finishForeground(ctx context.Context, n *gcNode) (time.Duration, error) {
	deps, blocking := gc.dependents(n.uid)
	for _, d := range deps {
		gc.q.Add(d.key())
	}
	if blocking > 0 {
		return 0, nil // each dependent's removal brings the owner back here
	}
	live, err := gc.liveDependents(ctx, n, true)
	if err != nil {
		return 0, err
	}
	if len(live) > 0 {
		for _, k := range live {
			gc.q.Add(k) // the graph has not seen them yet
		}
		return time.Second, nil
	}
	return 0, gc.dropFinalizer(ctx, n, admission.FinalizerForeground)
}

// finishOrphan removes the owner's references from its dependents, then
// the orphan finalizer.
func (gc *GarbageCollector) finishOrphan(ctx context.Context, n *gcNode) error {
	live, err := gc.liveDependents(ctx, n, false)
	if err != nil {
		return err
	}
	for _, k := range live {
		info, ns, name, _ := parseGCKey(k)
		d := &gcNode{info: info, ns: ns, name: name}
		_, err := gc.mutate(ctx, d, func(o api.Object) bool {
			m := o.GetObjectMeta()
			kept := slices.DeleteFunc(slices.Clone(m.OwnerReferences), func(r api.OwnerReference) bool { return r.UID == n.uid })
			if len(kept) == len(m.OwnerReferences) {
				return false
			}
			if len(kept) == 0 {
				kept = nil
			}
			m.OwnerReferences = kept
			return true
		})
		if err := notFoundIsDone(err); err != nil {
			return fmt.Errorf("orphan %s from %s: %w", k, n.key(), err)
		}
	}
	if len(live) > 0 {
		gc.log.Info("orphaned dependents", "owner", n.key(), "dependents", len(live))
	}
	return gc.dropFinalizer(ctx, n, admission.FinalizerOrphan)
}

// liveDependents lists, from the store, the keys of the objects that name
// n as an owner (only those that block its deletion when blockingOnly).
func (gc *GarbageCollector) liveDependents(ctx context.Context, n *gcNode, blockingOnly bool) ([]string, error) {
	var out []string
	for _, info := range api.Kinds() {
		if n.info.Namespaced && !info.Namespaced {
			continue // a cluster-scoped object has no namespaced owner
		}
		ns := ""
		if info.Namespaced {
			ns = n.ns
		}
		objs, _, err := gc.st.ListObjects(ctx, info, ns)
		if err != nil {
			return nil, fmt.Errorf("dependents of %s: %w", n.key(), err)
		}
		for _, o := range objs {
			m := o.GetObjectMeta()
			for _, r := range m.OwnerReferences {
				if r.UID == n.uid && (!blockingOnly || (r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion)) {
					out = append(out, gcKey(info, m.Namespace, m.Name))
					break
				}
			}
		}
	}
	return out, nil
}

// dropFinalizer removes one finalizer from n and removes n when it was the
// last.
func (gc *GarbageCollector) dropFinalizer(ctx context.Context, n *gcNode, finalizer string) error {
	obj, err := gc.mutate(ctx, n, func(o api.Object) bool {
		m := o.GetObjectMeta()
		i := slices.Index(m.Finalizers, finalizer)
		if i < 0 {
			return false
		}
		m.Finalizers = slices.Delete(m.Finalizers, i, i+1)
		if len(m.Finalizers) == 0 {
			m.Finalizers = nil
		}
		return true
	})
	if err != nil {
		return notFoundIsDone(err)
	}
	m := obj.GetObjectMeta()
	if m.DeletionTimestamp == nil || len(m.Finalizers) > 0 {
		return nil
	}
	n2 := *n
	n2.uid = m.UID
	return gc.removeMarked(ctx, &n2)
}

// removeMarked removes an object being deleted whose finalizers are all
// gone.
func (gc *GarbageCollector) removeMarked(ctx context.Context, n *gcNode) error {
	cur, err := gc.st.GetObject(ctx, n.info, n.ns, n.name)
	if err != nil {
		return notFoundIsDone(err)
	}
	m := cur.GetObjectMeta()
	if m.UID != n.uid || m.DeletionTimestamp == nil || len(m.Finalizers) > 0 {
		return nil
	}
	if n.info.Kind == "Pod" {
		_, err = store.DeletePod(ctx, store.For[*api.Pod](gc.st), n.ns, n.name, nil, gc.now())
	} else {
		err = gc.st.DeleteObject(ctx, n.info, n.ns, n.name, m.ResourceVersion)
	}
	if err != nil {
		return notFoundIsDone(err)
	}
	gc.log.Info("deleted object whose finalizers are done", "object", n.key())
	return nil
}

// mutate changes the stored object named by n, if it is still the object
// with n's uid (when n has one), with a compare-and-swap; fn reports
// whether it changed anything. It returns store.ErrNotFound when the
// object is gone.
func (gc *GarbageCollector) mutate(ctx context.Context, n *gcNode, fn func(api.Object) bool) (api.Object, error) {
	for range gcWriteAttempts {
		cur, err := gc.st.GetObject(ctx, n.info, n.ns, n.name)
		if err != nil {
			return nil, err
		}
		if n.uid != "" && cur.GetObjectMeta().UID != n.uid {
			return nil, fmt.Errorf("%s: %w", n.key(), store.ErrNotFound)
		}
		if !fn(cur) {
			return cur, nil
		}
		err = gc.st.UpdateObject(ctx, cur)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return cur, nil
	}
	return nil, fmt.Errorf("update %s: it kept changing: %w", n.key(), store.ErrConflict)
}

// gcWriteAttempts bounds the retries of a write that races with others.
const gcWriteAttempts = 10

func notFoundIsDone(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
