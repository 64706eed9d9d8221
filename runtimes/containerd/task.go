package containerd

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"

	"github.com/skiff-sh/skiff/runtimes"
)

// exitCodeLost is reported for a task whose exit status containerd no
// longer knows (its task was deleted behind the driver's back), as the
// kubelet reports a container it cannot find.
const exitCodeLost = 137

// Back-off of re-waiting after containerd failed a Wait (a daemon restart).
const (
	rewaitFirst = 100 * time.Millisecond
	rewaitMax   = 5 * time.Second
)

// task is one container and its task, and what became of it.
type task struct {
	cfg        *runtimes.TaskConfig
	container  client.Container
	stopSignal syscall.Signal

	// set before the task is registered
	task      client.Task
	startedAt time.Time

	stopRequested atomic.Bool
	exit          *runtimes.Exit
}

func newTask(cfg *runtimes.TaskConfig, ctr client.Container, stopSignal syscall.Signal) *task {
	return &task{cfg: cfg, container: ctr, stopSignal: stopSignal, exit: runtimes.NewExit()}
}

// watch waits for t's exit and records it. It ends without a record when
// the driver closes: the container keeps running for a later Recover.
func (d *Driver) watch(t *task, exitCh <-chan client.ExitStatus) {
	defer d.wg.Done()
	backoff := rewaitFirst
	for {
		var st client.ExitStatus
		select {
		case st = <-exitCh:
		case <-d.ctx.Done():
			return
		}
		err := st.Error()
		if err == nil {
			d.exited(t, st.ExitCode(), st.ExitTime())
			return
		}
		if d.ctx.Err() != nil {
			return
		}
		if err = errgrpc.ToNative(err); errdefs.IsNotFound(err) {
			t.finish(&runtimes.ExitResult{
				ExitCode:   exitCodeLost,
				Reason:     runtimes.ReasonError,
				Message:    "the container's task disappeared from containerd",
				FinishedAt: time.Now(),
			})
			return
		}
		d.log.Warn("wait for container task failed; waiting again", "task", t.cfg.ID, "err", err, "in", backoff)
		timer := time.NewTimer(backoff)
		select {
		case <-timer.C:
		case <-d.ctx.Done():
			timer.Stop()
			return
		}
		backoff = min(backoff*2, rewaitMax)
		// The v2 client's Wait reports failures on the channel; an error
		// here is retried by the same loop through a failed status.
		if ch, err := t.task.Wait(d.ctx); err == nil {
			exitCh = ch
		} else {
			failed := make(chan client.ExitStatus, 1)
			failed <- *client.NewExitStatus(client.UnknownExitStatus, time.Time{}, err)
			exitCh = failed
		}
	}
}

// exited reads whether the task was OOM-killed, deletes the task (which
// flushes its output into the log and frees the shim) and records the
// exit.
func (d *Driver) exited(t *task, code uint32, at time.Time) {
	ctx, cancel := context.WithTimeout(d.ctx, cleanupTimeout)
	defer cancel()
	oom := false
	if code != 0 {
		oom = d.oomKilled(ctx, t)
	}
	if _, err := t.task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		d.log.Warn("delete exited container task", "task", t.cfg.ID, "err", err)
	}
	if at.IsZero() {
		at = time.Now()
	}
	res := exitResult(int(code), at, oom, t.stopRequested.Load(), t.cfg.MemoryLimitBytes)
	t.finish(res)
	d.log.Debug("container task exited", "task", t.cfg.ID, "exitCode", res.ExitCode,
		"reason", res.Reason, "oomKilled", res.OOMKilled)
}

// oomKilled reports whether the kernel's OOM killer killed a process of the
// task's cgroup, from the task's metrics.
func (d *Driver) oomKilled(ctx context.Context, t *task) bool {
	m, err := t.task.Metrics(ctx)
	if err != nil {
		d.log.Debug("read metrics of an exited task", "task", t.cfg.ID, "err", err)
		return false
	}
	v, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		d.log.Debug("decode metrics of an exited task", "task", t.cfg.ID, "err", err)
		return false
	}
	switch s := v.(type) {
	case *v1stats.Metrics:
		return s.GetMemoryOomControl().GetOomKill() > 0
	case *v2stats.Metrics:
		return s.GetMemoryEvents().GetOomKill() > 0
	default:
		return false
	}
}

// exitResult applies the rules in the Notes on Driver.
func exitResult(code int, at time.Time, oom, stopped bool, limit int64) *runtimes.ExitResult {
	res := &runtimes.ExitResult{ExitCode: code, Reason: runtimes.ReasonCompleted, FinishedAt: at}
	signalled := code > 128 && code <= 128+64
	switch {
	case code == 0:
	case oom:
		res.OOMKilled = true
		res.Reason = runtimes.ReasonOOMKilled
		if limit > 0 {
			res.Message = fmt.Sprintf("out of memory: killed at the memory limit of %d bytes", limit)
		} else {
			res.Message = "out of memory: killed by the kernel's OOM killer"
		}
		if code == 128+int(syscall.SIGKILL) {
			res.Signal = int(syscall.SIGKILL)
		}
	case stopped:
		res.Reason = runtimes.ReasonStopped
		res.Message = "stopped"
		if signalled {
			res.Signal = code - 128
			res.Message = "stopped by " + syscall.Signal(res.Signal).String()
		}
	default:
		res.Reason = runtimes.ReasonError
	}
	return res
}

// stop sends the stop signal, then SIGKILL once grace has passed (at once
// for a grace of zero), and waits until the exit is recorded.
func (t *task) stop(ctx context.Context, grace time.Duration) error {
	select {
	case <-t.exit.Done():
		return nil
	default:
	}
	t.stopRequested.Store(true)
	if grace > 0 {
		if err := t.kill(ctx, t.stopSignal); err != nil {
			return err
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-t.exit.Done():
			return nil
		case <-timer.C:
		case <-ctx.Done():
			return fmt.Errorf("wait for exit: %w", ctx.Err())
		}
	}
	if err := t.kill(ctx, syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-t.exit.Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for exit: %w", ctx.Err())
	}
}

// kill signals the task; a task that has already exited or been deleted
// is not an error.
func (t *task) kill(ctx context.Context, sig syscall.Signal) error {
	err := t.task.Kill(ctx, sig)
	if err == nil || errdefs.IsNotFound(err) || errdefs.IsFailedPrecondition(err) {
		return nil
	}
	select {
	case <-t.exit.Done():
		return nil
	default:
	}
	return fmt.Errorf("send %v: %w", sig, err)
}

// finish records the exit (the first one counts) and hands it to every
// waiter.
func (t *task) finish(res *runtimes.ExitResult) { t.exit.Finish(res) }

// wait returns a channel that gets the exit once and is then closed.
func (t *task) wait() <-chan *runtimes.ExitResult { return t.exit.Wait() }

func (t *task) status() *runtimes.TaskStatus {
	st := &runtimes.TaskStatus{ID: t.cfg.ID, State: runtimes.TaskRunning, StartedAt: t.startedAt}
	if r := t.exit.Result(); r != nil {
		st.State, st.Exit = runtimes.TaskExited, r
	}
	return st
}
