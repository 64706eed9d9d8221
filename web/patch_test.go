package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

const podsPath = "/api/v1/namespaces/default/pods"

// testImage is the image of podDoc's pod.
const testImage = "skiff://artifacts/sha256:0000000000000000000000000000000000000000000000000000000000000000"

func (a *testAPI) mergePatch(path, patch string) response {
	a.t.Helper()
	return a.do(http.MethodPatch, path, api.MediaMergePatch, []byte(patch))
}

func TestMergePatchFollowsRFC7386Examples(t *testing.T) {
	// RFC 7386, appendix A.
	for _, tt := range []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	} {
		var target, patch, want any
		for _, d := range []struct {
			doc string
			v   *any
		}{{tt.target, &target}, {tt.patch, &patch}, {tt.want, &want}} {
			if err := json.Unmarshal([]byte(d.doc), d.v); err != nil {
				t.Fatal(err)
			}
		}
		if got := mergePatch(target, patch); !reflect.DeepEqual(got, want) {
			t.Errorf("merge %s into %s = %v, want %s", tt.patch, tt.target, got, tt.want)
		}
	}
}

func TestMergePatchSetsAndRemovesFields(t *testing.T) {
	a := startTestAPI(t)
	created := a.createPod("web") // labels app=demo
	p := a.mergePatch(podsPath+"/web", fmt.Sprintf(`{"metadata":{"labels":{"app":null,"tier":"db"}},"spec":{"restartPolicy":null,"containers":[{"name":"main","image":%q,"args":["-v"]}]}}`, testImage)).
		want(t, http.StatusOK).pod(t)
	if !reflect.DeepEqual(p.Labels, map[string]string{"tier": "db"}) {
		t.Fatalf("labels = %v, want only tier=db", p.Labels)
	}
	if c := p.Spec.Containers; len(c) != 1 || c[0].Image != testImage || len(c[0].Args) != 1 {
		t.Fatalf("containers = %+v", c)
	}
	if p.Kind != "Pod" || p.APIVersion != "v1" || p.UID != created.UID || p.ResourceVersion == created.ResourceVersion || p.Generation != 2 {
		t.Fatalf("metadata after patch: %+v %+v", p.TypeMeta, p.ObjectMeta)
	}
	// Defaults apply to the patched object as to any other write.
	if p.Spec.RestartPolicy != api.RestartPolicyAlways {
		t.Fatalf("no defaults after patch: restartPolicy %q", p.Spec.RestartPolicy)
	}
	stored, err := store.For[*api.Pod](a.store).Get(t.Context(), "default", "web")
	if err != nil || !reflect.DeepEqual(stored.Labels, p.Labels) || stored.ResourceVersion != p.ResourceVersion {
		t.Fatalf("stored %+v, %v", stored.ObjectMeta, err)
	}
}

func TestMergePatchKeepsStatusAndSystemFields(t *testing.T) {
	a := startTestAPI(t)
	created := a.createPod("web")
	if _, err := store.For[*api.Pod](a.store).Mutate(t.Context(), "default", "web", func(p *api.Pod) error {
		p.Spec.NodeName, p.Status.Phase = "edge-1", api.PodRunning
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p := a.mergePatch(podsPath+"/web", `{"status":{"phase":"Failed"},"metadata":{"creationTimestamp":"2001-01-01T00:00:00Z","labels":{"x":"y"}},"spec":{"nodeName":null}}`).
		want(t, http.StatusOK).pod(t)
	if p.Status.Phase != api.PodRunning || p.Spec.NodeName != "edge-1" || p.Labels["x"] != "y" {
		t.Fatalf("status %q nodeName %q labels %v", p.Status.Phase, p.Spec.NodeName, p.Labels)
	}
	if !p.CreationTimestamp.Equal(created.CreationTimestamp) || p.UID != created.UID {
		t.Fatalf("system metadata changed: %+v", p.ObjectMeta)
	}
	st := a.mergePatch(podsPath+"/web", `{"metadata":{"name":"other"}}`).want(t, http.StatusBadRequest).status(t)
	if st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Field != "metadata.name" {
		t.Fatalf("renaming patch: %+v", st)
	}
	a.mergePatch(podsPath+"/web", `{"metadata":{"uid":"not-the-uid"}}`).want(t, http.StatusConflict)
}

func TestMergePatchOfDeploymentReplicas(t *testing.T) {
	a := startTestAPI(t)
	a.createDeployment("web", 2)
	d := a.mergePatch(deploymentsPath+"/web", `{"spec":{"replicas":4}}`).want(t, http.StatusOK)
	var got api.Deployment
	if err := json.Unmarshal(d.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Kind != "Deployment" || got.Spec.Replicas == nil || *got.Spec.Replicas != 4 || got.Generation != 2 {
		t.Fatalf("deployment after patch: %s", d.body)
	}
}

func TestBadMergePatchesAre4xxAndWriteNothing(t *testing.T) {
	a := startTestAPI(t)
	created := a.createPod("web")
	for _, tt := range []struct {
		name, contentType, body string
		code                    int
		reason                  api.StatusReason
		field, message          string
	}{
		{"not JSON", api.MediaMergePatch, `{"metadata":`, 400, api.StatusReasonBadRequest, "", "invalid JSON merge patch"},
		{"two values", api.MediaMergePatch, `{} {}`, 400, api.StatusReasonBadRequest, "", "more than one JSON value"},
		{"not an object", api.MediaMergePatch, `[{"op":"add"}]`, 400, api.StatusReasonBadRequest, "", "must be a JSON object"},
		{"empty", api.MediaMergePatch, ``, 400, api.StatusReasonBadRequest, "", "invalid JSON merge patch"},
		{"json patch", "application/json-patch+json", `[{"op":"replace","path":"/spec/replicas","value":2}]`, 415, api.StatusReasonUnsupportedMediaType, "", api.MediaMergePatch},
		{"strategic merge", "application/strategic-merge-patch+json", `{}`, 415, api.StatusReasonUnsupportedMediaType, "", api.MediaMergePatch},
		{"plain JSON", "application/json", `{}`, 415, api.StatusReasonUnsupportedMediaType, "", api.MediaMergePatch},
		{"unknown field", api.MediaMergePatch, `{"spec":{"bogus":1}}`, 422, api.StatusReasonInvalid, "spec.bogus", ""},
		{"wrong type", api.MediaMergePatch, `{"spec":{"containers":"x"}}`, 422, api.StatusReasonInvalid, "spec.containers", ""},
		{"invalid result", api.MediaMergePatch, `{"spec":{"containers":[{"name":"main","image":""}]}}`, 422, api.StatusReasonInvalid, "spec.containers[0].image", ""},
		{"bad resourceVersion", api.MediaMergePatch, `{"metadata":{"resourceVersion":"abc"}}`, 422, api.StatusReasonInvalid, "metadata.resourceVersion", ""},
		{"other kind", api.MediaMergePatch, `{"kind":"Deployment"}`, 400, api.StatusReasonBadRequest, "kind", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := a.do(http.MethodPatch, podsPath+"/web", tt.contentType, []byte(tt.body)).want(t, tt.code).status(t)
			if st.Reason != tt.reason || !strings.Contains(st.Message, tt.message) {
				t.Fatalf("status = %+v", st)
			}
			if tt.field != "" && (st.Details == nil || !strings.Contains(fmt.Sprint(st.Details.Causes), tt.field)) {
				t.Fatalf("no cause names %s: %+v", tt.field, st.Details)
			}
		})
	}
	a.mergePatch(podsPath+"/missing", `{}`).want(t, http.StatusNotFound)
	if p := a.storedPods(); len(p) != 1 || p[0].ResourceVersion != created.ResourceVersion {
		t.Fatalf("a rejected patch wrote: %+v", p[0].ObjectMeta)
	}
}

func TestMergePatchWithResourceVersionIsAPrecondition(t *testing.T) {
	a := startTestAPI(t)
	created := a.createPod("web")
	moved := a.mergePatch(podsPath+"/web", `{"metadata":{"labels":{"v":"2"}}}`).want(t, http.StatusOK).pod(t)

	st := a.mergePatch(podsPath+"/web", fmt.Sprintf(`{"metadata":{"resourceVersion":%q,"labels":{"v":"3"}}}`, created.ResourceVersion)).
		want(t, http.StatusConflict).status(t)
	if st.Reason != api.StatusReasonConflict || !strings.Contains(st.Message, created.ResourceVersion) {
		t.Fatalf("stale patch: %+v", st)
	}
	p := a.mergePatch(podsPath+"/web", fmt.Sprintf(`{"metadata":{"resourceVersion":%q,"labels":{"v":"3"}}}`, moved.ResourceVersion)).
		want(t, http.StatusOK).pod(t)
	if p.Labels["v"] != "3" || p.ResourceVersion == moved.ResourceVersion {
		t.Fatalf("current patch: %+v", p.ObjectMeta)
	}
}

func TestConcurrentMergePatchesWithoutResourceVersionAllLand(t *testing.T) {
	a := startTestAPI(t)
	a.createPod("web")
	const writers = patchAttempts // each round of races has a winner
	codes := make([]int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			body := fmt.Appendf(nil, `{"metadata":{"labels":{"w%d":"x"}}}`, i)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, a.base+podsPath+"/web", bytes.NewReader(body))
			if err != nil {
				return
			}
			req.Header.Set("Content-Type", api.MediaMergePatch)
			req.Header.Set(api.AuthorizationHeader, api.BearerPrefix+a.admin)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			res.Body.Close()
			codes[i] = res.StatusCode
		})
	}
	wg.Wait()
	p := a.do(http.MethodGet, podsPath+"/web", "", nil).want(t, http.StatusOK).pod(t)
	for i := range writers {
		if codes[i] != http.StatusOK || p.Labels[fmt.Sprintf("w%d", i)] != "x" {
			t.Fatalf("writer %d: code %d; labels %v", i, codes[i], p.Labels)
		}
	}
}
