package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/dispatch"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

type env struct {
	url  string
	nc   *nats.Conn
	st   *store.Store
	pods *store.Resource[*api.Pod]
}

func startNATS(t *testing.T) *env {
	t.Helper()
	st, nc, _ := natstest.Store(t)
	return &env{url: nc.ConnectedUrl(), nc: nc, st: st, pods: store.For[*api.Pod](st)}
}

func (e *env) dispatcher(t *testing.T, opts dispatch.Options) *dispatch.Dispatcher {
	t.Helper()
	d := dispatch.New(e.nc, e.st, opts, slog.New(slog.DiscardHandler))
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d
}

func start(t *testing.T) (*env, *dispatch.Dispatcher) {
	e := startNATS(t)
	return e, e.dispatcher(t, dispatch.Options{})
}

// node is a raw NATS client receiving one node's pushes.
type node struct {
	t    *testing.T
	name string
	nc   *nats.Conn
	sub  *nats.Subscription
}

func (e *env) node(t *testing.T, name string) *node {
	t.Helper()
	nc, err := nats.Connect(e.url, nats.CustomInboxPrefix(api.NodeInboxPrefix(name)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	sub, err := nc.SubscribeSync(api.NodePodsSubject(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &node{t: t, name: name, nc: nc, sub: sub}
}

// next waits for the next push to the node.
func (n *node) next() api.PodAssignment {
	n.t.Helper()
	msg, err := n.sub.NextMsg(10 * time.Second)
	if err != nil {
		n.t.Fatalf("%s: no push: %v", n.name, err)
	}
	var a api.PodAssignment
	if err := json.Unmarshal(msg.Data, &a); err != nil {
		n.t.Fatalf("%s: decode push: %v", n.name, err)
	}
	return a
}

// nextFor returns the next push, which must be about the named pod.
func (n *node) nextFor(name string) api.PodAssignment {
	n.t.Helper()
	a := n.next()
	if got := assignedName(a); got != name {
		n.t.Fatalf("%s: next push is about %q (%+v), want %q", n.name, got, a, name)
	}
	return a
}

func assignedName(a api.PodAssignment) string {
	if a.Pod != nil {
		return a.Pod.Name
	}
	return a.Name
}

func (n *node) sync() api.SyncResponse {
	n.t.Helper()
	b, _ := json.Marshal(api.SyncRequest{Node: n.name})
	msg, err := n.nc.Request(api.AgentSubject(n.name, api.AgentSync), b, 10*time.Second)
	if err != nil {
		n.t.Fatalf("%s: sync: %v", n.name, err)
	}
	var r api.SyncResponse
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		n.t.Fatal(err)
	}
	return r
}

func (e *env) create(t *testing.T, ns, name, nodeName string) *api.Pod {
	t.Helper()
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns},
		Spec:       api.PodSpec{NodeName: nodeName, Containers: []api.Container{{Name: "app", Image: "busybox"}}},
	}
	api.SetDefaults(p)
	if err := e.pods.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) mutate(t *testing.T, name string, fn func(*api.Pod)) *api.Pod {
	t.Helper()
	p, err := e.pods.Mutate(context.Background(), "default", name, func(p *api.Pod) error { fn(p); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestABoundPodIsPushedOnceOnItsNodesSubject(t *testing.T) {
	e, _ := start(t)
	n1 := e.node(t, "edge-1")
	p := e.create(t, "default", "web", "edge-1")

	a := n1.nextFor("web")
	if a.Pod == nil || a.Removed || a.Pod.UID != p.UID || a.Pod.Spec.NodeName != "edge-1" || a.Pod.ResourceVersion == "" {
		t.Fatalf("push = %+v, want the whole pod %s", a, p.UID)
	}
	// The next push is about the next pod: web was sent once.
	e.create(t, "default", "marker", "edge-1")
	n1.nextFor("marker")
}

func TestAStatusOnlyChangeIsNotPushedAgain(t *testing.T) {
	e, _ := start(t)
	n1 := e.node(t, "edge-1")
	e.create(t, "default", "web", "edge-1")
	n1.nextFor("web")

	for i := range 3 {
		e.mutate(t, "web", func(p *api.Pod) {
			p.Status.Phase = api.PodRunning
			p.Status.Message = fmt.Sprintf("report %d", i)
		})
	}
	e.create(t, "default", "marker", "edge-1")
	n1.nextFor("marker")
}

func TestASpecOrDeletionChangeIsPushed(t *testing.T) {
	e, _ := start(t)
	n1 := e.node(t, "edge-1")
	e.create(t, "default", "web", "edge-1")
	n1.nextFor("web")

	e.mutate(t, "web", func(p *api.Pod) { p.Spec.Containers[0].Image = "busybox:2" })
	if a := n1.nextFor("web"); a.Pod.Spec.Containers[0].Image != "busybox:2" {
		t.Errorf("spec push carries image %q", a.Pod.Spec.Containers[0].Image)
	}

	now := time.Now().UTC().Truncate(time.Second)
	grace := int64(5)
	e.mutate(t, "web", func(p *api.Pod) { p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, &grace })
	a := n1.nextFor("web")
	if a.Pod == nil || a.Pod.DeletionTimestamp == nil || !a.Pod.DeletionTimestamp.Equal(now) || *a.Pod.DeletionGracePeriodSeconds != 5 {
		t.Errorf("deletion push = %+v, want the pod with its deletionTimestamp and grace", a.Pod)
	}
}

func TestADeletedPodSendsRemovedWithItsUID(t *testing.T) {
	e, _ := start(t)
	n1 := e.node(t, "edge-1")
	p := e.create(t, "default", "web", "edge-1")
	n1.nextFor("web")

	if err := e.pods.Delete(context.Background(), "default", "web", ""); err != nil {
		t.Fatal(err)
	}
	a := n1.nextFor("web")
	if !a.Removed || a.Pod != nil || a.Namespace != "default" || a.UID != p.UID {
		t.Fatalf("push after delete = %+v, want Removed default/web uid %s", a, p.UID)
	}

	// A new pod with the same name is a new assignment with a new uid.
	q := e.create(t, "default", "web", "edge-1")
	if a := n1.nextFor("web"); a.Pod == nil || a.Pod.UID != q.UID || q.UID == p.UID {
		t.Errorf("push of the recreated pod = %+v, want uid %s", a, q.UID)
	}
}

func TestAPodIsNeverPushedToAnotherNodesSubject(t *testing.T) {
	e, _ := start(t)
	// One listener on every node's subject sees where each push goes.
	spy, err := nats.Connect(e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close()
	all, err := spy.SubscribeSync("skiff.node.*.pods")
	if err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}

	e.create(t, "default", "unbound", "")
	e.create(t, "default", "a1", "edge-1")
	e.create(t, "default", "b1", "edge-2")
	e.create(t, "other", "a2", "edge-1")
	if err := e.pods.Delete(context.Background(), "default", "b1", ""); err != nil {
		t.Fatal(err)
	}
	e.create(t, "default", "unbound-2", "")
	e.create(t, "default", "last", "edge-2")

	want := []string{"edge-1 a1", "edge-2 b1", "edge-1 a2", "edge-2 b1", "edge-2 last"}
	var got []string
	for range want {
		msg, err := all.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		var a api.PodAssignment
		if err := json.Unmarshal(msg.Data, &a); err != nil {
			t.Fatal(err)
		}
		subjectNode := strings.Split(msg.Subject, ".")[2]
		if a.Pod != nil && a.Pod.Spec.NodeName != subjectNode {
			t.Errorf("pod %s bound to %s pushed on %s", a.Pod.Name, a.Pod.Spec.NodeName, msg.Subject)
		}
		got = append(got, subjectNode+" "+assignedName(a))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pushes = %v, want %v (unbound pods go nowhere)", got, want)
	}
}

func TestASyncRequestReturnsExactlyThePodsBoundToThatNode(t *testing.T) {
	e, _ := start(t)
	n1 := e.node(t, "edge-1")
	e.create(t, "default", "b", "edge-1")
	e.create(t, "default", "a", "edge-1")
	e.create(t, "kube", "c", "edge-1")
	e.create(t, "default", "other", "edge-2")
	e.create(t, "default", "unbound", "")
	e.create(t, "default", "deleted", "edge-1")
	if err := e.pods.Delete(context.Background(), "default", "deleted", ""); err != nil {
		t.Fatal(err)
	}
	e.create(t, "default", "marker", "edge-1")
	// Pushes come from the same watch as the sync set: once the marker was
	// pushed, the dispatcher has seen everything before it.
	for {
		if assignedName(n1.next()) == "marker" {
			break
		}
	}

	r := n1.sync()
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	var got []string
	for _, p := range r.Pods {
		got = append(got, p.Namespace+"/"+p.Name)
		if p.Spec.NodeName != "edge-1" || p.UID == "" {
			t.Errorf("sync returned %s/%s bound to %q uid %q", p.Namespace, p.Name, p.Spec.NodeName, p.UID)
		}
	}
	want := "default/a,default/b,default/marker,kube/c"
	if strings.Join(got, ",") != want {
		t.Errorf("sync = %v, want %s", got, want)
	}

	// A node with nothing bound gets an empty list, not an error.
	if r := e.node(t, "edge-9").sync(); r.Error != "" || len(r.Pods) != 0 {
		t.Errorf("sync of an idle node = %+v, want no pods", r)
	}
}

func TestPodsBoundBeforeStartArePushedAndSynced(t *testing.T) {
	e := startNATS(t)
	n1 := e.node(t, "edge-1")
	p := e.create(t, "default", "web", "edge-1")
	e.dispatcher(t, dispatch.Options{})

	if a := n1.nextFor("web"); a.Pod.UID != p.UID {
		t.Errorf("push = %+v", a)
	}
	if r := n1.sync(); len(r.Pods) != 1 || r.Pods[0].UID != p.UID {
		t.Errorf("sync = %+v, want web", r)
	}
}

func TestPodLogsRelaysTheRequestToThePodsNode(t *testing.T) {
	e, d := start(t)
	n1 := e.node(t, "edge-1")
	p := e.create(t, "default", "web", "edge-1")
	tail := int64(5)
	got := make(chan api.LogRequest, 1)
	if _, err := n1.nc.Subscribe(api.NodeLogsSubject("edge-1"), func(m *nats.Msg) {
		var req api.LogRequest
		_ = json.Unmarshal(m.Data, &req)
		got <- req
		b, _ := json.Marshal(api.LogResponse{Data: []byte("hello\n")})
		_ = m.Respond(b)
	}); err != nil {
		t.Fatal(err)
	}
	if err := n1.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	data, err := d.PodLogs(context.Background(), p, api.LogRequest{Container: "app", TailLines: &tail, Name: "forged", UID: "forged"})
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "hello\n" {
		t.Errorf("logs = %q", data)
	}
	req := <-got
	if req.Namespace != "default" || req.Name != "web" || req.UID != p.UID || req.Container != "app" || req.TailLines == nil || *req.TailLines != 5 {
		t.Errorf("node got %+v, want the pod's identity and the caller's options", req)
	}
}

func TestPodLogsErrors(t *testing.T) {
	e := startNATS(t)
	d := e.dispatcher(t, dispatch.Options{RequestTimeout: 300 * time.Millisecond})
	p := e.create(t, "default", "web", "edge-1")
	ctx := context.Background()

	// Nobody listens for edge-1: no responders.
	if _, err := d.PodLogs(ctx, p, api.LogRequest{}); !errors.Is(err, api.ErrNodeUnreachable) {
		t.Errorf("no responders: %v, want api.ErrNodeUnreachable", err)
	}

	// A node that never answers: timeout.
	n1 := e.node(t, "edge-1")
	quiet, err := n1.nc.Subscribe(api.NodeLogsSubject("edge-1"), func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := n1.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if _, err := d.PodLogs(ctx, p, api.LogRequest{}); !errors.Is(err, api.ErrNodeUnreachable) {
		t.Errorf("timeout: %v, want api.ErrNodeUnreachable", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("PodLogs took %v with RequestTimeout 300ms", took)
	}
	// The caller's own shorter deadline counts the same.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = d.PodLogs(short, p, api.LogRequest{})
	cancel()
	if !errors.Is(err, api.ErrNodeUnreachable) {
		t.Errorf("caller deadline: %v, want api.ErrNodeUnreachable", err)
	}
	if err := quiet.Unsubscribe(); err != nil {
		t.Fatal(err)
	}

	// The node answers: NotFound, another error, garbage.
	answer := make(chan []byte, 1)
	if _, err := n1.nc.Subscribe(api.NodeLogsSubject("edge-1"), func(m *nats.Msg) { _ = m.Respond(<-answer) }); err != nil {
		t.Fatal(err)
	}
	if err := n1.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		give     string
		notFound bool
		want     string
	}{
		{`{"notFound":true,"error":"no container sidecar"}`, true, "no container sidecar"},
		{`{"error":"disk on fire"}`, false, "disk on fire"},
		{`not json`, false, "bad answer from node edge-1"},
	} {
		answer <- []byte(tt.give)
		_, err := d.PodLogs(ctx, p, api.LogRequest{})
		if err == nil || errors.Is(err, store.ErrNotFound) != tt.notFound || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("answer %s: %v, want ErrNotFound=%v and %q", tt.give, err, tt.notFound, tt.want)
		}
		if errors.Is(err, api.ErrNodeUnreachable) {
			t.Errorf("answer %s: %v reads as unreachable, but the node answered", tt.give, err)
		}
	}

	// An unscheduled pod has no node to ask.
	unbound := e.create(t, "default", "pending", "")
	if _, err := d.PodLogs(ctx, unbound, api.LogRequest{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unscheduled pod: %v, want store.ErrNotFound", err)
	}
}

func TestStopEndsAnsweringSyncs(t *testing.T) {
	e := startNATS(t)
	d := dispatch.New(e.nc, e.st, dispatch.Options{}, slog.New(slog.DiscardHandler))
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.Stop()
	n1 := e.node(t, "edge-1")
	_, err := n1.nc.Request(api.AgentSubject("edge-1", api.AgentSync), []byte(`{}`), 2*time.Second)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("sync after Stop: %v, want no responders", err)
	}
}

func TestReadPodLogPassesOffsetsAndPreviousBothWays(t *testing.T) {
	e, d := start(t)
	n1 := e.node(t, "edge-1")
	p := e.create(t, "default", "web", "edge-1")
	got := make(chan api.LogRequest, 1)
	if _, err := n1.nc.Subscribe(api.NodeLogsSubject("edge-1"), func(m *nats.Msg) {
		var req api.LogRequest
		_ = json.Unmarshal(m.Data, &req)
		got <- req
		b, _ := json.Marshal(api.LogResponse{Data: []byte("tick\n"), Offset: 42, Terminated: true})
		_ = m.Respond(b)
	}); err != nil {
		t.Fatal(err)
	}
	if err := n1.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	since := int64(37)
	resp, err := d.ReadPodLog(context.Background(), p, api.LogRequest{Previous: true, SinceOffset: &since})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Data) != "tick\n" || resp.Offset != 42 || !resp.Terminated {
		t.Errorf("answer = %+v, want the node's data, offset and terminated", resp)
	}
	req := <-got
	if !req.Previous || req.SinceOffset == nil || *req.SinceOffset != 37 {
		t.Errorf("node got %+v, want previous and sinceOffset 37", req)
	}
}
