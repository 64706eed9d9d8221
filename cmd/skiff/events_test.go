package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/events"
)

// eventFeed records events into the env's SKIFF_EVENTS stream, as the
// control plane's events watcher does.
type eventFeed struct {
	t      *testing.T
	rec    *events.Recorder
	stream jetstream.Stream
	sent   uint64
}

// startEvents records into the events stream the env's API serves.
func (e *cliEnv) startEvents() *eventFeed {
	e.t.Helper()
	nc, err := nats.Connect(e.nats)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	s, err := events.EnsureStream(e.t.Context(), e.js, events.StreamOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return &eventFeed{t: e.t, rec: events.NewRecorder(nc), stream: s}
}

// record publishes an event about obj and waits until the stream keeps it.
func (f *eventFeed) record(obj api.Object, reason, message string) {
	f.t.Helper()
	if err := f.rec.Record(obj, api.EventData{Reason: reason, Message: message}); err != nil {
		f.t.Fatal(err)
	}
	f.sent++
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, err := f.stream.Info(f.t.Context())
		if err != nil {
			f.t.Fatal(err)
		}
		if info.State.Msgs >= f.sent {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the stream holds %d events, want %d", info.State.Msgs, f.sent)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func podNamed(ns, name string) *api.Pod {
	return &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns, UID: "uid-" + name}}
}

func TestEventsListsANamespaceOrAllOldestFirst(t *testing.T) {
	e := startCLIEnv(t)
	f := e.startEvents()
	f.record(podNamed("default", "web-1"), "Created", "pod created (runtime wasm)")
	f.record(podNamed("default", "web-1"), "Scheduled", "assigned to node edge-1")
	f.record(podNamed("shop", "api-1"), "FailedScheduling", "0/1 nodes are available")
	f.record(&api.Node{ObjectMeta: api.ObjectMeta{Name: "edge-1"}}, "NodeNotReady", "node is NotReady")
	f.record(podNamed("default", "web-2"), "ErrImagePull", "container web: no such image")

	wantRows(t, e.mustRun("events"),
		[]string{"LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"},
		[]string{"0s", "Normal", "Created", "pod/web-1", "pod", "created"},
		[]string{"0s", "Normal", "Scheduled", "pod/web-1", "assigned"},
		[]string{"0s", "Warning", "ErrImagePull", "pod/web-2", "container"})
	wantRows(t, e.mustRun("events", "-A"),
		[]string{"NAMESPACE", "LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"},
		[]string{"default", "0s", "Normal", "Created"},
		[]string{"default", "0s", "Normal", "Scheduled"},
		[]string{"shop", "0s", "Warning", "FailedScheduling", "pod/api-1"},
		[]string{"<none>", "0s", "Warning", "NodeNotReady", "node/edge-1"},
		[]string{"default", "0s", "Warning", "ErrImagePull"})
	// --limit keeps the newest.
	wantRows(t, e.mustRun("events", "-A", "--limit", "2"),
		[]string{"NAMESPACE", "LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"},
		[]string{"<none>", "0s", "Warning", "NodeNotReady"},
		[]string{"default", "0s", "Warning", "ErrImagePull"})
	wantRows(t, e.mustRun("events", "-n", "shop", "--limit", "1"),
		[]string{"LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"},
		[]string{"0s", "Warning", "FailedScheduling"})
	wantRows(t, e.mustRun("events", "--for", "pod/web-1"),
		[]string{"LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"},
		[]string{"0s", "Normal", "Created"},
		[]string{"0s", "Normal", "Scheduled"})
	wantRows(t, e.mustRun("events", "--for", "node/edge-1"),
		[]string{"LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"},
		[]string{"0s", "Warning", "NodeNotReady", "node/edge-1"})
	wantRows(t, e.mustRun("events", "--since", "1h", "--for", "pod/web-2"),
		[]string{"LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"},
		[]string{"0s", "Warning", "ErrImagePull"})

	out, errOut, err := e.run("events", "-n", "empty")
	if err != nil || out != "" || errOut != "No events found in empty namespace.\n" {
		t.Fatalf("empty namespace: %q %q %v", out, errOut, err)
	}
}

func TestEventsWatchPrintsNewEventsAsTheyHappen(t *testing.T) {
	e := startCLIEnv(t)
	f := e.startEvents()
	f.record(podNamed("default", "web-1"), "Created", "pod created")
	out, stop := e.startCmd("events", "-w")
	waitForLines(t, out, 1, "LAST", "SEEN", "TYPE")
	waitForLines(t, out, 2, "0s", "Normal", "Created", "pod/web-1")
	f.record(podNamed("other", "x"), "Created", "not this namespace")
	f.record(podNamed("default", "web-1"), "Running", "pod is Running")
	lines := waitForLines(t, out, 3, "0s", "Normal", "Running", "pod/web-1")
	if strings.Index(lines[2], "pod/web-1") != strings.Index(lines[1], "pod/web-1") {
		t.Fatalf("columns moved:\n%s", out.String())
	}
	if err := stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("events -w ended with %v", err)
	}
	if strings.Contains(out.String(), "not this namespace") {
		t.Fatalf("another namespace's event was shown:\n%s", out.String())
	}
}

func TestEventsErrorsSayWhatToDo(t *testing.T) {
	e := startCLIEnvWith(t, false)
	_, _, err := e.run("events")
	if err == nil || !strings.Contains(err.Error(), "list events:") || !strings.Contains(err.Error(), "cannot read events") {
		t.Fatalf("a server without events: %v", err)
	}
	closed := closedServer(t)
	_, _, err = runCLI(t, "", "events", "--server", closed)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), closed) {
		t.Fatalf("closed port: %v, want one line naming %s", err, closed)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"events", "--for", "web-1"}, "name the object as KIND/NAME"},
		{[]string{"events", "--for", "gadget/x"}, `--for: unknown resource type "gadget"`},
		{[]string{"events", "-A", "--for", "pod/x"}, "--for names one object"},
		{[]string{"events", "--limit", "-1"}, "--limit must be 0"},
		{[]string{"events", "--limit", "5001"}, "--limit must be at most 5000"},
	} {
		if _, _, err := e.run(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.want)
		}
	}
}

// The CLI reads events from the API alone: the client config here has no
// NATS URL (isolateClientConfig), and the API is the only server named.
func TestEventsNeedNoNATSURL(t *testing.T) {
	e := startCLIEnv(t)
	f := e.startEvents()
	f.record(podNamed("shop", "api-1"), "Created", "pod created")
	out, _, err := runCLI(t, "", "events", "-n", "shop", "--server", e.server)
	if err != nil {
		t.Fatal(err)
	}
	wantRows(t, out,
		[]string{"LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"},
		[]string{"0s", "Normal", "Created", "pod/api-1", "pod", "created"})
}
