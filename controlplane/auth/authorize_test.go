package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/auth"
)

func TestAuthorizeRoleVerbResourceNamespace(t *testing.T) {
	var (
		admin  = auth.Identity{Name: "root", Role: api.RoleAdmin}
		adminA = auth.Identity{Name: "a-admin", Role: api.RoleAdmin, Namespace: "team-a"}
		edit   = auth.Identity{Name: "ed", Role: api.RoleEdit}
		editA  = auth.Identity{Name: "ed-a", Role: api.RoleEdit, Namespace: "team-a"}
		view   = auth.Identity{Name: "viewer", Role: api.RoleView}
		viewA  = auth.Identity{Name: "viewer-a", Role: api.RoleView, Namespace: "team-a"}
		pods   = func(v auth.Verb, ns string) auth.Attributes {
			return auth.Attributes{Verb: v, Resource: "pods", Namespaced: true, Namespace: ns}
		}
		nodes   = func(v auth.Verb) auth.Attributes { return auth.Attributes{Verb: v, Resource: "nodes"} }
		secrets = auth.Attributes{Verb: auth.VerbGet, Resource: "secrets", Namespaced: true, Namespace: "team-a", Name: "s"}
		quota   = auth.Attributes{Verb: auth.VerbUpdate, Resource: "resourcequotas", Namespaced: true, Namespace: "team-a", Name: "q"}
		tokens  = auth.Attributes{Verb: auth.VerbCreate, Resource: "tokens"}
		upload  = auth.Attributes{Verb: auth.VerbCreate, Resource: "artifacts"}
		ownNS   = auth.Attributes{Verb: auth.VerbGet, Resource: "namespaces", Name: "team-a", Namespace: "team-a"}
		openAPI = auth.Attributes{Verb: auth.VerbGet, Path: "/openapi/v3", Method: "GET"}
	)
	tests := []struct {
		name  string
		id    auth.Identity
		attrs auth.Attributes
		allow bool
	}{
		{"admin deletes nodes", admin, nodes(auth.VerbDelete), true},
		{"admin manages tokens", admin, tokens, true},
		{"admin of a namespace manages its pods", adminA, pods(auth.VerbDelete, "team-a"), true},
		{"admin of a namespace changes its quota", adminA, quota, true},
		{"admin of a namespace not another", adminA, pods(auth.VerbGet, "team-b"), false},
		{"admin of a namespace no tokens", adminA, tokens, false},
		{"admin of a namespace no nodes", adminA, nodes(auth.VerbGet), false},

		{"edit creates pods anywhere", edit, pods(auth.VerbCreate, "team-b"), true},
		{"edit patches pods", edit, pods(auth.VerbPatch, "team-a"), true},
		{"edit reads nodes", edit, nodes(auth.VerbList), true},
		{"edit does not write nodes", edit, nodes(auth.VerbUpdate), false},
		{"edit does not change quotas", edit, quota, false},
		{"edit reads secrets", edit, secrets, true},
		{"edit uploads artifacts", editA, upload, true},
		{"edit no tokens", edit, tokens, false},
		{"edit of a namespace deletes there", editA, pods(auth.VerbDelete, "team-a"), true},
		{"edit of a namespace not elsewhere", editA, pods(auth.VerbCreate, "team-b"), false},
		{"edit of a namespace no list of all", editA, pods(auth.VerbList, ""), false},

		{"view gets", view, pods(auth.VerbGet, "team-b"), true},
		{"view lists all namespaces", view, pods(auth.VerbList, ""), true},
		{"view watches", view, pods(auth.VerbWatch, "team-a"), true},
		{"view reads logs", view, pods(auth.VerbLog, "team-a"), true},
		{"view reads nodes", view, nodes(auth.VerbGet), true},
		{"view does not create", view, pods(auth.VerbCreate, "team-a"), false},
		{"view does not update", view, pods(auth.VerbUpdate, "team-a"), false},
		{"view does not patch", view, pods(auth.VerbPatch, "team-a"), false},
		{"view does not delete", view, pods(auth.VerbDelete, "team-a"), false},
		{"view no secrets", view, secrets, false},
		{"view no uploads", view, upload, false},
		{"view of a namespace reads there", viewA, pods(auth.VerbList, "team-a"), true},
		{"view of a namespace not elsewhere", viewA, pods(auth.VerbGet, "team-b"), false},
		{"view of a namespace no nodes", viewA, nodes(auth.VerbList), false},
		{"view of a namespace gets its namespace", viewA, ownNS, true},
		{"view of a namespace not another namespace", viewA, auth.Attributes{Verb: auth.VerbGet, Resource: "namespaces", Name: "team-b", Namespace: "team-b"}, false},

		{"any token reads the OpenAPI document", viewA, openAPI, true},
		{"non-admin no other methods on non-resources", edit, auth.Attributes{Verb: auth.VerbCreate, Path: "/openapi/v3", Method: "POST"}, false},
		{"unknown verb", edit, pods("escalate", "team-a"), false},
		{"unknown role", auth.Identity{Name: "x", Role: "root"}, pods(auth.VerbGet, "team-a"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := auth.Authorize(tt.id, tt.attrs)
			if tt.allow && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.allow && !errors.Is(err, auth.ErrForbidden) {
				t.Fatalf("got %v, want ErrForbidden", err)
			}
		})
	}
}

func TestForbiddenMessageNamesTokenVerbResourceAndNamespace(t *testing.T) {
	err := auth.Authorize(auth.Identity{Name: "ci", Role: api.RoleView, Namespace: "team-a"},
		auth.Attributes{Verb: auth.VerbCreate, Resource: "pods", Namespaced: true, Namespace: "team-b"})
	want := `token "ci" (view, namespace team-a) cannot create pods in namespace "team-b": the token is limited to namespace "team-a"`
	if err == nil || err.Error() != want {
		t.Fatalf("message = %v\nwant      %s", err, want)
	}
	err = auth.Authorize(auth.Identity{Name: "ci", Role: api.RoleView},
		auth.Attributes{Verb: auth.VerbDelete, Resource: "nodes", Name: "edge-1"})
	if err == nil || !strings.Contains(err.Error(), `cannot delete nodes "edge-1" (cluster-scoped): view tokens may only get, list, watch and log`) {
		t.Fatalf("message = %v", err)
	}
}
