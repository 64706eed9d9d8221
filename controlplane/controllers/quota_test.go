package controllers_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/admission"
	"github.com/skiff-sh/skiff/controlplane/controllers"
	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

func podsQuota(ns string, n string) *api.ResourceQuota {
	q := &api.ResourceQuota{ObjectMeta: api.ObjectMeta{Name: "pods", Namespace: ns}, Spec: api.ResourceQuotaSpec{Hard: api.ResourceList{api.ResourcePods: api.Quantity(n)}}}
	api.SetDefaults(q)
	return q
}

func admitCreate(st *store.Store, p *api.Pod) error {
	if err := admission.Admit(context.Background(), st, p); err != nil {
		return err
	}
	return st.CreateObject(context.Background(), p)
}

func usedPods(t *testing.T, st *store.Store) api.Quantity {
	t.Helper()
	q, err := store.For[*api.ResourceQuota](st).Get(context.Background(), "default", "pods")
	if err != nil {
		t.Fatal(err)
	}
	return q.Status.Used[api.ResourcePods]
}

func TestQuotaControllerReleasesWhatGonePodsHeld(t *testing.T) {
	st, _, _ := natstest.Store(t)
	runControllers(t, st, func(inf *informer.Set) []*controllers.Runner {
		return []*controllers.Runner{controllers.NewQuotaController(inf, st, quietLog()).Runner(2)}
	})
	mustCreate(t, st, podsQuota("default", "2"))
	poll(t, 10*time.Second, "status computed", func() bool { return usedPods(t, st) == "0" })
	for _, n := range []string{"a", "b"} {
		if err := admitCreate(st, newPod("default", n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := admitCreate(st, newPod("default", "c")); !errors.Is(err, admission.ErrForbidden) {
		t.Fatalf("third pod: got %v, want forbidden", err)
	}
	// b is created and deleted before any recompute: its reservation is
	// released all the same.
	if err := st.DeleteObject(context.Background(), api.KindOf(&api.Pod{}), "default", "b", ""); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "b's share released", func() bool { return usedPods(t, st) == "1" })
	if err := admitCreate(st, newPod("default", "c")); err != nil {
		t.Fatalf("after b went: %v", err)
	}
	// A pod that finishes gives its share back too.
	if _, err := store.For[*api.Pod](st).Mutate(context.Background(), "default", "a", func(p *api.Pod) error {
		p.Status.Phase = api.PodFailed
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "a's share released", func() bool { return usedPods(t, st) == "1" })
}

func TestReplicaSetMakesNoMorePodsThanTheQuotaAllows(t *testing.T) {
	st, _, _ := natstest.Store(t)
	runControllers(t, st, func(inf *informer.Set) []*controllers.Runner {
		return []*controllers.Runner{
			controllers.NewQuotaController(inf, st, quietLog()).Runner(2),
			controllers.NewReplicaSetController(inf, st, quietLog()).Runner(2),
		}
	})
	mustCreate(t, st, podsQuota("default", "3"))
	rs := newRS("web")
	five := int32(5)
	rs.Spec.Replicas = &five
	mustCreate(t, st, rs)
	count := func() int {
		pods, err := store.For[*api.Pod](st).List(context.Background(), "default")
		if err != nil {
			t.Fatal(err)
		}
		return len(pods)
	}
	poll(t, 10*time.Second, "three pods", func() bool { return count() == 3 })
	// The ReplicaSet keeps trying; watch it for a while.
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); {
		if n := count(); n > 3 {
			t.Fatalf("%d pods under a quota of 3", n)
		}
	}
	if _, err := store.For[*api.ResourceQuota](st).Mutate(context.Background(), "default", "pods", func(q *api.ResourceQuota) error {
		q.Spec.Hard[api.ResourcePods] = "5"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	poll(t, 15*time.Second, "five pods once the quota grew", func() bool { return count() == 5 })
}
