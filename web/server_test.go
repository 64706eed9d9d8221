package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/controlplane/events"
	"github.com/skiff-sh/skiff/controlplane/natsserver"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

// testMaxBody is small so that the 413 case needs no big body.
const testMaxBody = 64 << 10

// fakeLogs is a LogSource that answers from memory.
type fakeLogs struct {
	mu   sync.Mutex
	data []byte
	err  error
	reqs []api.LogRequest
}

func (f *fakeLogs) PodLogs(_ context.Context, _ *api.Pod, req api.LogRequest) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	return f.data, f.err
}

func (f *fakeLogs) lastRequest() (api.LogRequest, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		return api.LogRequest{}, false
	}
	return f.reqs[len(f.reqs)-1], true
}

// fakeArtifacts is an ArtifactStore in memory with the real one's contract.
type fakeArtifacts struct {
	mu   sync.Mutex
	puts int
	mods map[string][]byte
}

func (f *fakeArtifacts) PutArtifact(_ context.Context, r io.Reader) (string, int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", 0, err
	}
	if !api.IsWasmBinary(b) {
		return "", 0, fmt.Errorf("not wasm: %w", api.ErrInvalidArtifact)
	}
	sum := sha256.Sum256(b)
	d := "sha256:" + hex.EncodeToString(sum[:])
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts++
	if f.mods == nil {
		f.mods = map[string][]byte{}
	}
	f.mods[d] = b
	return d, int64(len(b)), nil
}

func (f *fakeArtifacts) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts
}

// testAPI is a running server over a real store in an embedded NATS,
// with authentication on: do sends the admin token.
type testAPI struct {
	t         *testing.T
	srv       *Server
	store     *store.Store
	tokens    *auth.Tokens
	registry  *prometheus.Registry
	logs      *fakeLogs
	artifacts *fakeArtifacts
	base      string
	admin     string // an admin token of all namespaces
	// events records events on the stream the server's events endpoints
	// read.
	events *events.Recorder
}

func openTestStore(t *testing.T) *store.Store {
	t.Helper()
	return openStoreOn(t, openTestJS(t))
}

func openStoreOn(t *testing.T, js jetstream.JetStream) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, js, store.Options{Keyring: natstest.Keyring(t)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return st
}

func openTestJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	ns, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatalf("connect nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

func startTestAPI(t *testing.T, tune ...func(*Options)) *testAPI {
	t.Helper()
	js := openTestJS(t)
	st := openStoreOn(t, js)
	tokens, err := auth.Open(t.Context(), js, auth.Options{}, nil)
	if err != nil {
		t.Fatalf("open tokens: %v", err)
	}
	if err := tokens.Start(t.Context()); err != nil {
		t.Fatalf("start tokens: %v", err)
	}
	t.Cleanup(tokens.Stop)
	admin, err := tokens.Create(t.Context(), api.TokenRequest{Name: "test-admin", Role: api.RoleAdmin})
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	if _, err := events.EnsureStream(t.Context(), js, events.StreamOptions{}); err != nil {
		t.Fatalf("events stream: %v", err)
	}
	a := &testAPI{t: t, store: st, tokens: tokens, registry: prometheus.NewRegistry(), admin: admin.Token,
		logs: &fakeLogs{data: []byte("hello\nworld\n")}, artifacts: &fakeArtifacts{}, events: events.NewRecorder(js.Conn())}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := Options{Listen: "127.0.0.1:0", MaxBodyBytes: testMaxBody}
	for _, f := range tune {
		f(&opts)
	}
	a.srv = New(opts, st, a.logs, a.artifacts, log, WithAuth(tokens), WithMetrics(a.registry), WithEvents(events.NewReader(js)))
	if err := a.srv.Start(t.Context()); err != nil {
		t.Fatalf("start api: %v", err)
	}
	t.Cleanup(func() {
		// A generous bound: on a busy machine the lists still waiting for a
		// slot take their time to end.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	a.base = a.srv.URL()
	return a
}

type response struct {
	code        int
	contentType string
	header      http.Header
	body        []byte
}

func (a *testAPI) do(method, path, contentType string, body []byte) response {
	a.t.Helper()
	return a.doAs(a.admin, method, path, contentType, body)
}

// token makes a token for the tests.
func (a *testAPI) token(name string, role api.Role, namespace string) string {
	a.t.Helper()
	tok, err := a.tokens.Create(a.t.Context(), api.TokenRequest{Name: name, Role: role, Namespace: namespace})
	if err != nil {
		a.t.Fatalf("token %s: %v", name, err)
	}
	return tok.Token
}

// doAs sends a request with token ("" for none).
func (a *testAPI) doAs(token, method, path, contentType string, body []byte) response {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.base+path, r)
	if err != nil {
		a.t.Fatalf("request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set(api.AuthorizationHeader, api.BearerPrefix+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatalf("read body: %v", err)
	}
	return response{code: res.StatusCode, contentType: res.Header.Get("Content-Type"), header: res.Header, body: b}
}

func (r response) pod(t *testing.T) *api.Pod {
	t.Helper()
	var p api.Pod
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decode pod from %s: %v", r.body, err)
	}
	return &p
}

func (r response) status(t *testing.T) api.Status {
	t.Helper()
	var s api.Status
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("decode status from %q: %v", r.body, err)
	}
	if s.Kind != "Status" || s.APIVersion != "v1" || s.Status != api.StatusFailure || int(s.Code) != r.code {
		t.Fatalf("not a failure Status matching code %d: %s", r.code, r.body)
	}
	return s
}

func (r response) want(t *testing.T, code int) response {
	t.Helper()
	if r.code != code {
		t.Fatalf("code = %d, want %d; body: %s", r.code, code, r.body)
	}
	return r
}

const podYAML = `apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels:
    app: demo
spec:
  runtimeClassName: wasm
  containers:
  - name: main
    image: skiff://artifacts/sha256:0000000000000000000000000000000000000000000000000000000000000000
`

func podDoc(name string) []byte { return fmt.Appendf(nil, podYAML, name) }

func (a *testAPI) createPod(name string) *api.Pod {
	a.t.Helper()
	return a.do(http.MethodPost, "/api/v1/namespaces/default/pods", "application/yaml", podDoc(name)).want(a.t, http.StatusCreated).pod(a.t)
}

// createNamespace creates a namespace, which pods need before they can be
// created in it.
func (a *testAPI) createNamespace(name string) {
	a.t.Helper()
	a.do(http.MethodPost, "/api/v1/namespaces", "application/json", fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, name)).want(a.t, http.StatusCreated)
}

// storedPods lists what the store holds, to prove a rejected request
// wrote nothing.
func (a *testAPI) storedPods() []*api.Pod {
	a.t.Helper()
	pods, err := store.For[*api.Pod](a.store).List(a.t.Context(), "")
	if err != nil {
		a.t.Fatalf("list store: %v", err)
	}
	return pods
}

func TestServerListensOnFreePortAndServesHealthz(t *testing.T) {
	a := startTestAPI(t)
	if !strings.HasPrefix(a.srv.Addr(), "127.0.0.1:") || strings.HasSuffix(a.srv.Addr(), ":0") {
		t.Fatalf("Addr() = %q, want the bound 127.0.0.1 port", a.srv.Addr())
	}
	r := a.do(http.MethodGet, "/healthz", "", nil).want(t, http.StatusOK)
	if string(r.body) != "ok\n" {
		t.Fatalf("healthz body = %q", r.body)
	}
	if err := a.srv.Start(t.Context()); err == nil {
		t.Fatal("second Start succeeded, want an error")
	}
}

func TestShutdownWithoutStartIsNoop(t *testing.T) {
	s := New(Options{}, nil, nil, nil, nil)
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown before Start: %v", err)
	}
	if s.Addr() != "" || s.URL() != "" {
		t.Fatalf("Addr/URL before Start = %q/%q, want empty", s.Addr(), s.URL())
	}
}
