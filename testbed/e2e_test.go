package testbed_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"sigs.k8s.io/yaml"

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
// eventTypes reads the history of events under filter as a NATS CLI user
// would: with the read-only events credential `skiff nats context` writes
// (TLS with the cluster CA, its JWT, its inbox prefix), through direct gets
// on the stream, the only reads that credential allows.
func eventTypes(t *testing.T, bin string, env []string, filter string) []string {
	t.Helper()
	dir := t.TempDir()
	if res := testbed.RunCLI(t, bin, env, "nats", "context", "--dir", dir); res.ExitCode != 0 {
		t.Fatalf("nats context: %s", res)
	}
	b, err := os.ReadFile(filepath.Join(dir, "skiff-events.json"))
	if err != nil {
		t.Fatal(err)
	}
	var nctx struct {
		URL         string `json:"url"`
		Creds       string `json:"creds"`
		CA          string `json:"ca"`
		InboxPrefix string `json:"inbox_prefix"`
	}
	if err := json.Unmarshal(b, &nctx); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(nctx.URL, nats.UserCredentials(nctx.Creds), nats.RootCAs(nctx.CA), nats.CustomInboxPrefix(nctx.InboxPrefix))
	if err != nil {
		t.Fatalf("connect with the events context: %v", err)
	}
	defer nc.Close()
	var types []string
	for seq := uint64(1); ; {
		req, _ := json.Marshal(map[string]any{"seq": seq, "next_by_subj": filter})
		msg, err := nc.Request("$JS.API.DIRECT.GET."+api.EventsStream, req, 5*time.Second)
		if err != nil {
			t.Fatalf("direct get from %s: %v", api.EventsStream, err)
		}
		if msg.Header.Get("Status") == "404" {
			return types
		}
		if st := msg.Header.Get("Status"); st != "" {
			t.Fatalf("direct get: status %s %s", st, msg.Header.Get("Description"))
		}
		var ev api.CloudEvent
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			t.Fatalf("event on %s is not a CloudEvent: %v", msg.Header.Get("Nats-Subject"), err)
		}
		if ev.SpecVersion != "1.0" || ev.ID == "" || ev.Source == "" {
			t.Fatalf("event lacks CloudEvents attributes: %+v", ev)
		}
		types = append(types, ev.Type)
		n, err := strconv.ParseUint(msg.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			t.Fatalf("direct get answer without a sequence: %v", msg.Header)
		}
		seq = n + 1
	}
}

// kubeconfigServes reads `skiff kubeconfig` as kubectl would: the server,
// the CA to verify it with (certificate-authority-data) and the bearer
// token; a GET of path with them must succeed.
func kubeconfigServes(t *testing.T, bin string, env []string, path string) {
	t.Helper()
	res := testbed.RunCLI(t, bin, env, "kubeconfig")
	if res.ExitCode != 0 {
		t.Fatalf("kubeconfig: %s", res)
	}
	var kc struct {
		Clusters []struct {
			Cluster struct {
				Server string `json:"server"`
				CA     string `json:"certificate-authority-data"`
			} `json:"cluster"`
		} `json:"clusters"`
		Users []struct {
			User struct {
				Token string `json:"token"`
			} `json:"user"`
		} `json:"users"`
		CurrentContext string `json:"current-context"`
	}
	if err := yaml.Unmarshal([]byte(res.Stdout), &kc); err != nil || len(kc.Clusters) != 1 || len(kc.Users) != 1 || kc.CurrentContext == "" {
		t.Fatalf("kubeconfig is not one cluster, user and context (%v):\n%s", err, res.Stdout)
	}
	ca, err := base64.StdEncoding.DecodeString(kc.Clusters[0].Cluster.CA)
	if err != nil {
		t.Fatalf("certificate-authority-data: %v", err)
	}
	if !strings.HasPrefix(kc.Clusters[0].Cluster.Server, "https://") {
		t.Fatalf("kubeconfig server %q is not https", kc.Clusters[0].Cluster.Server)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, kc.Clusters[0].Cluster.Server+path, nil)
	req.Header.Set("Authorization", "Bearer "+kc.Users[0].User.Token)
	resp, err := testbed.HTTPClient(ca).Do(req)
	if err != nil {
		t.Fatalf("GET %s with the kubeconfig: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s with the kubeconfig: %s", path, resp.Status)
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
	kubeconfigServes(t, bin, env, "/api/v1/namespaces/default/pods")
	nodes := testbed.RunCLI(t, bin, env, "get", "nodes")
	if !regexp.MustCompile(`edge-1\s+Ready\s+` + runtime.GOARCH + `\s+linux\s+wasm`).MatchString(nodes.Stdout) {
		t.Fatalf("get nodes: %s", nodes)
	}

	del := testbed.RunCLI(t, bin, env, "delete", "pod", "hello-wasm")
	if del.ExitCode != 0 || !strings.Contains(del.Stdout, `pod "hello-wasm" deleted`) {
		t.Fatalf("delete: %s", del)
	}
	pollCLI(t, bin, env, []string{`No resources found`}, "get", "pods")

	types := eventTypes(t, bin, env, "skiff.events.pod.default.hello-wasm")
	if !containsInOrder(types, "io.skiff.pod.created", "io.skiff.pod.scheduled", "io.skiff.pod.succeeded", "io.skiff.pod.deleted") {
		t.Fatalf("events of hello-wasm = %v; want created, scheduled, succeeded, deleted in order", types)
	}
	nodeTypes := eventTypes(t, bin, env, "skiff.events.node._.edge-1")
	if !containsInOrder(nodeTypes, "io.skiff.node.registered") {
		t.Fatalf("events of node edge-1 = %v", nodeTypes)
	}
}

// TestServerAndAgentAsSeparateProcesses runs the halves apart, as on a
// real fleet: the agent joins with a join token made by the CLI (pinning
// the cluster CA), reaches the control plane only through NATS with its own
// credential, and is cut off at once when it is revoked.
func TestServerAndAgentAsSeparateProcesses(t *testing.T) {
	bin := testbed.BuildSkiff(t)
	dir := t.TempDir()
	env := []string{"SKIFF_CONFIG=" + filepath.Join(dir, "client.yaml"), "SKIFF_SERVER="}
	srv := testbed.StartProcess(t, bin, env, "server", "--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1",
		"--data-dir", filepath.Join(dir, "server"))
	srv.WaitOutput(t, apiLine, 60*time.Second)
	natsURL := srv.WaitOutput(t, natsLine, time.Second)
	if !strings.HasPrefix(natsURL, "tls://") {
		t.Fatalf("the server prints NATS at %s; want tls://", natsURL)
	}
	if strings.Contains(srv.Stdout(), "skf1::") || strings.Contains(srv.Stdout(), "skiff_") {
		t.Fatalf("the server's banner shows a credential:\n%s", srv.Stdout())
	}
	tok := testbed.RunCLI(t, bin, env, "token", "create", "--join", "--ttl", "1h", "--label", "site=north")
	if tok.ExitCode != 0 || !strings.HasPrefix(tok.Stdout, "skf1::") {
		t.Fatalf("token create --join: %s", tok)
	}
	agent := testbed.StartProcess(t, bin, nil, "agent", "--server", natsURL, "--node-name", "far-1",
		"--data-dir", filepath.Join(dir, "agent"), "--token", strings.TrimSpace(tok.Stdout))
	agent.WaitOutput(t, regexp.MustCompile(`Skiff agent far-1 is running`), 60*time.Second)
	if !strings.Contains(agent.Stderr(), "joined the cluster") {
		t.Fatalf("the agent did not say it joined:\n%s", agent.Stderr())
	}

	pollCLI(t, bin, env, []string{`far-1\s+Ready\s+\S+\s+linux\s+wasm`}, "get", "nodes")

	ex := exampleDir(t)
	// Pin the pod to the node through the label its join token gave it.
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

	// The agent restarts with the identity it keeps: no token needed.
	agent.Stop()
	agent = testbed.StartProcess(t, bin, nil, "agent", "--server", natsURL, "--node-name", "far-1",
		"--data-dir", filepath.Join(dir, "agent"))
	agent.WaitOutput(t, regexp.MustCompile(`Skiff agent far-1 is running`), 60*time.Second)
	if strings.Contains(agent.Stderr(), "joined the cluster") {
		t.Fatal("the restarted agent joined again instead of using its stored identity")
	}
	pollCLI(t, bin, env, []string{`far-1\s+Ready`}, "get", "nodes")

	// Revoked: the node is gone and the agent is cut off at once.
	if res := testbed.RunCLI(t, bin, env, "node", "revoke", "far-1"); res.ExitCode != 0 || !strings.Contains(res.Stdout, `node "far-1" revoked`) {
		t.Fatalf("node revoke: %s", res)
	}
	if err := testbed.Poll(context.Background(), 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		return strings.Contains(agent.Stderr(), "refused this node's credential"), nil
	}); err != nil {
		t.Fatalf("the revoked agent does not say it was refused: %v\n%s", err, agent.Stderr())
	}
	pollCLI(t, bin, env, []string{`No resources found`}, "get", "nodes")
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
