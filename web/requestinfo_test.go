package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/web/ui"
)

func TestResolveRequestReadsVerbResourceNamespaceAndName(t *testing.T) {
	tests := []struct {
		method, target                  string
		verb                            auth.Verb
		resource, sub, ns, name, kind   string
		namespaced, public, longRunning bool
	}{
		{method: "GET", target: "/api/v1/namespaces/a/pods", verb: auth.VerbList, resource: "pods", ns: "a", kind: "Pod", namespaced: true},
		{method: "GET", target: "/api/v1/namespaces/a/pods?watch=1", verb: auth.VerbWatch, resource: "pods", ns: "a", kind: "Pod", namespaced: true, longRunning: true},
		{method: "GET", target: "/api/v1/pods", verb: auth.VerbList, resource: "pods", kind: "Pod", namespaced: true},
		{method: "GET", target: "/api/v1/namespaces/a/pods/w/log?follow=true", verb: auth.VerbLog, resource: "pods", ns: "a", name: "w", kind: "Pod", namespaced: true, longRunning: true},
		{method: "PUT", target: "/apis/apps/v1/namespaces/a/deployments/d/scale", verb: auth.VerbUpdate, resource: "deployments", sub: "scale", ns: "a", name: "d", kind: "Deployment", namespaced: true},
		{method: "PATCH", target: "/apis/apps/v1/namespaces/a/deployments/d", verb: auth.VerbPatch, resource: "deployments", ns: "a", name: "d", kind: "Deployment", namespaced: true},
		{method: "DELETE", target: "/api/v1/nodes/n", verb: auth.VerbDelete, resource: "nodes", name: "n", kind: "Node"},
		{method: "GET", target: "/api/v1/namespaces/a", verb: auth.VerbGet, resource: "namespaces", ns: "a", name: "a", kind: "Namespace"},
		{method: "POST", target: "/api/v1/tokens", verb: auth.VerbCreate, resource: "tokens", kind: "Token"},
		{method: "GET", target: "/api/v1/secrets-encryption", verb: auth.VerbList, resource: "secrets-encryption", kind: "SecretsEncryption"},
		{method: "POST", target: "/api/v1/secrets-encryption/rotate", verb: auth.VerbCreate, resource: "secrets-encryption", name: "rotate", kind: "SecretsEncryption"},
		{method: "POST", target: "/api/v1/artifacts", verb: auth.VerbCreate, resource: "artifacts", kind: "Artifact"},
		{method: "GET", target: "/apis/batch/v1/namespaces/a/widgets", verb: auth.VerbList, resource: "widgets", ns: "a", namespaced: true},
		{method: "GET", target: "/healthz", verb: auth.VerbGet, public: true},
		{method: "GET", target: "/metrics", verb: auth.VerbGet, public: true},
		{method: "GET", target: "/", verb: auth.VerbGet, public: true},
		{method: "GET", target: "/ui/app.js", verb: auth.VerbGet, public: true},
		{method: "POST", target: "/ui/app.js", verb: auth.VerbCreate},
		{method: "GET", target: "/openapi/v3", verb: auth.VerbGet},
		{method: "GET", target: "/api/v1/whoami", verb: auth.VerbGet},
	}
	for _, tt := range tests {
		ri := resolveRequest(httptest.NewRequest(tt.method, tt.target, nil))
		got := []any{ri.Verb, ri.Resource, ri.Subresource, ri.Namespace, ri.Name, ri.kind, ri.Namespaced, ri.public, ri.longRunning}
		want := []any{tt.verb, tt.resource, tt.sub, tt.ns, tt.name, tt.kind, tt.namespaced, tt.public, tt.longRunning}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s %s: got %v, want %v", tt.method, tt.target, got, want)
				break
			}
		}
	}
}

// FuzzRequestsFailClosed checks, for any method and path, that nothing
// panics, that a path is public only if it is health, metrics or the
// dashboard's (read), and that a view token of one namespace never gets a
// write or another namespace.
func FuzzRequestsFailClosed(f *testing.F) {
	for _, s := range [][2]string{
		{"GET", "/api/v1/namespaces/team-a/pods"}, {"DELETE", "/api/v1/namespaces/team-a/pods/x"},
		{"GET", "/api/v1/namespaces/team-b/../team-a/pods"}, {"GET", "/ui/../api/v1/pods"},
		{"GET", "/api/v1/namespaces/team-a%2F..%2Fteam-b/pods"}, {"PUT", "/apis/apps/v1/namespaces/team-a/deployments/d/scale"},
		{"POST", "/api/v1/tokens"}, {"GET", "/healthz/../api/v1/pods"}, {"FROB", "//api//v1"}, {"GET", "/apis/x"},
	} {
		f.Add(s[0], s[1])
	}
	viewer := auth.Identity{Name: "v", Role: api.RoleView, Namespace: "team-a"}
	f.Fuzz(func(t *testing.T, method, target string) {
		if method == "" || strings.ContainsAny(method, " \t\r\n/") {
			return
		}
		req, err := http.NewRequest(method, "http://h"+target, nil)
		if err != nil || !strings.HasPrefix(target, "/") {
			return
		}
		ri := resolveRequest(req)
		p := echoPath(req)
		if ri.public {
			read := method == http.MethodGet || method == http.MethodHead
			if p != api.HealthzPath && p != metricsPath && !(read && ui.PublicPath(p)) {
				t.Fatalf("%s %q is public", method, target)
			}
		}
		err = auth.Authorize(viewer, ri.Attributes)
		if err == nil && ri.Resource != "" && (!ri.Verb.Reads() || ri.Namespace != "team-a") {
			t.Fatalf("a view token of team-a may %s %+v", ri.Verb, ri.Attributes)
		}
		if err != nil && !errors.Is(err, auth.ErrForbidden) {
			t.Fatalf("Authorize: %v", err)
		}
	})
}

func echoPath(req *http.Request) string {
	p := req.URL.RawPath
	if p == "" {
		p = req.URL.Path
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p
}
