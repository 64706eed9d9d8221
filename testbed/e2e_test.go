package testbed_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/testbed"
)

var (
	apiLine  = regexp.MustCompile(`API:\s+(\S+)`)
	natsLine = regexp.MustCompile(`NATS:\s+(\S+)`)
)

// exampleDir copies testbed/examples/hello-wasm.yaml into a temp dir and
// builds hello.wasm beside it, as the README tells a user to.
func exampleDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("examples", "hello-wasm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello-wasm.yaml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	testbed.BuildExample(t, "hello", dir)
	return dir
}

// pollCLI runs the CLI until its output (stdout and stderr) matches every
// pattern.
func pollCLI(t *testing.T, bin string, env []string, patterns []string, args ...string) testbed.CLIResult {
	t.Helper()
	var last testbed.CLIResult
	err := testbed.Poll(context.Background(), 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		last = testbed.RunCLI(t, bin, env, args...)
		for _, p := range patterns {
			if !regexp.MustCompile(p).MatchString(last.Stdout + last.Stderr) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("skiff %s never showed %q: %v\nlast: %s", strings.Join(args, " "), patterns, err, last)
	}
	return last
}

// eventTypes reads the SKIFF_EVENTS stream the way `nats stream view`
// does and returns the event types about one subject filter, in order.
func eventTypes(t *testing.T, natsURL, filter string) []string {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, api.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(500 * time.Millisecond))
		if err != nil {
			return types
		}
		var ev api.CloudEvent
		if err := json.Unmarshal(msg.Data(), &ev); err != nil {
			t.Fatalf("event on %s is not a CloudEvent: %v", msg.Subject(), err)
		}
		if ev.SpecVersion != "1.0" || ev.ID == "" || ev.Source == "" {
			t.Fatalf("event lacks CloudEvents attributes: %+v", ev)
		}
		types = append(types, ev.Type)
	}
}

func containsInOrder(got []string, want ...string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestUserStoryWithSkiffUp walks the README: up, apply, get, logs, get
// nodes, delete — with the real binary, one process.
func TestUserStoryWithSkiffUp(t *testing.T) {
	bin := testbed.BuildSkiff(t)
	dir := t.TempDir()
	env := []string{"SKIFF_CONFIG=" + filepath.Join(dir, "client.yaml"), "SKIFF_SERVER="}
	up := testbed.StartProcess(t, bin, env, "up", "--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1",
		"--data-dir", filepath.Join(dir, "data"), "--node-name", "edge-1")
	up.WaitOutput(t, apiLine, 60*time.Second)
	natsURL := up.WaitOutput(t, natsLine, time.Second)
	if _, err := os.Stat(filepath.Join(dir, "client.yaml")); err != nil {
		t.Fatalf("skiff up did not write the client config: %v", err)
	}

	ex := exampleDir(t)
	res := testbed.RunCLI(t, bin, env, "apply", "-f", filepath.Join(ex, "hello-wasm.yaml"))
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "pod/hello-wasm created") {
		t.Fatalf("apply: %s", res)
	}
	pollCLI(t, bin, env, []string{`NAME\s+READY\s+STATUS\s+NODE\s+RUNTIME\s+AGE`, `hello-wasm\s+0/1\s+Completed\s+edge-1\s+wasm\s+\d+s`}, "get", "pods")

	logs := testbed.RunCLI(t, bin, env, "logs", "hello-wasm")
	if logs.ExitCode != 0 || !strings.Contains(logs.Stdout, "hello, world, from a Wasm module") || !strings.Contains(logs.Stdout, "args: --from skiff") {
		t.Fatalf("logs: %s", logs)
	}
	nodes := testbed.RunCLI(t, bin, env, "get", "nodes")
	if !regexp.MustCompile(`edge-1\s+Ready\s+` + runtime.GOARCH + `\s+linux\s+wasm`).MatchString(nodes.Stdout) {
		t.Fatalf("get nodes: %s", nodes)
	}

	del := testbed.RunCLI(t, bin, env, "delete", "pod", "hello-wasm")
	if del.ExitCode != 0 || !strings.Contains(del.Stdout, `pod "hello-wasm" deleted`) {
		t.Fatalf("delete: %s", del)
	}
	pollCLI(t, bin, env, []string{`No resources found`}, "get", "pods")

	types := eventTypes(t, natsURL, "skiff.events.pod.default.hello-wasm")
	if !containsInOrder(types, "io.skiff.pod.created", "io.skiff.pod.scheduled", "io.skiff.pod.succeeded", "io.skiff.pod.deleted") {
		t.Fatalf("events of hello-wasm = %v; want created, scheduled, succeeded, deleted in order", types)
	}
	nodeTypes := eventTypes(t, natsURL, "skiff.events.node._.edge-1")
	if !containsInOrder(nodeTypes, "io.skiff.node.registered") {
		t.Fatalf("events of node edge-1 = %v", nodeTypes)
	}
}

// TestServerAndAgentAsSeparateProcesses runs the halves apart, as on a
// real fleet: the agent reaches the control plane only through NATS.
func TestServerAndAgentAsSeparateProcesses(t *testing.T) {
	bin := testbed.BuildSkiff(t)
	dir := t.TempDir()
	env := []string{"SKIFF_CONFIG=" + filepath.Join(dir, "client.yaml"), "SKIFF_SERVER="}
	srv := testbed.StartProcess(t, bin, env, "server", "--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1",
		"--data-dir", filepath.Join(dir, "server"))
	srv.WaitOutput(t, apiLine, 60*time.Second)
	natsURL := srv.WaitOutput(t, natsLine, time.Second)
	testbed.StartProcess(t, bin, nil, "agent", "--nats", natsURL, "--node-name", "far-1",
		"--data-dir", filepath.Join(dir, "agent"), "--label", "site=north")

	pollCLI(t, bin, env, []string{`far-1\s+Ready\s+\S+\s+linux\s+wasm`}, "get", "nodes")

	ex := exampleDir(t)
	// Pin the pod to the labelled node through its nodeSelector.
	manifest, _ := os.ReadFile(filepath.Join(ex, "hello-wasm.yaml"))
	pinned := strings.Replace(string(manifest), "  runtimeClassName: wasm", "  runtimeClassName: wasm\n  nodeSelector:\n    site: north", 1)
	if err := os.WriteFile(filepath.Join(ex, "hello-wasm.yaml"), []byte(pinned), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := testbed.RunCLI(t, bin, env, "apply", "-f", filepath.Join(ex, "hello-wasm.yaml")); res.ExitCode != 0 {
		t.Fatalf("apply: %s", res)
	}
	pollCLI(t, bin, env, []string{`hello-wasm\s+0/1\s+Completed\s+far-1\s+wasm`}, "get", "pods")
	logs := testbed.RunCLI(t, bin, env, "logs", "hello-wasm")
	if !strings.Contains(logs.Stdout, "hello, world, from a Wasm module") {
		t.Fatalf("logs relayed from the agent over NATS: %s", logs)
	}
}

// TestClientWithoutServerSaysHowToStartOne checks the one-line advice.
func TestClientWithoutServerSaysHowToStartOne(t *testing.T) {
	bin := testbed.BuildSkiff(t)
	dir := t.TempDir()
	res := testbed.RunCLI(t, bin, []string{"SKIFF_CONFIG=" + filepath.Join(dir, "none.yaml"), "SKIFF_SERVER=http://127.0.0.1:1"}, "get", "pods")
	if res.ExitCode != 1 {
		t.Fatalf("exit code %d, want 1: %s", res.ExitCode, res)
	}
	msg := strings.TrimSpace(res.Stderr)
	if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "skiff up") || !strings.Contains(msg, "127.0.0.1:1") {
		t.Fatalf("want one line naming the server and `skiff up`, got %q", msg)
	}
}
