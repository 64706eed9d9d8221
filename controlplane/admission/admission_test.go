package admission_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/admission"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, _, _ := natstest.Store(t)
	return st
}

func createNamespace(t *testing.T, st *store.Store, name string) *api.Namespace {
	t.Helper()
	ns := &api.Namespace{ObjectMeta: api.ObjectMeta{Name: name}}
	api.SetDefaults(ns)
	if err := st.CreateObject(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns
}

func pod(ns, name string, res api.ResourceRequirements) *api.Pod {
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "app", Image: "registry.local/app:1", Resources: res}}},
	}
	api.SetDefaults(p)
	return p
}

func requests(cpu, mem string) api.ResourceRequirements {
	r := api.ResourceRequirements{Requests: api.ResourceList{}}
	if cpu != "" {
		r.Requests[api.ResourceCPU] = api.Quantity(cpu)
	}
	if mem != "" {
		r.Requests[api.ResourceMemory] = api.Quantity(mem)
	}
	return r
}

func quota(ns, name string, hard api.ResourceList) *api.ResourceQuota {
	q := &api.ResourceQuota{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns}, Spec: api.ResourceQuotaSpec{Hard: hard}}
	api.SetDefaults(q)
	return q
}

// admitAndCreate is what the API's create handler does.
func admitAndCreate(ctx context.Context, st *store.Store, obj api.Object) error {
	if err := admission.Admit(ctx, st, obj); err != nil {
		return err
	}
	return st.CreateObject(ctx, obj)
}

func TestCreateInMissingNamespaceIsNotFoundNamingTheField(t *testing.T) {
	st := newStore(t)
	err := admission.Admit(t.Context(), st, pod("team-a", "web-1", api.ResourceRequirements{}))
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "metadata.namespace") || !strings.Contains(err.Error(), `"team-a"`) {
		t.Fatalf("got %v, want a not-found error naming metadata.namespace and the namespace", err)
	}
}

func TestSystemNamespacesAlwaysAdmit(t *testing.T) {
	st := newStore(t) // no Namespace objects stored at all
	for _, ns := range admission.SystemNamespaces() {
		if err := admission.Admit(t.Context(), st, pod(ns, "web-1", api.ResourceRequirements{})); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}
}

func TestCreateInTerminatingNamespaceIsForbidden(t *testing.T) {
	st := newStore(t)
	ctx := t.Context()
	createNamespace(t, st, "team-a")
	if err := admitAndCreate(ctx, st, pod("team-a", "before", api.ResourceRequirements{})); err != nil {
		t.Fatalf("create in an active namespace: %v", err)
	}
	nsInfo := api.KindOf(&api.Namespace{})
	got, err := admission.Delete(ctx, st, nsInfo, "", "team-a", admission.DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns := got.(*api.Namespace)
	if ns.DeletionTimestamp == nil || ns.Status.Phase != api.NamespaceTerminating {
		t.Fatalf("deleted namespace is not marked Terminating: %+v", ns)
	}
	if _, err := st.GetObject(ctx, nsInfo, "", "team-a"); err != nil {
		t.Fatalf("the namespace must stay until its contents are gone: %v", err)
	}
	err = admission.Admit(ctx, st, pod("team-a", "after", api.ResourceRequirements{}))
	if !errors.Is(err, admission.ErrForbidden) || !strings.Contains(err.Error(), "metadata.namespace") || !strings.Contains(err.Error(), "being terminated") {
		t.Fatalf("API create: got %v, want forbidden naming metadata.namespace", err)
	}
	if err := admission.AdmitPod(ctx, st, pod("team-a", "by-controller", api.ResourceRequirements{}), nil); !errors.Is(err, admission.ErrForbidden) {
		t.Fatalf("controller create: got %v, want forbidden", err)
	}
}

func TestControllerPodsInAMissingNamespaceAreLeftToTheirOwner(t *testing.T) {
	st := newStore(t)
	if err := admission.AdmitPod(t.Context(), st, pod("gone", "web-1", api.ResourceRequirements{}), nil); err != nil {
		t.Fatalf("AdmitPod checks quota and Terminating only: %v", err)
	}
}

func TestSystemNamespacesCannotBeDeleted(t *testing.T) {
	st := newStore(t)
	createNamespace(t, st, "default")
	for _, name := range admission.SystemNamespaces() {
		_, err := admission.Delete(t.Context(), st, api.KindOf(&api.Namespace{}), "", name, admission.DeleteOptions{})
		if !errors.Is(err, admission.ErrForbidden) || err.Error() != `namespaces "`+name+`" is forbidden: this namespace may not be deleted` {
			t.Errorf("delete %s: got %v", name, err)
		}
	}
	ns, err := st.GetObject(t.Context(), api.KindOf(&api.Namespace{}), "", "default")
	if err != nil || ns.GetObjectMeta().DeletionTimestamp != nil {
		t.Fatalf("default was touched: %v %+v", err, ns)
	}
}

func ownerRef(owner api.Object) api.OwnerReference {
	info := api.KindOf(owner)
	yes := true
	m := owner.GetObjectMeta()
	return api.OwnerReference{APIVersion: info.APIVersion(), Kind: info.Kind, Name: m.Name, UID: m.UID, BlockOwnerDeletion: &yes}
}

func replicaSet(name string, owners ...api.OwnerReference) *api.ReplicaSet {
	one := int32(1)
	rs := &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", OwnerReferences: owners},
		Spec: api.ReplicaSetSpec{Replicas: &one, Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "registry.local/app:1"}}}}},
	}
	api.SetDefaults(rs)
	return rs
}

func TestOwnerCycleIsRefusedAndNothingWritten(t *testing.T) {
	st := newStore(t)
	ctx := t.Context()
	a := replicaSet("a")
	if err := admitAndCreate(ctx, st, a); err != nil {
		t.Fatal(err)
	}
	b := replicaSet("b", ownerRef(a))
	if err := admitAndCreate(ctx, st, b); err != nil {
		t.Fatalf("b owned by a: %v", err)
	}
	// a owned by b closes a → b → a.
	a.OwnerReferences = []api.OwnerReference{ownerRef(b)}
	err := admission.AdmitUpdate(ctx, st, a)
	var fe api.FieldErrors
	if !errors.As(err, &fe) || len(fe) != 1 || !strings.HasPrefix(fe[0].Field, "metadata.ownerReferences") || !strings.Contains(fe[0].Detail, "cycle") {
		t.Fatalf("got %v, want a field error on metadata.ownerReferences about a cycle", err)
	}
	if !strings.Contains(fe[0].Detail, "ReplicaSet a is owned by ReplicaSet b is owned by ReplicaSet a") {
		t.Errorf("the error does not show the cycle: %s", fe[0].Detail)
	}
	stored, _ := st.GetObject(ctx, api.KindOf(a), "default", "a")
	if len(stored.GetObjectMeta().OwnerReferences) != 0 {
		t.Fatalf("a was changed: %+v", stored.GetObjectMeta().OwnerReferences)
	}

	// Longer: c owned by b; a owned by c closes a → b → c → a.
	c := replicaSet("c", ownerRef(b))
	if err := admitAndCreate(ctx, st, c); err != nil {
		t.Fatal(err)
	}
	a.OwnerReferences = []api.OwnerReference{ownerRef(c)}
	if err := admission.AdmitUpdate(ctx, st, a); !errors.As(err, &fe) {
		t.Fatalf("a three-object cycle was not refused: %v", err)
	}
}

func TestOwnerWithSameNameButNewUIDIsNoCycle(t *testing.T) {
	st := newStore(t)
	ctx := t.Context()
	a := replicaSet("a")
	b := replicaSet("b")
	for _, o := range []api.Object{a, b} {
		if err := admitAndCreate(ctx, st, o); err != nil {
			t.Fatal(err)
		}
	}
	// b names an "a" that was deleted (its uid is not a's).
	b.OwnerReferences = []api.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "a", UID: "0f8e1a8e-0000-4000-8000-000000000000"}}
	if err := st.UpdateObject(ctx, b); err != nil {
		t.Fatal(err)
	}
	a.OwnerReferences = []api.OwnerReference{ownerRef(b)}
	if err := admission.AdmitUpdate(ctx, st, a); err != nil {
		t.Fatalf("no cycle by uid, yet refused: %v", err)
	}
}

func TestOwnerReferencesMustNameServedKinds(t *testing.T) {
	st := newStore(t)
	tests := []struct {
		name      string
		give      api.OwnerReference
		wantField string
	}{
		{"unknown kind", api.OwnerReference{APIVersion: "example.com/v1", Kind: "Widget", Name: "x", UID: "u"}, "metadata.ownerReferences[0].kind"},
		{"wrong apiVersion", api.OwnerReference{APIVersion: "v1", Kind: "Deployment", Name: "x", UID: "u"}, "metadata.ownerReferences[0].apiVersion"},
		{"namespaced owner of a cluster-scoped object", api.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "x", UID: "u"}, "metadata.ownerReferences[0].kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var obj api.Object = pod("default", "p", api.ResourceRequirements{})
			if tt.name == "namespaced owner of a cluster-scoped object" {
				ns := &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "n"}}
				api.SetDefaults(ns)
				obj = ns
			}
			obj.GetObjectMeta().OwnerReferences = []api.OwnerReference{tt.give}
			err := admission.Admit(t.Context(), st, obj)
			var fe api.FieldErrors
			if !errors.As(err, &fe) || fe[0].Field != tt.wantField {
				t.Fatalf("got %v, want a field error on %s", err, tt.wantField)
			}
		})
	}
}

func TestQuotaOverrunIsForbiddenWithKubernetesMessage(t *testing.T) {
	st := newStore(t)
	ctx := t.Context()
	createNamespace(t, st, "team-a")
	if err := st.CreateObject(ctx, quota("team-a", "team-a-quota", api.ResourceList{api.ResourceRequestsMemory: "2Gi", api.ResourcePods: "10"})); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"web-a", "web-b", "web-c"} {
		if err := admitAndCreate(ctx, st, pod("team-a", name, requests("100m", "512Mi"))); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	err := admitAndCreate(ctx, st, pod("team-a", "web-1", requests("100m", "1Gi")))
	want := `pods "web-1" is forbidden: exceeded quota: team-a-quota, requested: requests.memory=1Gi, used: requests.memory=1536Mi, limited: requests.memory=2Gi`
	if !errors.Is(err, admission.ErrForbidden) || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	if _, err := st.GetObject(ctx, api.KindOf(&api.Pod{}), "team-a", "web-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused pod was stored: %v", err)
	}
	// What fits still fits: 1536Mi + 512Mi = 2Gi.
	if err := admitAndCreate(ctx, st, pod("team-a", "web-2", requests("100m", "512Mi"))); err != nil {
		t.Fatalf("a pod that fits exactly was refused: %v", err)
	}
	q, _ := store.For[*api.ResourceQuota](st).Get(ctx, "team-a", "team-a-quota")
	if q.Status.Used[api.ResourceRequestsMemory] != "2Gi" || q.Status.Used[api.ResourcePods] != "4" || q.Status.Hard[api.ResourcePods] != "10" {
		t.Fatalf("status after four pods: %+v", q.Status)
	}
}

func TestQuotaOnCPUOrMemoryRequiresThePodToStateIt(t *testing.T) {
	st := newStore(t)
	ctx := t.Context()
	createNamespace(t, st, "team-a")
	if err := st.CreateObject(ctx, quota("team-a", "mem", api.ResourceList{api.ResourceMemory: "1Gi", api.ResourceLimitsCPU: "2"})); err != nil {
		t.Fatal(err)
	}
	err := admission.Admit(ctx, st, pod("team-a", "bare", api.ResourceRequirements{}))
	want := `pods "bare" is forbidden: failed quota: mem: must specify limits.cpu,requests.memory`
	if !errors.Is(err, admission.ErrForbidden) || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	// A limit stands for the request it does not state, as Kubernetes'
	// defaulting makes it.
	limited := pod("team-a", "limited", api.ResourceRequirements{Limits: api.ResourceList{api.ResourceCPU: "500m", api.ResourceMemory: "256Mi"}})
	if err := admitAndCreate(ctx, st, limited); err != nil {
		t.Fatalf("pod with limits only: %v", err)
	}
	q, _ := store.For[*api.ResourceQuota](st).Get(ctx, "team-a", "mem")
	if q.Status.Used[api.ResourceMemory] != "256Mi" || q.Status.Used[api.ResourceLimitsCPU] != "500m" {
		t.Fatalf("used: %+v", q.Status.Used)
	}
}

func TestConcurrentCreatesNeverOvershootQuota(t *testing.T) {
	st := newStore(t)
	ctx := t.Context()
	createNamespace(t, st, "team-a")
	if err := st.CreateObject(ctx, quota("team-a", "ten", api.ResourceList{api.ResourcePods: "10"})); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok, forbidden int
	var other []error
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := pod("team-a", "", api.ResourceRequirements{})
			p.GenerateName = "web-"
			err := admitAndCreate(ctx, st, p)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, admission.ErrForbidden):
				forbidden++
			default:
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	if ok != 10 || forbidden != 10 || len(other) > 0 {
		t.Fatalf("%d created, %d forbidden, other errors %v; want 10 and 10", ok, forbidden, other)
	}
	pods, err := store.For[*api.Pod](st).List(ctx, "team-a")
	if err != nil || len(pods) != 10 {
		t.Fatalf("%d pods stored (%v), want 10", len(pods), err)
	}
}

func TestRefusalByOneQuotaGivesBackTheOthersReservation(t *testing.T) {
	st := newStore(t)
	ctx := t.Context()
	createNamespace(t, st, "team-a")
	for _, q := range []*api.ResourceQuota{
		quota("team-a", "a-pods", api.ResourceList{api.ResourcePods: "5"}),
		quota("team-a", "b-memory", api.ResourceList{api.ResourceRequestsMemory: "1Gi"}),
	} {
		if err := st.CreateObject(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := admitAndCreate(ctx, st, pod("team-a", "small", requests("", "512Mi"))); err != nil {
		t.Fatal(err)
	}
	if err := admitAndCreate(ctx, st, pod("team-a", "big", requests("", "1Gi"))); !errors.Is(err, admission.ErrForbidden) || !strings.Contains(err.Error(), "b-memory") {
		t.Fatalf("got %v, want b-memory to refuse", err)
	}
	q, _ := store.For[*api.ResourceQuota](st).Get(ctx, "team-a", "a-pods")
	if q.Status.Used[api.ResourcePods] != "1" || strings.Contains(q.Annotations[admission.PendingAnnotation], "big") {
		t.Fatalf("a-pods still holds the refused pod: used %v, pending %s", q.Status.Used, q.Annotations[admission.PendingAnnotation])
	}
}

func TestStaleUsedIsRecountedBeforeRefusing(t *testing.T) {
	st := newStore(t)
	ctx := t.Context()
	createNamespace(t, st, "team-a")
	if err := st.CreateObject(ctx, quota("team-a", "two", api.ResourceList{api.ResourcePods: "2"})); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if err := admitAndCreate(ctx, st, pod("team-a", n, api.ResourceRequirements{})); err != nil {
			t.Fatal(err)
		}
	}
	// b finishes; no controller has released it, so status.used still
	// says 2.
	if _, err := store.For[*api.Pod](st).Mutate(ctx, "team-a", "b", func(p *api.Pod) error {
		p.Status.Phase = api.PodSucceeded
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := admitAndCreate(ctx, st, pod("team-a", "c", api.ResourceRequirements{})); err != nil {
		t.Fatalf("the quota has room once recounted: %v", err)
	}
	if err := admitAndCreate(ctx, st, pod("team-a", "d", api.ResourceRequirements{})); !errors.Is(err, admission.ErrForbidden) {
		t.Fatalf("a third pod: got %v, want forbidden", err)
	}
}

func TestRecomputeQuotaCountsLivePodsAndPendingReservations(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	q := quota("team-a", "q", api.ResourceList{api.ResourcePods: "10", api.ResourceCPU: "4", api.ResourceLimitsMemory: "4Gi"})
	q.Annotations = map[string]string{admission.PendingAnnotation: `{"seen":{"at":"2026-11-20T11:59:59Z","usage":{"pods":1}},` +
		`"coming":{"at":"2026-11-20T11:59:50Z","rev":7,"usage":{"pods":1,"requests.cpu":250}},` +
		`"come-and-gone":{"at":"2026-11-20T11:59:58Z","rev":8,"usage":{"pods":1}},` +
		`"failed":{"at":"2026-11-20T11:00:00Z","usage":{"pods":1}}}`}
	running := pod("team-a", "seen", api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: "1"}, Limits: api.ResourceList{api.ResourceMemory: "1Gi"}})
	done := pod("team-a", "done", requests("2", ""))
	done.Status.Phase = api.PodSucceeded
	other := pod("team-b", "elsewhere", requests("3", ""))
	// The controller saw come-and-gone written at revision 9 (after its
	// reservation at 8) and coming only at 5, before its reservation.
	seenAt := map[string]uint64{"come-and-gone": 9, "coming": 5}
	next := admission.RecomputeQuota(q, []*api.Pod{running, done, other}, now, func(pod string, rev uint64) bool { return seenAt[pod] > rev })
	want := api.ResourceList{api.ResourcePods: "2", api.ResourceCPU: "1250m", api.ResourceLimitsMemory: "1Gi"}
	for n, v := range want {
		if q.Status.Used[n] != v {
			t.Errorf("used[%s] = %q, want %q (all: %v)", n, q.Status.Used[n], v, q.Status.Used)
		}
	}
	if p := q.Annotations[admission.PendingAnnotation]; strings.Contains(p, "seen") || strings.Contains(p, "failed") || strings.Contains(p, "gone") || !strings.Contains(p, "coming") {
		t.Errorf("pending after recompute: %s; want only the reservation of the pod not seen yet", p)
	}
	if wantNext := now.Add(-10 * time.Second).Add(admission.PendingTTL); !next.Equal(wantNext) {
		t.Errorf("next expiry %v, want %v", next, wantNext)
	}
}

func TestPodChargeSumsContainersAndTakesTheLargestInitContainer(t *testing.T) {
	p := pod("default", "p", requests("250m", "64Mi"))
	p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: "side", Image: "registry.local/side:1",
		Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: "0.5"}, Limits: api.ResourceList{api.ResourceMemory: "1G"}}})
	// An init container runs alone: it counts when it asks more than the
	// containers together (cpu here), not on top of them (memory).
	p.Spec.InitContainers = []api.Container{{Name: "init", Image: "registry.local/init:1", Resources: requests("2", "10Mi")}}
	charge, missing := admission.PodCharge(p)
	want := map[api.ResourceName]int64{api.ResourcePods: 1, api.ResourceRequestsCPU: 2000, api.ResourceRequestsMemory: 64<<20 + 1e9, api.ResourceLimitsMemory: 1e9}
	for n, v := range want {
		if charge[n] != v {
			t.Errorf("charge[%s] = %d, want %d", n, charge[n], v)
		}
	}
	if !missing[api.ResourceLimitsCPU] || !missing[api.ResourceLimitsMemory] || missing[api.ResourceRequestsCPU] {
		t.Errorf("missing = %v", missing)
	}
}

func TestDeleteWithPropagationPolicies(t *testing.T) {
	st := newStore(t)
	ctx := t.Context()
	rsInfo := api.KindOf(&api.ReplicaSet{})
	mk := func(name string) *api.ReplicaSet {
		rs := replicaSet(name)
		if err := st.CreateObject(ctx, rs); err != nil {
			t.Fatal(err)
		}
		return rs
	}

	mk("bg")
	if _, err := admission.Delete(ctx, st, rsInfo, "default", "bg", admission.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetObject(ctx, rsInfo, "default", "bg"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("background delete left the object: %v", err)
	}

	for policy, finalizer := range map[string]string{admission.PropagationForeground: admission.FinalizerForeground, admission.PropagationOrphan: admission.FinalizerOrphan} {
		mk("marked")
		got, err := admission.Delete(ctx, st, rsInfo, "default", "marked", admission.DeleteOptions{PropagationPolicy: policy})
		if err != nil {
			t.Fatal(err)
		}
		m := got.GetObjectMeta()
		stored, err := st.GetObject(ctx, rsInfo, "default", "marked")
		if err != nil || m.DeletionTimestamp == nil || len(m.Finalizers) != 1 || m.Finalizers[0] != finalizer || stored.GetObjectMeta().DeletionTimestamp == nil {
			t.Fatalf("%s: got %+v (stored: %v), want deletionTimestamp and finalizer %s", policy, m, err, finalizer)
		}
		if err := st.DeleteObject(ctx, rsInfo, "default", "marked", ""); err != nil {
			t.Fatal(err)
		}
	}

	rs := mk("pinned")
	_, err := admission.Delete(ctx, st, rsInfo, "default", "pinned", admission.DeleteOptions{ResourceVersion: "1"})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale precondition: got %v, want conflict", err)
	}
	if _, err := admission.Delete(ctx, st, rsInfo, "default", "pinned", admission.DeleteOptions{ResourceVersion: rs.ResourceVersion}); err != nil {
		t.Fatalf("current precondition: %v", err)
	}

	_, err = admission.Delete(ctx, st, rsInfo, "default", "x", admission.DeleteOptions{PropagationPolicy: "Sideways"})
	var fe api.FieldErrors
	if !errors.As(err, &fe) || fe[0].Field != "propagationPolicy" {
		t.Fatalf("bad policy: got %v", err)
	}
	if err := admission.CheckPropagationPolicy("Sideways"); err == nil || !strings.Contains(err.Error(), "Background, Foreground or Orphan") {
		t.Fatalf("CheckPropagationPolicy: %v", err)
	}
	if _, err := admission.Delete(ctx, st, rsInfo, "default", "nothing", admission.DeleteOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing object: got %v", err)
	}
}

func TestDeleteObjectWithOtherFinalizerOnlyMarksIt(t *testing.T) {
	st := newStore(t)
	ctx := t.Context()
	rs := replicaSet("held")
	rs.Finalizers = []string{"example.com/hold"}
	if err := st.CreateObject(ctx, rs); err != nil {
		t.Fatal(err)
	}
	got, err := admission.Delete(ctx, st, api.KindOf(rs), "default", "held", admission.DeleteOptions{})
	if err != nil || got.GetObjectMeta().DeletionTimestamp == nil {
		t.Fatalf("got %+v, %v; want it marked", got, err)
	}
	if _, err := st.GetObject(ctx, api.KindOf(rs), "default", "held"); err != nil {
		t.Fatalf("an object with a finalizer was removed: %v", err)
	}
}

func TestDeletePodIsGracefulOnItsNode(t *testing.T) {
	st := newStore(t)
	ctx := t.Context()
	p := pod("default", "bound", api.ResourceRequirements{})
	p.Spec.NodeName = "node-1"
	if err := st.CreateObject(ctx, p); err != nil {
		t.Fatal(err)
	}
	podInfo := api.KindOf(p)
	got, err := admission.Delete(ctx, st, podInfo, "default", "bound", admission.DeleteOptions{})
	if err != nil || got.GetObjectMeta().DeletionTimestamp == nil || *got.GetObjectMeta().DeletionGracePeriodSeconds != 30 {
		t.Fatalf("got %+v, %v; want it terminating with the default grace", got, err)
	}
	zero := int64(0)
	if _, err := admission.Delete(ctx, st, podInfo, "default", "bound", admission.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetObject(ctx, podInfo, "default", "bound"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("forced delete left the pod: %v", err)
	}
}
