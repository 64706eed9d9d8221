package wasm

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/skiff-sh/skiff/runtimes"
)

// DriverName is the value of TaskHandle.Driver and Capabilities.Runtime.
const DriverName = "wasm"

// Options configure a Driver. The zero value works: modules are compiled in
// memory only and the driver logs nothing.
type Options struct {
	// CacheDir holds wazero's on-disk compilation cache, so that a restarted
	// agent loads a module it compiled before in tens of milliseconds
	// instead of compiling it again (hundreds of milliseconds for a Go
	// module). Empty means no on-disk cache. The interpreter compiles
	// nothing to machine code and uses no cache.
	CacheDir string
	// Logger receives the driver's own log lines; nil discards them.
	Logger *slog.Logger
	// Interpreter runs modules on wazero's interpreter even where its
	// compiler works. On GOARCH other than amd64 and arm64 (armv7 among
	// them) the interpreter is always used, as wazero has no compiler there.
	Interpreter bool
	// DefaultMemoryLimitBytes caps the linear memory of a task whose
	// TaskConfig.MemoryLimitBytes is 0, as if it had asked for it: without
	// it, one module that allocates without end takes the node's memory,
	// and the agent (in whose process modules run) with it. 0 means no
	// cap. The agent sets it from agent.wasmDefaultMemoryLimit (128Mi).
	DefaultMemoryLimitBytes int64
}

// Driver runs WASI preview1 command modules on wazero. It implements
// runtimes.Driver; every method is safe for concurrent use.
//
// # Notes
//
//   - One wazero runtime serves every task. A module binary is compiled once,
//     keyed by the sha256 of its bytes (found from path, size and mtime
//     without reading the file again), and each Start instantiates that
//     compiled module, so starting an already compiled module costs about a
//     millisecond. Compiled modules no task uses are kept for quick restarts,
//     the least recently used beyond eight are closed.
//   - Memory limits are per task although wazero's WithMemoryLimitPages is
//     per runtime: the driver hands each instance an
//     experimental.MemoryAllocator that refuses to grow linear memory past
//     TaskConfig.MemoryLimitBytes (rounded down to whole 64 KiB pages). A
//     runtime per distinct limit would have to decode the module again for
//     every limit and could not tell that the guest ran out of memory; the
//     allocator shares all compiled code and sees each refused growth. The
//     limit covers the guest's linear memory, not the host's compiled code;
//     a limit of 4 GiB or more is no limit, as a 32-bit memory cannot grow
//     past 4 GiB anyway.
//   - A task without a memory limit gets Options.DefaultMemoryLimitBytes;
//     when it is reached, the exit's Message says it was the default.
//   - OOM rule: a task that asked for more memory than its limit allows and
//     then did not exit 0 is reported with OOMKilled true and Reason
//     runtimes.ReasonOOMKilled, keeping its own exit code (a Go program
//     prints "fatal error: out of memory" and exits 2). A module whose
//     initial memory is already above the limit is not instantiated: Start
//     succeeds and the task is at once reported exited that way, with exit
//     code 137 and a message giving both sizes.
//   - Stop: Wasm has no signals, so there is nothing to ask a module to
//     stop gracefully; Stop closes the module at once and ignores grace.
//     Modules run with wazero's WithCloseOnContextDone, so busy loops end
//     too, and a sleeping module is woken. A stopped task reports exit code
//     137 (128+SIGKILL, as for a killed container) and Reason
//     runtimes.ReasonStopped, unless it had already exited by itself.
//   - A trap (unreachable, out-of-bounds access, stack overflow) reports
//     exit code 134 (128+SIGABRT, as wasmtime does) with the trap in Message.
//   - Recover returns runtimes.ErrTaskNotFound for every handle from an
//     earlier agent process: modules live in the agent's process and die
//     with it (Capabilities.SurvivesAgentRestart is false). For a task this
//     Driver runs, Recover returns nil: it is attached already.
//   - argv is TaskConfig.Command followed by Args, with the container name
//     (or, lacking one, the task ID) as argv[0] when Command is empty.
//     WorkingDir is passed as PWD, which Go's wasip1 port uses as its
//     working directory, unless Env sets PWD. Mounts become WASI preopened
//     directories, read-only when asked. stdout and stderr are appended to
//     one file, TaskConfig.LogPath, in the order written; with no LogPath
//     they are discarded. Stdin is empty.
//   - A guest cannot leave its mounts. Each is served through an os.Root
//     opened on the host directory (not wazero's WithDirMount, whose
//     kernel-side path joins follow symlinks anywhere), so every path
//     operation resolves beneath the mount: ".." above it and symlinks that
//     are absolute or climb out, made by the guest or already there, fail
//     with EPERM. Symlinks a guest makes must be relative without ".." (so
//     they point inside wherever they are moved, also for host programs);
//     hard links never follow a symlink; a guest's permission bits are
//     kept to rwx (no setuid files); read-only mounts refuse every change
//     with EROFS. See mountfs.go for the reasons.
//   - CPU limits (TaskConfig.CPUMillis below 1000) are a CPU-time budget,
//     not throttling: wazero cannot pause a running module, only close it.
//     A task with a limit runs on its own OS thread
//     (runtime.LockOSThread), whose CPU time Linux keeps per thread; a
//     driver goroutine reads it every 100 ms and charges it to a token
//     bucket that fills at the limit's rate (100m: 0.1 s of CPU per
//     second) up to limit × 5 s (at least 100 ms). When the bucket runs
//     dry the module is closed (WithCloseOnContextDone ends even a loop
//     without calls) and reported with exit code 137 and Reason
//     ReasonCPULimitExceeded. So a busy loop under 100m is stopped after
//     about 0.6 s of CPU, and the agent's restart back-off (10 s, then
//     doubling) keeps it well under its limit on average. A limit of one
//     CPU or more imposes nothing, as a module uses one thread. Off Linux
//     there is no per-thread CPU clock and no CPU limit
//     (Capabilities.CPULimit is false).
//   - Clocks, sleep and random bytes are the host's (wall and monotonic
//     clocks, crypto/rand), so time.Sleep and crypto work in guests.
type Driver struct {
	log     *slog.Logger
	runtime wazero.Runtime
	cache   wazero.CompilationCache // nil without CacheDir
	engine  string

	// defaultMemory is Options.DefaultMemoryLimitBytes.
	defaultMemory int64

	// ctx is the parent of every task's and compilation's context; Close
	// cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // task and compile goroutines, Starts under way

	// cpuKick wakes the CPU watcher when a task with a budget starts.
	cpuKick chan struct{}

	mu       sync.Mutex
	closed   bool
	tasks    map[string]*task
	starting map[string]struct{} // IDs whose Start is under way
	modules  map[string]*compiledModule
	digests  map[fileKey]string
}

var _ runtimes.Driver = (*Driver)(nil)

// New returns a Driver with its wazero runtime and WASI preview1 ready.
func New(opts Options) (*Driver, error) {
	if opts.DefaultMemoryLimitBytes < 0 {
		return nil, fmt.Errorf("wasm driver: default memory limit: %d is negative", opts.DefaultMemoryLimitBytes)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rcfg, engine := runtimeConfig(goruntime.GOARCH, opts.Interpreter)
	rcfg = rcfg.WithCloseOnContextDone(true)
	var cache wazero.CompilationCache
	if opts.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm driver: compilation cache %s: %w", opts.CacheDir, err)
		}
		cache = c
		rcfg = rcfg.WithCompilationCache(cache)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt := wazero.NewRuntimeWithConfig(ctx, rcfg)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		cancel()
		_ = rt.Close(ctx)
		if cache != nil {
			_ = cache.Close(ctx)
		}
		return nil, fmt.Errorf("wasm driver: instantiate WASI preview1: %w", err)
	}
	log.Debug("wasm driver ready", "engine", engine, "cacheDir", opts.CacheDir)
	d := &Driver{
		log:      log,
		runtime:  rt,
		cache:    cache,
		engine:   engine,
		ctx:      ctx,
		cancel:   cancel,
		cpuKick:  make(chan struct{}, 1),
		tasks:    map[string]*task{},
		starting: map[string]struct{}{},
		modules:  map[string]*compiledModule{},
		digests:  map[fileKey]string{},

		defaultMemory: opts.DefaultMemoryLimitBytes,
	}
	d.wg.Add(1)
	go d.watchCPU()
	return d, nil
}

// runtimeConfig picks wazero's compiler where it has one and the
// interpreter elsewhere. wazero.NewRuntimeConfigCompiler panics on an
// unsupported platform, so the compiler is chosen through NewRuntimeConfig,
// which falls back to the interpreter by itself on an unsupported OS.
func runtimeConfig(goarch string, interpreter bool) (wazero.RuntimeConfig, string) {
	if interpreter || (goarch != "amd64" && goarch != "arm64") {
		return wazero.NewRuntimeConfigInterpreter(), "interpreter"
	}
	return wazero.NewRuntimeConfig(), "compiler"
}

// Close stops every task, waits for them to end and releases the runtime
// and the compiled modules. The on-disk cache stays. Calls after the first
// return nil; other methods return an error once Close began, except Wait,
// Inspect and Destroy on tasks already known.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	for _, t := range d.tasks {
		t.stopRequested.Store(true)
	}
	d.mu.Unlock()
	d.cancel()

	// The waiter ends once every task and compile goroutine has; all of
	// them were just cancelled.
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("close wasm driver: wait for tasks: %w", ctx.Err())
	}

	var errs []error
	d.mu.Lock()
	for _, m := range d.modules {
		if m.compiled() {
			errs = append(errs, m.code.Close(ctx))
		}
	}
	clear(d.modules)
	d.mu.Unlock()
	errs = append(errs, d.runtime.Close(ctx))
	if d.cache != nil {
		errs = append(errs, d.cache.Close(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close wasm driver: %w", err)
	}
	return nil
}

// Capabilities implements runtimes.Driver.
func (d *Driver) Capabilities() runtimes.Capabilities {
	return runtimes.Capabilities{Runtime: DriverName, MemoryLimit: true, CPULimit: threadClocksSupported, Engine: d.engine}
}

// Start implements runtimes.Driver. It compiles the module unless a
// compiled copy is at hand, instantiates it and returns once its _start
// function runs in a goroutine of the driver.
//
// Errors: runtimes.ErrTaskExists for a live ID; runtimes.ErrInvalidImage
// when the module file is missing or unreadable, is not valid Wasm, or
// imports something other than WASI preview1 (wazero's reason is in the
// message); runtimes.ErrCommandNotFound when the module exports no _start
// (it is a library, not a WASI command). A config the driver cannot carry
// out (an empty ID, a missing mount directory, a NUL in an argument) is an
// error naming the field.
func (d *Driver) Start(ctx context.Context, cfg *runtimes.TaskConfig) (*runtimes.TaskHandle, error) {
	if err := checkConfig(cfg); err != nil {
		return nil, fmt.Errorf("start wasm task: %w", err)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, fmt.Errorf("start wasm task %s: %w", cfg.ID, errClosed)
	}
	_, live := d.tasks[cfg.ID]
	_, starting := d.starting[cfg.ID]
	if live || starting {
		d.mu.Unlock()
		return nil, fmt.Errorf("start wasm task %s: %w", cfg.ID, runtimes.ErrTaskExists)
	}
	d.starting[cfg.ID] = struct{}{}
	// Close waits for Starts under way before it closes the runtime.
	d.wg.Add(1)
	defer d.wg.Done()
	d.mu.Unlock()

	h, err := d.start(ctx, cloneConfig(cfg))
	if err != nil {
		d.mu.Lock()
		delete(d.starting, cfg.ID)
		d.mu.Unlock()
		return nil, fmt.Errorf("start wasm task %s: %w", cfg.ID, err)
	}
	return h, nil
}

func (d *Driver) start(ctx context.Context, cfg *runtimes.TaskConfig) (*runtimes.TaskHandle, error) {
	began := time.Now()
	m, err := d.loadModule(ctx, cfg.Image)
	if err != nil {
		return nil, err
	}
	if !m.hasStart {
		d.releaseModule(m)
		return nil, fmt.Errorf("%w: module %s exports no _start function: it is not a WASI command",
			runtimes.ErrCommandNotFound, cfg.Image)
	}

	t := newTask(d.ctx, cfg, m)
	t.cpu = newCPUBudget(cfg.CPUMillis)
	t.memory = d.memoryLimitFor(cfg)
	if t.memory != nil && m.minMemory > t.memory.limit {
		return d.startOverLimit(t, m.minMemory)
	}

	mcfg, err := moduleConfig(cfg, t)
	if err != nil {
		d.releaseModule(m)
		t.cancel()
		return nil, err
	}

	ictx := t.ctx
	if t.memory != nil {
		ictx = experimental.WithMemoryAllocator(ictx, t.memory)
	}
	mod, err := d.runtime.InstantiateModule(ictx, m.code, mcfg)
	if err != nil {
		d.releaseModule(m)
		t.cancel()
		t.closeFiles()
		return nil, fmt.Errorf("%w: instantiate module %s: %w", runtimes.ErrInvalidImage, cfg.Image, err)
	}
	if t.memory != nil && t.memory.initial.Load() > t.memory.limit {
		// An unexported memory, found too big only now.
		_ = mod.Close(context.Background())
		t.closeFiles()
		return d.startOverLimit(t, t.memory.initial.Load())
	}
	t.mod = mod
	h, err := d.register(t, func() { d.run(t) })
	if err != nil {
		_ = mod.Close(context.Background())
		d.releaseModule(m)
		t.cancel()
		t.closeFiles()
		return nil, err
	}
	d.log.Debug("started wasm task", "task", cfg.ID, "module", cfg.Image,
		"digest", m.digest, "duration", time.Since(began))
	return h, nil
}

// startOverLimit registers t as exited at once, OOMKilled: its module needs
// more memory to start than the limit allows.
func (d *Driver) startOverLimit(t *task, need uint64) (*runtimes.TaskHandle, error) {
	d.releaseModule(t.module)
	t.cancel()
	t.finish(&runtimes.ExitResult{
		ExitCode:  exitCodeKilled,
		OOMKilled: true,
		Reason:    runtimes.ReasonOOMKilled,
		Message: fmt.Sprintf("module needs %d bytes of memory to start, above the limit of %d bytes%s",
			need, t.memory.limit, t.memory.note()),
		FinishedAt: time.Now(),
	})
	return d.register(t, nil)
}

// memoryLimitFor returns the cap of cfg's linear memory: its own limit, or
// the driver's default without one; nil for none (4 GiB or more is none, as
// a 32-bit memory cannot grow past 4 GiB).
func (d *Driver) memoryLimitFor(cfg *runtimes.TaskConfig) *memoryLimit {
	limit, byDefault := cfg.MemoryLimitBytes, false
	if limit == 0 {
		limit, byDefault = d.defaultMemory, true
	}
	if limit <= 0 || uint64(limit) >= 1<<32 {
		return nil
	}
	l := newMemoryLimit(limit)
	l.byDefault = byDefault
	return l
}

// register makes t visible and starts run, if any, in a goroutine the
// driver waits for on Close.
func (d *Driver) register(t *task, run func()) (*runtimes.TaskHandle, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	delete(d.starting, t.cfg.ID)
	d.tasks[t.cfg.ID] = t
	if run != nil {
		d.wg.Add(1)
		go run()
		if t.cpu != nil {
			select {
			case d.cpuKick <- struct{}{}:
			default:
			}
		}
	}
	state, _ := json.Marshal(driverState{ModuleDigest: t.module.digest})
	return &runtimes.TaskHandle{
		ID:          t.cfg.ID,
		Driver:      DriverName,
		Config:      cloneConfig(t.cfg),
		StartedAt:   t.startedAt,
		DriverState: state,
	}, nil
}

// driverState is TaskHandle.DriverState: informational only, as nothing of
// a Wasm task survives the agent process.
type driverState struct {
	ModuleDigest string `json:"moduleDigest"`
}

// run calls _start and reports the exit; it owns the instance.
func (d *Driver) run(t *task) {
	defer d.wg.Done()
	if t.cpu != nil {
		// The thread's CPU time is the module's only while no other
		// goroutine runs on it.
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		if err := t.cpu.attach(time.Now()); err != nil {
			d.log.Warn("cannot account the CPU time of a wasm task; its CPU limit is not enforced", "task", t.cfg.ID, "err", err)
		}
	}
	start := t.mod.ExportedFunction("_start")
	_, err := start.Call(t.ctx)
	res := t.exitResult(err)
	_ = t.mod.Close(context.Background())
	t.cancel()
	t.closeFiles()
	d.releaseModule(t.module)
	t.finish(res)
	d.log.Debug("wasm task exited", "task", t.cfg.ID, "exitCode", res.ExitCode,
		"reason", res.Reason, "oomKilled", res.OOMKilled)
}

// Wait implements runtimes.Driver.
func (d *Driver) Wait(_ context.Context, id string) (<-chan *runtimes.ExitResult, error) {
	t, err := d.lookup(id)
	if err != nil {
		return nil, fmt.Errorf("wait for wasm task %s: %w", id, err)
	}
	return t.wait(), nil
}

// Stop implements runtimes.Driver. It closes the module at once; grace is
// ignored because a Wasm module cannot be asked to stop (see the Notes on
// Driver). It returns when the task has exited, or ctx's error.
func (d *Driver) Stop(ctx context.Context, id string, _ time.Duration) error {
	t, err := d.lookup(id)
	if err != nil {
		return fmt.Errorf("stop wasm task %s: %w", id, err)
	}
	if err := t.stop(ctx); err != nil {
		return fmt.Errorf("stop wasm task %s: %w", id, err)
	}
	return nil
}

// Destroy implements runtimes.Driver.
func (d *Driver) Destroy(ctx context.Context, id string) error {
	t, err := d.lookup(id)
	if err != nil {
		return nil // destroying an unknown task is not an error
	}
	if err := t.stop(ctx); err != nil {
		return fmt.Errorf("destroy wasm task %s: %w", id, err)
	}
	d.mu.Lock()
	if d.tasks[id] == t {
		delete(d.tasks, id)
	}
	d.mu.Unlock()
	return nil
}

// Inspect implements runtimes.Driver.
func (d *Driver) Inspect(_ context.Context, id string) (*runtimes.TaskStatus, error) {
	t, err := d.lookup(id)
	if err != nil {
		return nil, fmt.Errorf("inspect wasm task %s: %w", id, err)
	}
	return t.status(), nil
}

// Recover implements runtimes.Driver; see the Notes on Driver.
func (d *Driver) Recover(_ context.Context, h *runtimes.TaskHandle) error {
	if h == nil {
		return errors.New("recover wasm task: nil handle")
	}
	if _, err := d.lookup(h.ID); err == nil {
		return nil
	}
	return fmt.Errorf("recover wasm task %s: modules do not outlive the agent process: %w",
		h.ID, runtimes.ErrTaskNotFound)
}

func (d *Driver) lookup(id string) (*task, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.tasks[id]; ok {
		return t, nil
	}
	return nil, runtimes.ErrTaskNotFound
}

// checkConfig rejects what the driver cannot carry out, naming the field.
func checkConfig(cfg *runtimes.TaskConfig) error {
	if cfg == nil {
		return errors.New("config: missing")
	}
	if cfg.ID == "" {
		return errors.New("id: empty")
	}
	if cfg.Image == "" {
		return fmt.Errorf("%w: image: empty module path", runtimes.ErrInvalidImage)
	}
	if cfg.MemoryLimitBytes < 0 {
		return fmt.Errorf("memoryLimitBytes: %d is negative", cfg.MemoryLimitBytes)
	}
	for i, a := range cfg.Command {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("command[%d]: contains a NUL byte", i)
		}
	}
	for i, a := range cfg.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("args[%d]: contains a NUL byte", i)
		}
	}
	for i, e := range cfg.Env {
		switch {
		case e.Name == "":
			return fmt.Errorf("env[%d].name: empty", i)
		case strings.ContainsAny(e.Name, "=\x00"):
			return fmt.Errorf("env[%d].name: %q contains '=' or NUL", i, e.Name)
		case strings.IndexByte(e.Value, 0) >= 0:
			return fmt.Errorf("env[%d].value: contains a NUL byte", i)
		}
	}
	seen := map[string]bool{}
	for i, mt := range cfg.Mounts {
		if mt.HostPath == "" {
			return fmt.Errorf("mounts[%d].hostPath: empty", i)
		}
		if !path.IsAbs(mt.GuestPath) {
			return fmt.Errorf("mounts[%d].guestPath: %q is not an absolute path", i, mt.GuestPath)
		}
		g := path.Clean(mt.GuestPath)
		if seen[g] {
			return fmt.Errorf("mounts[%d].guestPath: %s is mounted twice", i, g)
		}
		seen[g] = true
		st, err := os.Stat(mt.HostPath)
		if err != nil {
			return fmt.Errorf("mounts[%d].hostPath: %w", i, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("mounts[%d].hostPath: %s is not a directory", i, mt.HostPath)
		}
	}
	return nil
}

// moduleConfig turns cfg into wazero's module configuration, opens the
// mounts and the log file and hands them to t, which closes them
// (closeFiles) once the instance is closed. On error nothing stays open.
func moduleConfig(cfg *runtimes.TaskConfig, t *task) (wazero.ModuleConfig, error) {
	argv := cfg.Command
	if len(argv) == 0 {
		name := cfg.ContainerName
		if name == "" {
			name = cfg.ID
		}
		argv = []string{name}
	}
	argv = append(slices.Clip(argv), cfg.Args...)

	mc := wazero.NewModuleConfig().
		WithName("").         // anonymous: many instances of one module
		WithStartFunctions(). // _start runs in the task goroutine, not in Start
		WithArgs(argv...).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(t.nanosleep).
		WithOsyield(goruntime.Gosched).
		WithRandSource(rand.Reader)

	hasPWD := false
	for _, e := range cfg.Env {
		mc = mc.WithEnv(e.Name, e.Value)
		hasPWD = hasPWD || e.Name == "PWD"
	}
	if cfg.WorkingDir != "" && !hasPWD {
		mc = mc.WithEnv("PWD", cfg.WorkingDir)
	}

	if len(cfg.Mounts) > 0 {
		fsc, roots, err := openMounts(cfg.Mounts)
		if err != nil {
			return nil, err
		}
		t.roots = roots
		mc = mc.WithFSConfig(fsc)
	}

	if cfg.LogPath == "" {
		return mc, nil
	}
	if err := os.MkdirAll(filepath.Dir(cfg.LogPath), 0o755); err != nil {
		t.closeFiles()
		return nil, fmt.Errorf("logPath: %w", err)
	}
	f, err := os.OpenFile(cfg.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		t.closeFiles()
		return nil, fmt.Errorf("logPath: %w", err)
	}
	t.logFile = f
	w := &logWriter{f: f}
	return mc.WithStdout(w).WithStderr(w), nil
}

// cloneConfig copies cfg deeply enough that the caller may reuse its slices.
func cloneConfig(cfg *runtimes.TaskConfig) *runtimes.TaskConfig {
	c := *cfg
	c.Command = slices.Clone(cfg.Command)
	c.Args = slices.Clone(cfg.Args)
	c.Env = slices.Clone(cfg.Env)
	c.Mounts = slices.Clone(cfg.Mounts)
	return &c
}
