package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/runtimes"
)

const testNode = "edge-1"

// startNATS runs a core NATS server (the agent needs no JetStream) on a
// free port.
func startNATS(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("EDGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// controlPlane is the control plane's side of the wire contract, reduced
// to what a test needs: it records what the agent sends and answers.
type controlPlane struct {
	t  *testing.T
	nc *nats.Conn

	mu            sync.Mutex
	registrations []api.NodeRegistration
	badReplies    []string
	leases        []api.LeaseRenewal
	reports       []api.PodStatusReport
	syncPods      []api.Pod
	syncConfigs   []api.ConfigMap
	syncSecrets   []api.Secret
	syncs         int
	artifacts     map[string][]byte
	chunkRequests int
	statusSub     *nats.Subscription
}

func newControlPlane(t *testing.T, url string) *controlPlane {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("control plane connect: %v", err)
	}
	t.Cleanup(nc.Close)
	cp := &controlPlane{t: t, nc: nc, artifacts: map[string][]byte{}}
	cp.subscribe(api.AgentRegister, func(m *nats.Msg) {
		var reg api.NodeRegistration
		if err := json.Unmarshal(m.Data, &reg); err != nil {
			t.Errorf("registration: %v", err)
		}
		cp.mu.Lock()
		cp.registrations = append(cp.registrations, reg)
		if !strings.HasPrefix(m.Reply, api.NodeInboxPrefix(testNode)+".") {
			cp.badReplies = append(cp.badReplies, m.Reply)
		}
		cp.mu.Unlock()
		respondJSON(m, api.Ack{})
	})
	cp.subscribe(api.AgentLease, func(m *nats.Msg) {
		var l api.LeaseRenewal
		if err := json.Unmarshal(m.Data, &l); err != nil {
			t.Errorf("lease: %v", err)
		}
		cp.mu.Lock()
		cp.leases = append(cp.leases, l)
		cp.mu.Unlock()
	})
	cp.subscribe(api.AgentSync, func(m *nats.Msg) {
		cp.mu.Lock()
		cp.syncs++
		resp := api.SyncResponse{
			Pods:       append([]api.Pod(nil), cp.syncPods...),
			ConfigMaps: append([]api.ConfigMap(nil), cp.syncConfigs...),
			Secrets:    append([]api.Secret(nil), cp.syncSecrets...),
		}
		cp.mu.Unlock()
		respondJSON(m, resp)
	})
	cp.subscribe(api.AgentArtifact, func(m *nats.Msg) {
		var req api.ArtifactChunkRequest
		_ = json.Unmarshal(m.Data, &req)
		cp.mu.Lock()
		cp.chunkRequests++
		b, ok := cp.artifacts[req.Digest]
		cp.mu.Unlock()
		if !ok {
			respondJSON(m, api.ArtifactChunk{NotFound: true, Error: "no such artifact"})
			return
		}
		end := min(int64(len(b)), req.Offset+req.Length)
		respondJSON(m, api.ArtifactChunk{Size: int64(len(b)), Data: b[req.Offset:end]})
	})
	cp.serveStatus()
	return cp
}

func (cp *controlPlane) subscribe(verb string, h nats.MsgHandler) *nats.Subscription {
	cp.t.Helper()
	sub, err := cp.nc.Subscribe(api.AgentSubjectAll(verb), h)
	if err != nil {
		cp.t.Fatalf("subscribe %s: %v", verb, err)
	}
	if err := cp.nc.Flush(); err != nil {
		cp.t.Fatal(err)
	}
	return sub
}

// serveStatus answers status reports (a test may stop it to play a control
// plane that is away).
func (cp *controlPlane) serveStatus() {
	sub := cp.subscribe(api.AgentStatus, func(m *nats.Msg) {
		var r api.PodStatusReport
		if err := json.Unmarshal(m.Data, &r); err != nil {
			cp.t.Errorf("status report: %v", err)
		}
		cp.mu.Lock()
		cp.reports = append(cp.reports, r)
		cp.mu.Unlock()
		respondJSON(m, api.Ack{})
	})
	cp.mu.Lock()
	cp.statusSub = sub
	cp.mu.Unlock()
}

func (cp *controlPlane) stopStatus() {
	cp.mu.Lock()
	sub := cp.statusSub
	cp.mu.Unlock()
	_ = sub.Unsubscribe()
	_ = cp.nc.Flush()
}

func respondJSON(m *nats.Msg, v any) {
	b, _ := json.Marshal(v)
	_ = m.Respond(b)
}

func (cp *controlPlane) push(a api.PodAssignment) {
	cp.t.Helper()
	b, _ := json.Marshal(a)
	if err := cp.nc.Publish(api.NodePodsSubject(testNode), b); err != nil {
		cp.t.Fatal(err)
	}
	_ = cp.nc.Flush()
}

func (cp *controlPlane) pushPod(p *api.Pod) { cp.push(api.PodAssignment{Pod: p}) }

func (cp *controlPlane) setSyncPods(pods ...*api.Pod) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.syncPods = nil
	for _, p := range pods {
		cp.syncPods = append(cp.syncPods, *p)
	}
}

func (cp *controlPlane) syncCount() int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.syncs
}

// reportsFor returns every report about the pod, in order.
func (cp *controlPlane) reportsFor(uid string) []api.PodStatusReport {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var out []api.PodStatusReport
	for _, r := range cp.reports {
		if r.UID == uid {
			out = append(out, r)
		}
	}
	return out
}

// findReport returns the first report about the pod that matches.
func (cp *controlPlane) findReport(uid string, match func(api.PodStatusReport) bool) (api.PodStatusReport, bool) {
	for _, r := range cp.reportsFor(uid) {
		if match(r) {
			return r, true
		}
	}
	return api.PodStatusReport{}, false
}

// waitReport waits for a report about the pod that matches.
func (cp *controlPlane) waitReport(t *testing.T, uid, what string, match func(api.PodStatusReport) bool) api.PodStatusReport {
	t.Helper()
	var got api.PodStatusReport
	waitFor(t, what, func() bool {
		r, ok := cp.findReport(uid, match)
		got = r
		return ok
	})
	return got
}

func phaseIs(p api.PodPhase) func(api.PodStatusReport) bool {
	return func(r api.PodStatusReport) bool { return !r.Removed && r.Status.Phase == p }
}

func removed(r api.PodStatusReport) bool { return r.Removed }

func waitingReason(reason string) func(api.PodStatusReport) bool {
	return func(r api.PodStatusReport) bool {
		if r.Removed || len(r.Status.ContainerStatuses) == 0 {
			return false
		}
		w := r.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == reason
	}
}

// fakeDriver is a runtimes.Driver whose tasks do what their args say:
// "exit N" exits with N at once; anything else runs until stopped or until
// the test calls exit.
type fakeDriver struct {
	runtime  string
	survives bool

	mu       sync.Mutex
	tasks    map[string]*fakeTask
	starts   []startCall
	stops    []stopCall
	destroys []string
	recovers []string
	// beforeStart, when set, runs at the start of every Start call; an
	// error it returns refuses the start.
	beforeStart func(cfg *runtimes.TaskConfig) error
}

type startCall struct {
	cfg *runtimes.TaskConfig
	at  time.Time
}

type stopCall struct {
	id    string
	grace time.Duration
}

type fakeTask struct {
	cfg     *runtimes.TaskConfig
	started time.Time
	exit    *runtimes.ExitResult
	waiters []chan *runtimes.ExitResult
}

var _ runtimes.Driver = (*fakeDriver)(nil)

func newFakeDriver(runtime string) *fakeDriver {
	return &fakeDriver{runtime: runtime, tasks: map[string]*fakeTask{}}
}

func (d *fakeDriver) Capabilities() runtimes.Capabilities {
	return runtimes.Capabilities{Runtime: d.runtime, SurvivesAgentRestart: d.survives, MemoryLimit: true, CPULimit: true}
}

func (d *fakeDriver) Start(ctx context.Context, cfg *runtimes.TaskConfig) (*runtimes.TaskHandle, error) {
	d.mu.Lock()
	d.starts = append(d.starts, startCall{cfg: cfg, at: time.Now()})
	hook := d.beforeStart
	d.mu.Unlock()
	if hook != nil {
		if err := hook(cfg); err != nil {
			return nil, err
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.tasks[cfg.ID]; ok {
		return nil, runtimes.ErrTaskExists
	}
	if f, err := os.OpenFile(cfg.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640); err == nil {
		fmt.Fprintf(f, "start %s\n", cfg.ID)
		f.Close()
	}
	t := &fakeTask{cfg: cfg, started: time.Now().UTC()}
	d.tasks[cfg.ID] = t
	if len(cfg.Args) == 2 && cfg.Args[0] == "exit" {
		code, _ := strconv.Atoi(cfg.Args[1])
		d.exitLocked(t, &runtimes.ExitResult{ExitCode: code})
	}
	return &runtimes.TaskHandle{ID: cfg.ID, Driver: d.runtime, Config: cfg, StartedAt: t.started}, nil
}

func (d *fakeDriver) exitLocked(t *fakeTask, res *runtimes.ExitResult) {
	if t.exit != nil {
		return
	}
	if res.FinishedAt.IsZero() {
		res.FinishedAt = time.Now().UTC()
	}
	t.exit = res
	for _, w := range t.waiters {
		w <- res
		close(w)
	}
	t.waiters = nil
}

// exit makes a running task exit with code.
func (d *fakeDriver) exit(id string, code int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.tasks[id]; ok {
		d.exitLocked(t, &runtimes.ExitResult{ExitCode: code})
	}
}

func (d *fakeDriver) Wait(ctx context.Context, id string) (<-chan *runtimes.ExitResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tasks[id]
	if !ok {
		return nil, runtimes.ErrTaskNotFound
	}
	ch := make(chan *runtimes.ExitResult, 1)
	if t.exit != nil {
		ch <- t.exit
		close(ch)
		return ch, nil
	}
	t.waiters = append(t.waiters, ch)
	return ch, nil
}

func (d *fakeDriver) Stop(ctx context.Context, id string, grace time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stops = append(d.stops, stopCall{id: id, grace: grace})
	t, ok := d.tasks[id]
	if !ok {
		return runtimes.ErrTaskNotFound
	}
	d.exitLocked(t, &runtimes.ExitResult{ExitCode: 143, Signal: 15, Reason: runtimes.ReasonStopped})
	return nil
}

func (d *fakeDriver) Destroy(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.destroys = append(d.destroys, id)
	if t, ok := d.tasks[id]; ok {
		d.exitLocked(t, &runtimes.ExitResult{ExitCode: 137, Signal: 9, Reason: runtimes.ReasonStopped})
		delete(d.tasks, id)
	}
	return nil
}

func (d *fakeDriver) Inspect(ctx context.Context, id string) (*runtimes.TaskStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tasks[id]
	if !ok {
		return nil, runtimes.ErrTaskNotFound
	}
	st := &runtimes.TaskStatus{ID: id, State: runtimes.TaskRunning, StartedAt: t.started, Exit: t.exit}
	if t.exit != nil {
		st.State = runtimes.TaskExited
	}
	return st, nil
}

func (d *fakeDriver) Recover(ctx context.Context, h *runtimes.TaskHandle) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.recovers = append(d.recovers, h.ID)
	if t, ok := d.tasks[h.ID]; ok && t.exit == nil {
		return nil
	}
	return runtimes.ErrTaskNotFound
}

// startsOf returns the Start calls for a pod.
func (d *fakeDriver) startsOf(uid string) []startCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []startCall
	for _, s := range d.starts {
		if s.cfg.PodUID == uid {
			out = append(out, s)
		}
	}
	return out
}

// running returns the IDs of the pod's running tasks.
func (d *fakeDriver) running(uid string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for id, t := range d.tasks {
		if t.cfg.PodUID == uid && t.exit == nil {
			out = append(out, id)
		}
	}
	return out
}

func (d *fakeDriver) stopsOf(id string) []stopCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []stopCall
	for _, s := range d.stops {
		if s.id == id {
			out = append(out, s)
		}
	}
	return out
}

func (d *fakeDriver) destroyed(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, x := range d.destroys {
		if x == id {
			return true
		}
	}
	return false
}

// testEnv is one node's world: a NATS server, a control plane answering
// the agent, a data dir.
type testEnv struct {
	t       *testing.T
	srv     *server.Server
	cp      *controlPlane
	dataDir string
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	s := startNATS(t)
	dataDir := t.TempDir()
	// Secret volumes of pods still there when the test ends are tmpfs
	// mounts (as root on Linux); they go before the temp dir does.
	t.Cleanup(func() {
		if err := unmountUnder(dataDir); err != nil {
			t.Errorf("unmount the agent's volumes: %v", err)
		}
	})
	return &testEnv{t: t, srv: s, cp: newControlPlane(t, s.ClientURL()), dataDir: dataDir}
}

// options are quick defaults for tests.
func (e *testEnv) options() Options {
	return Options{
		NodeName:          testNode,
		DataDir:           e.dataDir,
		LeaseInterval:     50 * time.Millisecond,
		ResyncInterval:    time.Hour,
		RequestTimeout:    2 * time.Second,
		RestartBackoff:    50 * time.Millisecond,
		MaxRestartBackoff: 400 * time.Millisecond,
	}
}

// runningAgent is an agent running in the background of a test.
type runningAgent struct {
	*Agent
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// stop stops the agent and waits for Run to return; stopping twice is fine.
func (r *runningAgent) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("Run: %v", r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop")
	}
}

// startAgent connects with Connect and runs an agent until the test ends.
func startAgent(t *testing.T, url string, opts Options, drivers ...runtimes.Driver) *runningAgent {
	t.Helper()
	nc, err := Connect(url, opts.NodeName)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	a, err := New(opts, nc, drivers, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningAgent{Agent: a, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = a.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// startAgent runs an agent with the env's options and returns once it has
// registered (so it is subscribed to its subjects) and asked for its first
// full sync.
func (e *testEnv) startAgent(drivers ...runtimes.Driver) *runningAgent {
	e.t.Helper()
	return e.startAgentWith(e.options(), drivers...)
}

func (e *testEnv) startAgentWith(opts Options, drivers ...runtimes.Driver) *runningAgent {
	e.t.Helper()
	e.cp.mu.Lock()
	before, syncsBefore := len(e.cp.registrations), e.cp.syncs
	e.cp.mu.Unlock()
	r := startAgent(e.t, e.srv.ClientURL(), opts, drivers...)
	// Registered, and its first full sync asked for: a pod pushed from now
	// on is newer than that sync's answer, as with the real control plane,
	// whose answer would list it. (A push before the sync request would be
	// undone by this harness's answer, which lists only setSyncPods.)
	waitFor(e.t, "the agent to register and ask for its first full sync", func() bool {
		e.cp.mu.Lock()
		defer e.cp.mu.Unlock()
		return len(e.cp.registrations) > before && e.cp.syncs > syncsBefore
	})
	return r
}

// testPod is a pod bound to the test node with one container "app".
func testPod(name, uid string, policy api.RestartPolicy, args ...string) *api.Pod {
	grace := int64(30)
	return &api.Pod{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: uid, ResourceVersion: "1"},
		Spec: api.PodSpec{
			NodeName:                      testNode,
			RestartPolicy:                 policy,
			TerminationGracePeriodSeconds: &grace,
			Containers: []api.Container{{
				Name:  "app",
				Image: "registry.example/app:1",
				Args:  args,
			}},
		},
	}
}

// wasmPod is testPod for the wasm runtime with the given module image.
func wasmPod(name, uid, image string, policy api.RestartPolicy, args ...string) *api.Pod {
	p := testPod(name, uid, policy, args...)
	p.Spec.RuntimeClassName = api.RuntimeClassWasm
	p.Spec.Containers[0].Image = image
	return p
}

func podDir(dataDir, uid string) string { return filepath.Join(dataDir, "pods", uid) }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
