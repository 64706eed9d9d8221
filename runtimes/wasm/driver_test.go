package wasm_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/runtimetest"
	"github.com/skiff-sh/skiff/runtimes/wasm"
	"github.com/skiff-sh/skiff/testbed/fixtures"
)

// Hand-assembled modules, section by section.
var (
	wasmHeader           = []byte("\x00asm\x01\x00\x00\x00")
	typeVoidFunc         = []byte{0x01, 0x04, 0x01, 0x60, 0x00, 0x00}                               // type 0: func()
	funcOfType0          = []byte{0x03, 0x02, 0x01, 0x00}                                           // one function of type 0
	exportStart0         = []byte{0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00} // _start = func 0
	codeNop              = []byte{0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b}                               // body: end
	codeTrap             = []byte{0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b}                         // body: unreachable
	memory20             = []byte{0x05, 0x03, 0x01, 0x00, 0x14}                                     // memory of 20 pages at least
	importEnvFn          = []byte{0x02, 0x0f, 0x01, 0x03, 'e', 'n', 'v', 0x07, 'm', 'i', 's', 's', 'i', 'n', 'g', 0x00, 0x00}
	exportStartAndMemory = []byte{0x07, 0x13, 0x02,
		0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00, // _start = func 0
		0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00} // memory = memory 0
	exportStart1 = []byte{0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x01} // _start = func 1
)

func writeModule(t *testing.T, sections ...[]byte) string {
	t.Helper()
	b := append([]byte{}, wasmHeader...)
	for _, s := range sections {
		b = append(b, s...)
	}
	p := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func taskFor(t *testing.T, id, image string, args ...string) *runtimes.TaskConfig {
	return &runtimes.TaskConfig{
		ID:            id,
		ContainerName: "c",
		Image:         image,
		Args:          args,
		LogPath:       filepath.Join(t.TempDir(), id+".log"),
	}
}

func mustStart(t *testing.T, d *wasm.Driver, cfg *runtimes.TaskConfig) {
	t.Helper()
	if _, err := d.Start(t.Context(), cfg); err != nil {
		t.Fatalf("Start %s: %v", cfg.ID, err)
	}
}

func TestStartRejectsAFileThatIsNotWasm(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	p := filepath.Join(t.TempDir(), "bad.wasm")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := d.Start(t.Context(), taskFor(t, "bad", p))
	if !errors.Is(err, runtimes.ErrInvalidImage) {
		t.Fatalf("err %v, want ErrInvalidImage", err)
	}
	if !strings.Contains(err.Error(), "magic") {
		t.Errorf("err %q does not carry wazero's reason (invalid magic number)", err)
	}
	// The ID stays free after a failed Start.
	if _, err := d.Inspect(t.Context(), "bad"); !errors.Is(err, runtimes.ErrTaskNotFound) {
		t.Errorf("Inspect after a failed Start: %v, want ErrTaskNotFound", err)
	}
}

func TestStartRejectsAMissingModuleNamingThePath(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	p := filepath.Join(t.TempDir(), "missing.wasm")
	_, err := d.Start(t.Context(), taskFor(t, "missing", p))
	if !errors.Is(err, runtimes.ErrInvalidImage) {
		t.Fatalf("err %v, want ErrInvalidImage", err)
	}
	if !strings.Contains(err.Error(), p) {
		t.Errorf("err %q does not name %s", err, p)
	}
}

func TestStartRejectsAModuleWithoutStartAsCommandNotFound(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	_, err := d.Start(t.Context(), taskFor(t, "lib", writeModule(t)))
	if !errors.Is(err, runtimes.ErrCommandNotFound) {
		t.Fatalf("err %v, want ErrCommandNotFound", err)
	}
}

func TestStartRejectsAModuleWithUnknownImports(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	p := writeModule(t, typeVoidFunc, importEnvFn, funcOfType0, exportStart1, codeNop)
	_, err := d.Start(t.Context(), taskFor(t, "imports", p))
	if !errors.Is(err, runtimes.ErrInvalidImage) {
		t.Fatalf("err %v, want ErrInvalidImage", err)
	}
	if !strings.Contains(err.Error(), "env") {
		t.Errorf("err %q does not name the missing import module", err)
	}
}

func TestStartRejectsConfigsItCannotRunNamingTheField(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	probe := fixtures.BuildWasm(t, "probe")
	tests := []struct {
		name   string
		modify func(*runtimes.TaskConfig)
		want   string
	}{
		{"empty id", func(c *runtimes.TaskConfig) { c.ID = "" }, "id"},
		{"empty image", func(c *runtimes.TaskConfig) { c.Image = "" }, "image"},
		{"negative memory", func(c *runtimes.TaskConfig) { c.MemoryLimitBytes = -1 }, "memoryLimitBytes"},
		{"NUL in args", func(c *runtimes.TaskConfig) { c.Args = []string{"a\x00b"} }, "args[0]"},
		{"= in env name", func(c *runtimes.TaskConfig) { c.Env = []runtimes.EnvVar{{Name: "A=B"}} }, "env[0].name"},
		{"empty env name", func(c *runtimes.TaskConfig) { c.Env = []runtimes.EnvVar{{Value: "x"}} }, "env[0].name"},
		{"missing mount dir", func(c *runtimes.TaskConfig) {
			c.Mounts = []runtimes.Mount{{HostPath: filepath.Join(t.TempDir(), "nope"), GuestPath: "/data"}}
		}, "mounts[0].hostPath"},
		{"relative guest path", func(c *runtimes.TaskConfig) {
			c.Mounts = []runtimes.Mount{{HostPath: t.TempDir(), GuestPath: "data"}}
		}, "mounts[0].guestPath"},
		{"guest path twice", func(c *runtimes.TaskConfig) {
			c.Mounts = []runtimes.Mount{{HostPath: t.TempDir(), GuestPath: "/d"}, {HostPath: t.TempDir(), GuestPath: "/d/"}}
		}, "mounts[1].guestPath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := taskFor(t, "cfg", probe, "hello")
			tt.modify(cfg)
			_, err := d.Start(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one naming %s", err, tt.want)
			}
		})
	}
	if _, err := d.Start(t.Context(), nil); err == nil {
		t.Error("Start(nil) succeeded")
	}
}

func TestCommandThenArgsFormArgv(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	probe := fixtures.BuildWasm(t, "probe")
	cfg := taskFor(t, "argv", probe, "b", "c")
	cfg.Command = []string{"probe", "echo-args", "a"}
	mustStart(t, d, cfg)
	if res := runtimetest.WaitExit(t, d, cfg.ID); !res.Successful() {
		t.Fatalf("exit %+v", res)
	}
	if got := runtimetest.ReadLog(t, cfg); got != "a\nb\nc\n" {
		t.Fatalf("log %q, want the args after echo-args from Command then Args", got)
	}
}

func TestWorkingDirBecomesPWD(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	cfg := taskFor(t, "pwd", fixtures.BuildWasm(t, "probe"), "env")
	cfg.WorkingDir = "/data"
	cfg.Mounts = []runtimes.Mount{{HostPath: t.TempDir(), GuestPath: "/data"}}
	mustStart(t, d, cfg)
	runtimetest.WaitExit(t, d, cfg.ID)
	if got := runtimetest.ReadLog(t, cfg); !strings.Contains(got, "PWD=/data\n") {
		t.Fatalf("env output %q lacks PWD=/data", got)
	}
}

func TestLogIsAppendedAcrossRuns(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	probe := fixtures.BuildWasm(t, "probe")
	logPath := filepath.Join(t.TempDir(), "nested", "c.log")
	for _, id := range []string{"run-1", "run-2"} {
		cfg := taskFor(t, id, probe, "echo-args", id)
		cfg.LogPath = logPath
		mustStart(t, d, cfg)
		runtimetest.WaitExit(t, d, id)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "run-1\nrun-2\n" {
		t.Fatalf("log %q, want both runs appended", b)
	}
}

func TestTaskWithoutLogPathRuns(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	cfg := taskFor(t, "nolog", fixtures.BuildWasm(t, "probe"), "hello")
	cfg.LogPath = ""
	mustStart(t, d, cfg)
	if res := runtimetest.WaitExit(t, d, cfg.ID); !res.Successful() {
		t.Fatalf("exit %+v", res)
	}
}

func TestAllocationBeyondTheLimitIsOOMKilled(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	cfg := taskFor(t, "oom", fixtures.BuildWasm(t, "probe"), "alloc", "128")
	cfg.MemoryLimitBytes = 32<<20 + 1000 // rounded down to whole pages
	mustStart(t, d, cfg)
	res := runtimetest.WaitExit(t, d, cfg.ID)
	if !res.OOMKilled || res.Reason != runtimes.ReasonOOMKilled {
		t.Fatalf("exit %+v, want OOMKilled", res)
	}
	if res.ExitCode != 2 {
		t.Errorf("exit code %d, want the Go runtime's 2", res.ExitCode)
	}
	if !strings.Contains(res.Message, "33554432") {
		t.Errorf("message %q does not give the limit in whole pages (33554432)", res.Message)
	}
	if log := runtimetest.ReadLog(t, cfg); !strings.Contains(log, "out of memory") {
		t.Errorf("log %q lacks the guest's out of memory report", log)
	}
}

func TestTaskWithoutALimitIsOOMKilledPastTheDefault(t *testing.T) {
	d := newDriver(t, wasm.Options{DefaultMemoryLimitBytes: 32 << 20})
	cfg := taskFor(t, "default-oom", fixtures.BuildWasm(t, "probe"), "alloc", "64")
	mustStart(t, d, cfg)
	res := runtimetest.WaitExit(t, d, cfg.ID)
	if !res.OOMKilled || res.Reason != runtimes.ReasonOOMKilled {
		t.Fatalf("exit %+v, want OOMKilled at the default limit", res)
	}
	if !strings.Contains(res.Message, "33554432") || !strings.Contains(res.Message, "default") {
		t.Errorf("message %q does not give the default limit (33554432) as the default", res.Message)
	}

	// Under the default a task runs.
	small := taskFor(t, "default-ok", fixtures.BuildWasm(t, "probe"), "alloc", "4")
	mustStart(t, d, small)
	if res := runtimetest.WaitExit(t, d, small.ID); !res.Successful() {
		t.Fatalf("exit %+v of a task well under the default", res)
	}
}

func TestExplicitMemoryLimitWinsOverTheDefault(t *testing.T) {
	d := newDriver(t, wasm.Options{DefaultMemoryLimitBytes: 32 << 20})
	probe := fixtures.BuildWasm(t, "probe")

	higher := taskFor(t, "higher", probe, "alloc", "64")
	higher.MemoryLimitBytes = 256 << 20
	mustStart(t, d, higher)
	if res := runtimetest.WaitExit(t, d, higher.ID); !res.Successful() {
		t.Fatalf("exit %+v with a limit above the default, want success", res)
	}
	if log := runtimetest.ReadLog(t, higher); !strings.Contains(log, "allocated") {
		t.Errorf("log %q lacks allocated", log)
	}

	lower := taskFor(t, "lower", probe, "alloc", "24")
	lower.MemoryLimitBytes = 16 << 20
	mustStart(t, d, lower)
	res := runtimetest.WaitExit(t, d, lower.ID)
	if !res.OOMKilled || !strings.Contains(res.Message, "16777216") || strings.Contains(res.Message, "default") {
		t.Fatalf("exit %+v, want OOMKilled at its own 16777216 bytes, not the default", res)
	}
}

func TestNewRefusesANegativeDefaultMemoryLimit(t *testing.T) {
	if _, err := wasm.New(wasm.Options{DefaultMemoryLimitBytes: -1}); err == nil || !strings.Contains(err.Error(), "default memory limit") {
		t.Fatalf("New with a negative default: %v, want an error naming the default memory limit", err)
	}
}

func TestFailureWithoutHittingTheLimitIsNotOOM(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	cfg := taskFor(t, "exit-under-limit", fixtures.BuildWasm(t, "probe"), "exit", "5")
	cfg.MemoryLimitBytes = 256 << 20
	mustStart(t, d, cfg)
	res := runtimetest.WaitExit(t, d, cfg.ID)
	if res.OOMKilled || res.Reason != runtimes.ReasonError || res.ExitCode != 5 {
		t.Fatalf("exit %+v, want code 5, Reason Error, not OOMKilled", res)
	}
}

func TestModuleWhoseInitialMemoryExceedsTheLimitIsOOMKilled(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	modules := map[string]string{
		"exported memory":   writeModule(t, typeVoidFunc, funcOfType0, memory20, exportStartAndMemory, codeNop),
		"unexported memory": writeModule(t, typeVoidFunc, funcOfType0, memory20, exportStart0, codeNop),
	}
	for name, p := range modules {
		t.Run(name, func(t *testing.T) {
			cfg := taskFor(t, "small-limit", p)
			cfg.MemoryLimitBytes = 1 << 20 // 16 pages < 20
			mustStart(t, d, cfg)
			res := runtimetest.WaitExit(t, d, cfg.ID)
			if !res.OOMKilled || res.Reason != runtimes.ReasonOOMKilled || res.ExitCode != 137 {
				t.Fatalf("exit %+v, want OOMKilled with 137", res)
			}
			if !strings.Contains(res.Message, "1310720") {
				t.Errorf("message %q does not give the module's initial 1310720 bytes", res.Message)
			}
			if err := d.Destroy(t.Context(), cfg.ID); err != nil {
				t.Fatal(err)
			}

			// Within the limit the same module runs.
			ok := taskFor(t, "enough", p)
			ok.MemoryLimitBytes = 2 << 20
			mustStart(t, d, ok)
			if res := runtimetest.WaitExit(t, d, ok.ID); !res.Successful() {
				t.Fatalf("exit %+v with enough memory", res)
			}
			if err := d.Destroy(t.Context(), ok.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTrapIsReportedAsError134(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	p := writeModule(t, typeVoidFunc, funcOfType0, exportStart0, codeTrap)
	cfg := taskFor(t, "trap", p)
	mustStart(t, d, cfg)
	res := runtimetest.WaitExit(t, d, cfg.ID)
	if res.ExitCode != 134 || res.Reason != runtimes.ReasonError || !strings.Contains(res.Message, "unreachable") {
		t.Fatalf("exit %+v, want 134, Error, a message naming the trap", res)
	}
}

func TestStartReturnsExitZeroForAStartThatReturns(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	cfg := taskFor(t, "nop", writeModule(t, typeVoidFunc, funcOfType0, exportStart0, codeNop))
	mustStart(t, d, cfg)
	if res := runtimetest.WaitExit(t, d, cfg.ID); res.ExitCode != 0 || res.Reason != runtimes.ReasonCompleted {
		t.Fatalf("exit %+v, want 0 Completed", res)
	}
}

func TestStopEndsBusyAndSleepingTasksAtOnce(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	probe := fixtures.BuildWasm(t, "probe")
	for _, args := range [][]string{{"spin"}, {"sleep", "1h"}, {"forever"}} {
		t.Run(args[0], func(t *testing.T) {
			cfg := taskFor(t, args[0], probe, args...)
			mustStart(t, d, cfg)
			runtimetest.WaitForLog(t, cfg, "started\n")
			began := time.Now()
			// A long grace: Wasm cannot be asked to stop, so it is not waited out.
			if err := d.Stop(t.Context(), cfg.ID, time.Hour); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("Stop took %v", took)
			}
			res := runtimetest.WaitExit(t, d, cfg.ID)
			if res.ExitCode != 137 || res.Reason != runtimes.ReasonStopped || res.Successful() {
				t.Fatalf("exit %+v, want 137 Stopped", res)
			}
		})
	}
}

func TestCloseStopsRunningTasksAndRefusesStarts(t *testing.T) {
	d, err := wasm.New(wasm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	probe := fixtures.BuildWasm(t, "probe")
	cfg := taskFor(t, "spin", probe, "spin")
	mustStart(t, d, cfg)
	ch, err := d.Wait(t.Context(), cfg.ID)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if res := <-ch; res.Reason != runtimes.ReasonStopped {
		t.Fatalf("exit after Close %+v, want Stopped", res)
	}
	if _, err := d.Start(t.Context(), taskFor(t, "late", probe, "hello")); err == nil {
		t.Fatal("Start after Close succeeded")
	}
	if err := d.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestRecoverFindsNothingFromAnEarlierProcess(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	probe := fixtures.BuildWasm(t, "probe")
	cfg := taskFor(t, "live", probe, "forever")
	h, err := d.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if h.Driver != "wasm" || h.Config == nil || h.Config.Image != probe || h.StartedAt.IsZero() {
		t.Errorf("handle %+v lacks driver, config or start time", h)
	}
	if err := d.Recover(t.Context(), h); err != nil {
		t.Errorf("Recover of a task this driver runs: %v, want nil", err)
	}

	restarted := newDriver(t, wasm.Options{})
	if err := restarted.Recover(t.Context(), h); !errors.Is(err, runtimes.ErrTaskNotFound) {
		t.Fatalf("Recover in another driver: %v, want ErrTaskNotFound", err)
	}
}

// countingHandler counts log records with a given message.
type countingHandler struct {
	slog.Handler
	mu     sync.Mutex
	counts map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[r.Message]++
	return nil
}

func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[msg]
}

func TestAModuleIsCompiledOnceForManyStarts(t *testing.T) {
	logs := &countingHandler{Handler: slog.DiscardHandler, counts: map[string]int{}}
	d := newDriver(t, wasm.Options{Logger: slog.New(logs)})
	probe := fixtures.BuildWasm(t, "probe")

	// The same bytes under another path share the compiled module too.
	copyPath := filepath.Join(t.TempDir(), "copy.wasm")
	b, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, b, 0o644); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for i := range 8 {
		image := probe
		if i%2 == 1 {
			image = copyPath
		}
		cfg := taskFor(t, "many-"+string(rune('a'+i)), image, "hello")
		wg.Go(func() {
			if _, err := d.Start(t.Context(), cfg); err != nil {
				t.Errorf("Start %s: %v", cfg.ID, err)
				return
			}
			if res := runtimetest.WaitExit(t, d, cfg.ID); !res.Successful() {
				t.Errorf("exit of %s: %+v", cfg.ID, res)
			}
		})
	}
	wg.Wait()
	if n := logs.count("compiled wasm module"); n != 1 {
		t.Fatalf("compiled %d times for 8 starts of one module, want once", n)
	}
}

func TestCompilationCacheDirIsFilledForTheNextProcess(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("the interpreter, used on " + runtime.GOARCH + ", keeps no on-disk cache")
	}
	cacheDir := t.TempDir()
	probe := fixtures.BuildWasm(t, "probe")

	first := newDriver(t, wasm.Options{CacheDir: cacheDir})
	cfg := taskFor(t, "first", probe, "hello")
	mustStart(t, first, cfg)
	runtimetest.WaitExit(t, first, cfg.ID)

	var files int
	err := filepath.WalkDir(cacheDir, func(_ string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			files++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no files in the compilation cache %s after compiling a module", cacheDir)
	}

	// A restarted driver runs the module from the same cache.
	second := newDriver(t, wasm.Options{CacheDir: cacheDir})
	again := taskFor(t, "second", probe, "hello")
	mustStart(t, second, again)
	if res := runtimetest.WaitExit(t, second, again.ID); !res.Successful() {
		t.Fatalf("exit from the cached module %+v", res)
	}
}

func TestNewFailsOnAnUnusableCacheDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := wasm.New(wasm.Options{CacheDir: file}); err == nil {
		t.Fatal("New with a file as cache dir succeeded")
	}
}

func TestCapabilities(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	// CPU limits need Linux's per-thread CPU clocks (see cpu_test.go);
	// wazero compiles on amd64 and arm64 and interprets elsewhere.
	engine := "interpreter"
	if runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" {
		engine = "compiler"
	}
	want := runtimes.Capabilities{Runtime: "wasm", MemoryLimit: true, CPULimit: runtime.GOOS == "linux", Engine: engine}
	if got := d.Capabilities(); got != want {
		t.Fatalf("Capabilities %+v, want %+v", got, want)
	}
	if got := newDriver(t, wasm.Options{Interpreter: true}).Capabilities().Engine; got != "interpreter" {
		t.Errorf("Capabilities().Engine with Options.Interpreter = %q, want interpreter", got)
	}
}

func TestIdleCompiledModulesBeyondEightAreClosedOldestFirst(t *testing.T) {
	logs := &countingHandler{Handler: slog.DiscardHandler, counts: map[string]int{}}
	d := newDriver(t, wasm.Options{Logger: slog.New(logs)})
	var paths []string
	for i := range 10 {
		custom := []byte{0x00, 0x03, 0x01, byte('a' + i), 0x00} // a custom section makes each binary distinct
		paths = append(paths, writeModule(t, typeVoidFunc, funcOfType0, exportStart0, codeNop, custom))
	}
	run := func(id, p string) {
		t.Helper()
		cfg := taskFor(t, id, p)
		mustStart(t, d, cfg)
		if res := runtimetest.WaitExit(t, d, id); !res.Successful() {
			t.Fatalf("exit of %s: %+v", id, res)
		}
		if err := d.Destroy(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range paths {
		run(fmt.Sprintf("m%d", i), p)
	}
	if n := logs.count("compiled wasm module"); n != 10 {
		t.Fatalf("compiled %d modules, want 10", n)
	}
	run("newest-again", paths[9])
	if n := logs.count("compiled wasm module"); n != 10 {
		t.Fatalf("a recently used module was compiled again (%d compilations)", n)
	}
	run("oldest-again", paths[0])
	if n := logs.count("compiled wasm module"); n != 11 {
		t.Fatalf("the oldest idle module was not closed: %d compilations, want 11", n)
	}
}

func TestCloseDuringStartsLeavesNoTaskRunning(t *testing.T) {
	d, err := wasm.New(wasm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	probe := fixtures.BuildWasm(t, "probe")
	var wg sync.WaitGroup
	for i := range 6 {
		cfg := taskFor(t, fmt.Sprintf("racing-%d", i), probe, "forever")
		wg.Go(func() {
			if _, err := d.Start(t.Context(), cfg); err != nil {
				return // refused because Close came first: fine
			}
			res := runtimetest.WaitExit(t, d, cfg.ID)
			if res.Reason != runtimes.ReasonStopped {
				t.Errorf("task %s ended %+v, want Stopped by Close", cfg.ID, res)
			}
		})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
}
