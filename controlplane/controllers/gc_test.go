package controllers_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/admission"
	"github.com/skiff-sh/skiff/controlplane/controllers"
	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runControllers starts the informers and the runners that build returns
// (controllers built on those informers), and stops them when the test
// ends.
func runControllers(t *testing.T, st *store.Store, build func(inf *informer.Set) []*controllers.Runner) {
	t.Helper()
	inf := informer.NewSet(st, quietLog())
	runners := build(inf)
	ctx, cancel := context.WithCancel(context.Background())
	if err := inf.Start(ctx); err != nil {
		t.Fatal(err)
	}
	syncCtx, syncCancel := context.WithTimeout(ctx, 10*time.Second)
	defer syncCancel()
	if err := inf.WaitSynced(syncCtx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Run(ctx)
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		inf.Stop()
	})
}

func runGC(t *testing.T, st *store.Store) {
	runControllers(t, st, func(inf *informer.Set) []*controllers.Runner {
		return []*controllers.Runner{controllers.NewGarbageCollector(inf, st, quietLog()).Runner(4)}
	})
}

// poll calls cond until it is true, failing the test after timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		<-tick.C
	}
}

func refTo(owner api.Object, block bool) api.OwnerReference {
	info := api.KindOf(owner)
	yes := true
	m := owner.GetObjectMeta()
	return api.OwnerReference{APIVersion: info.APIVersion(), Kind: info.Kind, Name: m.Name, UID: m.UID, Controller: &yes, BlockOwnerDeletion: &block}
}

func newRS(name string, owners ...api.OwnerReference) *api.ReplicaSet {
	zero := int32(0)
	rs := &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", OwnerReferences: owners},
		Spec: api.ReplicaSetSpec{Replicas: &zero, Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "registry.local/app:1"}}}}},
	}
	api.SetDefaults(rs)
	return rs
}

func newDeployment(name string) *api.Deployment {
	zero := int32(0)
	d := &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.DeploymentSpec{Replicas: &zero, Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "registry.local/app:1"}}}}},
	}
	api.SetDefaults(d)
	return d
}

func newPod(ns, name string, owners ...api.OwnerReference) *api.Pod {
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: owners},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "app", Image: "registry.local/app:1"}}},
	}
	api.SetDefaults(p)
	return p
}

func mustCreate(t *testing.T, st *store.Store, objs ...api.Object) {
	t.Helper()
	for _, o := range objs {
		if err := st.CreateObject(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

func exists(t *testing.T, st *store.Store, obj api.Object) bool {
	t.Helper()
	m := obj.GetObjectMeta()
	_, err := st.GetObject(context.Background(), api.KindOf(obj), m.Namespace, m.Name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func del(t *testing.T, st *store.Store, obj api.Object, policy string) {
	t.Helper()
	m := obj.GetObjectMeta()
	if _, err := admission.Delete(context.Background(), st, api.KindOf(obj), m.Namespace, m.Name, admission.DeleteOptions{PropagationPolicy: policy}); err != nil {
		t.Fatal(err)
	}
}

func TestGCDeletesDependentsOfADeletedOwner(t *testing.T) {
	st, _, _ := natstest.Store(t)
	runGC(t, st)
	web, other := newRS("web"), newRS("other")
	mustCreate(t, st, web, other)
	pods := []*api.Pod{newPod("default", "web-1", refTo(web, true)), newPod("default", "web-2", refTo(web, true)), newPod("default", "web-3", refTo(web, false))}
	keep := newPod("default", "other-1", refTo(other, true))
	for _, p := range append(pods, keep) {
		mustCreate(t, st, p)
	}
	del(t, st, web, "")
	if exists(t, st, web) {
		t.Fatal("a background delete leaves the owner in place")
	}
	poll(t, 10*time.Second, "web's pods deleted", func() bool {
		for _, p := range pods {
			if exists(t, st, p) {
				return false
			}
		}
		return true
	})
	got, err := store.For[*api.Pod](st).Get(context.Background(), "default", "other-1")
	if err != nil || len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != other.UID {
		t.Fatalf("a pod with a live owner was touched: %+v, %v", got, err)
	}
}

func TestGCOwnerWithSameNameButAnotherUIDCountsAsGone(t *testing.T) {
	st, _, _ := natstest.Store(t)
	runGC(t, st)
	web := newRS("web")
	mustCreate(t, st, web)
	stale := refTo(web, true)
	stale.UID = "5f0c6d2e-1111-4111-8111-111111111111" // the web that was deleted
	p := newPod("default", "web-old", stale)
	mustCreate(t, st, p)
	poll(t, 10*time.Second, "pod of the old web deleted", func() bool { return !exists(t, st, p) })
	if !exists(t, st, web) {
		t.Fatal("the new owner was deleted")
	}
}

func TestGCRemovesReferencesToGoneOwnersWhenAnotherOwnerLives(t *testing.T) {
	st, _, _ := natstest.Store(t)
	runGC(t, st)
	a, b := newRS("a"), newRS("b")
	mustCreate(t, st, a, b)
	ra, rb := refTo(a, false), refTo(b, false)
	no := false
	ra.Controller, rb.Controller = &no, &no
	p := newPod("default", "shared", ra, rb)
	mustCreate(t, st, p)
	del(t, st, b, "")
	poll(t, 10*time.Second, "reference to b removed", func() bool {
		got, err := store.For[*api.Pod](st).Get(context.Background(), "default", "shared")
		if err != nil {
			t.Fatalf("the pod still owned by a was deleted: %v", err)
		}
		return len(got.OwnerReferences) == 1 && got.OwnerReferences[0].UID == a.UID
	})
}

// deletions records the revision at which each object of some kinds was
// deleted.
type deletions struct {
	mu  sync.Mutex
	rev map[string]uint64
}

func watchDeletions[T api.Object](t *testing.T, st *store.Store, d *deletions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	res := store.For[T](st)
	events, err := res.Watch(ctx, store.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	synced := make(chan struct{})
	go func() {
		for ev := range events {
			switch ev.Type {
			case store.Synced:
				close(synced)
			case store.Deleted:
				d.mu.Lock()
				d.rev[res.Info().Kind+"/"+ev.Name] = ev.Revision
				d.mu.Unlock()
			}
		}
	}()
	select {
	case <-synced:
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not sync")
	}
}

func TestForegroundDeletesDependentsBeforeTheOwner(t *testing.T) {
	st, _, _ := natstest.Store(t)
	d := &deletions{rev: map[string]uint64{}}
	watchDeletions[*api.Deployment](t, st, d)
	watchDeletions[*api.ReplicaSet](t, st, d)
	watchDeletions[*api.Pod](t, st, d)

	dep := newDeployment("web")
	mustCreate(t, st, dep)
	rs := newRS("web-1234", refTo(dep, true))
	mustCreate(t, st, rs)
	for _, n := range []string{"web-1234-a", "web-1234-b", "web-1234-c"} {
		mustCreate(t, st, newPod("default", n, refTo(rs, true)))
	}
	// The collector starts after the objects exist and the delete is
	// requested, so it must work from what it finds.
	del(t, st, dep, admission.PropagationForeground)
	marked, err := store.For[*api.Deployment](st).Get(context.Background(), "default", "web")
	if err != nil || marked.DeletionTimestamp == nil {
		t.Fatalf("a foreground delete must keep the owner, marked, until its dependents are gone: %+v %v", marked, err)
	}
	runGC(t, st)
	poll(t, 15*time.Second, "deployment deleted", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.rev["Deployment/web"] != 0
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	owner, rsRev := d.rev["Deployment/web"], d.rev["ReplicaSet/web-1234"]
	if rsRev == 0 || rsRev > owner {
		t.Fatalf("ReplicaSet deleted at %d, Deployment at %d: the dependent must go first", rsRev, owner)
	}
	for _, n := range []string{"web-1234-a", "web-1234-b", "web-1234-c"} {
		if r := d.rev["Pod/"+n]; r == 0 || r > rsRev {
			t.Fatalf("pod %s deleted at %d, its ReplicaSet at %d: the pods must go first", n, r, rsRev)
		}
	}
}

func TestOrphanKeepsDependentsWithoutTheOwnerReference(t *testing.T) {
	st, _, _ := natstest.Store(t)
	runGC(t, st)
	rs := newRS("web")
	mustCreate(t, st, rs)
	pods := []*api.Pod{newPod("default", "web-1", refTo(rs, true)), newPod("default", "web-2", refTo(rs, true))}
	for _, p := range pods {
		mustCreate(t, st, p)
	}
	del(t, st, rs, admission.PropagationOrphan)
	poll(t, 10*time.Second, "orphaned ReplicaSet deleted", func() bool { return !exists(t, st, rs) })
	for _, p := range pods {
		got, err := store.For[*api.Pod](st).Get(context.Background(), "default", p.Name)
		if err != nil {
			t.Fatalf("orphan deleted the dependent %s: %v", p.Name, err)
		}
		if len(got.OwnerReferences) != 0 {
			t.Fatalf("%s still names its deleted owner: %+v", p.Name, got.OwnerReferences)
		}
	}
}

func TestObjectIsRemovedWhenItsLastFinalizerGoes(t *testing.T) {
	st, _, _ := natstest.Store(t)
	runGC(t, st)
	rs := newRS("held")
	rs.Finalizers = []string{"example.com/hold"}
	mustCreate(t, st, rs)
	del(t, st, rs, "")
	rss := store.For[*api.ReplicaSet](st)
	got, err := rss.Get(context.Background(), "default", "held")
	if err != nil || got.DeletionTimestamp == nil {
		t.Fatalf("an object with a finalizer must stay marked: %+v %v", got, err)
	}
	if _, err := rss.Mutate(context.Background(), "default", "held", func(r *api.ReplicaSet) error {
		r.Finalizers = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "released object removed", func() bool { return !exists(t, st, rs) })
}
