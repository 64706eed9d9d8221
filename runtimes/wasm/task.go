package wasm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/skiff-sh/skiff/runtimes"
)

// Exit codes the driver reports for ends that are not the guest's own.
const (
	exitCodeKilled  = 137 // 128+SIGKILL: stopped, or no memory to start
	exitCodeTrapped = 134 // 128+SIGABRT: a trap, as wasmtime reports it
)

// maxTrapMessage bounds the trap text (wazero appends a Wasm stack trace).
const maxTrapMessage = 2048

// task is one module instance and what became of it.
type task struct {
	cfg       *runtimes.TaskConfig
	module    *compiledModule
	startedAt time.Time

	ctx    context.Context // cancelled to stop the instance
	cancel context.CancelFunc

	// set before run starts, owned by it afterwards
	mod     api.Module
	memory  *memoryLimit // nil without a limit
	cpu     *cpuBudget   // nil without a CPU limit
	logFile *os.File     // nil without a LogPath
	roots   []*os.Root   // the mounts, see mountFS

	stopRequested atomic.Bool
	exit          *runtimes.Exit
}

func newTask(parent context.Context, cfg *runtimes.TaskConfig, m *compiledModule) *task {
	ctx, cancel := context.WithCancel(parent)
	return &task{
		cfg:       cfg,
		module:    m,
		startedAt: time.Now(),
		ctx:       ctx,
		cancel:    cancel,
		exit:      runtimes.NewExit(),
	}
}

// nanosleep is the guest's sleep (WASI poll_oneoff with a clock): it ends
// early when the task is stopped, so that Stop never waits out a sleep.
func (t *task) nanosleep(ns int64) {
	if ns <= 0 {
		return
	}
	timer := time.NewTimer(time.Duration(ns))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-t.ctx.Done():
	}
}

// exitResult turns what _start returned into an ExitResult; see the Notes
// on Driver for the rules.
func (t *task) exitResult(err error) *runtimes.ExitResult {
	res := &runtimes.ExitResult{Reason: runtimes.ReasonCompleted}
	var exitErr *sys.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		// WASI exit codes are u32; read them as the signed int a guest
		// passed to exit.
		res.ExitCode = int(int32(exitErr.ExitCode()))
	default:
		res.ExitCode = exitCodeTrapped
		msg := err.Error()
		if len(msg) > maxTrapMessage {
			msg = msg[:maxTrapMessage] + "…"
		}
		res.Message = msg
	}
	switch {
	case res.ExitCode == 0:
	case t.cpu != nil && t.cpu.exceeded.Load():
		res.ExitCode = exitCodeKilled
		res.Reason = ReasonCPULimitExceeded
		res.Message = t.cpu.exceededMessage()
	case t.stopRequested.Load():
		res.ExitCode = exitCodeKilled
		res.Reason = runtimes.ReasonStopped
		res.Message = "stopped"
	case t.memory != nil && t.memory.refused.Load():
		res.OOMKilled = true
		res.Reason = runtimes.ReasonOOMKilled
		res.Message = fmt.Sprintf("memory limit of %d bytes reached: the module asked for %d bytes%s",
			t.memory.limit, t.memory.peak.Load(), t.memory.note())
	default:
		res.Reason = runtimes.ReasonError
	}
	res.FinishedAt = time.Now()
	return res
}

// finish records the exit and hands it to every waiter.
func (t *task) finish(res *runtimes.ExitResult) { t.exit.Finish(res) }

// wait returns a channel that gets the exit once and is then closed.
func (t *task) wait() <-chan *runtimes.ExitResult { return t.exit.Wait() }

// stop closes the instance and waits until run has reported the exit.
func (t *task) stop(ctx context.Context) error {
	select {
	case <-t.exit.Done():
		return nil
	default:
	}
	t.stopRequested.Store(true)
	t.cancel()
	select {
	case <-t.exit.Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for exit: %w", ctx.Err())
	}
}

func (t *task) status() *runtimes.TaskStatus {
	st := &runtimes.TaskStatus{ID: t.cfg.ID, State: runtimes.TaskRunning, StartedAt: t.startedAt}
	if r := t.exit.Result(); r != nil {
		st.State, st.Exit = runtimes.TaskExited, r
	}
	return st
}

// closeFiles closes what moduleConfig opened for the instance, once it is
// closed.
func (t *task) closeFiles() {
	if t.logFile != nil {
		_ = t.logFile.Close()
		t.logFile = nil
	}
	closeRoots(t.roots)
	t.roots = nil
}

// logWriter serializes the guest's stdout and stderr writes into one file
// opened with O_APPEND.
type logWriter struct {
	mu sync.Mutex
	f  *os.File
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Write(p)
}
