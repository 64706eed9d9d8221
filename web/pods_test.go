package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/controlplane/store"
)

func TestCreatePodDefaultsStoresAndReturnsIt(t *testing.T) {
	a := startTestAPI(t)
	p := a.createPod("hello")
	if p.Kind != "Pod" || p.APIVersion != "v1" || p.Namespace != "default" {
		t.Fatalf("type/namespace = %s/%s/%s", p.APIVersion, p.Kind, p.Namespace)
	}
	if p.UID == "" || p.ResourceVersion == "" || p.CreationTimestamp.IsZero() || p.Generation != 1 {
		t.Fatalf("system metadata not set: %+v", p.ObjectMeta)
	}
	if p.Spec.RestartPolicy != api.RestartPolicyAlways || p.Spec.TerminationGracePeriodSeconds == nil {
		t.Fatalf("defaults not applied: %+v", p.Spec)
	}
	got := a.do(http.MethodGet, "/api/v1/namespaces/default/pods/hello", "", nil).want(t, http.StatusOK).pod(t)
	if got.UID != p.UID || got.ResourceVersion != p.ResourceVersion {
		t.Fatalf("GET = %+v, want the created pod %+v", got.ObjectMeta, p.ObjectMeta)
	}
}

func TestCreatePodFromJSON(t *testing.T) {
	a := startTestAPI(t)
	a.createNamespace("prod")
	body := `{"metadata":{"name":"j"},"spec":{"containers":[{"name":"c","image":"nginx:1"}]}}`
	p := a.do(http.MethodPost, "/api/v1/namespaces/prod/pods", "application/json; charset=utf-8", []byte(body)).want(t, http.StatusCreated).pod(t)
	if p.Namespace != "prod" || p.Spec.Containers[0].Image != "nginx:1" {
		t.Fatalf("created %+v", p)
	}
}

func TestCreatePodDropsUserStatusAndSystemMetadata(t *testing.T) {
	a := startTestAPI(t)
	body := string(podDoc("s")) + `status:
  phase: Running
  hostIP: 10.0.0.1
`
	body = strings.Replace(body, "metadata:\n", "metadata:\n  uid: forged\n  deletionTimestamp: \"2020-01-01T00:00:00Z\"\n", 1)
	p := a.do(http.MethodPost, "/api/v1/namespaces/default/pods", "application/yaml", []byte(body)).want(t, http.StatusCreated).pod(t)
	if p.Status.Phase != "" || p.Status.HostIP != "" {
		t.Fatalf("status kept from the request: %+v", p.Status)
	}
	if p.UID == "forged" || p.DeletionTimestamp != nil {
		t.Fatalf("system metadata kept from the request: %+v", p.ObjectMeta)
	}
}

func TestCreatePodWithGenerateName(t *testing.T) {
	a := startTestAPI(t)
	body := strings.Replace(string(podDoc("x")), "name: x", "generateName: web-", 1)
	p := a.do(http.MethodPost, "/api/v1/namespaces/default/pods", "application/yaml", []byte(body)).want(t, http.StatusCreated).pod(t)
	if !strings.HasPrefix(p.Name, "web-") || len(p.Name) != len("web-")+5 {
		t.Fatalf("generated name = %q", p.Name)
	}
}

func TestCreateExistingPodIsAlreadyExists(t *testing.T) {
	a := startTestAPI(t)
	a.createPod("dup")
	r := a.do(http.MethodPost, "/api/v1/namespaces/default/pods", "application/yaml", podDoc("dup")).want(t, http.StatusConflict)
	st := r.status(t)
	if st.Reason != api.StatusReasonAlreadyExists || st.Details == nil || st.Details.Name != "dup" || st.Details.Kind != "Pod" {
		t.Fatalf("status = %+v", st)
	}
}

func TestListPodsInNamespaceAndAllNamespaces(t *testing.T) {
	a := startTestAPI(t)
	a.createPod("b")
	a.createPod("a")
	a.createNamespace("other")
	a.do(http.MethodPost, "/api/v1/namespaces/other/pods", "application/yaml", podDoc("c")).want(t, http.StatusCreated)

	var list struct {
		APIVersion string       `json:"apiVersion"`
		Kind       string       `json:"kind"`
		Metadata   api.ListMeta `json:"metadata"`
		Items      []api.Pod    `json:"items"`
	}
	r := a.do(http.MethodGet, "/api/v1/namespaces/default/pods", "", nil).want(t, http.StatusOK)
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "PodList" || list.APIVersion != "v1" || list.Metadata.ResourceVersion == "" {
		t.Fatalf("list header = %s %s %+v", list.APIVersion, list.Kind, list.Metadata)
	}
	if len(list.Items) != 2 || list.Items[0].Name != "a" || list.Items[1].Name != "b" || list.Items[0].Kind != "Pod" {
		t.Fatalf("default items = %+v", list.Items)
	}
	r = a.do(http.MethodGet, "/api/v1/pods", "", nil).want(t, http.StatusOK)
	list.Items = nil
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 3 {
		t.Fatalf("all namespaces: %d items, want 3", len(list.Items))
	}
	r = a.do(http.MethodGet, "/api/v1/namespaces/empty/pods", "", nil).want(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"items":[]`) {
		t.Fatalf("empty list should have items [], got %s", r.body)
	}
}

func TestGetMissingPodIsNotFound(t *testing.T) {
	a := startTestAPI(t)
	st := a.do(http.MethodGet, "/api/v1/namespaces/default/pods/nope", "", nil).want(t, http.StatusNotFound).status(t)
	if st.Reason != api.StatusReasonNotFound || st.Details == nil || st.Details.Name != "nope" {
		t.Fatalf("status = %+v", st)
	}
}

func TestReplacePodWithStaleResourceVersionConflicts(t *testing.T) {
	a := startTestAPI(t)
	p := a.createPod("web")
	staleRV := p.ResourceVersion

	p.Spec.Containers[0].Args = []string{"--v2"}
	b, _ := json.Marshal(p)
	updated := a.do(http.MethodPut, "/api/v1/namespaces/default/pods/web", "application/json", b).want(t, http.StatusOK).pod(t)
	if updated.ResourceVersion == staleRV || updated.Generation != 2 || updated.UID != p.UID {
		t.Fatalf("after replace: %+v", updated.ObjectMeta)
	}

	p.Spec.Containers[0].Args = []string{"--v3"}
	b, _ = json.Marshal(p) // still carries the old resourceVersion
	st := a.do(http.MethodPut, "/api/v1/namespaces/default/pods/web", "application/json", b).want(t, http.StatusConflict).status(t)
	if st.Reason != api.StatusReasonConflict {
		t.Fatalf("status = %+v", st)
	}
	got := a.do(http.MethodGet, "/api/v1/namespaces/default/pods/web", "", nil).pod(t)
	if got.Spec.Containers[0].Args[0] != "--v2" {
		t.Fatalf("stale write landed: %v", got.Spec.Containers[0].Args)
	}
}

func TestReplacePodKeepsSystemFields(t *testing.T) {
	a := startTestAPI(t)
	created := a.createPod("keep")
	pods := store.For[*api.Pod](a.store)
	bound, err := pods.Mutate(t.Context(), "default", "keep", func(p *api.Pod) error {
		p.Spec.NodeName = "edge-1"
		p.Status.Phase = api.PodRunning
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A manifest as a user writes it: no nodeName, no status, no uid,
	// no resourceVersion; and a status the user may not set.
	body := string(podDoc("keep")) + "status:\n  phase: Failed\n"
	p := a.do(http.MethodPut, "/api/v1/namespaces/default/pods/keep", "application/yaml", []byte(body)).want(t, http.StatusOK).pod(t)
	if p.Spec.NodeName != "edge-1" || p.Status.Phase != api.PodRunning {
		t.Fatalf("nodeName/status not kept: %q %q", p.Spec.NodeName, p.Status.Phase)
	}
	if p.UID != created.UID || !p.CreationTimestamp.Equal(created.CreationTimestamp) || p.Generation != bound.Generation {
		t.Fatalf("metadata not kept: %+v", p.ObjectMeta)
	}

	moved := strings.Replace(string(podDoc("keep")), "spec:\n", "spec:\n  nodeName: edge-2\n", 1)
	st := a.do(http.MethodPut, "/api/v1/namespaces/default/pods/keep", "application/yaml", []byte(moved)).want(t, http.StatusUnprocessableEntity).status(t)
	if st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Field != "spec.nodeName" {
		t.Fatalf("status = %+v", st)
	}
}

func TestReplaceMissingPodIsNotFound(t *testing.T) {
	a := startTestAPI(t)
	a.do(http.MethodPut, "/api/v1/namespaces/default/pods/ghost", "application/yaml", podDoc("ghost")).want(t, http.StatusNotFound).status(t)
	if n := len(a.storedPods()); n != 0 {
		t.Fatalf("store holds %d pods, want 0", n)
	}
}

func TestReplaceRejectsNameAndResourceVersionThatDoNotFit(t *testing.T) {
	a := startTestAPI(t)
	a.createPod("one")
	st := a.do(http.MethodPut, "/api/v1/namespaces/default/pods/one", "application/yaml", podDoc("two")).want(t, http.StatusBadRequest).status(t)
	if st.Details == nil || st.Details.Causes[0].Field != "metadata.name" {
		t.Fatalf("status = %+v", st)
	}
	badRV := strings.Replace(string(podDoc("one")), "metadata:\n", "metadata:\n  resourceVersion: abc\n", 1)
	st = a.do(http.MethodPut, "/api/v1/namespaces/default/pods/one", "application/yaml", []byte(badRV)).want(t, http.StatusUnprocessableEntity).status(t)
	if st.Details == nil || st.Details.Causes[0].Field != "metadata.resourceVersion" {
		t.Fatalf("status = %+v", st)
	}
}

func TestDeleteUnboundPodRemovesItAtOnce(t *testing.T) {
	a := startTestAPI(t)
	created := a.createPod("gone")
	p := a.do(http.MethodDelete, "/api/v1/namespaces/default/pods/gone", "", nil).want(t, http.StatusOK).pod(t)
	if p.UID != created.UID {
		t.Fatalf("delete returned %+v, want the last state of the pod", p.ObjectMeta)
	}
	a.do(http.MethodGet, "/api/v1/namespaces/default/pods/gone", "", nil).want(t, http.StatusNotFound)
	a.do(http.MethodDelete, "/api/v1/namespaces/default/pods/gone", "", nil).want(t, http.StatusNotFound)
}

// bindPod puts a pod on a node in the given phase, as the scheduler and
// the agent would.
func (a *testAPI) bindPod(name string, phase api.PodPhase) {
	a.t.Helper()
	_, err := store.For[*api.Pod](a.store).Mutate(a.t.Context(), "default", name, func(p *api.Pod) error {
		p.Spec.NodeName = "edge-1"
		p.Status.Phase = phase
		return nil
	})
	if err != nil {
		a.t.Fatal(err)
	}
}

func TestDeleteRunningPodMarksItTerminating(t *testing.T) {
	a := startTestAPI(t)
	a.createPod("run")
	a.bindPod("run", api.PodRunning)

	p := a.do(http.MethodDelete, "/api/v1/namespaces/default/pods/run", "", nil).want(t, http.StatusOK).pod(t)
	if p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != api.DefaultTerminationGracePeriodSeconds {
		t.Fatalf("not marked terminating: %+v", p.ObjectMeta)
	}
	stored, err := store.For[*api.Pod](a.store).Get(t.Context(), "default", "run")
	if err != nil {
		t.Fatalf("terminating pod must stay in the store until its agent confirms: %v", err)
	}
	if stored.DeletionTimestamp == nil {
		t.Fatal("stored pod has no deletionTimestamp")
	}

	again := a.do(http.MethodDelete, "/api/v1/namespaces/default/pods/run?gracePeriodSeconds=5", "", nil).want(t, http.StatusOK).pod(t)
	if again.ResourceVersion != p.ResourceVersion || *again.DeletionGracePeriodSeconds != *p.DeletionGracePeriodSeconds {
		t.Fatalf("deleting a terminating pod changed it: %+v", again.ObjectMeta)
	}

	a.do(http.MethodDelete, "/api/v1/namespaces/default/pods/run?gracePeriodSeconds=0", "", nil).want(t, http.StatusOK)
	a.do(http.MethodGet, "/api/v1/namespaces/default/pods/run", "", nil).want(t, http.StatusNotFound)
}

func TestDeleteRunningPodUsesGracePeriodFromQuery(t *testing.T) {
	a := startTestAPI(t)
	a.createPod("g")
	a.bindPod("g", api.PodRunning)
	p := a.do(http.MethodDelete, "/api/v1/namespaces/default/pods/g?gracePeriodSeconds=7", "", nil).want(t, http.StatusOK).pod(t)
	if p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 7 {
		t.Fatalf("grace = %v, want 7", p.DeletionGracePeriodSeconds)
	}
}

func TestDeleteFinishedPodRemovesItAtOnce(t *testing.T) {
	a := startTestAPI(t)
	a.createPod("done")
	a.bindPod("done", api.PodSucceeded)
	a.do(http.MethodDelete, "/api/v1/namespaces/default/pods/done", "", nil).want(t, http.StatusOK)
	a.do(http.MethodGet, "/api/v1/namespaces/default/pods/done", "", nil).want(t, http.StatusNotFound)
}

func TestPodLogComesFromLogSource(t *testing.T) {
	a := startTestAPI(t)
	created := a.createPod("logged")
	a.bindPod("logged", api.PodRunning)
	r := a.do(http.MethodGet, "/api/v1/namespaces/default/pods/logged/log?tailLines=2&limitBytes=100", "", nil).want(t, http.StatusOK)
	if string(r.body) != "hello\nworld\n" || !strings.HasPrefix(r.contentType, "text/plain") {
		t.Fatalf("log = %q (%s)", r.body, r.contentType)
	}
	req, ok := a.logs.lastRequest()
	if !ok || req.Container != "main" || req.TailLines == nil || *req.TailLines != 2 || req.LimitBytes != 100 || req.UID != created.UID {
		t.Fatalf("log request = %+v", req)
	}
}

func TestPodLogErrors(t *testing.T) {
	a := startTestAPI(t)
	a.createPod("pending")
	a.createPod("bound")
	a.bindPod("bound", api.PodRunning)

	tests := []struct {
		name      string
		path      string
		logErr    error
		wantCode  int
		wantField string
	}{
		{name: "pod not scheduled", path: "pending/log", wantCode: http.StatusBadRequest},
		{name: "missing pod", path: "missing/log", wantCode: http.StatusNotFound},
		{name: "unknown container", path: "bound/log?container=side", wantCode: http.StatusBadRequest, wantField: "container"},
		{name: "negative tail", path: "bound/log?tailLines=-1", wantCode: http.StatusBadRequest, wantField: "tailLines"},
		{name: "tail not a number", path: "bound/log?tailLines=ten", wantCode: http.StatusBadRequest, wantField: "tailLines"},
		{name: "zero limitBytes", path: "bound/log?limitBytes=0", wantCode: http.StatusBadRequest, wantField: "limitBytes"},
		{name: "node unreachable", path: "bound/log", logErr: fmt.Errorf("node edge-1: %w", api.ErrNodeUnreachable), wantCode: http.StatusServiceUnavailable},
		{name: "node does not know the pod", path: "bound/log", logErr: fmt.Errorf("no such pod: %w", store.ErrNotFound), wantCode: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.logs.mu.Lock()
			a.logs.err = tt.logErr
			a.logs.mu.Unlock()
			st := a.do(http.MethodGet, "/api/v1/namespaces/default/pods/"+tt.path, "", nil).want(t, tt.wantCode).status(t)
			if tt.wantField != "" && (st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Field != tt.wantField) {
				t.Fatalf("status %+v does not name field %s", st, tt.wantField)
			}
		})
	}
}

func TestServerWithoutLogSourceOrArtifactStoreAnswers503(t *testing.T) {
	st := openTestStore(t)
	s := New(Options{Listen: "127.0.0.1:0"}, st, nil, nil, nil)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	a := &testAPI{t: t, srv: s, store: st, base: s.URL()}
	a.createPod("p")
	a.bindPod("p", api.PodRunning)
	a.do(http.MethodGet, "/api/v1/namespaces/default/pods/p/log", "", nil).want(t, http.StatusServiceUnavailable).status(t)
	a.do(http.MethodPost, "/api/v1/artifacts", "application/wasm", wasmModule()).want(t, http.StatusServiceUnavailable).status(t)
}

func TestStatusOfMapsSentinels(t *testing.T) {
	tests := []struct {
		give     error
		wantCode int32
		want     api.StatusReason
	}{
		{give: fmt.Errorf("x: %w", store.ErrNotFound), wantCode: 404, want: api.StatusReasonNotFound},
		{give: fmt.Errorf("x: %w", store.ErrConflict), wantCode: 409, want: api.StatusReasonConflict},
		{give: fmt.Errorf("x: %w", store.ErrAlreadyExists), wantCode: 409, want: api.StatusReasonAlreadyExists},
		{give: fmt.Errorf("x: %w", api.ErrInvalidArtifact), wantCode: 400, want: api.StatusReasonBadRequest},
		{give: fmt.Errorf("x: %w", api.ErrNodeUnreachable), wantCode: 503, want: api.StatusReasonServiceUnavailable},
		{give: &api.DecodeError{Reason: "InvalidYAML", Msg: "bad"}, wantCode: 400, want: api.StatusReasonBadRequest},
		{give: api.FieldErrors{{Field: "a", Type: api.ErrTypeRequired, Detail: "required"}}, wantCode: 422, want: api.StatusReasonInvalid},
		{give: &http.MaxBytesError{Limit: 1}, wantCode: 413, want: api.StatusReasonRequestEntityTooLarge},
		{give: errors.New("disk on fire"), wantCode: 500, want: api.StatusReasonInternalError},
		{give: fmt.Errorf("list pods: %w", context.DeadlineExceeded), wantCode: 504, want: api.StatusReasonTimeout},
		{give: fmt.Errorf("x: %w", auth.ErrUnauthenticated), wantCode: 401, want: api.StatusReasonUnauthorized},
		{give: fmt.Errorf("x: %w", auth.ErrForbidden), wantCode: 403, want: api.StatusReasonForbidden},
	}
	for _, tt := range tests {
		st, internal := statusOf(tt.give, 1)
		if st.Code != tt.wantCode || st.Reason != tt.want {
			t.Errorf("statusOf(%v) = %d %s, want %d %s", tt.give, st.Code, st.Reason, tt.wantCode, tt.want)
		}
		if internal != (tt.wantCode == 500 || tt.wantCode == 504) {
			t.Errorf("statusOf(%v) internal = %v", tt.give, internal)
		}
	}
}
