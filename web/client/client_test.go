package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/artifacts"
	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/controlplane/natsserver"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
	"github.com/skiff-sh/skiff/web"
	"github.com/skiff-sh/skiff/web/client"
)

// memLogs is a LogSource that answers from memory and records requests.
type memLogs struct {
	mu   sync.Mutex
	last api.LogRequest
}

func (m *memLogs) PodLogs(_ context.Context, pod *api.Pod, req api.LogRequest) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = req
	return fmt.Appendf(nil, "log of %s/%s\n", pod.Namespace, pod.Name), nil
}

type env struct {
	client *client.Client // with the admin token
	store  *store.Store
	logs   *memLogs
	tokens *auth.Tokens
	admin  string // an admin token of all namespaces
	url    string
}

// startAPI runs a real API server over a real store and artifact store in
// an embedded NATS, and returns a client of it.
func startAPI(t *testing.T) *env {
	t.Helper()
	ns, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, js, store.Options{Keyring: natstest.Keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	arts, err := artifacts.Open(ctx, js, nc, artifacts.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.Open(ctx, js, auth.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tokens.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tokens.Stop)
	admin, err := tokens.Create(ctx, api.TokenRequest{Name: "admin", Role: api.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	logs := &memLogs{}
	srv := web.New(web.Options{Listen: "127.0.0.1:0"}, st, logs, arts, nil, web.WithAuth(tokens))
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return &env{client: client.New(srv.URL(), client.WithToken(admin.Token)), store: st, logs: logs,
		tokens: tokens, admin: admin.Token, url: srv.URL()}
}

func newPod(name string) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "main", Image: "nginx:1.27"}}},
	}
}

func TestPodLifecycleThroughClient(t *testing.T) {
	e := startAPI(t)
	ctx := t.Context()
	c := e.client
	if err := c.Healthz(ctx); err != nil {
		t.Fatalf("Healthz: %v", err)
	}
	created, err := c.CreatePod(ctx, newPod("web"))
	if err != nil {
		t.Fatalf("CreatePod: %v", err)
	}
	if created.Namespace != "default" || created.UID == "" || created.ResourceVersion == "" {
		t.Fatalf("created %+v", created.ObjectMeta)
	}
	if _, err := c.CreatePod(ctx, newPod("web")); !client.IsAlreadyExists(err) {
		t.Fatalf("second CreatePod: %v, want AlreadyExists", err)
	}
	if _, err := c.CreateObject(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "prod"}}); err != nil {
		t.Fatal(err)
	}
	other := newPod("db")
	other.Namespace = "prod"
	if _, err := c.CreatePod(ctx, other); err != nil {
		t.Fatal(err)
	}

	got, err := c.GetPod(ctx, "", "web")
	if err != nil || got.UID != created.UID {
		t.Fatalf("GetPod = %v, %v", got, err)
	}
	inDefault, err := c.ListPods(ctx, "default")
	if err != nil || len(inDefault) != 1 {
		t.Fatalf("ListPods(default) = %d, %v", len(inDefault), err)
	}
	all, err := c.ListPods(ctx, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("ListPods(all) = %d, %v", len(all), err)
	}

	got.Spec.Containers[0].Image = "nginx:1.28"
	updated, err := c.UpdatePod(ctx, got)
	if err != nil || updated.Spec.Containers[0].Image != "nginx:1.28" {
		t.Fatalf("UpdatePod = %v, %v", updated, err)
	}
	got.Spec.Containers[0].Image = "nginx:1.29" // got still holds the old resourceVersion
	if _, err := c.UpdatePod(ctx, got); !client.IsConflict(err) {
		t.Fatalf("stale UpdatePod: %v, want Conflict", err)
	}

	deleted, err := c.DeletePod(ctx, "default", "web", client.DeleteOptions{})
	if err != nil || deleted.Name != "web" {
		t.Fatalf("DeletePod = %v, %v", deleted, err)
	}
	if _, err := c.GetPod(ctx, "default", "web"); !client.IsNotFound(err) {
		t.Fatalf("GetPod after delete: %v, want NotFound", err)
	}
}

func TestDeleteBoundPodWithGracePeriod(t *testing.T) {
	e := startAPI(t)
	ctx := t.Context()
	p := newPod("run")
	p.Spec.NodeName = "edge-1"
	if _, err := e.client.CreatePod(ctx, p); err != nil {
		t.Fatal(err)
	}
	g := int64(3)
	got, err := e.client.DeletePod(ctx, "default", "run", client.DeleteOptions{GracePeriodSeconds: &g})
	if err != nil || got.DeletionTimestamp == nil || *got.DeletionGracePeriodSeconds != 3 {
		t.Fatalf("DeletePod = %+v, %v", got, err)
	}
	zero := int64(0)
	if _, err := e.client.DeletePod(ctx, "default", "run", client.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.GetPod(ctx, "default", "run"); !client.IsNotFound(err) {
		t.Fatalf("forced delete left the pod: %v", err)
	}
}

func TestInvalidPodComesBackAsStatusWithCauses(t *testing.T) {
	e := startAPI(t)
	p := newPod("Bad_Name")
	p.Spec.Containers[0].Image = ""
	_, err := e.client.CreatePod(t.Context(), p)
	if !client.IsInvalid(err) {
		t.Fatalf("err = %v, want Invalid", err)
	}
	var se *client.StatusError
	if !errors.As(err, &se) || se.Status.Code != http.StatusUnprocessableEntity {
		t.Fatalf("err = %#v", err)
	}
	fields := map[string]bool{}
	for _, c := range se.Causes() {
		fields[c.Field] = true
	}
	if !fields["metadata.name"] || !fields["spec.containers[0].image"] {
		t.Fatalf("causes = %+v", se.Causes())
	}
}

func TestUploadArtifactReturnsImageRef(t *testing.T) {
	e := startAPI(t)
	ref, err := e.client.UploadArtifact(t.Context(), bytes.NewReader([]byte("\x00asm\x01\x00\x00\x00")))
	if err != nil {
		t.Fatal(err)
	}
	src, err := api.ParseWasmImage(ref)
	if err != nil || src.Kind != api.WasmFromArtifact {
		t.Fatalf("ref %q: %+v %v", ref, src, err)
	}
	_, err = e.client.UploadArtifact(t.Context(), strings.NewReader("not wasm at all"))
	st, ok := client.StatusOf(err)
	if !ok || st.Code != http.StatusBadRequest {
		t.Fatalf("non-wasm upload: %v", err)
	}
}

func TestPodLogsAndNodes(t *testing.T) {
	e := startAPI(t)
	ctx := t.Context()
	p := newPod("logged")
	p.Spec.NodeName = "edge-1"
	if _, err := e.client.CreatePod(ctx, p); err != nil {
		t.Fatal(err)
	}
	tail := int64(10)
	b, err := e.client.PodLogs(ctx, "default", "logged", api.LogRequest{Container: "main", TailLines: &tail, LimitBytes: 99})
	if err != nil || string(b) != "log of default/logged\n" {
		t.Fatalf("PodLogs = %q, %v", b, err)
	}
	e.logs.mu.Lock()
	last := e.logs.last
	e.logs.mu.Unlock()
	if last.TailLines == nil || *last.TailLines != 10 || last.LimitBytes != 99 || last.Container != "main" {
		t.Fatalf("log request = %+v", last)
	}

	if err := store.For[*api.Node](e.store).Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "edge-1"}}); err != nil {
		t.Fatal(err)
	}
	nodes, err := e.client.ListNodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Name != "edge-1" {
		t.Fatalf("ListNodes = %v, %v", nodes, err)
	}
	n, err := e.client.GetNode(ctx, "edge-1")
	if err != nil || n.Name != "edge-1" {
		t.Fatalf("GetNode = %v, %v", n, err)
	}
	if _, err := e.client.GetNode(ctx, "edge-2"); !client.IsNotFound(err) {
		t.Fatalf("GetNode(missing) = %v", err)
	}
}

func TestUnreachableServerIsOneLineWithAdvice(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	err = client.New(addr).Healthz(t.Context())
	var ce *client.ConnectionError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %#v, want *ConnectionError", err)
	}
	want := `cannot reach the Skiff API at https://` + addr + ` (connection refused); start one with "skiff up" or set --server/SKIFF_SERVER`
	if err.Error() != want {
		t.Fatalf("message:\n got %s\nwant %s", err, want)
	}
}

func TestNonStatusErrorBodyBecomesStatusError(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer ts.Close()
	_, err := client.New(ts.URL).GetPod(t.Context(), "default", "x")
	st, ok := client.StatusOf(err)
	if !ok || st.Code != http.StatusBadGateway || !strings.Contains(st.Message, "bad gateway") {
		t.Fatalf("err = %v (%+v)", err, st)
	}
}

func TestNamesThatWouldChangeThePathAreRefused(t *testing.T) {
	c := client.New("http://127.0.0.1:1")
	for _, name := range []string{"", "a/b", "x?y", "..", "%2F"} {
		if _, err := c.GetPod(t.Context(), "default", name); err == nil || errors.As(err, new(*client.ConnectionError)) {
			t.Errorf("GetPod(%q) = %v, want a local error", name, err)
		}
	}
}

func TestNormalizeServer(t *testing.T) {
	tests := []struct{ give, want string }{
		{"", client.DefaultServer},
		{"10.0.0.1:8080", "https://10.0.0.1:8080"}, // the API serves TLS only
		{"https://skiff.example/", "https://skiff.example"},
		{" http://h:1 ", "http://h:1"},
	}
	for _, tt := range tests {
		if got := client.NormalizeServer(tt.give); got != tt.want {
			t.Errorf("NormalizeServer(%q) = %q, want %q", tt.give, got, tt.want)
		}
	}
}
