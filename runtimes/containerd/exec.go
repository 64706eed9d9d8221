package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"

	"github.com/skiff-sh/skiff/runtimes"
)

// execDrain bounds how long Exec waits, after the process exited, for the
// rest of its output; a background child that keeps stdout open does not
// hold the probe.
const execDrain = 2 * time.Second

// Exec implements runtimes.Execer; see the Notes on Driver.
func (d *Driver) Exec(ctx context.Context, id string, cmd []string) (int, []byte, error) {
	code, out, err := d.exec(ctx, id, cmd)
	if err != nil {
		return code, out, fmt.Errorf("exec %q in container task %s: %w", cmd, id, err)
	}
	return code, out, nil
}

func (d *Driver) exec(ctx context.Context, id string, cmd []string) (int, []byte, error) {
	if len(cmd) == 0 || cmd[0] == "" {
		return 0, nil, fmt.Errorf("%w: empty command", runtimes.ErrCommandNotFound)
	}
	if slices.ContainsFunc(cmd, func(s string) bool { return strings.ContainsRune(s, 0) }) {
		return 0, nil, errors.New("command: contains NUL")
	}
	t, err := d.lookup(id)
	if err != nil {
		return 0, nil, err
	}
	select {
	case <-t.exit.Done():
		return 0, nil, fmt.Errorf("%w: the task has exited", runtimes.ErrTaskNotFound)
	default:
	}
	if err := d.enter(); err != nil {
		return 0, nil, err
	}
	defer d.wg.Done()

	// The command ends with ctx or with the driver.
	ectx, cancel := context.WithCancel(d.nsCtx(ctx))
	defer cancel()
	stop := context.AfterFunc(d.ctx, cancel)
	defer stop()
	ended := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return errClosed
	}

	spec, err := t.container.Spec(ectx)
	if err != nil {
		if ectx.Err() != nil {
			return 0, nil, ended()
		}
		return 0, nil, fmt.Errorf("read the container's spec: %w", err)
	}
	if spec.Process == nil {
		return 0, nil, errors.New("the container's spec has no process")
	}
	pspec := *spec.Process
	pspec.Args = slices.Clone(cmd)
	pspec.Terminal = false
	pspec.ConsoleSize = nil

	execID, err := newExecID()
	if err != nil {
		return 0, nil, err
	}
	out := &capBuffer{max: runtimes.MaxExecOutput}
	proc, err := t.task.Exec(ectx, execID, &pspec, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		if ectx.Err() != nil {
			return 0, nil, ended()
		}
		return 0, nil, taskGone(runError("exec", err))
	}
	// Everything below cleans up with a context of its own: ectx may be
	// over by then.
	cleanup := func() {
		cctx, ccancel := context.WithTimeout(d.nsCtx(context.WithoutCancel(ctx)), cleanupTimeout)
		defer ccancel()
		d.deleteExec(cctx, t, proc)
	}

	wctx, wcancel := context.WithCancel(d.nsCtx(context.WithoutCancel(ctx)))
	defer wcancel()
	statusC, err := proc.Wait(wctx)
	if err != nil {
		cleanup()
		return 0, nil, taskGone(fmt.Errorf("wait for the exec process: %w", err))
	}
	if err := proc.Start(ectx); err != nil {
		cleanup()
		if ectx.Err() != nil {
			return 0, nil, ended()
		}
		return 0, nil, taskGone(runError("start exec process", err))
	}

	select {
	case st := <-statusC:
		code, _, err := st.Result()
		d.drain(proc)
		cleanup()
		if err != nil {
			return 0, out.Bytes(), fmt.Errorf("exit status of the exec process: %w", err)
		}
		return int(code), out.Bytes(), nil
	case <-ectx.Done():
		kctx, kcancel := context.WithTimeout(d.nsCtx(context.WithoutCancel(ctx)), cleanupTimeout)
		defer kcancel()
		if err := proc.Kill(kctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
			d.log.Warn("kill exec process", "task", id, "exec", execID, "err", err)
		}
		select {
		case <-statusC:
		case <-kctx.Done():
			d.log.Warn("exec process did not exit after SIGKILL", "task", id, "exec", execID)
		}
		cleanup()
		return 0, out.Bytes(), ended()
	}
}

// drain waits up to execDrain for the process's output copiers to finish.
func (d *Driver) drain(proc client.Process) {
	done := make(chan struct{})
	go func() {
		proc.IO().Wait()
		close(done)
	}()
	timer := time.NewTimer(execDrain)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		// deleteExec cancels the copiers, which ends the goroutine.
	}
}

// deleteExec removes the exec process from the task and closes its FIFOs
// (process.Delete does both; when it fails, the FIFOs are closed here).
func (d *Driver) deleteExec(ctx context.Context, t *task, proc client.Process) {
	if _, err := proc.Delete(ctx); err != nil {
		if !errdefs.IsNotFound(err) {
			d.log.Debug("delete exec process", "task", t.cfg.ID, "exec", proc.ID(), "err", err)
		}
		proc.IO().Cancel()
		proc.IO().Wait()
		_ = proc.IO().Close()
	}
}

// taskGone says ErrTaskNotFound for containerd's answers about a task that
// is gone or no longer running.
func taskGone(err error) error {
	if errors.Is(err, runtimes.ErrCommandNotFound) {
		return err
	}
	if errdefs.IsNotFound(err) || errdefs.IsFailedPrecondition(err) {
		return fmt.Errorf("%w: %w", runtimes.ErrTaskNotFound, err)
	}
	return err
}

func newExecID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("exec ID: %w", err)
	}
	return "exec-" + hex.EncodeToString(b[:]), nil
}

// capBuffer keeps the first max bytes written to it and drops the rest;
// stdout and stderr write to it concurrently.
type capBuffer struct {
	max int

	mu  sync.Mutex
	buf []byte
}

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Bytes returns a copy of what was kept.
func (b *capBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.buf)
}
