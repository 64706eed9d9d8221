package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

const deploymentsPath = "/apis/apps/v1/namespaces/default/deployments"

func deploymentJSON(name string, replicas int32) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q},"spec":{"replicas":%d,`+
		`"selector":{"matchLabels":{"app":%q},"matchExpressions":[{"key":"tier","operator":"In","values":["a","b"]}]},`+
		`"template":{"metadata":{"labels":{"app":%q,"tier":"a"}},"spec":{"containers":[{"name":"c","image":"nginx:1"}]}}}}`, name, replicas, name, name)
}

func (a *testAPI) createDeployment(name string, replicas int32) *api.Deployment {
	a.t.Helper()
	r := a.do(http.MethodPost, deploymentsPath, "application/json", deploymentJSON(name, replicas)).want(a.t, http.StatusCreated)
	var d api.Deployment
	if err := json.Unmarshal(r.body, &d); err != nil {
		a.t.Fatal(err)
	}
	return &d
}

func (r response) scale(t *testing.T) *api.Scale {
	t.Helper()
	var s api.Scale
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("decode scale from %s: %v", r.body, err)
	}
	if s.APIVersion != api.ScaleAPIVersion || s.Kind != api.ScaleKind {
		t.Fatalf("not an autoscaling/v1 Scale: %s", r.body)
	}
	return &s
}

func TestStatusSubresourceWritesOnlyStatus(t *testing.T) {
	a := startTestAPI(t)
	created := a.createPod("web")
	path := podsPath + "/web/" + api.StatusSubresource

	got := a.do(http.MethodGet, path, "", nil).want(t, http.StatusOK).pod(t)
	if got.Kind != "Pod" || got.UID != created.UID {
		t.Fatalf("GET status: %+v", got.ObjectMeta)
	}

	// PUT: the body's spec and labels are ignored, its status is stored.
	body := *created
	body.Spec.Containers[0].Args = []string{"--changed"}
	body.Labels = map[string]string{"changed": "yes"}
	body.Status.Phase, body.Status.Message = api.PodRunning, "up"
	b, _ := json.Marshal(body)
	p := a.do(http.MethodPut, path, "application/json", b).want(t, http.StatusOK).pod(t)
	if p.Status.Phase != api.PodRunning || p.Status.Message != "up" {
		t.Fatalf("status not written: %+v", p.Status)
	}
	if len(p.Spec.Containers[0].Args) != 0 || p.Labels["changed"] != "" || p.Labels["app"] != "demo" || p.Generation != created.Generation {
		t.Fatalf("PUT status changed more than status: %+v %+v", p.Spec.Containers[0], p.ObjectMeta)
	}

	// PATCH: likewise.
	p = a.mergePatch(path, `{"spec":{"containers":null},"metadata":{"labels":null},"status":{"message":"patched"}}`).want(t, http.StatusOK).pod(t)
	if p.Status.Phase != api.PodRunning || p.Status.Message != "patched" || len(p.Spec.Containers) != 1 || p.Labels["app"] != "demo" {
		t.Fatalf("PATCH status: %+v %+v", p.Status, p.ObjectMeta)
	}
	stored, err := store.For[*api.Pod](a.store).Get(t.Context(), "default", "web")
	if err != nil || stored.Status.Message != "patched" || stored.Generation != created.Generation {
		t.Fatalf("stored: %+v %v", stored.Status, err)
	}

	// A stale resourceVersion is a conflict, in PUT and PATCH.
	b, _ = json.Marshal(body) // still at created's resourceVersion
	a.do(http.MethodPut, path, "application/json", b).want(t, http.StatusConflict)
	a.mergePatch(path, fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"status":{"message":"stale"}}`, created.ResourceVersion)).want(t, http.StatusConflict)
	a.mergePatch(path, `{"status":{"phase":7}}`).want(t, http.StatusUnprocessableEntity)
	a.mergePatch(podsPath+"/missing/"+api.StatusSubresource, `{"status":{}}`).want(t, http.StatusNotFound)

	// The replace of the object itself still keeps status.
	b, _ = json.Marshal(created)
	unconditional := strings.Replace(string(b), `"resourceVersion":"`+created.ResourceVersion+`",`, "", 1)
	p = a.do(http.MethodPut, podsPath+"/web", "application/json", []byte(unconditional)).want(t, http.StatusOK).pod(t)
	if p.Status.Message != "patched" {
		t.Fatalf("replace dropped status: %+v", p.Status)
	}
}

func TestScaleSubresourceGetPutPatch(t *testing.T) {
	a := startTestAPI(t)
	created := a.createDeployment("web", 2)
	path := deploymentsPath + "/web/" + api.ScaleSubresource

	sc := a.do(http.MethodGet, path, "", nil).want(t, http.StatusOK).scale(t)
	if sc.Name != "web" || sc.Namespace != "default" || sc.ResourceVersion != created.ResourceVersion || sc.Spec.Replicas != 2 ||
		sc.Status.Selector != "app=web,tier in (a,b)" {
		t.Fatalf("GET scale = %+v", sc)
	}
	if _, err := api.ParseLabelSelector(sc.Status.Selector); err != nil {
		t.Fatalf("status.selector does not parse: %v", err)
	}

	// PUT with the resourceVersion read: only spec.replicas changes.
	stale := *sc
	sc.Spec.Replicas, sc.Status.Replicas, sc.Status.Selector = 5, 99, "ignored=yes"
	b, _ := json.Marshal(sc)
	put := a.do(http.MethodPut, path, "application/json", b).want(t, http.StatusOK).scale(t)
	if put.Spec.Replicas != 5 || put.Status.Replicas != 0 || put.ResourceVersion == created.ResourceVersion {
		t.Fatalf("PUT scale = %+v", put)
	}
	d, err := store.For[*api.Deployment](a.store).Get(t.Context(), "default", "web")
	if err != nil || *d.Spec.Replicas != 5 || d.Generation != 2 || d.ResourceVersion != put.ResourceVersion || d.Spec.Template.Spec.Containers[0].Image != "nginx:1" {
		t.Fatalf("stored deployment: %+v %v", d, err)
	}

	// A stale resourceVersion: 409, nothing written.
	b, _ = json.Marshal(stale)
	st := a.do(http.MethodPut, path, "application/json", b).want(t, http.StatusConflict).status(t)
	if st.Reason != api.StatusReasonConflict {
		t.Fatalf("stale PUT: %+v", st)
	}
	a.mergePatch(path, fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"spec":{"replicas":1}}`, stale.ResourceVersion)).want(t, http.StatusConflict)

	// PATCH without a resourceVersion applies to the newest version;
	// YAML PUT without one too.
	if p := a.mergePatch(path, `{"spec":{"replicas":3}}`).want(t, http.StatusOK).scale(t); p.Spec.Replicas != 3 {
		t.Fatalf("PATCH scale = %+v", p)
	}
	if p := a.do(http.MethodPut, path, "application/yaml", []byte("spec:\n  replicas: 0\n")).want(t, http.StatusOK).scale(t); p.Spec.Replicas != 0 {
		t.Fatalf("YAML PUT scale = %+v", p)
	}

	// Bad scales.
	for _, tt := range []struct {
		method, contentType, body string
		code                      int
		field                     string
	}{
		{http.MethodPut, "application/json", `{"spec":{"replicas":-1}}`, 422, "spec.replicas"},
		{http.MethodPatch, api.MediaMergePatch, `{"spec":{"replicas":-1}}`, 422, "spec.replicas"},
		{http.MethodPatch, api.MediaMergePatch, `{"spec":{"replicas":"many"}}`, 422, "spec.replicas"},
		{http.MethodPut, "application/json", `{"spec":{"replica":1}}`, 422, "spec.replica"},
		{http.MethodPut, "application/json", `{"kind":"Deployment","spec":{"replicas":1}}`, 422, "kind"},
		{http.MethodPut, "application/json", `{"metadata":{"name":"other"},"spec":{"replicas":1}}`, 400, "metadata.name"},
		{http.MethodPatch, api.MediaMergePatch, `{"metadata":{"namespace":"other"}}`, 400, "metadata.namespace"},
		{http.MethodPut, "text/plain", `replicas=1`, 415, ""},
		{http.MethodPut, "application/json", `{"spec":`, 400, ""},
	} {
		st := a.do(tt.method, path, tt.contentType, []byte(tt.body)).want(t, tt.code).status(t)
		if tt.field != "" && (st.Details == nil || !strings.Contains(fmt.Sprint(st.Details.Causes), tt.field)) {
			t.Errorf("%s %s: no cause names %s: %+v", tt.method, tt.body, tt.field, st)
		}
	}
	if d, _ := store.For[*api.Deployment](a.store).Get(t.Context(), "default", "web"); *d.Spec.Replicas != 0 {
		t.Fatalf("a bad scale wrote: %d", *d.Spec.Replicas)
	}
	a.do(http.MethodGet, deploymentsPath+"/missing/scale", "", nil).want(t, http.StatusNotFound)
	a.do(http.MethodGet, podsPath+"/web/scale", "", nil).want(t, http.StatusNotFound) // pods have no scale
}

func TestScaleOfReplicaSet(t *testing.T) {
	a := startTestAPI(t)
	rs := strings.Replace(strings.Replace(string(deploymentJSON("rs", 1)), `"kind":"Deployment"`, `"kind":"ReplicaSet"`, 1), `"name":"rs"`, `"name":"web-1"`, 1)
	a.do(http.MethodPost, "/apis/apps/v1/namespaces/default/replicasets", "application/json", []byte(rs)).want(t, http.StatusCreated)
	path := "/apis/apps/v1/namespaces/default/replicasets/web-1/scale"
	if sc := a.mergePatch(path, `{"spec":{"replicas":2}}`).want(t, http.StatusOK).scale(t); sc.Spec.Replicas != 2 || sc.Name != "web-1" {
		t.Fatalf("PATCH scale = %+v", sc)
	}
	if sc := a.do(http.MethodGet, path, "", nil).want(t, http.StatusOK).scale(t); sc.Spec.Replicas != 2 {
		t.Fatalf("GET scale = %+v", sc)
	}
}

func TestViewTokensCannotPatchOrScale(t *testing.T) {
	f := startAuthFixture(t)
	f.doAs(f.tokens["admin"], http.MethodPost, "/apis/apps/v1/namespaces/team-a/deployments", "application/json", deploymentJSON("d", 1)).want(t, http.StatusCreated)
	scale := "/apis/apps/v1/namespaces/team-a/deployments/d/scale"
	pod := "/api/v1/namespaces/team-a/pods/web"
	for _, tt := range []struct {
		token, method, path, contentType, body string
		want                                   int
	}{
		{"view-a", http.MethodPatch, pod, api.MediaMergePatch, `{"metadata":{"labels":{"x":"y"}}}`, http.StatusForbidden},
		{"view-a", http.MethodPatch, pod + "/status", api.MediaMergePatch, `{"status":{"message":"x"}}`, http.StatusForbidden},
		{"view-a", http.MethodPut, scale, "application/json", `{"spec":{"replicas":3}}`, http.StatusForbidden},
		{"view-a", http.MethodPatch, scale, api.MediaMergePatch, `{"spec":{"replicas":3}}`, http.StatusForbidden},
		{"view", http.MethodPatch, scale, api.MediaMergePatch, `{"spec":{"replicas":3}}`, http.StatusForbidden},
		{"view-a", http.MethodGet, scale, "", "", http.StatusOK},
		{"edit", http.MethodPatch, "/apis/apps/v1/namespaces/team-b/deployments/d/scale", api.MediaMergePatch, `{}`, http.StatusNotFound},
		{"edit-a", http.MethodPatch, "/apis/apps/v1/namespaces/team-b/deployments/d/scale", api.MediaMergePatch, `{}`, http.StatusForbidden},
		{"edit-a", http.MethodPatch, scale, api.MediaMergePatch, `{"spec":{"replicas":3}}`, http.StatusOK},
		{"edit-a", http.MethodPatch, pod, api.MediaMergePatch, `{"metadata":{"labels":{"x":"y"}}}`, http.StatusOK},
	} {
		t.Run(tt.token+" "+tt.method+" "+tt.path, func(t *testing.T) {
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			r := f.doAs(f.tokens[tt.token], tt.method, tt.path, tt.contentType, body).want(t, tt.want)
			if tt.want == http.StatusForbidden {
				if st := r.status(t); !strings.Contains(st.Message, "cannot "+strings.ToLower(map[string]string{http.MethodPatch: "patch", http.MethodPut: "update"}[tt.method])) {
					t.Fatalf("403 = %+v", st)
				}
			}
		})
	}
	if d, err := store.For[*api.Deployment](f.store).Get(t.Context(), "team-a", "d"); err != nil || *d.Spec.Replicas != 3 {
		t.Fatalf("after edit's scale: %v %v", d, err)
	}
}

func TestOpenAPIDocumentsPatchStatusAndScale(t *testing.T) {
	a := startTestAPI(t)
	doc, _ := openAPIDocForTest(t, a)
	for p, methods := range map[string][]string{
		"/api/v1/namespaces/{namespace}/pods/{name}":                    {"patch"},
		"/api/v1/namespaces/{namespace}/pods/{name}/status":             {"get", "put", "patch"},
		"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale": {"get", "put", "patch"},
		"/apis/apps/v1/namespaces/{namespace}/replicasets/{name}/scale": {"get", "put", "patch"},
		"/apis/apps/v1/namespaces/{namespace}/deployments/{name}":       {"patch"},
	} {
		for _, m := range methods {
			if doc.Paths[p][m] == nil {
				t.Errorf("no %s %s in the OpenAPI document", m, p)
			}
		}
	}
	if op := doc.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]; op == nil || op.RequestBody == nil || op.RequestBody.Content[api.MediaMergePatch].Schema == nil {
		t.Errorf("deployment patch does not take a merge patch: %+v", op)
	}
}

func TestOpenAPISubresourcesHaveTheirSchemas(t *testing.T) {
	a := startTestAPI(t)
	doc, _ := openAPIDocForTest(t, a)
	scale := doc.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
	if s := doc.Components.Schemas[api.ScaleKind]; s == nil || s.Properties["spec"] == nil || s.Properties["status"] == nil {
		t.Fatalf("no Scale schema: %+v", s)
	}
	if op := scale["put"]; op == nil || op.RequestBody.Content["application/json"].Schema.Ref != "#/components/schemas/Scale" ||
		op.Responses["200"].Content["application/json"].Schema.Ref != "#/components/schemas/Scale" {
		t.Fatalf("scale PUT: %+v", op)
	}
	if op := scale["patch"]; op == nil || op.RequestBody.Content[api.MediaMergePatch].Schema == nil {
		t.Fatalf("scale PATCH: %+v", op)
	}
	if op := doc.Paths["/api/v1/namespaces/{namespace}/pods/{name}/status"]["get"]; op == nil || op.Responses["200"].Content["application/json"].Schema.Ref != "#/components/schemas/Pod" {
		t.Fatalf("pod status GET: %+v", op)
	}
}
