package controllers_test

import (
	"context"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/admission"
	"github.com/skiff-sh/skiff/controlplane/controllers"
	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

func runNamespaces(t *testing.T, st *store.Store) {
	runControllers(t, st, func(inf *informer.Set) []*controllers.Runner {
		c := controllers.NewNamespaceController(inf, st, quietLog())
		if err := c.EnsureSystemNamespaces(context.Background()); err != nil {
			t.Fatal(err)
		}
		return []*controllers.Runner{c.Runner(2)}
	})
}

func TestSystemNamespacesExistAndComeBack(t *testing.T) {
	st, _, _ := natstest.Store(t)
	runNamespaces(t, st)
	nsInfo := api.KindOf(&api.Namespace{})
	for _, name := range admission.SystemNamespaces() {
		ns, err := store.For[*api.Namespace](st).Get(context.Background(), "", name)
		if err != nil || ns.Status.Phase != api.NamespaceActive {
			t.Fatalf("system namespace %s: %+v %v", name, ns, err)
		}
	}
	// Removed behind admission's back, it is made again.
	if err := st.DeleteObject(context.Background(), nsInfo, "", admission.SystemNamespace, ""); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "skiff-system made again", func() bool {
		_, err := st.GetObject(context.Background(), nsInfo, "", admission.SystemNamespace)
		return err == nil
	})
}

func TestDeletingANamespaceDeletesWhatIsInIt(t *testing.T) {
	st, _, _ := natstest.Store(t)
	runNamespaces(t, st)
	ns := &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team-a"}}
	api.SetDefaults(ns)
	mustCreate(t, st, ns)
	dep := newDeployment("web")
	dep.Namespace = "team-a"
	rs := newRS("web-1")
	rs.Namespace = "team-a"
	bound := newPod("team-a", "bound")
	bound.Spec.NodeName = "node-1" // forced: its node drops it at once
	quota := &api.ResourceQuota{ObjectMeta: api.ObjectMeta{Name: "q", Namespace: "team-a"}, Spec: api.ResourceQuotaSpec{Hard: api.ResourceList{api.ResourcePods: "10"}}}
	api.SetDefaults(quota)
	contents := []api.Object{dep, rs, bound, newPod("team-a", "pending"), quota}
	mustCreate(t, st, contents...)
	elsewhere := newPod("default", "elsewhere")
	mustCreate(t, st, elsewhere)

	del(t, st, ns, "")
	poll(t, 15*time.Second, "namespace team-a removed", func() bool { return !exists(t, st, ns) })
	for _, o := range contents {
		if exists(t, st, o) {
			t.Errorf("%s %s outlived its namespace", api.KindOf(o).Kind, o.GetObjectMeta().Name)
		}
	}
	if !exists(t, st, elsewhere) {
		t.Fatal("a pod in another namespace was deleted")
	}
}
