package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/runtimes"
)

// stopReason says why a container runner is asked to stop, which decides
// what happens to its task.
type stopReason int

const (
	stopNone     stopReason = iota
	stopDelete              // the pod is deleted: stop and destroy the task
	stopRestart             // the spec changed: stop and destroy; a new runner follows
	stopDeadline            // activeDeadlineSeconds passed: stop and destroy, for good
	stopShutdown            // the agent stops: tasks that survive it keep running
)

// shutdownGrace bounds the stop of a task that cannot outlive the agent
// when the agent shuts down.
const shutdownGrace = 5 * time.Second

// cleanupTimeout bounds driver calls made after the runner was cancelled.
const cleanupTimeout = 30 * time.Second

// containerRunner runs one container of a pod through its whole life:
// module fetch, start, wait, restart with back-off, stop. It owns its
// record and publishes a copy to the pod worker on every change; it never
// waits on the worker.
type containerRunner struct {
	w    *podWorker
	a    *Agent
	pod  *api.Pod // the working pod, read-only
	c    api.Container
	drv  runtimes.Driver
	wasm bool
	log  *slog.Logger
	rec  containerRecord // owned by the run goroutine
	// init says this is an init container: it runs to completion before
	// the app containers, and is not restarted once it succeeded.
	init bool
	// policy is the restart policy that applies to this container: the
	// pod's, except that an init container of an Always pod restarts only
	// on failure.
	policy api.RestartPolicy
	// recoverOnly runners re-attach to a task left by an earlier agent
	// process, so that it can be stopped, and start nothing.
	recoverOnly bool
	// held pins the hostPath and subPath mounts of the current task
	// (hostpaths.go): a Wasm module opens through them as long as it runs.
	// Owned by the run goroutine.
	held heldPaths

	ctx    context.Context // cancelled only by requestStop
	cancel context.CancelFunc

	mu       sync.Mutex
	reason   stopReason
	grace    time.Duration
	kill     chan struct{}
	killOnce sync.Once
	done     chan struct{}

	probeGrace *int64 // a failed probe's terminationGracePeriodSeconds; guarded by mu

	crashes, pullFailures, startFailures, configWaits int
}

func newContainerRunner(w *podWorker, base context.Context, pod *api.Pod, c api.Container, drv runtimes.Driver, rec containerRecord, init bool) *containerRunner {
	ctx, cancel := context.WithCancel(context.WithoutCancel(base))
	policy := pod.Spec.RestartPolicy
	if init && policy == api.RestartPolicyAlways {
		policy = api.RestartPolicyOnFailure
	}
	return &containerRunner{
		w: w, a: w.a, pod: pod, c: c, drv: drv, wasm: pod.Spec.IsWasm(),
		log: w.log.With("container", c.Name), rec: rec, init: init, policy: policy,
		ctx: ctx, cancel: cancel, kill: make(chan struct{}), done: make(chan struct{}),
	}
}

// requestStop asks the runner to stop; the first reason wins.
func (r *containerRunner) requestStop(reason stopReason, grace time.Duration) {
	r.mu.Lock()
	if r.reason == stopNone {
		r.reason, r.grace = reason, grace
	}
	r.mu.Unlock()
	r.cancel()
}

// forceKill cuts a graceful stop short.
func (r *containerRunner) forceKill() { r.killOnce.Do(func() { close(r.kill) }) }

func (r *containerRunner) stopRequest() (stopReason, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reason, r.grace
}

func (r *containerRunner) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (r *containerRunner) publish() { r.w.setRecord(r.c.Name, &r.rec) }

func (r *containerRunner) setWaiting(reason, message string) {
	r.rec.State = api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: reason, Message: message}}
	r.publish()
}

func (r *containerRunner) backoff(n int) time.Duration {
	return backoffDelay(r.a.opts.RestartBackoff, r.a.opts.MaxRestartBackoff, n)
}

func (r *containerRunner) cleanupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.ctx), cleanupTimeout)
}

func (r *containerRunner) run() {
	defer r.w.wakeUp() // after done is closed, so the worker sees it
	defer close(r.done)
	defer r.cancel()
	defer r.releaseHeld() // the task is gone, or a container that needs them no more
	if r.rec.Done {
		return
	}
	if r.recoverOnly {
		h := r.rec.Handle
		switch {
		case h == nil:
		case r.drv.Capabilities().SurvivesAgentRestart && r.drv.Recover(r.ctx, h) == nil:
			r.waitExit(h) // until the worker stops it
		default:
			ctx, cancel := r.cleanupCtx()
			_ = r.drv.Destroy(ctx, h.ID)
			cancel()
		}
		return
	}
	if h := r.rec.Handle; h != nil {
		if !r.reattach(h) {
			return
		}
	}
	for {
		h := r.start()
		if h == nil || !r.waitExit(h) {
			return
		}
	}
}

// reattach picks up a task recorded by an earlier agent process. It
// reports whether the runner should go on to start the container.
func (r *containerRunner) reattach(h *runtimes.TaskHandle) bool {
	startedAt := h.StartedAt
	if r.rec.State.Running != nil {
		startedAt = r.rec.State.Running.StartedAt
	}
	if r.drv.Capabilities().SurvivesAgentRestart {
		if err := r.drv.Recover(r.ctx, h); err == nil {
			r.log.Info("task recovered after agent restart", "task", h.ID)
			r.rec.State = api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: startedAt}}
			r.publish()
			return r.waitExit(h)
		} else if !errors.Is(err, runtimes.ErrTaskNotFound) {
			r.log.Warn("cannot recover task; starting it again", "task", h.ID, "err", err)
		}
	}
	ctx, cancel := r.cleanupCtx()
	_ = r.drv.Destroy(ctx, h.ID)
	cancel()
	if r.ctx.Err() != nil {
		return false
	}
	term := &api.ContainerStateTerminated{
		ExitCode: 255, Reason: ReasonAgentRestarted, Message: "the task did not survive an agent restart",
		StartedAt: startedAt, FinishedAt: time.Now().UTC(),
	}
	r.rec.Handle = nil
	if !shouldRestart(r.policy, false) {
		r.rec.State = api.ContainerState{Terminated: term}
		r.rec.Done = true
		r.publish()
		return false
	}
	r.rec.LastState = api.ContainerState{Terminated: term}
	r.rotateLog()
	r.rec.RestartCount++
	return true
}

// start fetches the module and starts the task, retrying with back-off.
// It returns nil when the runner should end.
func (r *containerRunner) start() *runtimes.TaskHandle {
	for {
		if r.rec.State.Waiting == nil {
			// Keep a back-off reason (CrashLoopBackOff, ImagePullBackOff)
			// on show until the container runs or fails again.
			r.setWaiting(ReasonContainerCreating, "")
		}
		image, imageID := r.c.Image, ""
		if r.wasm {
			mod, ok := r.a.modules.Cached(r.c.Image)
			if !ok {
				if r.pullFailures == 0 {
					r.setWaiting(ReasonContainerCreating, "fetching module "+r.c.Image)
				}
				var err error
				mod, err = r.a.modules.Resolve(r.ctx, r.c.Image)
				if err != nil {
					if r.ctx.Err() != nil {
						return nil
					}
					r.pullFailures++
					reason := ReasonErrImagePull
					if r.pullFailures > 1 {
						reason = ReasonImagePullBackOff
					}
					r.log.Warn("module fetch failed", "image", r.c.Image, "attempt", r.pullFailures, "err", err)
					r.setWaiting(reason, err.Error())
					if !sleepCtx(r.ctx, r.backoff(r.pullFailures)) {
						return nil
					}
					continue
				}
			}
			r.pullFailures = 0
			image, imageID = mod.Path, mod.ID
		}

		env, mounts, err := r.prepare()
		if err != nil {
			if r.ctx.Err() != nil {
				return nil
			}
			if !r.waitForConfig(err) {
				return nil
			}
			continue
		}
		r.configWaits = 0
		cfg := r.taskConfig(image, env, mounts)
		h, err := r.drv.Start(r.ctx, cfg)
		if errors.Is(err, runtimes.ErrTaskExists) {
			// Left over from an earlier agent process.
			ctx, cancel := r.cleanupCtx()
			_ = r.drv.Destroy(ctx, cfg.ID)
			cancel()
			h, err = r.drv.Start(r.ctx, cfg)
		}
		if err == nil && h == nil {
			err = fmt.Errorf("driver %s returned no task handle", r.drv.Capabilities().Runtime)
		}
		if err != nil {
			ctx, cancel := r.cleanupCtx()
			_ = r.drv.Destroy(ctx, cfg.ID)
			cancel()
			if r.ctx.Err() != nil {
				return nil
			}
			kind, reason := classifyStartError(err, r.wasm)
			switch kind {
			case startPull:
				if !r.pullFailed(err) {
					return nil
				}
				continue
			case startCannotRun:
				r.log.Warn("container cannot run", "reason", reason, "err", err)
				r.rec.ImageID = imageID
				if !r.exited(cannotRun(err), time.Now().UTC()) {
					return nil
				}
				continue
			}
			r.log.Warn("container start failed", "reason", reason, "err", err)
			if kind == startInvalid && r.policy == api.RestartPolicyNever {
				r.rec.State = api.ContainerState{Terminated: &api.ContainerStateTerminated{
					ExitCode: 128, Reason: reason, Message: err.Error(), FinishedAt: time.Now().UTC(),
				}}
				r.rec.ImageID = imageID
				r.rec.Done = true
				r.publish()
				return nil
			}
			r.startFailures++
			r.setWaiting(reason, err.Error())
			if !sleepCtx(r.ctx, r.backoff(r.startFailures)) {
				return nil
			}
			continue
		}
		r.startFailures, r.pullFailures = 0, 0
		startedAt := h.StartedAt.UTC()
		if h.StartedAt.IsZero() {
			startedAt = time.Now().UTC()
		}
		r.rec.Handle = h
		r.rec.ImageID = imageID
		r.rec.ContainerID = r.drv.Capabilities().Runtime + "://" + h.ID
		r.rec.State = api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: startedAt}}
		r.publish()
		r.log.Debug("container started", "task", h.ID)
		return h
	}
}

func (r *containerRunner) taskConfig(image string, env []runtimes.EnvVar, mounts []runtimes.Mount) *runtimes.TaskConfig {
	lookup := envLookup(env)
	expand := func(list []string) []string {
		out := make([]string, len(list))
		for i, s := range list {
			out[i] = expandVars(s, lookup)
		}
		return out
	}
	lim := r.c.Resources.Limits
	return &runtimes.TaskConfig{
		ID:               fmt.Sprintf("%s-%s-%d", r.pod.UID, r.c.Name, r.rec.RestartCount),
		PodNamespace:     r.pod.Namespace,
		PodName:          r.pod.Name,
		PodUID:           r.pod.UID,
		ContainerName:    r.c.Name,
		Image:            image,
		Command:          expand(r.c.Command),
		Args:             expand(r.c.Args),
		Env:              env,
		WorkingDir:       r.c.WorkingDir,
		Mounts:           mounts,
		MemoryLimitBytes: lim[api.ResourceMemory].Value(),
		CPUMillis:        lim[api.ResourceCPU].MilliValue(),
		LogPath:          r.a.local.logPath(r.pod.UID, r.c.Name),
	}
}

// waitExit waits for the task to end and applies the restart policy. It
// reports whether the runner should start the container again.
func (r *containerRunner) waitExit(h *runtimes.TaskHandle) bool {
	startedAt := h.StartedAt.UTC()
	if r.rec.State.Running != nil {
		startedAt = r.rec.State.Running.StartedAt
	}
	var res *runtimes.ExitResult
	ch, err := r.drv.Wait(r.ctx, h.ID)
	if err != nil {
		if r.ctx.Err() != nil {
			return r.stopTask(h, nil, startedAt)
		}
		res = &runtimes.ExitResult{ExitCode: 255, Reason: runtimes.ReasonError, Message: "lost track of the task: " + err.Error()}
	} else {
		probeKill, stopProbes := r.startProbes(h.ID, startedAt)
		var killedFor string
		var killed chan error
	wait:
		for {
			select {
			case x, ok := <-ch:
				res = x
				if !ok || x == nil {
					res = &runtimes.ExitResult{ExitCode: 255, Reason: runtimes.ReasonError, Message: "the driver gave no exit result"}
				}
				break wait
			case why := <-probeKill:
				// Stop it (in the background, as the grace period may be
				// long) and go on waiting for its exit.
				probeKill, killedFor, killed = nil, why, make(chan error, 1)
				grace := r.probeKillGrace()
				go func() {
					ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), grace+cleanupTimeout)
					defer cancel()
					killed <- r.drv.Stop(ctx, h.ID, grace)
				}()
			case <-r.ctx.Done():
				stopProbes()
				if killed != nil {
					<-killed
				}
				return r.stopTask(h, ch, startedAt)
			}
		}
		stopProbes()
		if killed != nil {
			<-killed
		}
		if killedFor != "" {
			x := *res
			x.Message = killedFor
			res = &x
		}
	}
	ctx, cancel := r.cleanupCtx()
	_ = r.drv.Destroy(ctx, h.ID)
	cancel()
	return r.exited(res, startedAt)
}

// exited records how the task ended and applies the restart policy,
// waiting out the crash back-off. It reports whether the runner should
// start the container again.
func (r *containerRunner) exited(res *runtimes.ExitResult, startedAt time.Time) bool {
	term := terminatedState(res, startedAt)
	r.rec.Handle = nil
	r.log.Debug("container exited", "exitCode", term.ExitCode, "reason", term.Reason)
	if !shouldRestart(r.policy, res.Successful()) {
		r.rec.State = api.ContainerState{Terminated: term}
		r.rec.Done = true
		r.publish()
		return false
	}
	if term.FinishedAt.Sub(startedAt) >= 2*r.a.opts.MaxRestartBackoff {
		r.crashes = 0 // it ran long enough: forgive earlier crashes
	}
	r.crashes++
	delay := r.backoff(r.crashes)
	r.rec.LastState = api.ContainerState{Terminated: term}
	r.rec.State = api.ContainerState{Waiting: &api.ContainerStateWaiting{
		Reason:  ReasonCrashLoopBackOff,
		Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, r.c.Name, r.pod.Name, r.pod.Namespace, r.pod.UID),
	}}
	r.publish()
	if !sleepCtx(r.ctx, delay) {
		return false
	}
	r.rotateLog()
	r.rec.RestartCount++
	return true
}

// stopTask stops a running task because the runner was asked to; it
// always ends the runner.
func (r *containerRunner) stopTask(h *runtimes.TaskHandle, exited <-chan *runtimes.ExitResult, startedAt time.Time) bool {
	reason, grace := r.stopRequest()
	if reason == stopShutdown && r.drv.Capabilities().SurvivesAgentRestart {
		return false // keeps running; the next agent process recovers it
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), grace+cleanupTimeout)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- r.drv.Stop(ctx, h.ID, grace) }()
	select {
	case err := <-stopped:
		if err != nil && !errors.Is(err, runtimes.ErrTaskNotFound) {
			r.log.Warn("stop task", "task", h.ID, "err", err)
		}
	case <-r.kill:
		_ = r.drv.Stop(ctx, h.ID, 0)
		<-stopped
	}
	var res *runtimes.ExitResult
	if exited != nil {
		select {
		case x, ok := <-exited:
			if ok {
				res = x
			}
		case <-time.After(time.Second):
		}
	}
	if res == nil {
		if st, err := r.drv.Inspect(ctx, h.ID); err == nil && st.Exit != nil {
			res = st.Exit
		}
	}
	_ = r.drv.Destroy(ctx, h.ID)
	if reason == stopShutdown {
		// Leave the record as it was: the next agent process finds the
		// task gone and starts the container again.
		return false
	}
	if res == nil {
		res = &runtimes.ExitResult{ExitCode: 137, Signal: 9, Reason: runtimes.ReasonStopped}
	}
	r.rec.Handle = nil
	r.rec.State = api.ContainerState{Terminated: terminatedState(res, startedAt)}
	if reason == stopDeadline {
		r.rec.Done = true
	}
	r.publish()
	return false
}
