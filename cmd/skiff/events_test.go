package main

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/events"
	"github.com/skiff-sh/skiff/web/client"
)

// eventFeed records events into the env's SKIFF_EVENTS stream, as the
// control plane's events watcher does.
type eventFeed struct {
	t      *testing.T
	rec    *events.Recorder
	stream jetstream.Stream
	sent   uint64
}

// startEvents creates the events stream on the env's NATS server and
// writes the client config (API and NATS URL) as skiff up does.
func (e *cliEnv) startEvents() *eventFeed {
	e.t.Helper()
	nc, err := nats.Connect(e.nats)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := events.EnsureStream(e.t.Context(), js, events.StreamOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.writeConfig(e.nats)
	return &eventFeed{t: e.t, rec: events.NewRecorder(nc), stream: s}
}

// writeConfig writes the client config with the env's API and natsURL,
// keeping what else it holds.
func (e *cliEnv) writeConfig(natsURL string) {
	e.t.Helper()
	path := client.DefaultConfigPath()
	cfg, err := client.LoadConfig(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.t.Fatal(err)
	}
	cfg.Server, cfg.NATS = e.server, natsURL
	if err := client.WriteConfig(path, cfg); err != nil {
		e.t.Fatal(err)
	}
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

func TestEventsWithoutNATSSayWhatToDo(t *testing.T) {
	e := startCLIEnv(t)
	_, _, err := e.run("events")
	if err == nil || !strings.Contains(err.Error(), "no NATS URL to read events from: there is no client config at") || !strings.Contains(err.Error(), "--nats") {
		t.Fatalf("no config: %v", err)
	}
	e.writeConfig("")
	_, _, err = e.run("events")
	if err == nil || !strings.Contains(err.Error(), "has none; pass --nats nats://HOST:4222") {
		t.Fatalf("config without nats: %v", err)
	}
	closed := "nats://" + strings.TrimPrefix(closedServer(t), "http://")
	_, _, err = e.run("events", "--nats", closed)
	want := "cannot reach NATS at " + closed + " to read events"
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("closed port: %v, want %q…", err, want)
	}
	// A NATS server without the stream: no events yet.
	_, errOut, err := e.run("events", "--nats", e.nats)
	if err != nil || errOut != "No events found in default namespace.\n" {
		t.Fatalf("no stream: %q %v", errOut, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"events", "--for", "web-1"}, "name the object as KIND/NAME"},
		{[]string{"events", "--for", "gadget/x"}, `--for: unknown resource type "gadget"`},
		{[]string{"events", "-A", "--for", "pod/x"}, "--for names one object"},
		{[]string{"events", "--limit", "-1"}, "--limit must be 0"},
	} {
		if _, _, err := e.run(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestEventSeverity(t *testing.T) {
	for reason, want := range map[string]string{
		"Created": "Normal", "Scheduled": "Normal", "Running": "Normal", "NodeReady": "Normal", "Succeeded": "Normal",
		"Failed": "Warning", "FailedScheduling": "Warning", "ErrImagePull": "Warning", "ImagePullBackOff": "Warning",
		"CrashLoopBackOff": "Warning", "NodeNotReady": "Warning", "ContainerCannotRun": "Warning", "Restarted": "Warning",
	} {
		if got := eventSeverity(reason); got != want {
			t.Errorf("eventSeverity(%s) = %s, want %s", reason, got, want)
		}
	}
}
