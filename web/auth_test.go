package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
)

// authFixture is a server with namespaces team-a and team-b, a pod in each
// (bound to a node, so it has a log), and one token per role and scope.
type authFixture struct {
	*testAPI
	tokens map[string]string // by name: admin, admin-a, edit, edit-a, view, view-a, forged, expired
}

func startAuthFixture(t *testing.T) *authFixture {
	t.Helper()
	a := startTestAPI(t)
	a.createNamespace("team-a")
	a.createNamespace("team-b")
	a.putPod("team-a", "web", nil, "edge-1", api.PodRunning)
	a.putPod("team-b", "web", nil, "edge-1", api.PodRunning)
	f := &authFixture{testAPI: a, tokens: map[string]string{"admin": a.admin}}
	f.tokens["admin-a"] = a.token("admin-a", api.RoleAdmin, "team-a")
	f.tokens["edit"] = a.token("edit", api.RoleEdit, "")
	f.tokens["edit-a"] = a.token("edit-a", api.RoleEdit, "team-a")
	f.tokens["view"] = a.token("view", api.RoleView, "")
	f.tokens["view-a"] = a.token("view-a", api.RoleView, "team-a")
	real := f.tokens["view"]
	f.tokens["forged"] = real[:len(real)-4] + "AAAA"
	if f.tokens["forged"] == real {
		f.tokens["forged"] = real[:len(real)-4] + "BBBB"
	}
	return f
}

func podBody(generateName string) []byte {
	return []byte(strings.Replace(string(podDoc("x")), "name: x", "generateName: "+generateName, 1))
}

func TestEndpointsByRoleVerbKindAndNamespace(t *testing.T) {
	f := startAuthFixture(t)
	const (
		podsA = "/api/v1/namespaces/team-a/pods"
		podsB = "/api/v1/namespaces/team-b/pods"
	)
	deploy := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"generateName":"d-"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"d"}},` +
		`"template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"c","image":"nginx:1"}]}}}}`)
	ns := func(name string) []byte {
		return fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, name)
	}
	// deletable makes a fresh pod in team-a for one delete.
	n := 0
	deletable := func() string {
		n++
		name := fmt.Sprintf("del-%d", n)
		f.putPod("team-a", name, nil, "", api.PodPending)
		return podsA + "/" + name
	}
	tests := []struct {
		token, method, path string
		body                []byte
		want                int
	}{
		// No token, or a bad one: 401 everywhere but the public paths.
		{"", http.MethodGet, podsA, nil, http.StatusUnauthorized},
		{"forged", http.MethodGet, podsA, nil, http.StatusUnauthorized},
		{"", http.MethodGet, "/api/v1/nosuchthings", nil, http.StatusUnauthorized},
		{"", http.MethodGet, openAPIV3Path, nil, http.StatusUnauthorized},
		{"", http.MethodGet, api.HealthzPath, nil, http.StatusOK},
		{"", http.MethodGet, metricsPath, nil, http.StatusOK},
		{"", http.MethodGet, "/", nil, http.StatusOK}, // the dashboard's page

		// view: reads in scope, no writes, no Secrets.
		{"view-a", http.MethodGet, podsA, nil, http.StatusOK},
		{"view-a", http.MethodGet, podsA + "/web", nil, http.StatusOK},
		{"view-a", http.MethodGet, podsA + "/web/log", nil, http.StatusOK},
		{"view-a", http.MethodGet, podsB, nil, http.StatusForbidden},
		{"view-a", http.MethodGet, "/api/v1/pods", nil, http.StatusForbidden},
		{"view-a", http.MethodGet, "/api/v1/nodes", nil, http.StatusForbidden},
		{"view-a", http.MethodGet, "/api/v1/namespaces/team-a", nil, http.StatusOK},
		{"view-a", http.MethodGet, "/api/v1/namespaces/team-b", nil, http.StatusForbidden},
		{"view-a", http.MethodGet, "/api/v1/namespaces/team-a/secrets", nil, http.StatusForbidden},
		{"view-a", http.MethodPost, podsA, podBody("v-"), http.StatusForbidden},
		{"view-a", http.MethodPut, podsA + "/web", podDoc("web"), http.StatusForbidden},
		{"view-a", http.MethodDelete, podsA + "/web", nil, http.StatusForbidden},
		{"view-a", http.MethodGet, "/apis/apps/v1/namespaces/team-a/deployments", nil, http.StatusOK},
		{"view-a", http.MethodPost, "/apis/apps/v1/namespaces/team-a/deployments", deploy, http.StatusForbidden},
		{"view-a", http.MethodGet, openAPIV3Path, nil, http.StatusOK},
		{"view-a", http.MethodGet, api.WhoAmIPath, nil, http.StatusOK},
		{"view-a", http.MethodGet, api.TokensPath, nil, http.StatusForbidden},
		{"view-a", http.MethodGet, api.SecretsEncryptionPath, nil, http.StatusForbidden},
		{"view", http.MethodGet, api.SecretsEncryptionPath, nil, http.StatusForbidden},
		{"view", http.MethodGet, podsB, nil, http.StatusOK},
		{"view", http.MethodGet, "/api/v1/pods", nil, http.StatusOK},
		{"view", http.MethodGet, "/api/v1/nodes", nil, http.StatusOK},

		// edit: writes namespaced objects in scope.
		{"edit-a", http.MethodPost, podsA, podBody("e-"), http.StatusCreated},
		{"edit-a", http.MethodPost, podsB, podBody("e-"), http.StatusForbidden},
		{"edit-a", http.MethodDelete, deletable(), nil, http.StatusOK},
		{"edit-a", http.MethodPost, "/apis/apps/v1/namespaces/team-a/deployments", deploy, http.StatusCreated},
		{"edit-a", http.MethodGet, "/api/v1/namespaces/team-a/secrets", nil, http.StatusOK},
		{"edit-a", http.MethodGet, api.TokensPath, nil, http.StatusForbidden},
		{"edit", http.MethodGet, api.SecretsEncryptionPath, nil, http.StatusForbidden},
		{"edit", http.MethodPost, api.SecretsEncryptionRotatePath, nil, http.StatusForbidden},
		{"edit", http.MethodPost, podsB, podBody("e-"), http.StatusCreated},
		{"edit", http.MethodPost, "/api/v1/namespaces", ns("team-c"), http.StatusForbidden},
		{"edit", http.MethodGet, "/api/v1/nodes", nil, http.StatusOK},

		// admin of a namespace: everything there, nothing cluster-wide.
		{"admin-a", http.MethodDelete, deletable(), nil, http.StatusOK},
		{"admin-a", http.MethodGet, podsB, nil, http.StatusForbidden},
		{"admin-a", http.MethodPost, "/api/v1/namespaces", ns("team-d"), http.StatusForbidden},
		{"admin-a", http.MethodGet, api.TokensPath, nil, http.StatusForbidden},
		{"admin-a", http.MethodGet, api.SecretsEncryptionPath, nil, http.StatusForbidden},
		{"admin-a", http.MethodPost, api.SecretsEncryptionRotatePath, nil, http.StatusForbidden},

		// admin: everything.
		{"admin", http.MethodGet, "/api/v1/pods", nil, http.StatusOK},
		{"admin", http.MethodPost, "/api/v1/namespaces", ns("team-e"), http.StatusCreated},
		{"admin", http.MethodGet, api.TokensPath, nil, http.StatusOK},
		{"admin", http.MethodGet, api.SecretsEncryptionPath, nil, http.StatusOK},
		{"admin", http.MethodGet, "/api/v1/nosuchthings", nil, http.StatusNotFound},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s %s %s", orAnonymous(tt.token), tt.method, tt.path)
		t.Run(name, func(t *testing.T) {
			ct := ""
			if tt.body != nil {
				ct = "application/yaml"
				if tt.body[0] == '{' {
					ct = "application/json"
				}
			}
			r := f.doAs(f.tokens[tt.token], tt.method, tt.path, ct, tt.body).want(t, tt.want)
			switch tt.want {
			case http.StatusUnauthorized:
				st := r.status(t)
				if st.Reason != api.StatusReasonUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("401 without the Unauthorized reason or the Bearer challenge: %+v %v", st, r.header)
				}
			case http.StatusForbidden:
				st := r.status(t)
				if st.Reason != api.StatusReasonForbidden || !strings.Contains(st.Message, fmt.Sprintf("token %q", tt.token)) {
					t.Fatalf("403 = %+v", st)
				}
			}
		})
	}
}

func orAnonymous(token string) string {
	if token == "" {
		return "anonymous"
	}
	return token
}

func TestForbiddenNamesVerbKindAndNamespace(t *testing.T) {
	f := startAuthFixture(t)
	st := f.doAs(f.tokens["view-a"], http.MethodPost, "/api/v1/namespaces/team-b/pods", "application/yaml", podBody("x-")).
		want(t, http.StatusForbidden).status(t)
	for _, want := range []string{`token "view-a"`, "create", "pods", `namespace "team-b"`} {
		if !strings.Contains(st.Message, want) {
			t.Fatalf("message %q does not name %s", st.Message, want)
		}
	}
	if st.Details == nil || st.Details.Kind != "Pod" {
		t.Fatalf("details = %+v, want kind Pod", st.Details)
	}
}

func TestAccessTokenParameterOnlyForWatches(t *testing.T) {
	f := startAuthFixture(t)
	tok := f.tokens["view-a"]
	f.doAs("", http.MethodGet, "/api/v1/namespaces/team-a/pods?watch=true&timeoutSeconds=1&access_token="+tok, "", nil).want(t, http.StatusOK)
	st := f.doAs("", http.MethodGet, "/api/v1/namespaces/team-a/pods?access_token="+tok, "", nil).want(t, http.StatusUnauthorized).status(t)
	if !strings.Contains(st.Message, "only on watch") {
		t.Fatalf("message = %q", st.Message)
	}
	// Its scope holds for a watch too.
	f.doAs("", http.MethodGet, "/api/v1/namespaces/team-b/pods?watch=true&timeoutSeconds=1&access_token="+tok, "", nil).want(t, http.StatusForbidden)
}

func TestMalformedAuthorizationHeadersAre401(t *testing.T) {
	a := startTestAPI(t)
	for _, h := range []string{"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "bearer  x", a.admin, "Bearer " + strings.Repeat("x", 10000),
		"Bearer skiff_test-admin_" + strings.Repeat("\u00e9", 20), "Bearer skiff_../../etc_" + strings.Repeat("a", 43)} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, a.base+"/api/v1/pods", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", h)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %.40q: %d, want 401", h, res.StatusCode)
		}
	}
	// The scheme is case-insensitive (RFC 7235).
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, a.base+"/api/v1/pods", nil)
	req.Header.Set("Authorization", "bearer "+a.admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("lowercase scheme: %d", res.StatusCode)
	}
}

func TestTokenCreateListUseAndRevoke(t *testing.T) {
	a := startTestAPI(t)
	r := a.do(http.MethodPost, api.TokensPath, "application/json", []byte(`{"name":"ci","role":"view","namespace":"default"}`)).want(t, http.StatusCreated)
	var tok api.Token
	if err := json.Unmarshal(r.body, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.Kind != "Token" || tok.Name != "ci" || tok.Role != api.RoleView || tok.Namespace != "default" || !strings.HasPrefix(tok.Token, "skiff_ci_") {
		t.Fatalf("created %+v", tok)
	}
	a.doAs(tok.Token, http.MethodGet, "/api/v1/namespaces/default/pods", "", nil).want(t, http.StatusOK)
	who := a.doAs(tok.Token, http.MethodGet, api.WhoAmIPath, "", nil).want(t, http.StatusOK)
	if !strings.Contains(string(who.body), `"name":"ci"`) || strings.Contains(string(who.body), tok.Token) {
		t.Fatalf("whoami = %s", who.body)
	}

	r = a.do(http.MethodGet, api.TokensPath, "", nil).want(t, http.StatusOK)
	var list api.TokenList
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "TokenList" || len(list.Items) != 2 || strings.Contains(string(r.body), tok.Token) {
		t.Fatalf("list = %s", r.body)
	}
	a.do(http.MethodGet, api.TokenPath("ci"), "", nil).want(t, http.StatusOK)

	a.do(http.MethodDelete, api.TokenPath("ci"), "", nil).want(t, http.StatusOK)
	a.doAs(tok.Token, http.MethodGet, "/api/v1/namespaces/default/pods", "", nil).want(t, http.StatusUnauthorized)
	a.do(http.MethodDelete, api.TokenPath("ci"), "", nil).want(t, http.StatusNotFound)
	a.do(http.MethodGet, api.TokenPath("ci"), "", nil).want(t, http.StatusNotFound)

	// YAML works too, and the name is generated when absent.
	r = a.do(http.MethodPost, api.TokensPath, "application/yaml", []byte("role: edit\nexpirationSeconds: 3600\n")).want(t, http.StatusCreated)
	if err := json.Unmarshal(r.body, &tok); err != nil || !strings.HasPrefix(tok.Name, "token-") || tok.ExpirationTimestamp == nil {
		t.Fatalf("generated: %s %v", r.body, err)
	}
}

func TestTokenRequestBadInputIs4xx(t *testing.T) {
	a := startTestAPI(t)
	a.do(http.MethodPost, api.TokensPath, "application/json", []byte(`{"name":"dup","role":"view"}`)).want(t, http.StatusCreated)
	tests := []struct {
		ct, body string
		want     int
		field    string
	}{
		{"application/json", `{"role":"root"}`, http.StatusUnprocessableEntity, "role"},
		{"application/json", `{}`, http.StatusUnprocessableEntity, "role"},
		{"application/json", `{"role":"view","namespace":"Team_A"}`, http.StatusUnprocessableEntity, "namespace"},
		{"application/json", `{"role":"view","expirationSeconds":-5}`, http.StatusUnprocessableEntity, "expirationSeconds"},
		{"application/json", `{"role":"view","name":"dup"}`, http.StatusConflict, ""},
		{"application/json", `{"role":"view","admin":true}`, http.StatusBadRequest, ""},
		{"application/json", `{"role":`, http.StatusBadRequest, ""},
		{"application/json", `{"role":"view"} {"role":"admin"}`, http.StatusBadRequest, ""},
		{"application/yaml", "role: [view", http.StatusBadRequest, ""},
		{"text/plain", "role=view", http.StatusUnsupportedMediaType, ""},
	}
	for _, tt := range tests {
		r := a.do(http.MethodPost, api.TokensPath, tt.ct, []byte(tt.body))
		if r.code != tt.want {
			t.Errorf("%s %q: %d %s, want %d", tt.ct, tt.body, r.code, r.body, tt.want)
			continue
		}
		st := r.status(t)
		if tt.field != "" && (st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Field != tt.field) {
			t.Errorf("%q: causes %+v, want field %s", tt.body, st.Details, tt.field)
		}
	}
	a.do(http.MethodGet, api.TokenPath("Not_A_Name"), "", nil).want(t, http.StatusBadRequest)
}

func TestExpiredTokenIs401(t *testing.T) {
	a := startTestAPI(t)
	r := a.do(http.MethodPost, api.TokensPath, "application/json", []byte(`{"name":"brief","role":"view","expirationSeconds":1}`)).want(t, http.StatusCreated)
	var tok api.Token
	if err := json.Unmarshal(r.body, &tok); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		r := a.doAs(tok.Token, http.MethodGet, "/api/v1/namespaces/default/pods", "", nil)
		if r.code == http.StatusUnauthorized {
			if st := r.status(t); !strings.Contains(st.Message, "expired") {
				t.Fatalf("401 does not say the token expired: %s", st.Message)
			}
			return
		}
		if r.code != http.StatusOK {
			t.Fatalf("before expiry: %d %s", r.code, r.body)
		}
		select {
		case <-deadline:
			t.Fatal("a token of one second still works after five")
		case <-tick.C:
		}
	}
}
