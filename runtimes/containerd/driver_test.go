package containerd_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/platforms"

	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/containerd"
	"github.com/skiff-sh/skiff/runtimes/runtimetest"
	"github.com/skiff-sh/skiff/testbed/containerdtest"
)

// foreignArch is an architecture this node does not run.
func foreignArch() string {
	if runtime.GOARCH == "amd64" {
		return "arm64"
	}
	return "amd64"
}

func mustStart(t *testing.T, d *containerd.Driver, cfg *runtimes.TaskConfig) *runtimes.TaskHandle {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), runtimetest.Timeout)
	defer cancel()
	h, err := d.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start %s: %v", cfg.ID, err)
	}
	return h
}

// waitFor polls cond until it holds or the suite's timeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(runtimetest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartRefusesAnImageForAnotherArchitecture(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	archive, ref := containerdtest.ProbeImageArchive(t, foreignArch())
	refs, err := d.ImportArchive(t.Context(), archive)
	if err != nil {
		t.Fatalf("ImportArchive of a foreign image: %v", err)
	}
	if !slices.Contains(refs, ref) {
		t.Fatalf("imported %q, want %s", refs, ref)
	}
	cfg := e.task(t, "foreign", "hello")
	cfg.Image = ref
	_, err = d.Start(t.Context(), cfg)
	if !errors.Is(err, runtimes.ErrImagePlatform) || !errors.Is(err, runtimes.ErrInvalidImage) {
		t.Fatalf("Start of a %s image: err %v, want ErrImagePlatform (an ErrInvalidImage)", foreignArch(), err)
	}
	node := platforms.Format(platforms.DefaultSpec())
	if msg := err.Error(); !strings.Contains(msg, "linux/"+foreignArch()) || !strings.Contains(msg, node) {
		t.Errorf("err %q should name the image's platform linux/%s and the node's %s", msg, foreignArch(), node)
	}
	if ids := e.containers(t); len(ids) != 0 {
		t.Errorf("containers left after the refusal: %v", ids)
	}
	if _, err := d.Inspect(t.Context(), cfg.ID); !errors.Is(err, runtimes.ErrTaskNotFound) {
		t.Errorf("Inspect after the refusal: err %v, want ErrTaskNotFound", err)
	}
}

func TestStartOfAnImageNotInTheStoreIsImageNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	cfg := e.task(t, "missing-image", "hello")
	cfg.Image = "skiff.test/no-such-image:1"
	_, err := d.Start(t.Context(), cfg)
	if !errors.Is(err, runtimes.ErrImageNotFound) {
		t.Fatalf("err %v, want ErrImageNotFound", err)
	}
	if !strings.Contains(err.Error(), cfg.Image) {
		t.Errorf("err %q does not name the image", err)
	}
	if errors.Is(err, runtimes.ErrInvalidImage) {
		t.Errorf("a missing image is also reported invalid: %v", err)
	}
}

func TestStartOfACommandNotInTheImageIsCommandNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	for _, command := range []string{"/no/such/program", "no-such-program-in-path"} {
		cfg := e.task(t, "no-command", "hello")
		cfg.Command = []string{command}
		_, err := d.Start(t.Context(), cfg)
		if !errors.Is(err, runtimes.ErrCommandNotFound) {
			t.Fatalf("command %q: err %v, want ErrCommandNotFound", command, err)
		}
		if !strings.Contains(err.Error(), command) {
			t.Errorf("err %q does not carry runc's reason naming %s", err, command)
		}
	}
	if ids := e.containers(t); len(ids) != 0 {
		t.Errorf("containers left after failed starts: %v", ids)
	}
	// The ID is free again.
	cfg := e.task(t, "no-command", "hello")
	mustStart(t, d, cfg)
	if res := runtimetest.WaitExit(t, d, cfg.ID); !res.Successful() {
		t.Fatalf("start after the failures: %+v", res)
	}
}

func TestCommandReplacesTheEntrypointAndArgsTheCmd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	cfg := e.task(t, "command")
	cfg.Command = []string{"/probe", "echo-args"}
	cfg.Args = []string{"from", "command"}
	mustStart(t, d, cfg)
	if res := runtimetest.WaitExit(t, d, cfg.ID); !res.Successful() {
		t.Fatalf("exit %+v; log %q", res, runtimetest.ReadLog(t, cfg))
	}
	if got := runtimetest.ReadLog(t, cfg); got != "from\ncommand\n" {
		t.Fatalf("log %q, want the args after Command", got)
	}
}

func TestMemoryLimitHitIsReportedOOMKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	cfg := e.task(t, "oom", "alloc", "256")
	cfg.MemoryLimitBytes = 32 << 20
	mustStart(t, d, cfg)
	res := runtimetest.WaitExit(t, d, cfg.ID)
	if !res.OOMKilled || res.Reason != runtimes.ReasonOOMKilled {
		t.Fatalf("exit %+v, want OOMKilled with reason %s", res, runtimes.ReasonOOMKilled)
	}
	if res.ExitCode != 137 || res.Signal != int(syscall.SIGKILL) {
		t.Errorf("exit code %d signal %d, want 137 and SIGKILL", res.ExitCode, res.Signal)
	}
	if !strings.Contains(res.Message, strconv.Itoa(32<<20)) {
		t.Errorf("message %q does not give the limit", res.Message)
	}
}

func TestCPULimitBecomesACFSQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	cfg := e.task(t, "cpu", "forever")
	cfg.CPUMillis = 250
	mustStart(t, d, cfg)
	t.Cleanup(func() { _ = d.Destroy(context.Background(), cfg.ID) })

	c, ctx := e.client(t)
	ctr, err := c.LoadContainer(ctx, cfg.ID)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cpu := spec.Linux.Resources.CPU
	if cpu == nil || cpu.Quota == nil || *cpu.Quota != 25_000 || cpu.Period == nil || *cpu.Period != 100_000 {
		t.Fatalf("spec CPU %+v, want quota 25000 per period 100000", cpu)
	}
	// The kernel has it too (cgroup v1 here; v2 keeps it in cpu.max).
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup/cpu", spec.Linux.CgroupsPath, "cpu.cfs_quota_us"),
		filepath.Join("/sys/fs/cgroup", spec.Linux.CgroupsPath, "cpu.max"),
	} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if got := strings.Fields(string(b)); len(got) == 0 || got[0] != "25000" {
			t.Fatalf("%s holds %q, want 25000", f, b)
		}
		return
	}
	t.Log("no cgroup CPU file found; checked the spec only")
}

func TestStopSendsTheStopSignalBeforeSIGKILL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	cfg := e.task(t, "sigterm", "forever")
	mustStart(t, d, cfg)
	runtimetest.WaitForLog(t, cfg, "started\n")
	began := time.Now()
	// The probe does not catch SIGTERM, so it dies of it long before the
	// grace ends.
	if err := d.Stop(t.Context(), cfg.ID, time.Minute); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(began); took > 20*time.Second {
		t.Fatalf("Stop took %v: SIGTERM was not sent first", took)
	}
	// As PID 1 the Go probe cannot die of the signal itself; its runtime
	// exits with code 2 instead. Either way it was not SIGKILL.
	res := runtimetest.WaitExit(t, d, cfg.ID)
	if res.ExitCode == 128+int(syscall.SIGKILL) || res.Reason != runtimes.ReasonStopped {
		t.Fatalf("exit %+v, want an end by SIGTERM (not 137), reason Stopped", res)
	}
}

// handleRoundTrip returns h as the agent reads it back from disk.
func handleRoundTrip(t *testing.T, h *runtimes.TaskHandle) *runtimes.TaskHandle {
	t.Helper()
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var out runtimes.TaskHandle
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestRecoverReattachesARunningContainerWithoutDuplicatingIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first, err := containerd.New(e.options(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.task(t, "recover-running", "forever")
	h := handleRoundTrip(t, mustStart(t, first, cfg))
	runtimetest.WaitForLog(t, cfg, "tick 1\n")
	closeDriver(t, first) // the agent exits

	// The container runs on and keeps writing its log with no agent.
	seen := len(runtimetest.ReadLog(t, cfg))
	waitFor(t, "the log grows with no driver attached", func() bool {
		return len(runtimetest.ReadLog(t, cfg)) > seen
	})

	second := e.newDriver(t) // the agent's next process
	if err := second.Recover(t.Context(), h); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	st, err := second.Inspect(t.Context(), cfg.ID)
	if err != nil {
		t.Fatalf("Inspect after Recover: %v", err)
	}
	if st.State != runtimes.TaskRunning || !st.StartedAt.Equal(h.StartedAt) {
		t.Fatalf("status %+v, want running since %v", st, h.StartedAt)
	}
	// Recovering again, or starting the ID again, makes no second container.
	if err := second.Recover(t.Context(), h); err != nil {
		t.Fatalf("second Recover: %v", err)
	}
	if _, err := second.Start(t.Context(), cfg); !errors.Is(err, runtimes.ErrTaskExists) {
		t.Fatalf("Start of a recovered ID: err %v, want ErrTaskExists", err)
	}
	third := e.newDriver(t)
	if _, err := third.Start(t.Context(), cfg); !errors.Is(err, runtimes.ErrTaskExists) {
		t.Fatalf("Start from a driver that did not recover the ID: err %v, want ErrTaskExists", err)
	}
	if ids := e.containers(t); !slices.Equal(ids, []string{cfg.ID}) {
		t.Fatalf("containers %v, want only %s", ids, cfg.ID)
	}
	if n := strings.Count(runtimetest.ReadLog(t, cfg), "started\n"); n != 1 {
		t.Fatalf("the program started %d times, want once", n)
	}

	// The recovered task is the driver's to stop and destroy.
	if err := second.Stop(t.Context(), cfg.ID, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if res := runtimetest.WaitExit(t, second, cfg.ID); res.Reason != runtimes.ReasonStopped {
		t.Fatalf("exit %+v, want reason Stopped", res)
	}
	if err := second.Destroy(t.Context(), cfg.ID); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if ids := e.containers(t); len(ids) != 0 {
		t.Fatalf("containers after Destroy: %v", ids)
	}
}

func TestRecoverReportsAnExitThatHappenedWhileTheAgentWasAway(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first, err := containerd.New(e.options(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.task(t, "exits-while-away", "sleep", "200ms")
	h := handleRoundTrip(t, mustStart(t, first, cfg))
	closeDriver(t, first)

	c, ctx := e.client(t)
	ctr, err := c.LoadContainer(ctx, cfg.ID)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task stops", func() bool {
		st, err := tk.Status(ctx)
		return err == nil && st.Status == client.Stopped
	})

	second := e.newDriver(t)
	if err := second.Recover(t.Context(), h); err != nil {
		t.Fatalf("Recover of an exited task: %v", err)
	}
	res := runtimetest.WaitExit(t, second, cfg.ID)
	if res.ExitCode != 0 || res.Reason != runtimes.ReasonCompleted {
		t.Fatalf("exit %+v, want the task's own exit 0, Completed", res)
	}
	// The exited task was deleted (its shim freed); the container stays
	// until Destroy.
	if _, err := ctr.Task(ctx, nil); err == nil {
		t.Error("the exited task is still in containerd after its exit was reported")
	}
	if err := second.Destroy(t.Context(), cfg.ID); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if ids := e.containers(t); len(ids) != 0 {
		t.Fatalf("containers after Destroy: %v", ids)
	}
}

func TestRecoverRemovesAContainerWhoseTaskIsGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first, err := containerd.New(e.options(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.task(t, "rebooted", "forever")
	h := handleRoundTrip(t, mustStart(t, first, cfg))
	closeDriver(t, first)

	// As after a reboot: the task is gone, the container record is not.
	c, ctx := e.client(t)
	ctr, err := c.LoadContainer(ctx, cfg.ID)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Delete(ctx, client.WithProcessKill); err != nil {
		t.Fatal(err)
	}

	second := e.newDriver(t)
	if err := second.Recover(t.Context(), h); !errors.Is(err, runtimes.ErrTaskNotFound) {
		t.Fatalf("Recover: err %v, want ErrTaskNotFound", err)
	}
	if ids := e.containers(t); len(ids) != 0 {
		t.Fatalf("containers after Recover: %v, want the dead one removed", ids)
	}
	again := e.task(t, cfg.ID, "exit", "0")
	mustStart(t, second, again)
	if res := runtimetest.WaitExit(t, second, again.ID); !res.Successful() {
		t.Fatalf("restart under the same ID: %+v", res)
	}
}

func TestDestroyRemovesAContainerLeftByAnEarlierProcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first, err := containerd.New(e.options(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.task(t, "left-behind", "forever")
	mustStart(t, first, cfg)
	closeDriver(t, first)

	second := e.newDriver(t)
	if err := second.Destroy(t.Context(), cfg.ID); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if ids := e.containers(t); len(ids) != 0 {
		t.Fatalf("containers after Destroy: %v", ids)
	}
}

func TestImportArchiveRejectsAFileThatIsNotAnArchive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	p := filepath.Join(t.TempDir(), "bad.tar")
	if err := os.WriteFile(p, []byte("not a tar archive at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ImportArchive(t.Context(), p); !errors.Is(err, runtimes.ErrInvalidImage) {
		t.Fatalf("err %v, want ErrInvalidImage", err)
	}
	if _, err := d.ImportArchive(t.Context(), filepath.Join(t.TempDir(), "missing.tar")); err == nil {
		t.Fatal("import of a missing file succeeded")
	}
}

func TestStartPicksTheNodesManifestFromAMultiPlatformIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	const ref = "skiff.test/multi:1"
	archive := containerdtest.ProbeIndexArchive(t, ref, foreignArch(), runtime.GOARCH)
	if _, err := d.ImportArchive(t.Context(), archive); err != nil {
		t.Fatalf("ImportArchive: %v", err)
	}
	cfg := e.task(t, "multi", "hello")
	cfg.Image = ref
	mustStart(t, d, cfg)
	if res := runtimetest.WaitExit(t, d, cfg.ID); !res.Successful() {
		t.Fatalf("exit %+v; log %q", res, runtimetest.ReadLog(t, cfg))
	}

	const foreignRef = "skiff.test/foreign-only:1"
	archive = containerdtest.ProbeIndexArchive(t, foreignRef, foreignArch())
	if _, err := d.ImportArchive(t.Context(), archive); err != nil {
		t.Fatalf("ImportArchive of a foreign index: %v", err)
	}
	cfg = e.task(t, "foreign-only", "hello")
	cfg.Image = foreignRef
	_, err := d.Start(t.Context(), cfg)
	if !errors.Is(err, runtimes.ErrImagePlatform) || !strings.Contains(err.Error(), "linux/"+foreignArch()) {
		t.Fatalf("err %v, want ErrImagePlatform naming linux/%s", err, foreignArch())
	}
}

func TestImportArchiveWithANameRunsByThatNameOrItsShortForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	archive, ref := containerdtest.ProbeImageArchive(t, runtime.GOARCH)
	const name = "docker.io/library/skiff-probe:latest"
	refs, err := d.ImportArchive(t.Context(), archive, containerd.WithImageName(name))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(refs, []string{ref, name}) && !slices.Equal(refs, []string{name, ref}) {
		t.Fatalf("refs %q, want %s and %s", refs, ref, name)
	}
	cfg := e.task(t, "renamed", "exit", "4")
	cfg.Image = "skiff-probe" // normalized as Docker does
	mustStart(t, d, cfg)
	if res := runtimetest.WaitExit(t, d, cfg.ID); res.ExitCode != 4 {
		t.Fatalf("exit %+v, want code 4", res)
	}
}

func TestImportArchiveNamedAsItNamesItselfRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	archive, ref := containerdtest.ProbeImageArchive(t, runtime.GOARCH)
	refs, err := d.ImportArchive(t.Context(), archive, containerd.WithImageName(ref))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(refs, []string{ref}) {
		t.Fatalf("refs %q, want only %s", refs, ref)
	}
	cfg := e.task(t, "same-name", "exit", "5")
	cfg.Image = ref
	mustStart(t, d, cfg)
	if res := runtimetest.WaitExit(t, d, cfg.ID); res.ExitCode != 5 {
		t.Fatalf("exit %+v, want code 5", res)
	}
}

func TestStartRejectsConfigsItCannotRunNamingTheField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	tests := []struct {
		name   string
		modify func(*runtimes.TaskConfig)
		want   string
	}{
		{"empty id", func(c *runtimes.TaskConfig) { c.ID = "" }, "id"},
		{"empty image", func(c *runtimes.TaskConfig) { c.Image = "" }, "image"},
		{"negative memory", func(c *runtimes.TaskConfig) { c.MemoryLimitBytes = -1 }, "memoryLimitBytes"},
		{"negative cpu", func(c *runtimes.TaskConfig) { c.CPUMillis = -5 }, "cpuMillis"},
		{"NUL in args", func(c *runtimes.TaskConfig) { c.Args = []string{"a\x00b"} }, "args[0]"},
		{"= in env name", func(c *runtimes.TaskConfig) { c.Env = []runtimes.EnvVar{{Name: "A=B"}} }, "env[0].name"},
		{"relative working dir", func(c *runtimes.TaskConfig) { c.WorkingDir = "data" }, "workingDir"},
		{"missing mount dir", func(c *runtimes.TaskConfig) {
			c.Mounts = []runtimes.Mount{{HostPath: filepath.Join(t.TempDir(), "nope"), GuestPath: "/data"}}
		}, "mounts[0].hostPath"},
		{"relative guest path", func(c *runtimes.TaskConfig) {
			c.Mounts = []runtimes.Mount{{HostPath: t.TempDir(), GuestPath: "data"}}
		}, "mounts[0].guestPath"},
		{"guest path twice", func(c *runtimes.TaskConfig) {
			c.Mounts = []runtimes.Mount{{HostPath: t.TempDir(), GuestPath: "/d"}, {HostPath: t.TempDir(), GuestPath: "/d/"}}
		}, "mounts[1].guestPath"},
		{"relative log path", func(c *runtimes.TaskConfig) { c.LogPath = "x.log" }, "logPath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.task(t, "cfg", "hello")
			tt.modify(cfg)
			_, err := d.Start(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one naming %s", err, tt.want)
			}
		})
	}
	if ids := e.containers(t); len(ids) != 0 {
		t.Fatalf("containers left: %v", ids)
	}
}

func TestNewFailsWhenNoContainerdAnswers(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "none.sock")
	began := time.Now()
	_, err := containerd.New(containerd.Options{Address: sock})
	if err == nil || !strings.Contains(err.Error(), sock) {
		t.Fatalf("err %v, want one naming %s", err, sock)
	}
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("New took %v to fail", took)
	}
}

func TestLongTaskIDsWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	id := "0f8e9c1a-5b7d-4e2f-9a3c-1d2e3f4a5b6c/a-container-name-that-is-rather-long-indeed/12"
	cfg := e.task(t, "long", "exit", "0")
	cfg.ID = id
	mustStart(t, d, cfg)
	if res := runtimetest.WaitExit(t, d, id); !res.Successful() {
		t.Fatalf("exit %+v", res)
	}
	ids := e.containers(t)
	if len(ids) != 1 || len(ids[0]) > 76 {
		t.Fatalf("containers %v, want one with an ID of at most 76 bytes", ids)
	}
}

func TestTasksWithoutALogPathLogIntoLogDir(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	opts := e.options(t)
	opts.LogDir = filepath.Join(t.TempDir(), "logs")
	d, err := containerd.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeDriver(t, d) })
	cfg := e.task(t, "default/web/main", "hello")
	cfg.LogPath = ""
	mustStart(t, d, cfg)
	if res := runtimetest.WaitExit(t, d, cfg.ID); !res.Successful() {
		t.Fatalf("exit %+v", res)
	}
	entries, err := os.ReadDir(opts.LogDir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("log dir holds %v (%v), want one file", entries, err)
	}
	b, err := os.ReadFile(filepath.Join(opts.LogDir, entries[0].Name()))
	if err != nil || !strings.Contains(string(b), "hello from skiff") {
		t.Fatalf("log %s holds %q (%v)", entries[0].Name(), b, err)
	}
}
