package testbed_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/testbed/fixtures"
	"github.com/skiff-sh/skiff/web/client"
)

// autonomyWorld is a `skiff server` and a `skiff agent` as processes, with
// short intervals, that a test stops and starts again.
type autonomyWorld struct {
	t         *testing.T
	bin       string
	dir       string
	env       []string
	natsPort  string
	server    *testbed.Process
	agent     *testbed.Process
	client    *client.Client
	agentData string
	joined    bool // the agent has joined (it keeps its identity)
}

const autonomyNode = "edge-1"

func newAutonomyWorld(t *testing.T) *autonomyWorld {
	w := &autonomyWorld{t: t, bin: testbed.BuildSkiff(t), dir: t.TempDir()}
	w.env = []string{"SKIFF_CONFIG=" + filepath.Join(w.dir, "client.yaml"), "SKIFF_SERVER=", "SKIFF_TOKEN="}
	w.agentData = filepath.Join(w.dir, "agent")
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(w.dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("server.yaml", "leaderTTL: 2s\nnodeLifecycle:\n  gracePeriod: 60s\n")
	write("agent.yaml", "agent:\n  leaseInterval: 1s\n  resyncInterval: 2s\n  restartBackoff: 500ms\n  containerd: false\nnodeLifecycle:\n  gracePeriod: 60s\n")
	return w
}

// startServer starts `skiff server` on the same data dir and NATS port as
// before (a random port the first time) and a client of its API.
func (w *autonomyWorld) startServer() {
	t := w.t
	t.Helper()
	natsListen := "127.0.0.1:-1"
	if w.natsPort != "" {
		natsListen = "127.0.0.1:" + w.natsPort
	}
	w.server = testbed.StartProcess(t, w.bin, w.env, "server", "--config", filepath.Join(w.dir, "server.yaml"),
		"--listen", "127.0.0.1:0", "--nats-listen", natsListen, "--data-dir", filepath.Join(w.dir, "server"))
	apiURL := w.server.WaitOutput(t, apiLine, 60*time.Second)
	natsURL := w.server.WaitOutput(t, natsLine, time.Second)
	if w.natsPort == "" {
		u, err := url.Parse(natsURL)
		if err != nil {
			t.Fatal(err)
		}
		w.natsPort = u.Port()
	}
	cfg, err := client.LoadConfig(filepath.Join(w.dir, "client.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w.client = client.New(apiURL, client.WithToken(cfg.Token), client.WithCA([]byte(cfg.CA)))
}

// startAgent starts `skiff agent`; the first time it joins with a join
// token, later it connects with the identity it keeps on disk (also while
// the control plane is away).
func (w *autonomyWorld) startAgent() {
	w.t.Helper()
	args := []string{"agent", "--config", filepath.Join(w.dir, "agent.yaml"),
		"--server", "tls://127.0.0.1:" + w.natsPort, "--node-name", autonomyNode, "--data-dir", w.dir + "/agent"}
	if !w.joined {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tok, err := w.client.CreateJoinToken(ctx, api.JoinTokenRequest{})
		if err != nil {
			w.t.Fatal(err)
		}
		args = append(args, "--token", tok.Token)
		w.joined = true
	}
	w.agent = testbed.StartProcess(w.t, w.bin, nil, args...)
	w.agent.WaitOutput(w.t, regexp.MustCompile(`Skiff agent \S+ is running`), 60*time.Second)
}

// logOf is a container's log as the agent keeps it.
// logOf is a container's log on the agent's disk: the previous run's
// (the agent keeps one, as the kubelet does) followed by the current one.
func (w *autonomyWorld) logOf(uid, container string) string {
	dir := filepath.Join(w.agentData, "agent", "pods", uid, "logs")
	prev, _ := os.ReadFile(filepath.Join(dir, container+".previous.log"))
	cur, _ := os.ReadFile(filepath.Join(dir, container+".log"))
	return string(prev) + string(cur)
}

// waitRuns waits until the container has started n more runs: each run
// begins with a fresh log file (the last one is renamed to
// .previous.log), so a run is a change of the current log's inode.
func (w *autonomyWorld) waitRuns(uid, container string, n int, what string) {
	w.t.Helper()
	path := filepath.Join(w.agentData, "agent", "pods", uid, "logs", container+".log")
	inode := func() uint64 {
		fi, err := os.Stat(path)
		if err != nil {
			return 0
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			return st.Ino
		}
		return 0
	}
	last, runs := inode(), 0
	err := testbed.Poll(context.Background(), 30*time.Second, 10*time.Millisecond, func() (bool, error) {
		if cur := inode(); cur != 0 && cur != last {
			last = cur
			runs++
		}
		return runs >= n, nil
	})
	if err != nil {
		w.t.Fatalf("%s: saw %d new runs of %s, want %d: %v\nagent stderr:\n%s", what, runs, container, n, err, w.agent.Stderr())
	}
}

func (w *autonomyWorld) pod(name string) *api.Pod {
	w.t.Helper()
	p, err := w.client.GetPod(context.Background(), "default", name)
	if err != nil {
		w.t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

func (w *autonomyWorld) waitPod(name, what string, cond func(*api.Pod) bool) *api.Pod {
	w.t.Helper()
	var last *api.Pod
	err := testbed.Poll(context.Background(), 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		p, err := w.client.GetPod(context.Background(), "default", name)
		if err != nil {
			return false, nil // the server may be starting
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		w.t.Fatalf("pod %s never %s: %v; last status %+v", name, what, err, last)
	}
	return last
}

// waitLog polls a container's log until cond holds.
func (w *autonomyWorld) waitLog(uid, container, what string, cond func(string) bool) string {
	w.t.Helper()
	var got string
	err := testbed.Poll(context.Background(), 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		got = w.logOf(uid, container)
		return cond(got), nil
	})
	if err != nil {
		w.t.Fatalf("log of %s never showed %s: %v\nlog:\n%s\nagent stderr:\n%s", container, what, err, got, w.agent.Stderr())
	}
	return got
}

func restartsOf(p *api.Pod) int32 {
	if len(p.Status.ContainerStatuses) == 0 {
		return -1
	}
	return p.Status.ContainerStatuses[0].RestartCount
}

// ticksAfterLastStart are the tick numbers a log shows after its last
// "started" line; one instance writes 1, 2, 3, …
func ticksAfterLastStart(log string) []int {
	i := strings.LastIndex(log, "started\n")
	var out []int
	for _, line := range strings.Split(log[i+len("started\n"):], "\n") {
		if n, ok := strings.CutPrefix(line, "tick "); ok {
			v, _ := strconv.Atoi(n)
			out = append(out, v)
		}
	}
	return out
}

// TestAutonomyAgentRunsItsPodsWithoutTheControlPlane is the edge-autonomy story
// with real processes and the real Wasm driver:
//
//	(b) the control plane goes away while the agent runs: pods keep
//	    running and a crashing module is restarted with back-off;
//	(c) the control plane comes back: the agent reconnects, reports what
//	    happened meanwhile and takes the full desired set, leaving the
//	    unchanged pod alone (same restartCount and startedAt);
//	(a) the agent process is killed and started again while the control
//	    plane is away: its pods come back from disk and run (the module
//	    runs anew, once), and the control plane sees it when it returns.
func TestAutonomyAgentRunsItsPodsWithoutTheControlPlane(t *testing.T) {
	w := newAutonomyWorld(t)
	w.startServer()
	w.startAgent()
	ctx := context.Background()

	f, err := os.Open(fixtures.BuildWasm(t, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	image, err := w.client.UploadArtifact(ctx, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{"ticker": {"forever"}, "crasher": {"hello"}} {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Spec: api.PodSpec{
			RuntimeClassName: api.RuntimeClassWasm, NodeName: autonomyNode,
			Containers: []api.Container{{Name: "main", Image: image, Args: args}},
		}}
		if _, err := w.client.CreatePod(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	ticker := w.waitPod("ticker", "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning && restartsOf(p) == 0 })
	crasher := w.waitPod("crasher", "restarted", func(p *api.Pod) bool { return restartsOf(p) >= 1 })
	tickerStart := ticker.Status.ContainerStatuses[0].State.Running.StartedAt
	crasherRestarts := restartsOf(crasher)

	// (b) The control plane goes away; the node goes on.
	w.server.Stop()
	w.waitRuns(crasher.UID, "main", 2, "two more runs of the crashing module while offline")
	ticks := len(ticksAfterLastStart(w.logOf(ticker.UID, "main")))
	w.waitLog(ticker.UID, "main", "ticks while offline", func(l string) bool { return len(ticksAfterLastStart(l)) >= ticks+5 })

	// (c) It comes back on the same port: the agent reconnects and
	// reports; the pod that did not change is left alone.
	w.startServer()
	w.waitPod("crasher", "reported with the offline restarts", func(p *api.Pod) bool {
		return restartsOf(p) >= crasherRestarts+2
	})
	// A full sync (every 2s) has come and gone by now.
	w.waitLog(ticker.UID, "main", "a few more ticks", func(l string) bool { return len(ticksAfterLastStart(l)) >= ticks+30 })
	after := w.pod("ticker")
	if restartsOf(after) != 0 || after.Status.Phase != api.PodRunning || after.Status.ContainerStatuses[0].State.Running == nil ||
		!after.Status.ContainerStatuses[0].State.Running.StartedAt.Equal(tickerStart) {
		t.Fatalf("ticker after the control plane returned: %+v; want Running, restartCount 0, startedAt %s", after.Status.ContainerStatuses, tickerStart)
	}
	if n := strings.Count(w.logOf(ticker.UID, "main"), "started\n"); n != 1 {
		t.Fatalf("ticker started %d times; reconnecting must not restart it", n)
	}
	// The desired set flows again: a new pod runs.
	late := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "late", Namespace: "default"}, Spec: api.PodSpec{
		RuntimeClassName: api.RuntimeClassWasm, RestartPolicy: api.RestartPolicyNever,
		Containers: []api.Container{{Name: "main", Image: image, Args: []string{"hello"}}},
	}}
	late, err = w.client.CreatePod(ctx, late)
	if err != nil {
		t.Fatal(err)
	}
	w.waitPod("late", "Succeeded", func(p *api.Pod) bool { return p.Status.Phase == api.PodSucceeded })

	// (a) The control plane goes away again and the agent process dies:
	// started again, it brings its pods back from disk.
	w.server.Stop()
	w.agent.Kill()
	w.startAgent()
	w.waitLog(ticker.UID, "main", "a new run of the ticker", func(l string) bool {
		return strings.Count(l, "started\n") == 2 && len(ticksAfterLastStart(l)) >= 20
	})
	got := w.logOf(ticker.UID, "main")
	if n := strings.Count(got, "started\n"); n != 2 {
		t.Fatalf("ticker started %d times in all; want 2 (once per agent process)", n)
	}
	for i, n := range ticksAfterLastStart(got) {
		if n != i+1 {
			t.Fatalf("ticks after the restart %v: not one instance counting up (a duplicate?)", ticksAfterLastStart(got))
		}
	}
	w.waitRuns(crasher.UID, "main", 2, "the crashing module restarted again")
	if n := strings.Count(w.logOf(late.UID, "main"), "hello from skiff"); n != 1 {
		t.Errorf("the completed pod ran %d times; it must never run again", n)
	}

	w.startServer()
	back := w.waitPod("ticker", "reported after the agent restart", func(p *api.Pod) bool {
		return p.Status.Phase == api.PodRunning && restartsOf(p) == 1
	})
	if last := back.Status.ContainerStatuses[0].LastState.Terminated; last == nil || !strings.Contains(last.Message, "agent restart") {
		t.Errorf("ticker's last state %+v, want the restart of the agent", back.Status.ContainerStatuses[0].LastState)
	}
	if p := w.pod("late"); p.Status.Phase != api.PodSucceeded {
		t.Errorf("late is %s after the agent restart; a completed pod never runs again", p.Status.Phase)
	}
}
