// Package hollow is the no-op runtime of hollow agents, Skiff's kubemark:
// real agent code and a real NATS connection, but tasks that only pretend
// to run. A task "runs" from Start until Stop (or forever) and uses no
// memory or CPU, so one machine can host a thousand agents for scale
// tests. It is never a stand-in for a real runtime in a feature test.
//
// Package hollow imports runtimes only.
package hollow

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/runtimes"
)

// Driver pretends to run tasks.
type Driver struct {
	runtime string

	mu    sync.Mutex
	tasks map[string]*task
}

type task struct {
	started time.Time
	exit    *runtimes.ExitResult
	done    chan struct{}
}

var _ runtimes.Driver = (*Driver)(nil)

// New returns a hollow driver advertising the runtime handler name
// ("wasm" or "containerd").
func New(runtime string) *Driver { return &Driver{runtime: runtime, tasks: map[string]*task{}} }

// Capabilities names the runtime it stands in for.
func (d *Driver) Capabilities() runtimes.Capabilities {
	return runtimes.Capabilities{Runtime: d.runtime, SurvivesAgentRestart: false}
}

// Start records the task as running.
func (d *Driver) Start(_ context.Context, cfg *runtimes.TaskConfig) (*runtimes.TaskHandle, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.tasks[cfg.ID]; ok {
		return nil, fmt.Errorf("hollow task %s: %w", cfg.ID, runtimes.ErrTaskExists)
	}
	t := &task{started: time.Now(), done: make(chan struct{})}
	d.tasks[cfg.ID] = t
	return &runtimes.TaskHandle{ID: cfg.ID, Driver: d.runtime, Config: cfg, StartedAt: t.started}, nil
}

func (d *Driver) get(id string) (*task, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tasks[id]
	if !ok {
		return nil, fmt.Errorf("hollow task %s: %w", id, runtimes.ErrTaskNotFound)
	}
	return t, nil
}

// Wait returns a channel that receives the exit once the task is stopped.
func (d *Driver) Wait(_ context.Context, id string) (<-chan *runtimes.ExitResult, error) {
	t, err := d.get(id)
	if err != nil {
		return nil, err
	}
	ch := make(chan *runtimes.ExitResult, 1)
	go func() {
		<-t.done
		d.mu.Lock()
		ch <- t.exit
		d.mu.Unlock()
		close(ch)
	}()
	return ch, nil
}

// Stop ends the task with exit code 137.
func (d *Driver) Stop(_ context.Context, id string, _ time.Duration) error {
	t, err := d.get(id)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.exit == nil {
		t.exit = &runtimes.ExitResult{ExitCode: 137, Reason: runtimes.ReasonStopped, FinishedAt: time.Now()}
		close(t.done)
	}
	return nil
}

// Destroy forgets the task.
func (d *Driver) Destroy(ctx context.Context, id string) error {
	if _, err := d.get(id); err != nil {
		return nil
	}
	_ = d.Stop(ctx, id, 0)
	d.mu.Lock()
	delete(d.tasks, id)
	d.mu.Unlock()
	return nil
}

// Inspect reports the task's state.
func (d *Driver) Inspect(_ context.Context, id string) (*runtimes.TaskStatus, error) {
	t, err := d.get(id)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &runtimes.TaskStatus{ID: id, State: runtimes.TaskRunning, StartedAt: t.started}
	if t.exit != nil {
		st.State, st.Exit = runtimes.TaskExited, t.exit
	}
	return st, nil
}

// Recover knows no tasks from an earlier process.
func (d *Driver) Recover(_ context.Context, h *runtimes.TaskHandle) error {
	if _, err := d.get(h.ID); err == nil {
		return nil
	}
	return fmt.Errorf("hollow task %s: %w", h.ID, runtimes.ErrTaskNotFound)
}
