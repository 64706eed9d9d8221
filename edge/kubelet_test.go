package edge

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/runtimes"
)

// execDriver is a fakeDriver that can exec: each container's exec exits
// with the code the test set for it (0 unless set).
type execDriver struct {
	*fakeDriver
	mu    sync.Mutex
	codes map[string]int
	execs atomic.Int32
}

var _ runtimes.Execer = (*execDriver)(nil)

func newExecDriver() *execDriver {
	return &execDriver{fakeDriver: newFakeDriver("containerd"), codes: map[string]int{}}
}

func (d *execDriver) setCode(container string, code int) {
	d.mu.Lock()
	d.codes[container] = code
	d.mu.Unlock()
}

func (d *execDriver) Exec(_ context.Context, id string, cmd []string) (int, []byte, error) {
	d.execs.Add(1)
	d.fakeDriver.mu.Lock()
	t, ok := d.tasks[id]
	d.fakeDriver.mu.Unlock()
	if !ok || t.exit != nil {
		return 0, nil, runtimes.ErrTaskNotFound
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	code := d.codes[t.cfg.ContainerName]
	return code, []byte("exec " + strings.Join(cmd, " ") + " -> " + strconv.Itoa(code)), nil
}

func containerNamed(statuses []api.ContainerStatus, name string) *api.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

func condition(r api.PodStatusReport, t api.PodConditionType) *api.PodCondition {
	return r.Status.Condition(t)
}

func conditionIs(t api.PodConditionType, want api.ConditionStatus) func(api.PodStatusReport) bool {
	return func(r api.PodStatusReport) bool {
		c := condition(r, t)
		return !r.Removed && c != nil && c.Status == want
	}
}

// lastReport is the latest report about the pod.
func (cp *controlPlane) lastReport(uid string) api.PodStatusReport {
	rs := cp.reportsFor(uid)
	if len(rs) == 0 {
		return api.PodStatusReport{}
	}
	return rs[len(rs)-1]
}

// waitLatest waits until the latest report about the pod matches.
func (cp *controlPlane) waitLatest(t *testing.T, uid, what string, match func(api.PodStatusReport) bool) api.PodStatusReport {
	t.Helper()
	var got api.PodStatusReport
	waitFor(t, what, func() bool {
		got = cp.lastReport(uid)
		return match(got)
	})
	return got
}

func execProbe(period, failures int32) *api.Probe {
	return &api.Probe{ProbeHandler: api.ProbeHandler{Exec: &api.ExecAction{Command: []string{"check"}}}, PeriodSeconds: period, FailureThreshold: failures}
}

func TestInitContainersRunInOrderToCompletionBeforeTheAppContainers(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	p := testPod("web", "uid-init", api.RestartPolicyAlways, "serve")
	p.Spec.InitContainers = []api.Container{
		{Name: "one", Image: "registry.example/init:1", Args: []string{"exit", "0"}},
		{Name: "two", Image: "registry.example/init:1", Args: []string{"exit", "0"}},
	}
	p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: "side", Image: "registry.example/side:1"})
	e.cp.pushPod(p)

	r := e.cp.waitLatest(t, "uid-init", "Running and Ready", conditionIs(api.PodReady, api.ConditionTrue))
	var order []string
	for _, s := range d.startsOf("uid-init") {
		order = append(order, s.cfg.ContainerName)
	}
	if len(order) != 4 || order[0] != "one" || order[1] != "two" || !slices.Contains(order[2:], "app") || !slices.Contains(order[2:], "side") {
		t.Fatalf("start order %v, want one, two, then app and side", order)
	}
	if r.Status.Phase != api.PodRunning || len(r.Status.InitContainerStatuses) != 2 || len(r.Status.ContainerStatuses) != 2 {
		t.Fatalf("status %+v", r.Status)
	}
	for _, cs := range r.Status.InitContainerStatuses {
		if !cs.Ready || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 || cs.RestartCount != 0 {
			t.Errorf("init container %s = %+v, want completed, ready, never restarted", cs.Name, cs)
		}
	}
	if c := condition(r, api.PodInitialized); c == nil || c.Status != api.ConditionTrue {
		t.Errorf("Initialized = %+v", c)
	}
	for _, name := range []string{"app", "side"} {
		if cs := containerNamed(r.Status.ContainerStatuses, name); cs == nil || cs.State.Running == nil || !cs.Ready {
			t.Errorf("%s = %+v, want running and ready", name, cs)
		}
	}
}

func TestAnInitContainerThatFailsUnderNeverFailsThePod(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	p := testPod("web", "uid-initfail", api.RestartPolicyNever, "serve")
	p.Spec.InitContainers = []api.Container{{Name: "migrate", Image: "registry.example/init:1", Args: []string{"exit", "3"}}}
	e.cp.pushPod(p)

	r := e.cp.waitReport(t, "uid-initfail", "Failed", phaseIs(api.PodFailed))
	if c := condition(r, api.PodInitialized); c == nil || c.Status != api.ConditionFalse || !strings.Contains(c.Message, "migrate") {
		t.Errorf("Initialized = %+v, want False naming migrate", c)
	}
	if cs := r.Status.InitContainerStatuses[0]; cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 3 {
		t.Errorf("init status %+v", cs)
	}
	if w := r.Status.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != ReasonPodInitializing {
		t.Errorf("app container state %+v, want waiting PodInitializing", r.Status.ContainerStatuses[0].State)
	}
	for _, s := range d.startsOf("uid-initfail") {
		if s.cfg.ContainerName == "app" {
			t.Fatal("the app container started although its init container failed")
		}
	}
}

// Under restartPolicy Always an init container that fails is restarted
// with back-off (it runs under OnFailure), and the app waits.
func TestAFailingInitContainerIsRetriedAndTheAppWaits(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	p := testPod("web", "uid-initretry", api.RestartPolicyAlways, "serve")
	p.Spec.InitContainers = []api.Container{{Name: "wait-db", Image: "registry.example/init:1", Args: []string{"exit", "1"}}}
	e.cp.pushPod(p)

	r := e.cp.waitReport(t, "uid-initretry", "two restarts of the init container", func(r api.PodStatusReport) bool {
		return len(r.Status.InitContainerStatuses) == 1 && r.Status.InitContainerStatuses[0].RestartCount >= 2
	})
	if r.Status.Phase != api.PodPending {
		t.Errorf("phase %s, want Pending while the init container fails", r.Status.Phase)
	}
	for _, s := range d.startsOf("uid-initretry") {
		if s.cfg.ContainerName == "app" {
			t.Fatal("the app container started before its init container completed")
		}
	}
}

func TestReadinessProbeSetsTheContainersAndThePodsReadyCondition(t *testing.T) {
	e := newEnv(t)
	d := newExecDriver()
	d.setCode("app", 1)
	e.startAgent(d)
	p := testPod("web", "uid-ready", api.RestartPolicyAlways, "serve")
	p.Spec.Containers[0].ReadinessProbe = execProbe(1, 1)
	e.cp.pushPod(p)

	r := e.cp.waitLatest(t, "uid-ready", "Running, not ready", func(r api.PodStatusReport) bool {
		return r.Status.Phase == api.PodRunning && d.execs.Load() >= 1
	})
	if c := condition(r, api.PodReady); c == nil || c.Status != api.ConditionFalse || c.Reason != "ContainersNotReady" {
		t.Errorf("Ready = %+v while the probe fails", c)
	}
	d.setCode("app", 0)
	r = e.cp.waitLatest(t, "uid-ready", "Ready", conditionIs(api.PodReady, api.ConditionTrue))
	if !r.Status.ContainerStatuses[0].Ready || condition(r, api.ContainersReady).Status != api.ConditionTrue {
		t.Errorf("container ready %v, ContainersReady %+v", r.Status.ContainerStatuses[0].Ready, condition(r, api.ContainersReady))
	}
	d.setCode("app", 1)
	r = e.cp.waitLatest(t, "uid-ready", "not ready again", conditionIs(api.PodReady, api.ConditionFalse))
	if r.Status.Phase != api.PodRunning || r.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("a failing readiness probe must not restart: %+v", r.Status.ContainerStatuses[0])
	}
}

func TestLivenessProbeFailureRestartsTheContainer(t *testing.T) {
	e := newEnv(t)
	d := newExecDriver()
	e.startAgent(d)
	p := testPod("web", "uid-live", api.RestartPolicyAlways, "serve")
	p.Spec.Containers[0].LivenessProbe = execProbe(1, 2)
	e.cp.pushPod(p)
	e.cp.waitReport(t, "uid-live", "Running", phaseIs(api.PodRunning))
	d.setCode("app", 1)

	r := e.cp.waitReport(t, "uid-live", "a restart", func(r api.PodStatusReport) bool {
		return len(r.Status.ContainerStatuses) == 1 && r.Status.ContainerStatuses[0].RestartCount >= 1
	})
	last := r.Status.ContainerStatuses[0].LastState.Terminated
	if last == nil || !strings.Contains(last.Message, "Liveness probe failed") || !strings.Contains(last.Message, "exited with 1") {
		t.Errorf("last state %+v, want the liveness failure", last)
	}
	starts := d.startsOf("uid-live")
	if len(starts) < 2 || len(d.stopsOf(starts[0].cfg.ID)) == 0 {
		t.Errorf("the first task was not stopped (%d starts)", len(starts))
	}
}

// Under restartPolicy Never a container that fails its liveness probe is
// killed for good.
func TestLivenessProbeFailureUnderNeverEndsTheContainer(t *testing.T) {
	e := newEnv(t)
	d := newExecDriver()
	d.setCode("app", 1)
	e.startAgent(d)
	p := testPod("web", "uid-livenever", api.RestartPolicyNever, "serve")
	p.Spec.Containers[0].LivenessProbe = execProbe(1, 1)
	e.cp.pushPod(p)
	r := e.cp.waitReport(t, "uid-livenever", "Failed", phaseIs(api.PodFailed))
	if term := r.Status.ContainerStatuses[0].State.Terminated; term == nil || !strings.Contains(term.Message, "Liveness probe failed") {
		t.Errorf("terminated %+v", term)
	}
}

func TestStartupProbeHoldsBackReadinessUntilItPasses(t *testing.T) {
	e := newEnv(t)
	d := newExecDriver()
	e.startAgent(d)
	p := testPod("web", "uid-startup", api.RestartPolicyAlways, "serve")
	p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: "slow", Image: "registry.example/slow:1"})
	p.Spec.Containers[1].StartupProbe = execProbe(1, 100)
	p.Spec.Containers[1].ReadinessProbe = execProbe(1, 1)
	d.setCode("slow", 1)
	e.cp.pushPod(p)

	r := e.cp.waitLatest(t, "uid-startup", "running with a failing startup probe", func(r api.PodStatusReport) bool {
		return r.Status.Phase == api.PodRunning && d.execs.Load() >= 2
	})
	slow := containerNamed(r.Status.ContainerStatuses, "slow")
	if slow.Started == nil || *slow.Started || slow.Ready {
		t.Errorf("slow = started %v ready %v, want neither before its startup probe passed", slow.Started, slow.Ready)
	}
	if c := condition(r, api.PodReady); c.Status != api.ConditionFalse || !strings.Contains(c.Message, "slow") {
		t.Errorf("Ready = %+v, want False naming slow", c)
	}
	d.setCode("slow", 0)
	r = e.cp.waitLatest(t, "uid-startup", "Ready", conditionIs(api.PodReady, api.ConditionTrue))
	if slow := containerNamed(r.Status.ContainerStatuses, "slow"); slow.Started == nil || !*slow.Started || !slow.Ready {
		t.Errorf("slow = %+v", slow)
	}
}

// A driver that cannot exec does not fail the pod: the probe is not run,
// counts as passing, and the Ready condition says so.
func TestExecProbeOnADriverWithoutExecIsSkippedWithANote(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	p := testPod("web", "uid-noexec", api.RestartPolicyAlways, "serve")
	p.Spec.Containers[0].ReadinessProbe = execProbe(1, 1)
	e.cp.pushPod(p)
	r := e.cp.waitLatest(t, "uid-noexec", "Ready", conditionIs(api.PodReady, api.ConditionTrue))
	if c := condition(r, api.PodReady); !strings.Contains(c.Message, "readinessProbe not run: the containerd runtime cannot exec into containers") {
		t.Errorf("Ready message %q does not say why the probe is not run", c.Message)
	}
}

// httpGet and tcpSocket probes go to the node's address, on a port given
// by number or by the name of a container port.
func TestHTTPGetAndTCPSocketProbesReachTheNodesAddress(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	var sawHeader atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && r.Header.Get("X-Probe") == "yes" {
			sawHeader.Store(true)
		}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	_, httpPort, _ := net.SplitHostPort(srv.Listener.Addr().String())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	_, tcpPort, _ := net.SplitHostPort(ln.Addr().String())

	e := newEnv(t)
	d := newFakeDriver("containerd")
	a := e.startAgent(d)
	if a.HostIP() != "127.0.0.1" {
		t.Skipf("the node's address is %s, not the loopback the test servers listen on", a.HostIP())
	}
	hp, _ := strconv.Atoi(httpPort)
	tp, _ := strconv.Atoi(tcpPort)
	p := testPod("web", "uid-net", api.RestartPolicyAlways, "serve")
	p.Spec.Containers[0].Ports = []api.ContainerPort{{Name: "http", ContainerPort: int32(hp)}}
	p.Spec.Containers[0].ReadinessProbe = &api.Probe{ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{
		Path: "/healthz", Port: api.FromString("http"), HTTPHeaders: []api.HTTPHeader{{Name: "X-Probe", Value: "yes"}},
	}}, PeriodSeconds: 1, FailureThreshold: 1}
	p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: "db", Image: "registry.example/db:1",
		ReadinessProbe: &api.Probe{ProbeHandler: api.ProbeHandler{TCPSocket: &api.TCPSocketAction{Port: api.FromInt(int32(tp))}}, PeriodSeconds: 1}})
	e.cp.pushPod(p)

	r := e.cp.waitLatest(t, "uid-net", "db ready, app not", func(r api.PodStatusReport) bool {
		db := containerNamed(r.Status.ContainerStatuses, "db")
		return r.Status.Phase == api.PodRunning && db != nil && db.Ready
	})
	if app := containerNamed(r.Status.ContainerStatuses, "app"); app.Ready {
		t.Error("app is ready while its httpGet probe answers 503")
	}
	status.Store(http.StatusOK)
	e.cp.waitLatest(t, "uid-net", "Ready", conditionIs(api.PodReady, api.ConditionTrue))
	if !sawHeader.Load() {
		t.Error("the probe did not GET /healthz with its header")
	}
	_ = ln.Close()
	r = e.cp.waitLatest(t, "uid-net", "db not ready once its port closed", conditionIs(api.PodReady, api.ConditionFalse))
	if db := containerNamed(r.Status.ContainerStatuses, "db"); db.Ready {
		t.Error("db still ready")
	}
}

func settingsAndDB() (api.ConfigMap, api.Secret) {
	cm := api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "settings", Namespace: "default", ResourceVersion: "5"},
		Data: map[string]string{"mode": "fast", "app.yaml": "a: 1\n", "bad key!": "skipped"}}
	sec := api.Secret{ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "default", ResourceVersion: "6"},
		Data: map[string]api.Bytes{"password": api.Bytes("hunter2"), "user": api.Bytes("admin")}}
	return cm, sec
}

func TestEnvComesFromConfigMapsSecretsAndThePod(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	cm, sec := settingsAndDB()
	p := testPod("web", "uid-env", api.RestartPolicyAlways, "--mode=$(MODE)", "$$(MODE)")
	p.Spec.Containers[0].EnvFrom = []api.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &api.ConfigMapEnvSource{Name: "settings"}}}
	p.Spec.Containers[0].Env = []api.EnvVar{
		{Name: "MODE", ValueFrom: &api.EnvVarSource{ConfigMapKeyRef: &api.ConfigMapKeySelector{Name: "settings", Key: "mode"}}},
		{Name: "PASSWORD", ValueFrom: &api.EnvVarSource{SecretKeyRef: &api.SecretKeySelector{Name: "db", Key: "password"}}},
		{Name: "POD", ValueFrom: &api.EnvVarSource{FieldRef: &api.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "GREETING", Value: "mode is $(MODE)"},
		{Name: "MISSING", ValueFrom: &api.EnvVarSource{SecretKeyRef: &api.SecretKeySelector{Name: "nope", Key: "x", Optional: new(true)}}},
	}
	e.cp.push(api.PodAssignment{Pod: p, ConfigMaps: []api.ConfigMap{cm}, Secrets: []api.Secret{sec}})
	e.cp.waitReport(t, "uid-env", "Running", phaseIs(api.PodRunning))

	cfg := d.startsOf("uid-env")[0].cfg
	env := map[string]string{}
	var names []string
	for _, v := range cfg.Env {
		env[v.Name] = v.Value
		names = append(names, v.Name)
	}
	want := map[string]string{"CFG_app.yaml": "a: 1\n", "CFG_mode": "fast", "MODE": "fast", "PASSWORD": "hunter2", "POD": "web", "GREETING": "mode is fast"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["CFG_bad key!"]; ok {
		t.Error("a key that is not a variable name was added")
	}
	if _, ok := env["MISSING"]; ok {
		t.Error("an optional missing secret set a variable")
	}
	if names[0] != "CFG_app.yaml" || names[1] != "CFG_mode" {
		t.Errorf("order %v: envFrom first, keys sorted", names)
	}
	if !slices.Equal(cfg.Args, []string{"--mode=fast", "$(MODE)"}) {
		t.Errorf("args %q, want $(MODE) expanded and $$ kept as $", cfg.Args)
	}
}

func TestAMissingConfigMapHoldsTheContainerUntilItArrives(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	cm, _ := settingsAndDB()
	p := testPod("web", "uid-wait", api.RestartPolicyAlways, "serve")
	p.Spec.Containers[0].Env = []api.EnvVar{{Name: "MODE", ValueFrom: &api.EnvVarSource{ConfigMapKeyRef: &api.ConfigMapKeySelector{Name: "settings", Key: "mode"}}}}
	e.cp.pushPod(p)
	r := e.cp.waitReport(t, "uid-wait", "CreateContainerConfigError", waitingReason(ReasonCreateContainerConfigErr))
	if msg := r.Status.ContainerStatuses[0].State.Waiting.Message; msg != `configmap "settings" not found` {
		t.Errorf("message %q", msg)
	}
	if r.Status.Phase != api.PodPending {
		t.Errorf("phase %s, want Pending", r.Status.Phase)
	}
	e.cp.push(api.PodAssignment{ConfigMaps: []api.ConfigMap{cm}})
	e.cp.waitReport(t, "uid-wait", "Running once the ConfigMap arrived", phaseIs(api.PodRunning))
}

func TestVolumesAreSetUpAndConfigVolumesFollowTheirObjects(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	hostDir := t.TempDir()
	opts := e.options()
	opts.HostPathAllow = []string{hostDir}
	e.startAgentWith(opts, d)
	cm, sec := settingsAndDB()
	mode := int32(0o600)
	p := testPod("web", "uid-vol", api.RestartPolicyAlways, "serve")
	p.Spec.Volumes = []api.Volume{
		{Name: "scratch", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}},
		{Name: "config", VolumeSource: api.VolumeSource{ConfigMap: &api.ConfigMapVolumeSource{Name: "settings"}}},
		{Name: "creds", VolumeSource: api.VolumeSource{Secret: &api.SecretVolumeSource{SecretName: "db",
			Items: []api.KeyToPath{{Key: "password", Path: "db/pass", Mode: &mode}}}}},
		{Name: "host", VolumeSource: api.VolumeSource{HostPath: &api.HostPathVolumeSource{Path: hostDir, Type: api.HostPathDirectory}}},
	}
	p.Spec.Containers[0].VolumeMounts = []api.VolumeMount{
		{Name: "scratch", MountPath: "/scratch"}, {Name: "config", MountPath: "/etc/app"},
		{Name: "creds", MountPath: "/creds"}, {Name: "host", MountPath: "/host", ReadOnly: true},
	}
	e.cp.push(api.PodAssignment{Pod: p, ConfigMaps: []api.ConfigMap{cm}, Secrets: []api.Secret{sec}})
	e.cp.waitReport(t, "uid-vol", "Running", phaseIs(api.PodRunning))

	mounts := map[string]runtimes.Mount{}
	for _, m := range d.startsOf("uid-vol")[0].cfg.Mounts {
		mounts[m.GuestPath] = m
	}
	vol := func(name string) string { return filepath.Join(podDir(e.dataDir, "uid-vol"), "volumes", name) }
	for guest, want := range map[string]runtimes.Mount{
		"/scratch": {HostPath: vol("scratch"), GuestPath: "/scratch"},
		"/etc/app": {HostPath: vol("config"), GuestPath: "/etc/app", ReadOnly: true},
		"/creds":   {HostPath: vol("creds"), GuestPath: "/creds", ReadOnly: true},
	} {
		if mounts[guest] != want {
			t.Errorf("mount %s = %+v, want %+v", guest, mounts[guest], want)
		}
	}
	// The hostPath is pinned: the driver gets the agent's descriptor of it.
	if h := mounts["/host"]; !h.ReadOnly || !strings.HasPrefix(h.HostPath, "/proc/") || !sameFile(t, h.HostPath, hostDir) {
		t.Errorf("mount /host = %+v, want a read-only /proc/<pid>/fd path to %s", h, hostDir)
	}
	readFile := func(path string) string {
		b, _ := os.ReadFile(path)
		return string(b)
	}
	if got := readFile(filepath.Join(vol("config"), "mode")); got != "fast" {
		t.Errorf("config/mode = %q", got)
	}
	if st, err := os.Stat(filepath.Join(vol("creds"), "db", "pass")); err != nil || st.Mode().Perm() != 0o600 || readFile(filepath.Join(vol("creds"), "db", "pass")) != "hunter2" {
		t.Errorf("creds/db/pass: %v, %v", st, err)
	}
	if exists(filepath.Join(vol("creds"), "user")) {
		t.Error("a key not in items was written")
	}

	// The ConfigMap changes: a key changes, one goes away.
	cm.ResourceVersion = "9"
	cm.Data = map[string]string{"mode": "slow"}
	e.cp.push(api.PodAssignment{ConfigMaps: []api.ConfigMap{cm}})
	waitFor(t, "config/mode to follow the ConfigMap", func() bool { return readFile(filepath.Join(vol("config"), "mode")) == "slow" })
	waitFor(t, "config/app.yaml to go", func() bool { return !exists(filepath.Join(vol("config"), "app.yaml")) })
	if n := len(d.startsOf("uid-vol")); n != 1 {
		t.Errorf("%d starts: a ConfigMap change must not restart the container", n)
	}
}

// A hostPath of type Directory that does not exist holds the container
// with the reason.
func TestAHostPathThatIsNotThereHoldsTheContainer(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	opts := e.options()
	opts.HostPathAllow = []string{"/nonexistent"}
	e.startAgentWith(opts, d)
	p := testPod("web", "uid-hostpath", api.RestartPolicyAlways, "serve")
	p.Spec.Volumes = []api.Volume{{Name: "host", VolumeSource: api.VolumeSource{HostPath: &api.HostPathVolumeSource{Path: "/nonexistent/skiff", Type: api.HostPathDirectory}}}}
	p.Spec.Containers[0].VolumeMounts = []api.VolumeMount{{Name: "host", MountPath: "/host"}}
	e.cp.pushPod(p)
	r := e.cp.waitReport(t, "uid-hostpath", "ContainerCreating with the reason", func(r api.PodStatusReport) bool {
		w := r.Status.ContainerStatuses[0].State.Waiting
		return w != nil && strings.Contains(w.Message, "hostPath type check failed")
	})
	if msg := r.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, `volume "host"`) || !strings.Contains(msg, "/nonexistent/skiff does not exist") {
		t.Errorf("message %q", msg)
	}
}

// ConfigMaps and Secrets are kept on disk: after a restart with no control
// plane, a pod that needs them starts again.
func TestConfigMapsAndSecretsOutliveAnAgentRestartWithoutControlPlane(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	a := e.startAgent(d)
	cm, sec := settingsAndDB()
	p := testPod("web", "uid-keep", api.RestartPolicyAlways, "serve")
	p.Spec.Containers[0].EnvFrom = []api.EnvFromSource{{SecretRef: &api.SecretEnvSource{Name: "db"}}, {ConfigMapRef: &api.ConfigMapEnvSource{Name: "settings"}}}
	e.cp.push(api.PodAssignment{Pod: p, ConfigMaps: []api.ConfigMap{cm}, Secrets: []api.Secret{sec}})
	e.cp.waitReport(t, "uid-keep", "Running", phaseIs(api.PodRunning))
	a.stop(t)
	if st, err := os.Stat(filepath.Join(e.dataDir, "configs", "secret.default.db.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the secret is not kept with mode 0600: %v %v", st, err)
	}

	e.srv.Shutdown() // no control plane, no NATS
	d2 := newFakeDriver("containerd")
	startAgent(t, e.srv.ClientURL(), e.options(), d2)
	waitFor(t, "the pod to start again from disk", func() bool { return len(d2.running("uid-keep")) == 1 })
	env := map[string]string{}
	for _, v := range d2.startsOf("uid-keep")[0].cfg.Env {
		env[v.Name] = v.Value
	}
	if env["password"] != "hunter2" || env["mode"] != "fast" {
		t.Errorf("env after the restart = %v", env)
	}
}

// A full sync makes the node's set of ConfigMaps and Secrets exactly the
// control plane's: others are forgotten.
func TestAFullSyncReplacesTheNodesConfigMapsAndSecrets(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	a := e.startAgent(d)
	cm, sec := settingsAndDB()
	e.cp.push(api.PodAssignment{ConfigMaps: []api.ConfigMap{cm}, Secrets: []api.Secret{sec}})
	waitFor(t, "the push", func() bool { _, ok := a.configs.Secret("default", "db"); return ok })
	e.cp.mu.Lock()
	e.cp.syncConfigs = []api.ConfigMap{cm}
	e.cp.mu.Unlock()
	if err := a.syncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.configs.Secret("default", "db"); ok {
		t.Error("a Secret the sync no longer lists is kept")
	}
	if _, ok := a.configs.ConfigMap("default", "settings"); !ok {
		t.Error("the ConfigMap the sync lists is gone")
	}
	if exists(filepath.Join(e.dataDir, "configs", "secret.default.db.json")) {
		t.Error("the forgotten Secret is still on disk")
	}
}

func TestComputeStatusOfInitContainers(t *testing.T) {
	p := testPod("web", "u", api.RestartPolicyAlways)
	p.Spec.InitContainers = []api.Container{{Name: "a", Image: "x"}, {Name: "b", Image: "x"}}
	now := time.Now()
	done := &containerRecord{Done: true, State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 0}}}
	running := &containerRecord{State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: now}}}
	st := computePodStatus(podStatusInput{pod: p, records: map[string]*containerRecord{"a": done, "b": running, "app": {}}, now: now})
	if st.Phase != api.PodPending || st.Condition(api.PodInitialized).Status != api.ConditionFalse || st.Condition(api.PodInitialized).Message != "containers with incomplete status: [b]" {
		t.Errorf("phase %s, Initialized %+v", st.Phase, st.Condition(api.PodInitialized))
	}
	if !st.InitContainerStatuses[0].Ready || st.InitContainerStatuses[1].Ready || st.ContainerStatuses[0].State.Waiting.Reason != ReasonPodInitializing {
		t.Errorf("statuses %+v / %+v", st.InitContainerStatuses, st.ContainerStatuses)
	}
}
