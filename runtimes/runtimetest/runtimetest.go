package runtimetest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/runtimes"
)

// Harness adapts one driver to the suite.
type Harness interface {
	// NewDriver returns a ready driver; the harness closes it on cleanup.
	NewDriver(t *testing.T) runtimes.Driver
	// Task returns a config that runs the probe with probeArgs (its first
	// one picks the behaviour) under the given ID: Image set, LogPath a
	// fresh file under t.TempDir(), no limits, no mounts, no env of the
	// suite's own. The suite adds what each case needs.
	Task(t *testing.T, id string, probeArgs ...string) *runtimes.TaskConfig
}

// Timeout bounds every wait of the suite: generous, so that drivers on
// emulated or slow machines pass.
const Timeout = 60 * time.Second

// Run runs the conformance suite against h's driver. Subtests run in
// parallel, each with its own driver.
func Run(t *testing.T, h Harness) {
	cases := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"CapabilitiesNameTheRuntime", testCapabilities},
		{"ExitZeroIsSuccessful", testExitZero},
		{"ExitCodeIsReported", testExitCode},
		{"ArgsReachTheProgram", testArgs},
		{"EnvReachesTheProgram", testEnv},
		{"StdoutAndStderrGoToTheLog", testLogs},
		{"StopEndsABusyTask", testStopBusy},
		{"StopOfAnExitedTaskIsNotAnError", testStopExited},
		{"DestroyFreesTheTask", testDestroy},
		{"InspectReportsRunningThenExited", testInspect},
		{"DuplicateIDIsRefused", testDuplicateID},
		{"EveryWaiterGetsTheExit", testManyWaiters},
		{"UnknownIDsAreNotFound", testUnknownIDs},
		{"RecoverOfAnUnknownTaskIsNotFound", testRecoverUnknown},
		{"RecoverAfterARestartNeverDuplicates", testRecoverAfterRestart},
		{"ReadWriteMountIsWritable", testMountReadWrite},
		{"ReadOnlyMountIsReadableNotWritable", testMountReadOnly},
		{"MemoryLimitStopsAnAllocationBeyondIt", testMemoryLimit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, h)
		})
	}
}

func testCapabilities(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	if d.Capabilities().Runtime == "" {
		t.Fatal("Capabilities().Runtime is empty")
	}
}

func testExitZero(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	cfg := h.Task(t, "exit-zero", "exit", "0")
	start(t, d, cfg)
	res := WaitExit(t, d, cfg.ID)
	if res.ExitCode != 0 || !res.Successful() {
		t.Fatalf("exit %+v, want code 0 and successful", res)
	}
	if res.Reason != runtimes.ReasonCompleted {
		t.Errorf("reason %q, want %q", res.Reason, runtimes.ReasonCompleted)
	}
	if res.FinishedAt.IsZero() {
		t.Error("FinishedAt is zero")
	}
}

func testExitCode(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	cfg := h.Task(t, "exit-three", "exit", "3")
	start(t, d, cfg)
	res := WaitExit(t, d, cfg.ID)
	if res.ExitCode != 3 || res.Successful() {
		t.Fatalf("exit %+v, want code 3, not successful", res)
	}
	if res.Reason != runtimes.ReasonError {
		t.Errorf("reason %q, want %q", res.Reason, runtimes.ReasonError)
	}
}

func testArgs(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	give := []string{"one", "two words", "--flag=x", "", "ünï"}
	cfg := h.Task(t, "args", append([]string{"echo-args"}, give...)...)
	start(t, d, cfg)
	expectSuccess(t, WaitExit(t, d, cfg.ID), cfg)
	want := strings.Join(give, "\n") + "\n"
	if got := ReadLog(t, cfg); got != want {
		t.Fatalf("log %q, want %q", got, want)
	}
}

func testEnv(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	cfg := h.Task(t, "env", "env")
	cfg.Env = append(cfg.Env,
		runtimes.EnvVar{Name: "SKIFF_A", Value: "1"},
		runtimes.EnvVar{Name: "SKIFF_B", Value: "two words"},
		runtimes.EnvVar{Name: "SKIFF_EMPTY", Value: ""},
	)
	start(t, d, cfg)
	expectSuccess(t, WaitExit(t, d, cfg.ID), cfg)
	lines := strings.Split(ReadLog(t, cfg), "\n")
	for _, want := range []string{"SKIFF_A=1", "SKIFF_B=two words", "SKIFF_EMPTY="} {
		if !slices.Contains(lines, want) {
			t.Errorf("env output lacks the line %q; got %q", want, lines)
		}
	}
}

func testLogs(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	cfg := h.Task(t, "hello", "hello")
	start(t, d, cfg)
	expectSuccess(t, WaitExit(t, d, cfg.ID), cfg)
	got := ReadLog(t, cfg)
	for _, want := range []string{"hello from skiff\n", "hello on stderr\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
}

func testStopBusy(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	cfg := h.Task(t, "spin", "spin")
	start(t, d, cfg)
	WaitForLog(t, cfg, "started\n")
	ch, err := d.Wait(t.Context(), cfg.ID)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	const grace = 500 * time.Millisecond
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	if err := d.Stop(ctx, cfg.ID, grace); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(began); took > grace+10*time.Second {
		t.Errorf("Stop took %v with a grace of %v", took, grace)
	}
	select {
	case res, ok := <-ch:
		if !ok {
			t.Fatal("Wait channel closed without a result")
		}
		if res.Successful() {
			t.Errorf("stopped busy task reported successful: %+v", res)
		}
		if res.Reason != runtimes.ReasonStopped {
			t.Errorf("reason %q, want %q", res.Reason, runtimes.ReasonStopped)
		}
	case <-time.After(Timeout):
		t.Fatal("no exit on the Wait channel after Stop returned")
	}
}

func testStopExited(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	cfg := h.Task(t, "stop-exited", "exit", "0")
	start(t, d, cfg)
	WaitExit(t, d, cfg.ID)
	if err := d.Stop(t.Context(), cfg.ID, time.Second); err != nil {
		t.Fatalf("Stop of an exited task: %v", err)
	}
	st, err := d.Inspect(t.Context(), cfg.ID)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if st.Exit == nil || st.Exit.ExitCode != 0 {
		t.Fatalf("Stop changed the exit of an exited task: %+v", st.Exit)
	}
}

func testDestroy(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	cfg := h.Task(t, "destroy", "forever")
	start(t, d, cfg)
	WaitForLog(t, cfg, "started\n")
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	if err := d.Destroy(ctx, cfg.ID); err != nil {
		t.Fatalf("Destroy of a running task: %v", err)
	}
	if _, err := d.Inspect(ctx, cfg.ID); !errors.Is(err, runtimes.ErrTaskNotFound) {
		t.Fatalf("Inspect after Destroy: err %v, want ErrTaskNotFound", err)
	}
	if _, err := d.Wait(ctx, cfg.ID); !errors.Is(err, runtimes.ErrTaskNotFound) {
		t.Fatalf("Wait after Destroy: err %v, want ErrTaskNotFound", err)
	}
	if err := d.Destroy(ctx, cfg.ID); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
	again := h.Task(t, cfg.ID, "exit", "0")
	start(t, d, again)
	expectSuccess(t, WaitExit(t, d, again.ID), again)
}

func testInspect(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	cfg := h.Task(t, "inspect", "forever")
	before := time.Now().Add(-time.Second)
	start(t, d, cfg)
	st, err := d.Inspect(t.Context(), cfg.ID)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if st.ID != cfg.ID || st.State != runtimes.TaskRunning || st.Exit != nil {
		t.Fatalf("Inspect of a running task: %+v", st)
	}
	if st.StartedAt.Before(before) {
		t.Errorf("StartedAt %v is before Start was called (%v)", st.StartedAt, before)
	}
	stop(t, d, cfg.ID)
	st, err = d.Inspect(t.Context(), cfg.ID)
	if err != nil {
		t.Fatalf("Inspect after exit: %v", err)
	}
	if st.State != runtimes.TaskExited || st.Exit == nil {
		t.Fatalf("Inspect of an exited task: %+v", st)
	}
}

func testDuplicateID(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	cfg := h.Task(t, "dup", "forever")
	start(t, d, cfg)
	_, err := d.Start(t.Context(), h.Task(t, "dup", "exit", "0"))
	if !errors.Is(err, runtimes.ErrTaskExists) {
		t.Fatalf("second Start with a live ID: err %v, want ErrTaskExists", err)
	}
	stop(t, d, cfg.ID)
	_, err = d.Start(t.Context(), h.Task(t, "dup", "exit", "0"))
	if !errors.Is(err, runtimes.ErrTaskExists) {
		t.Fatalf("Start with the ID of an exited, not destroyed task: err %v, want ErrTaskExists", err)
	}
}

func testManyWaiters(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	cfg := h.Task(t, "waiters", "sleep", "300ms")
	start(t, d, cfg)
	var chans []<-chan *runtimes.ExitResult
	for range 3 {
		ch, err := d.Wait(t.Context(), cfg.ID)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		chans = append(chans, ch)
	}
	var wg sync.WaitGroup
	for i, ch := range chans {
		wg.Go(func() {
			select {
			case res, ok := <-ch:
				if !ok || res == nil || res.ExitCode != 0 {
					t.Errorf("waiter %d got %+v (open %v), want exit 0", i, res, ok)
					return
				}
				if _, ok := <-ch; ok {
					t.Errorf("waiter %d: channel not closed after the result", i)
				}
			case <-time.After(Timeout):
				t.Errorf("waiter %d got nothing", i)
			}
		})
	}
	wg.Wait()
	// A Wait after the exit gets the result at once.
	late := WaitExit(t, d, cfg.ID)
	if late.ExitCode != 0 {
		t.Fatalf("late Wait got %+v", late)
	}
}

func testUnknownIDs(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	ctx := t.Context()
	if _, err := d.Wait(ctx, "no-such-task"); !errors.Is(err, runtimes.ErrTaskNotFound) {
		t.Errorf("Wait: err %v, want ErrTaskNotFound", err)
	}
	if err := d.Stop(ctx, "no-such-task", time.Second); !errors.Is(err, runtimes.ErrTaskNotFound) {
		t.Errorf("Stop: err %v, want ErrTaskNotFound", err)
	}
	if _, err := d.Inspect(ctx, "no-such-task"); !errors.Is(err, runtimes.ErrTaskNotFound) {
		t.Errorf("Inspect: err %v, want ErrTaskNotFound", err)
	}
	if err := d.Destroy(ctx, "no-such-task"); err != nil {
		t.Errorf("Destroy: err %v, want nil", err)
	}
}

func testRecoverUnknown(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	cfg := h.Task(t, "never-started", "forever")
	hd := &runtimes.TaskHandle{
		ID:        cfg.ID,
		Driver:    d.Capabilities().Runtime,
		Config:    cfg,
		StartedAt: time.Now().Add(-time.Hour),
	}
	if err := d.Recover(t.Context(), hd); !errors.Is(err, runtimes.ErrTaskNotFound) {
		t.Fatalf("Recover of a task that never ran: err %v, want ErrTaskNotFound", err)
	}
}

// closer is the Close every driver has besides the Driver interface.
type closer interface {
	Close(ctx context.Context) error
}

// testRecoverAfterRestart closes the driver that started a task, as an
// agent process exits, and recovers the task from its handle with a new
// driver: a driver whose tasks survive re-attaches to the one running task
// (a second Recover or a Start of the ID makes no second one); any other
// reports ErrTaskNotFound, so that the agent starts it again.
func testRecoverAfterRestart(t *testing.T, h Harness) {
	first := h.NewDriver(t)
	c, ok := first.(closer)
	if !ok {
		t.Skip("driver has no Close(ctx) to end it as an agent process ends")
	}
	cfg := h.Task(t, "recover-after-restart", "forever")
	hd := start(t, first, cfg)
	WaitForLog(t, cfg, "started\n")
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close of the first driver: %v", err)
	}

	second := h.NewDriver(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		_ = second.Destroy(ctx, cfg.ID)
	})
	err := second.Recover(ctx, hd)
	if !second.Capabilities().SurvivesAgentRestart {
		if !errors.Is(err, runtimes.ErrTaskNotFound) {
			t.Fatalf("Recover by a driver whose tasks die with it: err %v, want ErrTaskNotFound", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	st, err := second.Inspect(ctx, cfg.ID)
	if err != nil || st.State != runtimes.TaskRunning {
		t.Fatalf("Inspect after Recover: %+v, %v; want running", st, err)
	}
	if err := second.Recover(ctx, hd); err != nil {
		t.Fatalf("second Recover: %v", err)
	}
	if _, err := second.Start(ctx, h.Task(t, cfg.ID, "forever")); !errors.Is(err, runtimes.ErrTaskExists) {
		t.Fatalf("Start of a recovered ID: err %v, want ErrTaskExists", err)
	}
	// The log goes on from the same process: one start only.
	seen := len(ReadLog(t, cfg))
	deadline := time.Now().Add(Timeout)
	for len(ReadLog(t, cfg)) <= seen {
		if time.Now().After(deadline) {
			t.Fatal("the recovered task's log stopped growing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(ReadLog(t, cfg), "started\n"); n != 1 {
		t.Fatalf("the program started %d times, want once", n)
	}
	stop(t, second, cfg.ID)
	if res := WaitExit(t, second, cfg.ID); res.Reason != runtimes.ReasonStopped {
		t.Fatalf("exit after Stop by the new driver: %+v, want reason %s", res, runtimes.ReasonStopped)
	}
}

func testMountReadWrite(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	host := t.TempDir()
	cfg := h.Task(t, "mount-rw", "write", "/data/out.txt", "written by the task")
	cfg.Mounts = []runtimes.Mount{{HostPath: host, GuestPath: "/data"}}
	start(t, d, cfg)
	expectSuccess(t, WaitExit(t, d, cfg.ID), cfg)
	b, err := os.ReadFile(filepath.Join(host, "out.txt"))
	if err != nil {
		t.Fatalf("the task's file is not on the host: %v", err)
	}
	if string(b) != "written by the task" {
		t.Fatalf("host file holds %q", b)
	}
}

func testMountReadOnly(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "in.txt"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	mounts := []runtimes.Mount{{HostPath: host, GuestPath: "/ro", ReadOnly: true}}

	read := h.Task(t, "mount-ro-read", "cat", "/ro/in.txt")
	read.Mounts = mounts
	start(t, d, read)
	expectSuccess(t, WaitExit(t, d, read.ID), read)
	if got := ReadLog(t, read); got != "from the host" {
		t.Fatalf("cat printed %q, want %q", got, "from the host")
	}

	write := h.Task(t, "mount-ro-write", "write", "/ro/new.txt", "nope")
	write.Mounts = mounts
	start(t, d, write)
	res := WaitExit(t, d, write.ID)
	if res.Successful() {
		t.Fatalf("write to a read-only mount succeeded: %+v; log %q", res, ReadLog(t, write))
	}
	if _, err := os.Stat(filepath.Join(host, "new.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file appeared in the read-only host dir: %v", err)
	}
}

func testMemoryLimit(t *testing.T, h Harness) {
	d := h.NewDriver(t)
	if !d.Capabilities().MemoryLimit {
		t.Skip("driver does not enforce memory limits")
	}
	const limit = 64 << 20

	within := h.Task(t, "alloc-within", "alloc", "8")
	within.MemoryLimitBytes = limit
	start(t, d, within)
	expectSuccess(t, WaitExit(t, d, within.ID), within)

	beyond := h.Task(t, "alloc-beyond", "alloc", "256")
	beyond.MemoryLimitBytes = limit
	start(t, d, beyond)
	res := WaitExit(t, d, beyond.ID)
	if res.Successful() {
		t.Fatalf("allocating 256 MiB under a 64 MiB limit succeeded: %+v; log %q", res, ReadLog(t, beyond))
	}
	if strings.Contains(ReadLog(t, beyond), "allocated") {
		t.Fatal("the task reported its allocation done")
	}
	t.Logf("exit beyond the limit: %+v", res)
}

// start starts cfg and arranges its Destroy on cleanup.
func start(t *testing.T, d runtimes.Driver, cfg *runtimes.TaskConfig) *runtimes.TaskHandle {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	hd, err := d.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start %s: %v", cfg.ID, err)
	}
	if hd == nil || hd.ID != cfg.ID {
		t.Fatalf("Start %s returned handle %+v", cfg.ID, hd)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		_ = d.Destroy(ctx, cfg.ID)
	})
	return hd
}

func stop(t *testing.T, d runtimes.Driver, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	if err := d.Stop(ctx, id, time.Second); err != nil {
		t.Fatalf("Stop %s: %v", id, err)
	}
}

// WaitExit waits up to Timeout for the task's exit.
func WaitExit(t testing.TB, d runtimes.Driver, id string) *runtimes.ExitResult {
	t.Helper()
	ch, err := d.Wait(context.Background(), id)
	if err != nil {
		t.Fatalf("Wait %s: %v", id, err)
	}
	select {
	case res, ok := <-ch:
		if !ok || res == nil {
			t.Fatalf("Wait %s: channel closed without a result", id)
		}
		return res
	case <-time.After(Timeout):
		t.Fatalf("task %s did not exit within %v", id, Timeout)
		return nil
	}
}

// ReadLog returns the task's log file, empty if it does not exist yet.
func ReadLog(t testing.TB, cfg *runtimes.TaskConfig) string {
	t.Helper()
	b, err := os.ReadFile(cfg.LogPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read log of %s: %v", cfg.ID, err)
	}
	return string(b)
}

// WaitForLog polls the task's log until it contains want.
func WaitForLog(t testing.TB, cfg *runtimes.TaskConfig, want string) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		if strings.Contains(ReadLog(t, cfg), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s never contained %q; it holds %q", cfg.ID, want, ReadLog(t, cfg))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func expectSuccess(t *testing.T, res *runtimes.ExitResult, cfg *runtimes.TaskConfig) {
	t.Helper()
	if !res.Successful() {
		t.Fatalf("task %s failed: %+v; log %q", cfg.ID, res, ReadLog(t, cfg))
	}
}
