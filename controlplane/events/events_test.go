package events_test

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
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/events"
	"github.com/skiff-sh/skiff/controlplane/natsserver"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

// pod builds a pod through a few optional edits.
func pod(edits ...func(*api.Pod)) *api.Pod {
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "app", Image: "busybox"}}},
	}
	for _, e := range edits {
		e(p)
	}
	return p
}

func bound(p *api.Pod)                     { p.Spec.NodeName = "edge-1" }
func wasm(p *api.Pod)                      { p.Spec.RuntimeClassName = api.RuntimeClassWasm }
func phase(ph api.PodPhase) func(*api.Pod) { return func(p *api.Pod) { p.Status.Phase = ph } }
func unschedulable(msg string) func(*api.Pod) {
	return func(p *api.Pod) {
		p.Status.SetCondition(api.PodCondition{Type: api.PodScheduled, Status: api.ConditionFalse, Reason: "Unschedulable", Message: msg})
	}
}
func container(cs api.ContainerStatus) func(*api.Pod) {
	return func(p *api.Pod) {
		cs.Name = "app"
		p.Status.ContainerStatuses = []api.ContainerStatus{cs}
	}
}
func waiting(reason, msg string) func(*api.Pod) {
	return container(api.ContainerStatus{State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: reason, Message: msg}}})
}
func restarts(n int32) func(*api.Pod) {
	return container(api.ContainerStatus{RestartCount: n, State: api.ContainerState{Running: &api.ContainerStateRunning{}}})
}
func exited(code int32, reason string) func(*api.Pod) {
	return container(api.ContainerStatus{State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: code, Reason: reason}}})
}
func deleting(p *api.Pod) {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p.DeletionTimestamp = &t
}

// reasons renders event data as "Reason: message" lines.
func reasons(ds []api.EventData) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Reason+": "+d.Message)
	}
	return out
}

func TestPodEvents(t *testing.T) {
	tests := []struct {
		name string
		old  *api.Pod
		cur  *api.Pod
		want []string
	}{
		{"created container pod", nil, pod(), []string{"Created: pod created (runtime container)"}},
		{"created wasm pod", nil, pod(wasm), []string{"Created: pod created (runtime wasm)"}},
		{"created already bound", nil, pod(bound), []string{"Created: pod created (runtime container)", "Scheduled: assigned to node edge-1"}},
		{"scheduled", pod(), pod(bound), []string{"Scheduled: assigned to node edge-1"}},
		{"still bound", pod(bound), pod(bound), nil},
		{"failed scheduling first time", pod(), pod(unschedulable("0/2 nodes are available")), []string{"FailedScheduling: 0/2 nodes are available"}},
		{"failed scheduling same message again", pod(unschedulable("0/2 nodes are available")), pod(unschedulable("0/2 nodes are available")), nil},
		{"failed scheduling message changed", pod(unschedulable("0/2 nodes are available")), pod(unschedulable("0/3 nodes are available")), []string{"FailedScheduling: 0/3 nodes are available"}},
		{"scheduled after failing", pod(unschedulable("0/2")), pod(bound, func(p *api.Pod) {
			p.Status.SetCondition(api.PodCondition{Type: api.PodScheduled, Status: api.ConditionTrue})
		}), []string{"Scheduled: assigned to node edge-1"}},
		{"phase pending to running", pod(bound, phase(api.PodPending)), pod(bound, phase(api.PodRunning)), []string{"Running: pod is Running"}},
		{"phase to failed names the exit", pod(bound, phase(api.PodRunning)), pod(bound, phase(api.PodFailed), exited(3, "Error")), []string{"Failed: [container app exited with code 3 (Error)]"}},
		{"phase unchanged", pod(bound, phase(api.PodRunning)), pod(bound, phase(api.PodRunning)), nil},
		{"phase cleared is no event", pod(bound, phase(api.PodRunning)), pod(bound), nil},
		{"restart", pod(bound, restarts(0)), pod(bound, restarts(1)), []string{"Restarted: container app restarted (restart 1)"}},
		{"two restarts at once are one event", pod(bound, restarts(1)), pod(bound, restarts(3)), []string{"Restarted: container app restarted (restart 3)"}},
		{"restart count unchanged", pod(bound, restarts(2)), pod(bound, restarts(2)), nil},
		{"waiting reason", pod(bound), pod(bound, waiting("ErrImagePull", "no such module")), []string{"ErrImagePull: container app: no such module"}},
		{"same waiting reason again", pod(bound, waiting("ErrImagePull", "no such module")), pod(bound, waiting("ErrImagePull", "no such module")), nil},
		{"waiting message changed", pod(bound, waiting("CrashLoopBackOff", "back-off 10s")), pod(bound, waiting("CrashLoopBackOff", "back-off 20s")), []string{"CrashLoopBackOff: container app: back-off 20s"}},
		{"container creating is no event", pod(bound), pod(bound, waiting("ContainerCreating", "")), nil},
		{"terminating", pod(bound, phase(api.PodRunning)), pod(bound, phase(api.PodRunning), deleting), []string{"Terminating: deletion requested; the agent is stopping the pod"}},
		{"still terminating", pod(bound, deleting), pod(bound, deleting), nil},
		{"several changes in the order they happen", pod(), pod(bound, phase(api.PodRunning), restarts(1), deleting), []string{
			"Scheduled: assigned to node edge-1",
			"Restarted: container app restarted (restart 1)",
			"Running: pod is Running",
			"Terminating: deletion requested; the agent is stopping the pod",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := events.PodEvents(tt.old, tt.cur)
			if strings.Join(reasons(got), "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("PodEvents =\n%s\nwant\n%s", strings.Join(reasons(got), "\n"), strings.Join(tt.want, "\n"))
			}
			for _, d := range got {
				if d.Node != tt.cur.Spec.NodeName || d.Phase != tt.cur.Status.Phase {
					t.Errorf("%s: node %q phase %q, want the pod's %q %q", d.Reason, d.Node, d.Phase, tt.cur.Spec.NodeName, tt.cur.Status.Phase)
				}
			}
		})
	}
}

func node(ready api.ConditionStatus, msg string) *api.Node {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: "edge-1"}, Status: api.NodeStatus{NodeInfo: api.NodeSystemInfo{OperatingSystem: "linux", Architecture: "arm64"}}}
	if ready != "" {
		n.Status.SetCondition(api.NodeCondition{Type: api.NodeReady, Status: ready, Message: msg})
	}
	return n
}

func TestNodeEvents(t *testing.T) {
	tests := []struct {
		name     string
		old, cur *api.Node
		want     []string
	}{
		{"registered ready", nil, node(api.ConditionTrue, ""), []string{"Registered: node joined (linux/arm64)", "NodeReady: node is Ready"}},
		{"registered not ready", nil, node("", ""), []string{"Registered: node joined (linux/arm64)"}},
		{"lost", node(api.ConditionTrue, ""), node(api.ConditionUnknown, "agent stopped renewing its lease"), []string{"NodeNotReady: node is NotReady: agent stopped renewing its lease"}},
		{"lost without a message", node(api.ConditionTrue, ""), node(api.ConditionFalse, ""), []string{"NodeNotReady: node is NotReady"}},
		{"back", node(api.ConditionUnknown, "x"), node(api.ConditionTrue, ""), []string{"NodeReady: node is Ready"}},
		{"still ready", node(api.ConditionTrue, "a"), node(api.ConditionTrue, "b"), nil},
		{"unknown to false is still not ready", node(api.ConditionUnknown, ""), node(api.ConditionFalse, ""), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reasons(events.NodeEvents(tt.old, tt.cur))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("NodeEvents = %q, want %q", got, tt.want)
			}
		})
	}
}

type received struct {
	subject string
	ev      api.CloudEvent
	raw     map[string]any
}

// streamEvents reads the events stream from the start until it holds n
// events or the deadline passes.
func streamEvents(t *testing.T, js jetstream.JetStream, n int) []received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, api.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []received
	for len(out) < n {
		msg, err := cons.Next(jetstream.FetchContext(ctx))
		if err != nil {
			var got []string
			for _, r := range out {
				got = append(got, r.ev.Type)
			}
			t.Fatalf("after %d of %d events %v: %v", len(out), n, got, err)
		}
		r := received{subject: msg.Subject()}
		if err := json.Unmarshal(msg.Data(), &r.ev); err != nil {
			t.Fatalf("event on %s is not a CloudEvent: %v", msg.Subject(), err)
		}
		if err := json.Unmarshal(msg.Data(), &r.raw); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestWatcherPublishesCloudEventsIntoTheEventsStream(t *testing.T) {
	ctx := context.Background()
	st, nc, js := natstest.Store(t)
	stream, err := events.EnsureStream(ctx, js, events.StreamOptions{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.EnsureStream(ctx, js, events.StreamOptions{MaxAge: time.Hour}); err != nil {
		t.Fatalf("EnsureStream a second time: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Config; c.MaxAge != time.Hour || c.MaxBytes <= 0 || len(c.Subjects) != 1 || c.Subjects[0] != api.EventsSubjects || c.Storage != jetstream.FileStorage {
		t.Errorf("stream config = age %v bytes %d subjects %v storage %v", c.MaxAge, c.MaxBytes, c.Subjects, c.Storage)
	}

	pods, nodes := store.For[*api.Pod](st), store.For[*api.Node](st)
	// A pod that exists before the watcher starts was recorded when it
	// was made: it gets no Created now.
	old := pod()
	old.Name, old.UID = "old", ""
	if err := pods.Create(ctx, old); err != nil {
		t.Fatal(err)
	}

	w := events.NewWatcher(st, events.NewRecorder(nc), slog.New(slog.DiscardHandler))
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	began := time.Now().Add(-time.Second)

	mutate := func(name string, fn func(*api.Pod)) {
		t.Helper()
		if _, err := pods.Mutate(ctx, "default", name, func(p *api.Pod) error { fn(p); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	web := pod()
	web.UID = ""
	if err := pods.Create(ctx, web); err != nil {
		t.Fatal(err)
	}
	mutate("web", bound)
	mutate("web", phase(api.PodRunning))
	mutate("web", func(p *api.Pod) { p.Status.Message = "status only: no event" })
	mutate("web", deleting)
	if err := pods.Delete(ctx, "default", "web", ""); err != nil {
		t.Fatal(err)
	}
	mutate("old", bound)
	n := node(api.ConditionTrue, "")
	if err := nodes.Create(ctx, n); err != nil {
		t.Fatal(err)
	}

	// Pods and nodes are followed apart, so only events about one object
	// are in order with each other.
	bySubject := map[string][]received{}
	for _, r := range streamEvents(t, js, 8) {
		bySubject[r.subject] = append(bySubject[r.subject], r)
	}
	want := map[string][]string{
		"skiff.events.pod.default.web": {"io.skiff.pod.created", "io.skiff.pod.scheduled", "io.skiff.pod.running", "io.skiff.pod.terminating", "io.skiff.pod.deleted"},
		"skiff.events.pod.default.old": {"io.skiff.pod.scheduled"},
		"skiff.events.node._.edge-1":   {"io.skiff.node.registered", "io.skiff.node.nodeready"},
	}
	cloudSubject := map[string]string{
		"skiff.events.pod.default.web": "pods/default/web",
		"skiff.events.pod.default.old": "pods/default/old",
		"skiff.events.node._.edge-1":   "nodes/edge-1",
	}
	if len(bySubject) != len(want) {
		t.Errorf("events on subjects %v, want %v", keys(bySubject), keys(want))
	}
	ids := map[string]bool{}
	for subject, types := range want {
		var gotTypes []string
		for _, r := range bySubject[subject] {
			gotTypes = append(gotTypes, r.ev.Type)
		}
		if strings.Join(gotTypes, ",") != strings.Join(types, ",") {
			t.Errorf("%s: %v, want %v", subject, gotTypes, types)
			continue
		}
		for i, r := range bySubject[subject] {
			if r.ev.Subject != cloudSubject[subject] {
				t.Errorf("%s %s: CloudEvents subject %q, want %q", subject, r.ev.Type, r.ev.Subject, cloudSubject[subject])
			}
			for _, attr := range []string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"} {
				if _, ok := r.raw[attr]; !ok {
					t.Errorf("%s %s has no %q attribute", subject, r.ev.Type, attr)
				}
			}
			if r.ev.SpecVersion != "1.0" || r.ev.Source != events.Source || r.ev.DataContentType != "application/json" {
				t.Errorf("%s %s: specversion %q source %q datacontenttype %q", subject, r.ev.Type, r.ev.SpecVersion, r.ev.Source, r.ev.DataContentType)
			}
			if r.ev.ID == "" || ids[r.ev.ID] {
				t.Errorf("%s %s: id %q is empty or repeated", subject, r.ev.Type, r.ev.ID)
			}
			ids[r.ev.ID] = true
			if r.ev.Time.Before(began) || r.ev.Time.After(time.Now().Add(time.Second)) {
				t.Errorf("%s %s: time %v is not now", subject, r.ev.Type, r.ev.Time)
			}
			if ts, _ := r.raw["time"].(string); !strings.HasSuffix(ts, "Z") {
				t.Errorf("%s %s: time %q is not RFC 3339 UTC", subject, r.ev.Type, ts)
			}
			if d := r.ev.Data; d == nil || d.Name == "" || d.Kind == "" || d.ResourceVersion == "" {
				t.Errorf("%s event %d: data %+v lacks kind, name or resourceVersion", subject, i, r.ev.Data)
			}
		}
	}
	if t.Failed() {
		return
	}
	got := bySubject["skiff.events.pod.default.web"]
	if d := got[1].ev.Data; d.Kind != "Pod" || d.Namespace != "default" || d.Name != "web" || d.UID != web.UID || d.Node != "edge-1" || d.Reason != "Scheduled" {
		t.Errorf("scheduled event data = %+v", d)
	}
	if d := got[4].ev.Data; d.UID != web.UID || d.Reason != "Deleted" {
		t.Errorf("deleted event data = %+v, want the pod's uid", d)
	}
	if d := bySubject["skiff.events.node._.edge-1"][0].ev.Data; d.Kind != "Node" || d.Namespace != "" || d.Name != "edge-1" {
		t.Errorf("node event data = %+v", d)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRecorderRecordsAnObjectDeletedBeforeItWasSeen(t *testing.T) {
	srv, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if _, err := events.EnsureStream(context.Background(), js, events.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	rec := events.NewRecorder(nc)
	info := api.KindOf(&api.Pod{})
	if err := rec.RecordDeleted(info, "default", "ghost", api.EventData{Reason: "Deleted", Message: "gone"}); err != nil {
		t.Fatal(err)
	}
	got := streamEvents(t, js, 1)[0]
	if got.subject != "skiff.events.pod.default.ghost" || got.ev.Type != "io.skiff.pod.deleted" || got.ev.Data.Name != "ghost" || got.ev.Data.Kind != "Pod" {
		t.Errorf("RecordDeleted published %s %+v", got.subject, got.ev)
	}

	nc.Close()
	err = rec.Record(pod(), api.EventData{Reason: "Created"})
	if !errors.Is(err, nats.ErrConnectionClosed) || !strings.Contains(err.Error(), "io.skiff.pod.created") {
		t.Errorf("Record on a closed connection = %v, want ErrConnectionClosed naming the event type", err)
	}
}

func ExamplePodEvents() {
	old := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"}}
	cur := &api.Pod{ObjectMeta: old.ObjectMeta, Spec: api.PodSpec{NodeName: "edge-1"}, Status: api.PodStatus{Phase: api.PodRunning}}
	for _, d := range events.PodEvents(old, cur) {
		fmt.Println(d.Reason, "-", d.Message)
	}
	// Output:
	// Scheduled - assigned to node edge-1
	// Running - pod is Running
}
