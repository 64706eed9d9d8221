package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// kvRevision is the objects bucket's newest revision: it moves with every
// write.
func (a *testAPI) kvRevision() uint64 {
	a.t.Helper()
	_, rev, err := a.store.Revisions(a.t.Context())
	if err != nil {
		a.t.Fatal(err)
	}
	return rev
}

func (a *testAPI) storedQuota(ns, name string) *api.ResourceQuota {
	a.t.Helper()
	q, err := store.For[*api.ResourceQuota](a.store).Get(a.t.Context(), ns, name)
	if err != nil {
		a.t.Fatal(err)
	}
	return q
}

func TestDryRunCreateAnswersWhatWouldBeStoredAndWritesNothing(t *testing.T) {
	a := startTestAPI(t)
	a.createNamespace("q")
	quota := []byte(`{"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"one"},"spec":{"hard":{"pods":"1"}}}`)
	a.do(http.MethodPost, "/api/v1/namespaces/q/resourcequotas", "application/json", quota).want(t, http.StatusCreated)
	gen := []byte(strings.Replace(string(podDoc("x")), "name: x", "generateName: web-", 1))
	quotaBefore := a.storedQuota("q", "one")
	rev := a.kvRevision()

	for range 2 { // twice: a dry run charged nothing the second one would hit
		p := a.do(http.MethodPost, "/api/v1/namespaces/q/pods?dryRun=All", "application/yaml", gen).want(t, http.StatusCreated).pod(t)
		if !strings.HasPrefix(p.Name, "web-") || len(p.Name) != len("web-")+5 || p.UID == "" || p.CreationTimestamp.IsZero() || p.Kind != "Pod" {
			t.Fatalf("dry-run create answered %+v, want a generated name, uid and creationTimestamp", p.ObjectMeta)
		}
		if p.Spec.RestartPolicy != api.RestartPolicyAlways || p.ResourceVersion != "" {
			t.Fatalf("dry-run create: restartPolicy %q (want the default), resourceVersion %q (want none)", p.Spec.RestartPolicy, p.ResourceVersion)
		}
	}
	if got := a.kvRevision(); got != rev {
		t.Fatalf("the bucket's revision moved from %d to %d", rev, got)
	}
	if pods := a.storedPods(); len(pods) != 0 {
		t.Fatalf("the store holds %d pods after dry runs", len(pods))
	}
	if q := a.storedQuota("q", "one"); q.ResourceVersion != quotaBefore.ResourceVersion || len(q.Status.Used) != 0 {
		t.Fatalf("the quota moved: rv %s → %s, used %v", quotaBefore.ResourceVersion, q.ResourceVersion, q.Status.Used)
	}

	// Admission runs as for a real create: the quota, once full, refuses a
	// dry run too; a missing namespace and a taken name fail the same way.
	a.do(http.MethodPost, "/api/v1/namespaces/q/pods", "application/yaml", gen).want(t, http.StatusCreated)
	st := a.do(http.MethodPost, "/api/v1/namespaces/q/pods?dryRun=All", "application/yaml", gen).want(t, http.StatusForbidden).status(t)
	if !strings.Contains(st.Message, "exceeded quota: one") {
		t.Fatalf("over-quota dry run: %s", st.Message)
	}
	a.do(http.MethodPost, "/api/v1/namespaces/nowhere/pods?dryRun=All", "application/yaml", podDoc("x")).want(t, http.StatusNotFound)
	a.createPod("taken")
	a.do(http.MethodPost, "/api/v1/namespaces/default/pods?dryRun=All", "application/yaml", podDoc("taken")).want(t, http.StatusConflict)
	// So does validation.
	bad := []byte(strings.Replace(string(podDoc("bad")), "name: main", "name: Main_", 1))
	a.do(http.MethodPost, "/api/v1/namespaces/default/pods?dryRun=All", "application/yaml", bad).want(t, http.StatusUnprocessableEntity)
}

func TestDryRunUpdatePatchScaleAndDeleteChangeNothing(t *testing.T) {
	a := startTestAPI(t)
	dep := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"main","image":"nginx:1"}]}}}}`)
	a.do(http.MethodPost, "/apis/apps/v1/namespaces/default/deployments", "application/json", dep).want(t, http.StatusCreated)
	pod := a.createPod("p")
	if err := store.For[*api.Node](a.store).Create(t.Context(), &api.Node{ObjectMeta: api.ObjectMeta{Name: "edge-1"}}); err != nil {
		t.Fatal(err)
	}
	rev := a.kvRevision()
	path := "/apis/apps/v1/namespaces/default/deployments/web"

	replaced := a.do(http.MethodPut, path+"?dryRun=All", "application/json", []byte(strings.Replace(string(dep), `"replicas":1`, `"replicas":4`, 1))).want(t, http.StatusOK)
	patched := a.do(http.MethodPatch, path+"?dryRun=All", api.MediaMergePatch, []byte(`{"spec":{"replicas":5}}`)).want(t, http.StatusOK)
	scaled := a.do(http.MethodPatch, path+"/scale?dryRun=All", api.MediaMergePatch, []byte(`{"spec":{"replicas":6}}`)).want(t, http.StatusOK)
	for i, r := range []response{replaced, patched, scaled} {
		if want := fmt.Sprintf(`"replicas":%d`, i+4); !strings.Contains(string(r.body), want) {
			t.Fatalf("dry run %d answered %s, want %s", i, r.body, want)
		}
	}
	a.do(http.MethodPut, "/api/v1/namespaces/default/pods/p/status?dryRun=All", "application/json",
		fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"status":{"phase":"Running"}}`)).want(t, http.StatusOK)
	a.do(http.MethodDelete, path+"?dryRun=All", "", nil).want(t, http.StatusOK)
	a.do(http.MethodDelete, path+"?dryRun=All&propagationPolicy=Foreground", "", nil).want(t, http.StatusOK)
	gone := a.do(http.MethodDelete, "/api/v1/namespaces/default/pods/p?dryRun=All", "", nil).want(t, http.StatusOK).pod(t)
	if gone.UID != pod.UID {
		t.Fatalf("dry-run delete answered %+v", gone.ObjectMeta)
	}
	a.do(http.MethodDelete, "/api/v1/namespaces/default/pods/missing?dryRun=All", "", nil).want(t, http.StatusNotFound)
	if n := a.do(http.MethodDelete, "/api/v1/nodes/edge-1?dryRun=All", "", nil).want(t, http.StatusOK); !strings.Contains(string(n.body), `"kind":"Node"`) {
		t.Fatalf("dry-run node delete answered %s", n.body)
	}
	if _, err := store.For[*api.Node](a.store).Get(t.Context(), "", "edge-1"); err != nil {
		t.Fatalf("dry-run node delete removed the node: %v", err)
	}
	a.do(http.MethodPatch, path+"?dryRun=All", api.MediaMergePatch, []byte(`{"metadata":{"resourceVersion":"999"}}`)).want(t, http.StatusConflict)

	if got := a.kvRevision(); got != rev {
		t.Fatalf("the bucket's revision moved from %d to %d", rev, got)
	}
	d, err := store.For[*api.Deployment](a.store).Get(t.Context(), "default", "web")
	if err != nil || *d.Spec.Replicas != 1 || d.DeletionTimestamp != nil {
		t.Fatalf("the deployment changed: %+v, %v", d, err)
	}
	if pods := a.storedPods(); len(pods) != 1 || pods[0].Status.Phase == api.PodRunning {
		t.Fatalf("the pod changed: %+v", pods)
	}
}

func TestDryRunValueOtherThanAllIs400(t *testing.T) {
	a := startTestAPI(t)
	a.createPod("p")
	rev := a.kvRevision()
	for _, req := range []struct{ method, path, ct, body string }{
		{http.MethodPost, "/api/v1/namespaces/default/pods?dryRun=x", "application/yaml", string(podDoc("q"))},
		{http.MethodPatch, "/api/v1/namespaces/default/pods/p?dryRun=x", api.MediaMergePatch, `{"metadata":{"labels":{"a":"b"}}}`},
		{http.MethodDelete, "/api/v1/namespaces/default/pods/p?dryRun=x", "", ""},
		{http.MethodPost, "/api/v1/namespaces/default/pods?dryRun=All&dryRun=x", "application/yaml", string(podDoc("q"))},
	} {
		var body []byte
		if req.body != "" {
			body = []byte(req.body)
		}
		st := a.do(req.method, req.path, req.ct, body).want(t, http.StatusBadRequest).status(t)
		if st.Message != `dryRun: Unsupported value: "x": supported values: "All"` || st.Details == nil || st.Details.Causes[0].Field != "dryRun" {
			t.Fatalf("%s %s: %+v", req.method, req.path, st)
		}
	}
	// Endpoints without a dry run refuse it rather than write.
	st := a.do(http.MethodPost, api.TokensPath+"?dryRun=All", "application/json", []byte(`{"name":"t","role":"view"}`)).want(t, http.StatusBadRequest).status(t)
	if !strings.Contains(st.Message, "no dry run") {
		t.Fatalf("token create with dryRun: %s", st.Message)
	}
	if got := a.kvRevision(); got != rev {
		t.Fatalf("the bucket's revision moved from %d to %d", rev, got)
	}
}

func TestDryRunNeedsTheSameRightsAsTheWrite(t *testing.T) {
	a := startTestAPI(t)
	viewer := a.token("viewer", api.RoleView, "")
	a.doAs(viewer, http.MethodPost, "/api/v1/namespaces/default/pods?dryRun=All", "application/yaml", podDoc("p")).want(t, http.StatusForbidden)
	a.doAs(viewer, http.MethodPost, "/api/v1/namespaces?dryRun=All", "application/json", []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}}`)).want(t, http.StatusForbidden)
}
