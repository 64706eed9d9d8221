package wasm

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ReasonCPULimitExceeded is the exit reason of a task the driver stopped
// because it used more CPU time than its limit allows.
const ReasonCPULimitExceeded = "CPULimitExceeded"

// The CPU budget (see the Notes on Driver).
const (
	// cpuSampleInterval is how often the driver reads each budgeted
	// task's CPU time; a task overshoots its budget by at most this much
	// CPU time.
	cpuSampleInterval = 100 * time.Millisecond
	// cpuBurstWindow sizes the budget: a task may use limit × 5s of CPU
	// time at once (its start, a burst of work) before the average rate
	// must hold.
	cpuBurstWindow = 5 * time.Second
	// minCPUBurst is the smallest budget, so that even a tiny limit lets
	// a module's runtime start.
	minCPUBurst = 100 * time.Millisecond
)

// cpuBudget is a token bucket of CPU time: it fills at the limit's rate
// (100m: 0.1 s of CPU time per second) up to its capacity and drains by the
// CPU time the task's thread used. When it runs dry the task is stopped.
type cpuBudget struct {
	millis   int64
	rate     float64 // CPU seconds per wall second
	capacity time.Duration

	clock atomic.Pointer[threadClock] // set once the task's thread is known

	mu       sync.Mutex
	tokens   time.Duration
	lastCPU  time.Duration
	lastAt   time.Time
	used     time.Duration
	started  time.Time
	exceeded atomic.Bool
	message  string
}

// newCPUBudget returns the budget for a limit in millicores, or nil when
// the limit imposes nothing: no limit, one CPU or more (a module runs on
// one thread), or a platform where the driver cannot read a thread's CPU
// time.
func newCPUBudget(millis int64) *cpuBudget {
	if millis <= 0 || millis >= 1000 || !threadClocksSupported {
		return nil
	}
	rate := float64(millis) / 1000
	capacity := max(time.Duration(rate*float64(cpuBurstWindow)), minCPUBurst)
	return &cpuBudget{millis: millis, rate: rate, capacity: capacity, tokens: capacity}
}

// attach starts accounting from the calling thread, which must be locked
// to the task's goroutine (runtime.LockOSThread).
func (b *cpuBudget) attach(now time.Time) error {
	c, err := currentThreadClock()
	if err != nil {
		return err
	}
	cpu, err := c.read()
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.lastCPU, b.lastAt, b.started = cpu, now, now
	b.mu.Unlock()
	b.clock.Store(&c)
	return nil
}

// sample reads the thread's CPU time and reports whether the budget ran
// dry (then, and only then, for the first time).
func (b *cpuBudget) sample(now time.Time) bool {
	c := b.clock.Load()
	if c == nil || b.exceeded.Load() {
		return false
	}
	cpu, err := c.read()
	if err != nil {
		return false // the thread ended: the task is exiting
	}
	return b.observe(cpu, now)
}

// observe charges the CPU time used since the last observation.
func (b *cpuBudget) observe(cpu time.Duration, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	used := max(cpu-b.lastCPU, 0)
	elapsed := max(now.Sub(b.lastAt), 0)
	b.lastCPU, b.lastAt = cpu, now
	b.used += used
	b.tokens = min(b.capacity, b.tokens+time.Duration(b.rate*float64(elapsed))-used)
	if b.tokens >= 0 {
		return false
	}
	b.message = fmt.Sprintf("CPU limit of %dm exceeded: the module used %s of CPU time in %s (a budget of %s at once, then %dm on average)",
		b.millis, b.used.Round(time.Millisecond), now.Sub(b.started).Round(time.Millisecond), b.capacity, b.millis)
	b.exceeded.Store(true)
	return true
}

func (b *cpuBudget) exceededMessage() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.message
}

// watchCPU samples the budgeted tasks every cpuSampleInterval and stops
// those whose budget ran dry. It sleeps while no task has a budget.
func (d *Driver) watchCPU() {
	defer d.wg.Done()
	ticker := time.NewTicker(cpuSampleInterval)
	defer ticker.Stop()
	for {
		tasks := d.budgetedTasks()
		if len(tasks) == 0 {
			select {
			case <-d.ctx.Done():
				return
			case <-d.cpuKick:
			}
			continue
		}
		select {
		case <-d.ctx.Done():
			return
		case <-d.cpuKick:
		case <-ticker.C:
		}
		now := time.Now()
		for _, t := range tasks {
			if t.cpu.sample(now) {
				d.log.Info("wasm task exceeded its CPU limit; stopping it", "task", t.cfg.ID, "message", t.cpu.exceededMessage())
				t.cancel()
			}
		}
	}
}

// budgetedTasks are the running tasks that have a CPU budget.
func (d *Driver) budgetedTasks() []*task {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*task
	for _, t := range d.tasks {
		if t.cpu == nil {
			continue
		}
		select {
		case <-t.exit.Done():
		default:
			out = append(out, t)
		}
	}
	return out
}
