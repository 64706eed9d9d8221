package edge

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/runtimes"
)

func TestAgentRegistersNodeAndRenewsLease(t *testing.T) {
	e := newEnv(t)
	opts := e.options()
	opts.Labels = map[string]string{"skiff.sh/zone": "lab"}
	startAgent(t, e.srv.ClientURL(), opts, newFakeDriver("containerd"), newFakeDriver("wasm"))

	waitFor(t, "a registration", func() bool {
		e.cp.mu.Lock()
		defer e.cp.mu.Unlock()
		return len(e.cp.registrations) > 0
	})
	e.cp.mu.Lock()
	reg := e.cp.registrations[0]
	bad := e.cp.badReplies
	e.cp.mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("requests must reply to the node's own inbox %s, got %v", api.NodeInboxPrefix(testNode), bad)
	}
	n := reg.Node
	if n.Name != testNode || n.Kind != "Node" {
		t.Errorf("node = %s %q, want Node %q", n.Kind, n.Name, testNode)
	}
	wantLabels := map[string]string{
		api.LabelArch: runtime.GOARCH, api.LabelOS: runtime.GOOS, api.LabelHostname: testNode, "skiff.sh/zone": "lab",
	}
	for k, v := range wantLabels {
		if n.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, n.Labels[k], v)
		}
	}
	if got := n.Status.Capacity[api.ResourceCPU]; got != api.Quantity(strconv.Itoa(runtime.NumCPU())) {
		t.Errorf("capacity cpu = %q", got)
	}
	if got := n.Status.Capacity[api.ResourcePods]; got != "110" {
		t.Errorf("capacity pods = %q", got)
	}
	if _, err := os.Stat("/proc/meminfo"); err == nil {
		if mem := n.Status.Allocatable[api.ResourceMemory]; !strings.HasSuffix(string(mem), "Ki") || mem.Value() <= 0 {
			t.Errorf("allocatable memory = %q", mem)
		}
	}
	if !n.Status.HasRuntime("containerd") || !n.Status.HasRuntime("wasm") {
		t.Errorf("runtime handlers = %+v", n.Status.Runtimes)
	}
	if n.Status.NodeInfo.OperatingSystem != runtime.GOOS || n.Status.NodeInfo.Architecture != runtime.GOARCH || n.Status.NodeInfo.AgentVersion == "" {
		t.Errorf("nodeInfo = %+v", n.Status.NodeInfo)
	}
	if err := api.ValidateNode(&n).OrNil(); err != nil {
		t.Errorf("registered node does not validate: %v", err)
	}

	waitFor(t, "three lease renewals", func() bool {
		e.cp.mu.Lock()
		defer e.cp.mu.Unlock()
		return len(e.cp.leases) >= 3
	})
	e.cp.mu.Lock()
	l := e.cp.leases[0]
	e.cp.mu.Unlock()
	if l.Node != testNode || l.LeaseDurationSeconds < 1 || l.RenewTime.IsZero() {
		t.Errorf("lease = %+v", l)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	e := newEnv(t)
	nc, err := Connect(e.srv.ClientURL(), testNode)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tests := []struct {
		name    string
		give    func(o *Options)
		drivers []runtimes.Driver
		want    string
	}{
		{name: "bad node name", give: func(o *Options) { o.NodeName = "Edge_1" }, want: "node name"},
		{name: "no data dir", give: func(o *Options) { o.DataDir = "" }, want: "data dir"},
		{name: "bad label", give: func(o *Options) { o.Labels = map[string]string{"zone": "not a value"} }, want: "metadata.labels[zone]"},
		{name: "two drivers for one runtime", give: func(o *Options) {}, drivers: []runtimes.Driver{newFakeDriver("wasm"), newFakeDriver("wasm")}, want: `two drivers offer runtime "wasm"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := e.options()
			tt.give(&o)
			_, err := New(o, nc, tt.drivers, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestPushedPodIsWrittenToDiskBeforeDriverStarts(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	onDisk := make(chan error, 1)
	d.beforeStart = func(cfg *runtimes.TaskConfig) error {
		b, err := os.ReadFile(filepath.Join(podDir(e.dataDir, cfg.PodUID), "pod.json"))
		if err == nil {
			var p api.Pod
			if err = json.Unmarshal(b, &p); err == nil && p.Name != cfg.PodName {
				err = errors.New("pod.json holds pod " + p.Name)
			}
		}
		select {
		case onDisk <- err:
		default:
		}
		return nil
	}
	e.startAgent(d)
	p := testPod("web", "uid-web", api.RestartPolicyAlways)
	p.Spec.Containers[0].Env = []api.EnvVar{{Name: "MODE", Value: "edge"}}
	p.Spec.Containers[0].Command = []string{"/bin/web"}
	p.Spec.Containers[0].Resources.Limits = api.ResourceList{api.ResourceMemory: "64Mi", api.ResourceCPU: "250m"}
	e.cp.pushPod(p)

	select {
	case err := <-onDisk:
		if err != nil {
			t.Fatalf("pod.json was not on disk when Start was called: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("driver Start was not called")
	}
	cfg := d.startsOf("uid-web")[0].cfg
	want := runtimes.TaskConfig{
		ID: "uid-web-app-0", PodNamespace: "default", PodName: "web", PodUID: "uid-web", ContainerName: "app",
		Image: "registry.example/app:1", MemoryLimitBytes: 64 << 20, CPUMillis: 250,
		LogPath: filepath.Join(e.dataDir, "pods", "uid-web", "logs", "app.log"),
	}
	if cfg.ID != want.ID || cfg.PodNamespace != want.PodNamespace || cfg.PodName != want.PodName || cfg.PodUID != want.PodUID ||
		cfg.ContainerName != want.ContainerName || cfg.Image != want.Image || cfg.MemoryLimitBytes != want.MemoryLimitBytes ||
		cfg.CPUMillis != want.CPUMillis || cfg.LogPath != want.LogPath {
		t.Errorf("task config = %+v\nwant %+v", cfg, want)
	}
	if len(cfg.Env) != 1 || cfg.Env[0] != (runtimes.EnvVar{Name: "MODE", Value: "edge"}) || len(cfg.Command) != 1 || cfg.Command[0] != "/bin/web" {
		t.Errorf("env/command = %+v %v", cfg.Env, cfg.Command)
	}
}

func TestPodStatusGoesPendingRunningThenTerminal(t *testing.T) {
	tests := []struct {
		name      string
		policy    api.RestartPolicy
		exitCode  int
		wantPhase api.PodPhase
		wantWhy   string
	}{
		{name: "Never, exit 0", policy: api.RestartPolicyNever, exitCode: 0, wantPhase: api.PodSucceeded, wantWhy: runtimes.ReasonCompleted},
		{name: "Never, exit 3", policy: api.RestartPolicyNever, exitCode: 3, wantPhase: api.PodFailed, wantWhy: runtimes.ReasonError},
		{name: "OnFailure, exit 0", policy: api.RestartPolicyOnFailure, exitCode: 0, wantPhase: api.PodSucceeded, wantWhy: runtimes.ReasonCompleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			d := newFakeDriver("containerd")
			gate := make(chan struct{})
			d.beforeStart = func(*runtimes.TaskConfig) error { <-gate; return nil }
			e.startAgent(d)
			uid := "uid-job"
			e.cp.pushPod(testPod("job", uid, tt.policy))

			pending := e.cp.waitReport(t, uid, "a Pending report", phaseIs(api.PodPending))
			if w := pending.Status.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != ReasonContainerCreating {
				t.Errorf("pending container state = %+v, want waiting ContainerCreating", pending.Status.ContainerStatuses[0].State)
			}
			close(gate)

			running := e.cp.waitReport(t, uid, "a Running report", phaseIs(api.PodRunning))
			cs := running.Status.ContainerStatuses[0]
			if cs.State.Running == nil || cs.State.Running.StartedAt.IsZero() || !cs.Ready {
				t.Errorf("running container status = %+v", cs)
			}
			if c := running.Status.Condition(api.PodReady); c == nil || c.Status != api.ConditionTrue {
				t.Errorf("Ready condition = %+v, want True", c)
			}
			if running.Status.StartTime == nil || running.Status.HostIP == "" {
				t.Errorf("startTime %v hostIP %q: want both set", running.Status.StartTime, running.Status.HostIP)
			}

			d.exit(uid+"-app-0", tt.exitCode)
			final := e.cp.waitReport(t, uid, "a terminal report", phaseIs(tt.wantPhase))
			term := final.Status.ContainerStatuses[0].State.Terminated
			if term == nil || int(term.ExitCode) != tt.exitCode || term.Reason != tt.wantWhy || term.StartedAt.IsZero() || term.FinishedAt.IsZero() {
				t.Fatalf("terminated state = %+v, want exit %d reason %s with times", term, tt.exitCode, tt.wantWhy)
			}
			if c := final.Status.Condition(api.PodReady); c == nil || c.Status != api.ConditionFalse {
				t.Errorf("Ready condition = %+v, want False", c)
			}
			if n := len(d.startsOf(uid)); n != 1 {
				t.Errorf("Start called %d times, want 1", n)
			}
		})
	}
}

func TestAlwaysRestartsCrashingContainerWithExponentialBackoff(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	opts := e.options()
	opts.RestartBackoff, opts.MaxRestartBackoff = 100*time.Millisecond, 800*time.Millisecond
	e.startAgentWith(opts, d)
	uid := "uid-crash"
	e.cp.pushPod(testPod("crash", uid, api.RestartPolicyAlways, "exit", "1"))

	waitFor(t, "four starts", func() bool { return len(d.startsOf(uid)) >= 4 })
	starts := d.startsOf(uid)
	for i := 1; i < 4; i++ {
		gap := starts[i].at.Sub(starts[i-1].at)
		want := backoffDelay(opts.RestartBackoff, opts.MaxRestartBackoff, i)
		if gap < want {
			t.Errorf("restart %d came after %v, want at least %v", i, gap, want)
		}
		if wantID := uid + "-app-" + strconv.Itoa(i); starts[i].cfg.ID != wantID {
			t.Errorf("restart %d task ID = %q, want %q", i, starts[i].cfg.ID, wantID)
		}
	}
	r := e.cp.waitReport(t, uid, "a CrashLoopBackOff report with restarts", func(r api.PodStatusReport) bool {
		return waitingReason(ReasonCrashLoopBackOff)(r) && r.Status.ContainerStatuses[0].RestartCount >= 2
	})
	cs := r.Status.ContainerStatuses[0]
	if r.Status.Phase != api.PodRunning {
		t.Errorf("phase = %s, want Running while crash looping under Always", r.Status.Phase)
	}
	if last := cs.LastState.Terminated; last == nil || last.ExitCode != 1 {
		t.Errorf("last termination = %+v, want exit 1", cs.LastState)
	}
	if !strings.Contains(cs.State.Waiting.Message, "back-off") {
		t.Errorf("waiting message = %q", cs.State.Waiting.Message)
	}
}

func TestDeletionStopsPodWithItsGraceAndReportsRemoved(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	uid := "uid-del"
	p := testPod("del", uid, api.RestartPolicyAlways)
	e.cp.pushPod(p)
	e.cp.waitReport(t, uid, "Running", phaseIs(api.PodRunning))

	del := *p
	now := time.Now().UTC()
	grace := int64(7)
	del.DeletionTimestamp, del.DeletionGracePeriodSeconds, del.ResourceVersion = &now, &grace, "2"
	e.cp.pushPod(&del)

	e.cp.waitReport(t, uid, "a Removed report", removed)
	id := uid + "-app-0"
	if stops := d.stopsOf(id); len(stops) == 0 || stops[0].grace != 7*time.Second {
		t.Errorf("Stop calls = %+v, want one with grace 7s", stops)
	}
	if !d.destroyed(id) {
		t.Error("task was not destroyed")
	}
	if exists(podDir(e.dataDir, uid)) {
		t.Error("local pod state was not deleted")
	}
}

func TestRemovedAssignmentStopsPodAtOnce(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	uid := "uid-gone"
	e.cp.pushPod(testPod("gone", uid, api.RestartPolicyAlways))
	e.cp.waitReport(t, uid, "Running", phaseIs(api.PodRunning))

	e.cp.push(api.PodAssignment{Removed: true, Namespace: "default", Name: "gone", UID: uid})
	e.cp.waitReport(t, uid, "a Removed report", removed)
	if stops := d.stopsOf(uid + "-app-0"); len(stops) == 0 || stops[0].grace != 0 {
		t.Errorf("Stop calls = %+v, want grace 0", stops)
	}
	if exists(podDir(e.dataDir, uid)) {
		t.Error("local pod state was not deleted")
	}
}

func TestDeletionOfUnknownPodIsReportedRemoved(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	p := testPod("never-ran", "uid-never", api.RestartPolicyAlways)
	now := time.Now().UTC()
	p.DeletionTimestamp = &now
	e.cp.pushPod(p)
	e.cp.waitReport(t, "uid-never", "a Removed report", removed)
	if n := len(d.startsOf("uid-never")); n != 0 {
		t.Errorf("a pod being deleted was started %d times", n)
	}
}

func TestFullSyncRemovesPodsNotInSetAndLeavesUnchangedPodsRunning(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	opts := e.options()
	opts.ResyncInterval = 100 * time.Millisecond
	keep, drop, added := testPod("keep", "uid-keep", api.RestartPolicyAlways), testPod("drop", "uid-drop", api.RestartPolicyAlways), testPod("added", "uid-added", api.RestartPolicyAlways)
	e.cp.setSyncPods(keep, drop)
	e.startAgentWith(opts, d)
	e.cp.waitReport(t, "uid-keep", "keep Running", phaseIs(api.PodRunning))
	e.cp.waitReport(t, "uid-drop", "drop Running", phaseIs(api.PodRunning))

	// The control plane's copy differs only where the agent does not act:
	// metadata and status.
	keep2 := *keep
	keep2.ResourceVersion, keep2.Labels = "5", map[string]string{"tier": "web"}
	keep2.Status = api.PodStatus{Phase: api.PodRunning}
	e.cp.setSyncPods(&keep2, added)

	e.cp.waitReport(t, "uid-drop", "drop Removed", removed)
	e.cp.waitReport(t, "uid-added", "added Running", phaseIs(api.PodRunning))
	syncs := e.cp.syncCount()
	waitFor(t, "three more syncs", func() bool { return e.cp.syncCount() >= syncs+3 })

	if n := len(d.startsOf("uid-keep")); n != 1 {
		t.Errorf("unchanged pod was started %d times, want 1", n)
	}
	if stops := d.stopsOf("uid-keep-app-0"); len(stops) != 0 {
		t.Errorf("unchanged pod was stopped: %+v", stops)
	}
	if len(d.running("uid-keep")) != 1 || len(d.running("uid-drop")) != 0 {
		t.Errorf("running: keep %v drop %v", d.running("uid-keep"), d.running("uid-drop"))
	}
	if exists(podDir(e.dataDir, "uid-drop")) || !exists(filepath.Join(podDir(e.dataDir, "uid-keep"), "pod.json")) {
		t.Error("local state does not match the desired set")
	}
}

func TestSpecChangeRestartsContainerWithNewSpec(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	uid := "uid-upd"
	p := testPod("upd", uid, api.RestartPolicyAlways)
	e.cp.pushPod(p)
	e.cp.waitReport(t, uid, "Running", phaseIs(api.PodRunning))

	p2 := *p
	p2.ResourceVersion = "2"
	p2.Spec.Containers = []api.Container{{Name: "app", Image: "registry.example/app:2"}}
	e.cp.pushPod(&p2)

	waitFor(t, "a second start", func() bool { return len(d.startsOf(uid)) == 2 })
	s := d.startsOf(uid)[1].cfg
	if s.Image != "registry.example/app:2" || s.ID != uid+"-app-1" {
		t.Errorf("second start = %s %s, want the new image as restart 1", s.ID, s.Image)
	}
	if len(d.stopsOf(uid+"-app-0")) == 0 {
		t.Error("old task was not stopped")
	}
}

func TestAgentRestartWithoutControlPlaneStartsPodsFromDisk(t *testing.T) {
	e := newEnv(t)
	d1 := newFakeDriver("containerd")
	first := e.startAgent(d1)
	uid := "uid-local"
	e.cp.pushPod(testPod("local", uid, api.RestartPolicyAlways))
	e.cp.waitReport(t, uid, "Running", phaseIs(api.PodRunning))
	first.stop(t)
	if n := len(d1.running(uid)); n != 0 {
		t.Errorf("tasks that do not survive the agent still run after it stopped: %d", n)
	}
	e.srv.Shutdown()

	// A fresh process: a new driver, and no control plane to ask.
	d2 := newFakeDriver("containerd")
	startAgent(t, "nats://127.0.0.1:1", e.options(), d2)
	waitFor(t, "the pod started from disk", func() bool { return len(d2.running(uid)) == 1 })
	if id := d2.startsOf(uid)[0].cfg.ID; id != uid+"-app-1" {
		t.Errorf("task ID = %q, want restart 1 (%s-app-1)", id, uid)
	}
}

func TestAgentRestartRecoversTasksThatSurvive(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	d.survives = true
	first := e.startAgent(d)
	uid := "uid-survivor"
	p := testPod("survivor", uid, api.RestartPolicyAlways)
	e.cp.setSyncPods(p)
	e.cp.pushPod(p)
	e.cp.waitReport(t, uid, "Running", phaseIs(api.PodRunning))
	first.stop(t)
	if n := len(d.running(uid)); n != 1 {
		t.Fatalf("a task that survives the agent was stopped with it")
	}

	e.startAgent(d)
	waitFor(t, "the task recovered", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.recovers) == 1
	})
	if n := len(d.startsOf(uid)); n != 1 {
		t.Errorf("Start called %d times, want 1 (recovered, not restarted)", n)
	}
	// Still watched: when it exits, Always restarts it.
	d.exit(uid+"-app-0", 1)
	waitFor(t, "a restart after the recovered task exited", func() bool { return len(d.startsOf(uid)) == 2 })
}

func TestStatusReportsAreResentUntilAcknowledged(t *testing.T) {
	e := newEnv(t)
	e.cp.stopStatus()
	d := newFakeDriver("containerd")
	e.startAgent(d)
	uid := "uid-away"
	e.cp.pushPod(testPod("away", uid, api.RestartPolicyAlways))
	waitFor(t, "the pod running", func() bool { return len(d.running(uid)) == 1 })
	if n := len(e.cp.reportsFor(uid)); n != 0 {
		t.Fatalf("got %d reports with no status responder", n)
	}
	e.cp.serveStatus()
	e.cp.waitReport(t, uid, "the Running report, resent", phaseIs(api.PodRunning))
}

func TestUnsupportedRuntimeFailsPodWithReason(t *testing.T) {
	e := newEnv(t)
	e.startAgent(newFakeDriver("wasm"))
	e.cp.pushPod(testPod("oci", "uid-oci", api.RestartPolicyAlways))
	r := e.cp.waitReport(t, "uid-oci", "Failed", phaseIs(api.PodFailed))
	if r.Status.Reason != ReasonUnsupportedRuntime || !strings.Contains(r.Status.Message, `"containerd"`) {
		t.Errorf("reason %q message %q", r.Status.Reason, r.Status.Message)
	}
}

func TestActiveDeadlineFailsPod(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	p := testPod("slow", "uid-slow", api.RestartPolicyAlways)
	one := int64(1)
	p.Spec.ActiveDeadlineSeconds = &one
	e.cp.pushPod(p)
	r := e.cp.waitReport(t, "uid-slow", "Failed", phaseIs(api.PodFailed))
	if r.Status.Reason != ReasonDeadlineExceeded {
		t.Errorf("reason = %q, want %s", r.Status.Reason, ReasonDeadlineExceeded)
	}
	waitFor(t, "the task stopped", func() bool { return len(d.running("uid-slow")) == 0 })
}

func TestBadPodSpecsNeverCrashTheAgent(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)

	// Not even JSON.
	if err := e.cp.nc.Publish("skiff.node."+testNode+".pods", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	e.cp.push(api.PodAssignment{})
	noUID := testPod("no-uid", "", api.RestartPolicyAlways)
	e.cp.pushPod(noUID)
	escape := testPod("escape", "../../escape", api.RestartPolicyAlways)
	e.cp.pushPod(escape)

	bad := map[string]func(p *api.Pod){
		"uid-no-containers": func(p *api.Pod) { p.Spec.Containers = nil },
		"uid-bad-quantity":  func(p *api.Pod) { p.Spec.Containers[0].Resources.Limits = api.ResourceList{api.ResourceMemory: "lots"} },
		"uid-no-image":      func(p *api.Pod) { p.Spec.Containers[0].Image = "" },
		"uid-bad-policy":    func(p *api.Pod) { p.Spec.RestartPolicy = "Sometimes" },
		"uid-bad-runtime":   func(p *api.Pod) { p.Spec.RuntimeClassName = "gpu" },
		"uid-bad-wasm-ref":  func(p *api.Pod) { p.Spec.RuntimeClassName = "wasm"; p.Spec.Containers[0].Image = "nginx" },
		"uid-dup-names": func(p *api.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, p.Spec.Containers[0])
		},
	}
	for uid, mutate := range bad {
		p := testPod(strings.TrimPrefix(uid, "uid-"), uid, api.RestartPolicyAlways)
		mutate(p)
		e.cp.pushPod(p)
	}
	for uid := range bad {
		r := e.cp.waitReport(t, uid, uid+" Failed", phaseIs(api.PodFailed))
		if r.Status.Reason != ReasonInvalidPodSpec && r.Status.Reason != ReasonUnsupportedRuntime {
			t.Errorf("%s: reason %q message %q", uid, r.Status.Reason, r.Status.Message)
		}
		if n := len(d.startsOf(uid)); n != 0 {
			t.Errorf("%s: started %d times", uid, n)
		}
	}
	// A good pod still runs, even with absurd numbers, and nothing
	// climbed out of the data dir.
	good := testPod("good", "uid-good", api.RestartPolicyAlways)
	huge := int64(1 << 62)
	good.Spec.TerminationGracePeriodSeconds, good.Spec.ActiveDeadlineSeconds = &huge, &huge
	good.Spec.Containers[0].Resources.Limits = api.ResourceList{api.ResourceMemory: "1000000Ti", api.ResourceCPU: "0.0001"}
	e.cp.pushPod(good)
	e.cp.waitReport(t, "uid-good", "good Running", phaseIs(api.PodRunning))
	if exists(filepath.Join(filepath.Dir(e.dataDir), "escape")) || exists(filepath.Join(e.dataDir, "escape")) {
		t.Error("a pod uid made the agent write outside its pods directory")
	}
}

func TestLogsRequestIsAnswered(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	uid := "uid-logs"
	e.cp.pushPod(testPod("logs", uid, api.RestartPolicyAlways))
	e.cp.waitReport(t, uid, "Running", phaseIs(api.PodRunning))

	logPath := filepath.Join(podDir(e.dataDir, uid), "logs", "app.log")
	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("the driver was not given a log file in the pod's directory: %v", err)
	}
	for i := 1; i <= 5; i++ {
		f.WriteString("line-" + strconv.Itoa(i) + "\n")
	}
	f.Close()

	ask := func(req api.LogRequest) api.LogResponse {
		t.Helper()
		b, _ := json.Marshal(req)
		msg, err := e.cp.nc.Request(api.NodeLogsSubject(testNode), b, 5*time.Second)
		if err != nil {
			t.Fatalf("log request: %v", err)
		}
		var resp api.LogResponse
		if err := json.Unmarshal(msg.Data, &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	two, seven := int64(2), int64(7)
	tests := []struct {
		name         string
		give         api.LogRequest
		want         string
		wantNotFound bool
	}{
		{name: "whole log", give: api.LogRequest{Namespace: "default", Name: "logs", UID: uid}, want: "start " + uid + "-app-0\nline-1\nline-2\nline-3\nline-4\nline-5\n"},
		{name: "tail lines", give: api.LogRequest{Namespace: "default", Name: "logs", UID: uid, Container: "app", TailLines: &two}, want: "line-4\nline-5\n"},
		{name: "limit bytes keeps the newest whole lines", give: api.LogRequest{UID: uid, LimitBytes: 10}, want: "line-5\n"},
		{name: "tail then limit", give: api.LogRequest{UID: uid, TailLines: &seven, LimitBytes: 14}, want: "line-4\nline-5\n"},
		{name: "by name without uid", give: api.LogRequest{Namespace: "default", Name: "logs", TailLines: &two}, want: "line-4\nline-5\n"},
		{name: "unknown pod", give: api.LogRequest{Namespace: "default", Name: "nope", UID: "uid-nope"}, wantNotFound: true},
		{name: "unknown container", give: api.LogRequest{UID: uid, Container: "sidecar"}, wantNotFound: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ask(tt.give)
			if resp.NotFound != tt.wantNotFound {
				t.Fatalf("notFound = %v (%s), want %v", resp.NotFound, resp.Error, tt.wantNotFound)
			}
			if tt.wantNotFound {
				if resp.Error == "" {
					t.Error("NotFound without a message")
				}
				return
			}
			if resp.Error != "" || string(resp.Data) != tt.want {
				t.Errorf("log = %q (err %q), want %q", resp.Data, resp.Error, tt.want)
			}
		})
	}
}

func TestReconnectTriggersFullSync(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	waitFor(t, "the first sync", func() bool { return e.cp.syncCount() >= 1 })

	// The server goes away and comes back on the same port; meanwhile the
	// node was given a pod it never heard of.
	port := e.srv.Addr().(*net.TCPAddr).Port
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.cp.setSyncPods(testPod("while-away", "uid-away", api.RestartPolicyAlways))
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("restarted server not ready")
	}
	t.Cleanup(s.Shutdown)

	waitFor(t, "the pod from the sync after reconnect", func() bool { return len(d.running("uid-away")) == 1 })
}

func TestCompletedPodIsNotRunAgainAfterAgentRestart(t *testing.T) {
	e := newEnv(t)
	d1 := newFakeDriver("containerd")
	first := e.startAgent(d1)
	uid := "uid-done"
	p := testPod("done", uid, api.RestartPolicyNever, "exit", "0")
	e.cp.setSyncPods(p)
	e.cp.pushPod(p)
	e.cp.waitReport(t, uid, "Succeeded", phaseIs(api.PodSucceeded))
	first.stop(t)
	reports := len(e.cp.reportsFor(uid))

	d2 := newFakeDriver("containerd")
	e.startAgent(d2)
	waitFor(t, "the status reported again after the restart", func() bool { return len(e.cp.reportsFor(uid)) > reports })
	last := e.cp.reportsFor(uid)[len(e.cp.reportsFor(uid))-1]
	if last.Status.Phase != api.PodSucceeded {
		t.Errorf("phase after restart = %s, want Succeeded", last.Status.Phase)
	}
	if n := len(d2.startsOf(uid)); n != 0 {
		t.Errorf("a completed pod was started %d times after the agent restarted", n)
	}
}

func TestDeletionReadBackFromDiskIsFinishedWithoutStartingThePod(t *testing.T) {
	e := newEnv(t)
	// What an agent that stopped in the middle of a deletion left behind.
	p := testPod("dying", "uid-dying", api.RestartPolicyAlways)
	now := time.Now().UTC()
	p.DeletionTimestamp = &now
	local := &localStore{dir: filepath.Join(e.dataDir, "pods")}
	if err := local.SavePod(p); err != nil {
		t.Fatal(err)
	}
	d := newFakeDriver("containerd")
	e.startAgent(d)
	e.cp.waitReport(t, "uid-dying", "a Removed report", removed)
	if n := len(d.startsOf("uid-dying")); n != 0 {
		t.Errorf("a pod being deleted was started %d times", n)
	}
	if exists(podDir(e.dataDir, "uid-dying")) {
		t.Error("local state of the deleted pod is still there")
	}
}

func TestPodDroppedBySyncComesBackWithTheNextSyncThatListsIt(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	opts := e.options()
	opts.ResyncInterval = 100 * time.Millisecond
	p := testPod("flap", "uid-flap", api.RestartPolicyAlways)
	e.startAgentWith(opts, d)
	e.cp.pushPod(p)
	e.cp.waitReport(t, "uid-flap", "Running", phaseIs(api.PodRunning))
	e.cp.waitReport(t, "uid-flap", "dropped by a sync that does not list it", removed)
	e.cp.setSyncPods(p)
	waitFor(t, "the pod started again", func() bool { return len(d.running("uid-flap")) == 1 && len(d.startsOf("uid-flap")) == 2 })
}
