package wasm_test

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/wasm"
	"github.com/skiff-sh/skiff/testbed/fixtures"
)

// processCPU is the CPU time this test process has used.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func waitExit(t *testing.T, d *wasm.Driver, id string, within time.Duration) *runtimes.ExitResult {
	t.Helper()
	ch, err := d.Wait(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-ch:
		return res
	case <-time.After(within):
		t.Fatalf("task %s still runs after %s", id, within)
		return nil
	}
}

// A busy loop under limits.cpu 100m may not take the node: over 5 s (or
// longer, on a busy machine, until the module was stopped) the whole
// process uses at most 0.2 CPU, and the module ends with CPULimitExceeded.
func TestSpinningModuleWithCPULimitStaysWithinItsBudget(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU limits need Linux's per-thread CPU clocks")
	}
	probe := fixtures.BuildWasm(t, "probe")
	d := newDriver(t, wasm.Options{CacheDir: t.TempDir()})
	if !d.Capabilities().CPULimit {
		t.Fatal("Capabilities().CPULimit is false on Linux")
	}
	// Compile first, so that the window measures only the module.
	warm := taskFor(t, "warm", probe, "hello")
	mustStart(t, d, warm)
	waitExit(t, d, "warm", 30*time.Second)

	const window = 5 * time.Second
	spin := taskFor(t, "spin", probe, "spin")
	spin.CPUMillis = 100
	before, began := processCPU(t), time.Now()
	mustStart(t, d, spin)
	// The budget is CPU time: on a busy machine the module's thread gets
	// less of a CPU and takes longer in wall-clock time to use it up, so
	// the wait is generous and the window grows with it.
	res := waitExit(t, d, "spin", 60*time.Second)
	stoppedAfter := time.Since(began)
	<-time.After(time.Until(began.Add(window))) // the rest of the measured window
	used := processCPU(t) - before
	measured := max(window, time.Since(began))

	if res.Reason != wasm.ReasonCPULimitExceeded || res.ExitCode != 137 {
		t.Errorf("exit = %+v, want exit code 137 and reason %s", res, wasm.ReasonCPULimitExceeded)
	}
	if res.Message == "" {
		t.Error("no message says how much CPU the module used")
	}
	if limit := measured / 5; used > limit {
		t.Errorf("the process used %s of CPU in %s (%.2f CPU), more than 0.2 CPU", used, measured, used.Seconds()/measured.Seconds())
	}
	t.Logf("spin under 100m: stopped after %s, process CPU %s over %s; %s", stoppedAfter.Round(time.Millisecond), used.Round(time.Millisecond), measured, res.Message)
}

// A module that mostly sleeps stays well inside a small budget.
func TestModuleWithinItsCPULimitKeepsRunning(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU limits need Linux's per-thread CPU clocks")
	}
	probe := fixtures.BuildWasm(t, "probe")
	d := newDriver(t, wasm.Options{CacheDir: t.TempDir()})
	cfg := taskFor(t, "ticker", probe, "forever")
	cfg.CPUMillis = 50
	mustStart(t, d, cfg)
	ch, err := d.Wait(t.Context(), "ticker")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-ch:
		t.Fatalf("a ticking module under 50m was stopped: %+v", res)
	case <-time.After(1500 * time.Millisecond): // fifteen ticks
	}
	if st, err := d.Inspect(t.Context(), "ticker"); err != nil || st.State != runtimes.TaskRunning {
		t.Fatalf("Inspect = %+v, %v; want running", st, err)
	}
}
