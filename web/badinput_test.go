package web

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
)

func TestBadInputGetsStatusAndWritesNothing(t *testing.T) {
	a := startTestAPI(t)
	const pods = "/api/v1/namespaces/default/pods"
	valid := string(podDoc("ok"))
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		wantCode    int
		wantReason  api.StatusReason
		wantFields  []string
	}{
		{
			name: "invalid YAML", method: http.MethodPost, path: pods, contentType: "application/yaml",
			body: "metadata: [unclosed\n", wantCode: 400, wantReason: api.StatusReasonBadRequest,
		},
		{
			name: "invalid JSON", method: http.MethodPost, path: pods, contentType: "application/json",
			body: `{"metadata": `, wantCode: 400, wantReason: api.StatusReasonBadRequest,
		},
		{
			name: "YAML sent as JSON", method: http.MethodPost, path: pods, contentType: "application/json",
			body: valid, wantCode: 400, wantReason: api.StatusReasonBadRequest,
		},
		{
			name: "empty body", method: http.MethodPost, path: pods, contentType: "application/yaml",
			body: "", wantCode: 400, wantReason: api.StatusReasonBadRequest,
		},
		{
			name: "not an object", method: http.MethodPost, path: pods, contentType: "application/yaml",
			body: "- a\n- b\n", wantCode: 400, wantReason: api.StatusReasonBadRequest,
		},
		{
			name: "unknown kind", method: http.MethodPost, path: pods, contentType: "application/yaml",
			body: strings.Replace(valid, "kind: Pod", "kind: Frobnicator", 1), wantCode: 400, wantReason: api.StatusReasonBadRequest,
			wantFields: []string{"kind"},
		},
		{
			name: "wrong apiVersion", method: http.MethodPost, path: pods, contentType: "application/yaml",
			body: strings.Replace(valid, "apiVersion: v1", "apiVersion: apps/v2", 1), wantCode: 400, wantReason: api.StatusReasonBadRequest,
			wantFields: []string{"apiVersion"},
		},
		{
			name: "unknown field", method: http.MethodPost, path: pods, contentType: "application/yaml",
			body: strings.Replace(valid, "    image:", "    imagePullPolicyy: Always\n    image:", 1), wantCode: 422, wantReason: api.StatusReasonInvalid,
			wantFields: []string{"spec.containers[0].imagePullPolicyy"},
		},
		{
			name: "wrong type", method: http.MethodPost, path: pods, contentType: "application/yaml",
			body: "metadata: {name: x}\nspec: {containers: 5}\n", wantCode: 422, wantReason: api.StatusReasonInvalid,
			wantFields: []string{"spec.containers"},
		},
		{
			name: "missing image", method: http.MethodPost, path: pods, contentType: "application/yaml",
			body: "metadata: {name: x}\nspec:\n  containers:\n  - name: main\n", wantCode: 422, wantReason: api.StatusReasonInvalid,
			wantFields: []string{"spec.containers[0].image"},
		},
		{
			name: "name not a DNS label", method: http.MethodPost, path: pods, contentType: "application/yaml",
			body: string(podDoc("Not_A_Label")), wantCode: 422, wantReason: api.StatusReasonInvalid,
			wantFields: []string{"metadata.name"},
		},
		{
			name: "local wasm file", method: http.MethodPost, path: pods, contentType: "application/yaml",
			body: "metadata: {name: x}\nspec:\n  runtimeClassName: wasm\n  containers:\n  - {name: main, image: ./app.wasm}\n", wantCode: 422, wantReason: api.StatusReasonInvalid,
			wantFields: []string{"spec.containers[0].image"},
		},
		{
			name: "generateName too long", method: http.MethodPost, path: pods, contentType: "application/yaml",
			body: strings.Replace(valid, "name: ok", "generateName: "+strings.Repeat("a", 60), 1), wantCode: 422, wantReason: api.StatusReasonInvalid,
			wantFields: []string{"metadata.generateName"},
		},
		{
			name: "namespace does not match the path", method: http.MethodPost, path: pods, contentType: "application/yaml",
			body: strings.Replace(valid, "metadata:\n", "metadata:\n  namespace: prod\n", 1), wantCode: 400, wantReason: api.StatusReasonBadRequest,
			wantFields: []string{"metadata.namespace"},
		},
		{
			name: "namespace in path not a DNS label", method: http.MethodPost, path: "/api/v1/namespaces/a.b/pods", contentType: "application/yaml",
			body: valid, wantCode: 400, wantReason: api.StatusReasonBadRequest, wantFields: []string{"namespace"},
		},
		{
			name: "wrong content type", method: http.MethodPost, path: pods, contentType: "text/plain",
			body: valid, wantCode: 415, wantReason: api.StatusReasonUnsupportedMediaType,
		},
		{
			name: "no content type", method: http.MethodPost, path: pods,
			body: valid, wantCode: 415, wantReason: api.StatusReasonUnsupportedMediaType,
		},
		{
			name: "oversized body", method: http.MethodPost, path: pods, contentType: "application/yaml",
			body: valid + "# " + strings.Repeat("x", testMaxBody) + "\n", wantCode: 413, wantReason: api.StatusReasonRequestEntityTooLarge,
		},
		{
			name: "non-wasm artifact", method: http.MethodPost, path: "/api/v1/artifacts", contentType: "application/wasm",
			body: "#!/bin/sh\necho hi\n", wantCode: 400, wantReason: api.StatusReasonBadRequest,
		},
		{
			name: "empty artifact", method: http.MethodPost, path: "/api/v1/artifacts", contentType: "application/wasm",
			body: "", wantCode: 400, wantReason: api.StatusReasonBadRequest,
		},
		{
			name: "artifact as JSON", method: http.MethodPost, path: "/api/v1/artifacts", contentType: "application/json",
			body: "{}", wantCode: 415, wantReason: api.StatusReasonUnsupportedMediaType,
		},
		{
			name: "oversized artifact", method: http.MethodPost, path: "/api/v1/artifacts", contentType: "application/wasm",
			body: string(wasmModule()) + strings.Repeat("\x00", testMaxBody), wantCode: 413, wantReason: api.StatusReasonRequestEntityTooLarge,
		},
		{
			name: "replace of a missing pod", method: http.MethodPut, path: pods + "/ok", contentType: "application/yaml",
			body: "metadata: {name: ok}\nspec: {containers: []}\n", wantCode: 404, wantReason: api.StatusReasonNotFound,
		},
		{
			name: "grace period not a number", method: http.MethodDelete, path: pods + "/ok?gracePeriodSeconds=soon",
			wantCode: 400, wantReason: api.StatusReasonBadRequest, wantFields: []string{"gracePeriodSeconds"},
		},
		{
			name: "negative grace period", method: http.MethodDelete, path: pods + "/ok?gracePeriodSeconds=-3",
			wantCode: 400, wantReason: api.StatusReasonBadRequest, wantFields: []string{"gracePeriodSeconds"},
		},
		{
			name: "name with a NATS wildcard", method: http.MethodGet, path: pods + "/%3E",
			wantCode: 400, wantReason: api.StatusReasonBadRequest, wantFields: []string{"name"},
		},
		{
			name: "namespace with a NATS wildcard", method: http.MethodGet, path: "/api/v1/namespaces/*/pods",
			wantCode: 400, wantReason: api.StatusReasonBadRequest, wantFields: []string{"namespace"},
		},
		{
			name: "unknown path", method: http.MethodGet, path: "/api/v1/frobnicators",
			wantCode: 404, wantReason: api.StatusReasonNotFound,
		},
		{
			name: "method not allowed", method: http.MethodPost, path: pods + "/ok", contentType: "application/yaml", body: valid,
			wantCode: 405, wantReason: api.StatusReasonMethodNotAllowed,
		},
		{
			name: "node create not served", method: http.MethodPost, path: "/api/v1/nodes", contentType: "application/yaml",
			body: "metadata: {name: n}\n", wantCode: 405, wantReason: api.StatusReasonMethodNotAllowed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" || tt.method == http.MethodPost {
				body = []byte(tt.body)
			}
			st := a.do(tt.method, tt.path, tt.contentType, body).want(t, tt.wantCode).status(t)
			t.Logf("%d %s: %s %+v", st.Code, st.Reason, st.Message, st.Details)
			if st.Reason != tt.wantReason {
				t.Errorf("reason = %q, want %q (message %q)", st.Reason, tt.wantReason, st.Message)
			}
			if st.Message == "" {
				t.Error("status has no message")
			}
			var fields []string
			if st.Details != nil {
				for _, c := range st.Details.Causes {
					fields = append(fields, c.Field)
				}
			}
			for _, f := range tt.wantFields {
				found := false
				for _, g := range fields {
					found = found || g == f
				}
				if !found {
					t.Errorf("causes name fields %q, want %q among them (message %q)", fields, f, st.Message)
				}
			}
			if n := len(a.storedPods()); n != 0 {
				t.Fatalf("store holds %d pods after a rejected request", n)
			}
			if n := a.artifacts.count(); n != 0 {
				t.Fatalf("artifact store got %d uploads after a rejected request", n)
			}
		})
	}
}

// TestGarbageBodiesNeverCauseServerErrors throws random and hostile
// documents at the create endpoint: every answer must be a 4xx Status.
func TestGarbageBodiesNeverCauseServerErrors(t *testing.T) {
	a := startTestAPI(t)
	bodies := []string{
		"\x00\x01\x02", "null", "[]", "42", `"str"`, "{}", "kind: Pod", "metadata: 5", "metadata: {name: [a]}",
		"spec: []", "spec: {containers: [5]}", "spec: {containers: [{name: a, image: b, resources: {limits: {cpu: lots}}}]}",
		"spec: {containers: [{name: a, image: b, env: [{name: 1}]}]}",
		"metadata: {name: a, labels: {'bad key!': v}}\nspec: {containers: [{name: a, image: b}]}",
		"metadata: {name: a, creationTimestamp: yesterday}\nspec: {containers: [{name: a, image: b}]}",
		"a: &a [*a, *a]", "? [a]\n: b", "metadata: {name: a}\nspec: {terminationGracePeriodSeconds: 1e400}",
		"metadata: {name: a}\nspec: {terminationGracePeriodSeconds: 99999999999999999999}",
		"metadata: {name: a}\nspec: {runtimeClassName: wasm, containers: [{name: a, image: 'skiff://artifacts/sha256:zz'}]}",
		"metadata: {name: a}\nspec: {runtimeClassName: wasm, containers: [{name: a, image: 'http://x/m.wasm'}]}",
		"metadata: {name: a}\nspec: {containers: [{name: a, image: b}, {name: a, image: c}]}",
		"metadata: {name: a}\nspec: {restartPolicy: Sometimes, containers: [{name: a, image: b}]}",
		"metadata: {name: a}\nspec: {nodeName: 'x y', containers: [{name: a, image: b}]}",
		"metadata: {name: a}\nspec: {activeDeadlineSeconds: 0, containers: [{name: a, image: b}]}",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 40 {
		b := make([]byte, rng.IntN(200))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		bodies = append(bodies, string(b))
	}
	for _, ct := range []string{"application/yaml", "application/json"} {
		for _, body := range bodies {
			r := a.do(http.MethodPost, "/api/v1/namespaces/default/pods", ct, []byte(body))
			if r.code < 400 || r.code >= 500 {
				t.Errorf("%s body %q: code %d, want 4xx; body %s", ct, body, r.code, r.body)
				continue
			}
			r.status(t)
		}
	}
	if n := len(a.storedPods()); n != 0 {
		t.Fatalf("store holds %d pods after garbage", n)
	}
}

func TestFieldErrorsListEveryField(t *testing.T) {
	a := startTestAPI(t)
	body := "metadata: {name: Bad}\nspec:\n  restartPolicy: Sometimes\n  containers:\n  - name: main\n"
	st := a.do(http.MethodPost, "/api/v1/namespaces/default/pods", "application/yaml", []byte(body)).want(t, http.StatusUnprocessableEntity).status(t)
	want := map[string]string{
		"metadata.name":            api.ErrTypeInvalid,
		"spec.containers[0].image": api.ErrTypeRequired,
		"spec.restartPolicy":       api.ErrTypeNotSupported,
	}
	if st.Details == nil || len(st.Details.Causes) != len(want) {
		t.Fatalf("causes = %+v, want %d", st.Details, len(want))
	}
	for _, c := range st.Details.Causes {
		if want[c.Field] != c.Type || c.Message == "" {
			t.Errorf("cause %+v not expected", c)
		}
	}
	if !bytes.Contains([]byte(st.Message), []byte(`Pod "Bad" is invalid`)) {
		t.Errorf("message = %q", st.Message)
	}
}
