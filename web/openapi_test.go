package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
)

// openAPIDocForTest fetches and decodes the served document.
func openAPIDocForTest(t *testing.T, a *testAPI) (oaDocument, []byte) {
	t.Helper()
	r := a.do(http.MethodGet, openAPIV3Path, "", nil).want(t, http.StatusOK)
	if !strings.HasPrefix(r.contentType, "application/json") {
		t.Fatalf("content type %q", r.contentType)
	}
	if !json.Valid(r.body) {
		t.Fatal("the document is not valid JSON")
	}
	var doc oaDocument
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	return doc, r.body
}

func TestOpenAPIHasEveryKindAndEveryRoute(t *testing.T) {
	a := startTestAPI(t)
	doc, _ := openAPIDocForTest(t, a)
	if doc.OpenAPI != "3.0.3" {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	for _, info := range api.Kinds() {
		for _, name := range []string{info.Kind, api.ListKind(info)} {
			if s := doc.Components.Schemas[name]; s == nil || s.Type != "object" || len(s.Properties) == 0 {
				t.Errorf("no object schema for %s: %+v", name, s)
			}
		}
	}
	routes := 0
	for _, r := range a.srv.Echo().Routes() {
		if !isDocumentedPath(r.Path) || !isHTTPMethod(r.Method) {
			continue
		}
		routes++
		op := doc.Paths[openAPIPath(r.Path)][strings.ToLower(r.Method)]
		if op == nil {
			t.Errorf("route %s %s has no operation", r.Method, r.Path)
			continue
		}
		if op.OperationID == "" || len(op.Responses) == 0 {
			t.Errorf("%s %s: operation %+v has no id or responses", r.Method, r.Path, op)
		}
		for _, p := range pathParams(openAPIPath(r.Path)) {
			if !slices.ContainsFunc(op.Parameters, func(q oaParameter) bool { return q.Name == p.Name && q.In == "path" }) {
				t.Errorf("%s %s: no path parameter %s", r.Method, r.Path, p.Name)
			}
		}
	}
	if routes < 4*len(api.Kinds()) {
		t.Fatalf("only %d API routes checked", routes)
	}
	ids := map[string]bool{}
	for p, ops := range doc.Paths {
		for m, op := range ops {
			if ids[op.OperationID] {
				t.Errorf("%s %s: operationId %q is not unique", m, p, op.OperationID)
			}
			ids[op.OperationID] = true
		}
	}
}

func TestOpenAPISchemasFollowTheGoTypes(t *testing.T) {
	a := startTestAPI(t)
	doc, raw := openAPIDocForTest(t, a)
	s := doc.Components.Schemas
	pod := s["Pod"]
	// TypeMeta is inlined; metadata refers to ObjectMeta.
	for _, f := range []string{"apiVersion", "kind", "metadata", "spec", "status"} {
		if pod.Properties[f] == nil {
			t.Errorf("Pod has no property %s", f)
		}
	}
	if pod.Properties["metadata"].Ref != "#/components/schemas/ObjectMeta" {
		t.Errorf("Pod.metadata = %+v", pod.Properties["metadata"])
	}
	// Required: fields without omitempty.
	if c := s["Container"]; c == nil || !slices.Contains(c.Required, "name") || slices.Contains(c.Required, "command") {
		t.Errorf("Container required = %v", c.Required)
	}
	// Enums from the constants.
	phase := s["PodStatus"].Properties["phase"]
	if phase == nil || !slices.Contains(phase.Enum, "Running") || !slices.Contains(phase.Enum, "Succeeded") {
		t.Errorf("PodStatus.phase = %+v", phase)
	}
	if role := s["TokenRequest"].Properties["role"]; role == nil || !slices.Equal(role.Enum, []string{"admin", "edit", "view"}) {
		t.Errorf("TokenRequest.role = %+v", role)
	}
	if ts := s["ObjectMeta"].Properties["creationTimestamp"]; ts == nil || ts.Format != "date-time" {
		t.Errorf("creationTimestamp = %+v", ts)
	}
	// Every $ref resolves.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				name := strings.TrimPrefix(ref, "#/components/schemas/")
				if s[name] == nil {
					t.Errorf("dangling $ref %s", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	walk(generic)
	// Public paths need no token; the rest do.
	if op := doc.Paths[api.HealthzPath]["get"]; op.Security == nil || len(*op.Security) != 0 {
		t.Errorf("healthz security = %v", op.Security)
	}
	if len(doc.Security) != 1 || doc.Components.SecuritySchemes["bearerAuth"].Scheme != "bearer" {
		t.Errorf("security = %v %v", doc.Security, doc.Components.SecuritySchemes)
	}
}

func TestOpenAPIV2RedirectsToV3(t *testing.T) {
	a := startTestAPI(t)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, a.base+openAPIV2Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(api.AuthorizationHeader, api.BearerPrefix+a.admin)
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != openAPIV3Path {
		t.Fatalf("%d Location %q", res.StatusCode, res.Header.Get("Location"))
	}
}
