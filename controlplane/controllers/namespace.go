package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/admission"
	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// NamespaceController keeps the system namespaces in existence and empties
// namespaces being deleted: a Namespace with deletionTimestamp (marked
// Terminating by admission.Delete) has every namespaced object in it
// deleted — workload controllers first so that they stop making pods, pods
// forced so that their nodes drop them at once — and then its own key
// removed. Admission refuses new objects in a Terminating namespace, so the
// namespace empties; a reconcile that still finds something looks again
// shortly.
type NamespaceController struct {
	inf *informer.Set
	st  *store.Store
	nss *store.Resource[*api.Namespace]
	q   *Queue
	log *slog.Logger
	now func() time.Time
}

// NewNamespaceController wires the controller to the informers.
func NewNamespaceController(inf *informer.Set, st *store.Store, log *slog.Logger) *NamespaceController {
	c := &NamespaceController{inf: inf, st: st, nss: store.For[*api.Namespace](st),
		q: NewQueue(5*time.Millisecond, 30*time.Second), log: log, now: time.Now}
	enqueue := func(n *api.Namespace) { c.q.Add(n.Name) }
	inf.Namespaces.AddHandler(informer.Handler[*api.Namespace]{
		OnAdd:    enqueue,
		OnUpdate: func(_, cur *api.Namespace) { enqueue(cur) },
		OnDelete: enqueue, // a system namespace is made again
	})
	return c
}

// Runner returns the controller's runner.
func (c *NamespaceController) Runner(workers int) *Runner {
	return &Runner{Name: "namespace", Queue: c.q, R: c, Workers: workers, Resync: time.Minute, Log: c.log,
		Keys: func() []string {
			return append(keysOf(c.inf.Namespaces.List("", nil)), admission.SystemNamespaces()...)
		}}
}

// EnsureSystemNamespaces creates the system namespaces ("default",
// "skiff-system") that do not exist. The Manager calls it at start.
func (c *NamespaceController) EnsureSystemNamespaces(ctx context.Context) error {
	for _, name := range admission.SystemNamespaces() {
		if err := c.ensure(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

func (c *NamespaceController) ensure(ctx context.Context, name string) error {
	ns := &api.Namespace{ObjectMeta: api.ObjectMeta{Name: name}}
	api.SetDefaults(ns)
	err := c.nss.Create(ctx, ns)
	if err == nil {
		c.log.Info("created system namespace", "namespace", name)
	}
	if err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// deletionOrder is the order in which a namespace's kinds are emptied:
// the makers of pods before pods, quotas last so that they hold while the
// rest goes.
func deletionOrder() []api.KindInfo {
	first := []string{"CronJob", "Deployment", "DaemonSet", "Job", "ReplicaSet", "Pod"}
	var out []api.KindInfo
	for _, k := range first {
		info, _ := api.LookupKind(k)
		out = append(out, info)
	}
	for _, info := range api.Kinds() {
		if !info.Namespaced || info.Kind == "ResourceQuota" || containsKind(out, info.Kind) {
			continue
		}
		out = append(out, info)
	}
	quota, _ := api.LookupKind("ResourceQuota")
	return append(out, quota)
}

func containsKind(list []api.KindInfo, kind string) bool {
	for _, k := range list {
		if k.Kind == kind {
			return true
		}
	}
	return false
}

// Reconcile makes a missing system namespace, or empties and removes a
// namespace being deleted.
func (c *NamespaceController) Reconcile(ctx context.Context, name string) (time.Duration, error) {
	ns, err := c.nss.Get(ctx, "", name)
	if errors.Is(err, store.ErrNotFound) {
		if admission.IsSystemNamespace(name) {
			return 0, c.ensure(ctx, name)
		}
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if ns.DeletionTimestamp == nil {
		return 0, nil
	}
	if ns.Status.Phase != api.NamespaceTerminating {
		if _, err := c.nss.Mutate(ctx, "", name, func(n *api.Namespace) error {
			if n.UID != ns.UID || n.Status.Phase == api.NamespaceTerminating {
				return store.ErrSkip
			}
			n.Status.Phase = api.NamespaceTerminating
			return nil
		}); err != nil {
			return 0, err
		}
	}
	// A pass deletes what it finds; the next finds nothing, unless a
	// lagging controller made something meanwhile.
	for pass := 0; ; pass++ {
		left, err := c.deleteContents(ctx, name)
		if err != nil {
			return 0, err
		}
		if left == 0 {
			break
		}
		if pass == 2 {
			return 200 * time.Millisecond, nil
		}
	}
	err = c.st.DeleteObject(ctx, c.nss.Info(), "", name, ns.ResourceVersion)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("remove namespace %s: %w", name, err)
	}
	c.log.Info("namespace deleted", "namespace", name)
	return 0, nil
}

// deleteContents deletes every namespaced object in ns and returns how many
// it found.
func (c *NamespaceController) deleteContents(ctx context.Context, ns string) (int, error) {
	found := 0
	force := int64(0)
	pods := store.For[*api.Pod](c.st)
	for _, info := range deletionOrder() {
		objs, _, err := c.st.ListObjects(ctx, info, ns)
		if err != nil {
			return found, fmt.Errorf("empty namespace %s: %w", ns, err)
		}
		found += len(objs)
		err = parallel(ctx, objs, func(ctx context.Context, o api.Object) error {
			m := o.GetObjectMeta()
			var err error
			if info.Kind == "Pod" {
				_, err = store.DeletePod(ctx, pods, ns, m.Name, &force, c.now())
			} else {
				err = c.st.DeleteObject(ctx, info, ns, m.Name, "")
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("empty namespace %s: delete %s %s: %w", ns, info.Singular, m.Name, err)
			}
			return nil
		})
		if err != nil {
			return found, err
		}
	}
	return found, nil
}
