package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiff-sh/skiff/api"
)

// podWorker drives one pod, like the kubelet's pod workers: one goroutine
// per pod that owns its containers' runners, turns their records into the
// pod's status, keeps that on disk and queues it for the control plane.
// Others talk to it only through its methods, which never block.
type podWorker struct {
	a       *Agent
	log     *slog.Logger
	pushSeq atomic.Uint64 // the last push that named this pod

	mu        sync.Mutex
	desired   *api.Pod // latest desired pod, as received; never mutated
	newSpec   bool
	termGrace *time.Duration // set once termination is requested
	deleted   bool
	records   map[string]*containerRecord
	probes    map[string]probeState // by container, for its current task
	dirty     bool
	configs   bool // ConfigMaps or Secrets changed: refresh the volumes
	last      *api.PodStatus
	wake      chan struct{}

	volMu sync.Mutex // serializes volume set-up

	state *podState // StartTime and Failure; owned by the run goroutine
}

// generation is one set of runners for one version of the spec: the init
// containers one after the other, each to completion, then the app
// containers side by side.
type generation struct {
	pod     *api.Pod // working copy, defaulted
	problem *podFailure
	runners []*containerRunner // every runner started so far

	ctx         context.Context
	recoverOnly bool
	nextInit    int              // index of the next init container to complete
	current     *containerRunner // the init container's runner, while it runs
	appsStarted bool
	stopped     bool // stopAll was called: start nothing more
}

func (g *generation) allDone() bool {
	for _, r := range g.runners {
		if !r.finished() {
			return false
		}
	}
	return true
}

func (g *generation) stopAll(reason stopReason, grace time.Duration) {
	g.stopped = true
	for _, r := range g.runners {
		r.requestStop(reason, grace)
	}
}

func (g *generation) killAll() {
	g.stopped = true
	for _, r := range g.runners {
		r.forceKill()
	}
}

func newPodWorker(a *Agent, p *api.Pod, st *podState) *podWorker {
	w := &podWorker{
		a: a, desired: p, records: map[string]*containerRecord{}, probes: map[string]probeState{}, wake: make(chan struct{}, 1), state: st,
		log: a.log.With("pod", p.Namespace+"/"+p.Name, "uid", p.UID),
	}
	for name, rec := range st.Containers {
		w.records[name] = rec.clone()
	}
	return w
}

// Pod is the latest desired pod.
func (w *podWorker) Pod() *api.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.desired
}

// SetDesired hands the worker a changed pod.
func (w *podWorker) SetDesired(p *api.Pod) {
	w.mu.Lock()
	w.desired, w.newSpec = p, true
	w.mu.Unlock()
	kick(w.wake)
}

// Delete hands the worker the pod with its deletion and asks it to stop,
// in one step, so that the worker never mistakes the deletion for a spec
// change.
func (w *podWorker) Delete(p *api.Pod, grace time.Duration) {
	w.mu.Lock()
	w.desired = p
	w.terminateLocked(grace, true)
	w.mu.Unlock()
	kick(w.wake)
}

// Terminate asks the worker to stop the pod and forget it. deleted says
// the pod is gone from the store for good (so a stale copy must not start
// it again), not merely missing from a sync. A second call with a shorter
// grace period cuts the stop short.
func (w *podWorker) Terminate(grace time.Duration, deleted bool) {
	w.mu.Lock()
	w.terminateLocked(grace, deleted)
	w.mu.Unlock()
	kick(w.wake)
}

func (w *podWorker) terminateLocked(grace time.Duration, deleted bool) {
	if w.termGrace == nil || grace < *w.termGrace {
		w.termGrace = &grace
	}
	w.deleted = w.deleted || deleted
}

// Deleted reports whether the pod was deleted from the store.
func (w *podWorker) Deleted() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deleted
}

// Terminating reports whether the pod is being stopped for good.
func (w *podWorker) Terminating() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.termGrace != nil
}

// LastStatus is the pod's last computed status.
func (w *podWorker) LastStatus() (api.PodStatus, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		return api.PodStatus{}, false
	}
	return *w.last, true
}

func (w *podWorker) setRecord(name string, rec *containerRecord) {
	w.mu.Lock()
	w.records[name] = rec.clone()
	w.dirty = true
	w.mu.Unlock()
	kick(w.wake)
}

func (w *podWorker) wakeUp() { kick(w.wake) }

// setProbe records what the probes found about a container's task.
func (w *podWorker) setProbe(name string, st probeState) {
	w.mu.Lock()
	if w.probes[name] == st {
		w.mu.Unlock()
		return
	}
	w.probes[name] = st
	w.mu.Unlock()
	kick(w.wake)
}

// ConfigsChanged tells the worker that ConfigMaps or Secrets changed, so
// that it rewrites its configMap and secret volumes.
func (w *podWorker) ConfigsChanged() {
	w.mu.Lock()
	w.configs = true
	w.mu.Unlock()
	kick(w.wake)
}

func (w *podWorker) record(name string) *containerRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.records[name].clone()
}

// workingCopy is a deep copy of p with the API server's defaults filled in
// (restart policy, grace period), so that a sloppy sender cannot trip the
// agent.
func workingCopy(p *api.Pod) *api.Pod {
	var c api.Pod
	if b, err := json.Marshal(p); err == nil {
		_ = json.Unmarshal(b, &c)
	}
	api.SetDefaults(&c)
	return &c
}

func terminationGrace(p *api.Pod) time.Duration {
	if g := p.Spec.TerminationGracePeriodSeconds; g != nil {
		return seconds(*g)
	}
	return 0
}

func (w *podWorker) run(ctx context.Context) {
	if w.state.StartTime == nil {
		t := time.Now().UTC().Truncate(time.Second)
		w.state.StartTime = &t
	}
	w.mu.Lock()
	w.newSpec = false
	desired := w.desired
	// A pod already being deleted (a deletion read back from disk) starts
	// nothing; its runners only pick up tasks that outlived the agent, to
	// stop them.
	recoverOnly := w.termGrace != nil
	w.mu.Unlock()
	g := w.startGeneration(ctx, workingCopy(desired), false, recoverOnly)
	w.refresh(g, true)
	deadline := w.deadlineTimer(g)

	var (
		terminating bool
		grace       time.Duration
		next        *api.Pod // a changed spec waiting for the old runners to stop
	)
	for {
		select {
		case <-ctx.Done():
			w.shutdown(g, terminating)
			return
		case <-deadline:
			deadline = nil
			if d := g.pod.Spec.ActiveDeadlineSeconds; d != nil && !terminating && w.state.Failure == nil && !w.terminal() {
				w.log.Info("pod passed its activeDeadlineSeconds; stopping it", "deadline", *d)
				w.state.Failure = &podFailure{Reason: ReasonDeadlineExceeded, Message: fmt.Sprintf("Pod was active on the node longer than the specified deadline (%ds)", *d)}
				g.stopAll(stopDeadline, terminationGrace(g.pod))
				next = nil
				w.mu.Lock()
				w.dirty = true
				w.mu.Unlock()
			}
		case <-w.wake:
		}

		w.mu.Lock()
		req, specChanged, desired := w.termGrace, w.newSpec, w.desired
		w.newSpec = false
		dirty := w.dirty
		w.dirty = false
		refreshVolumes := w.configs
		w.configs = false
		w.mu.Unlock()
		if refreshVolumes {
			w.refreshConfigVolumes(g.pod)
		}

		if req != nil {
			if !terminating {
				terminating, grace = true, *req
				w.log.Info("stopping pod", "grace", grace)
				g.stopAll(stopDelete, grace)
			} else if *req < grace {
				grace = *req
				g.killAll()
			}
			if g.allDone() {
				w.a.forget(w, w.lastOr(g))
				return
			}
			continue
		}

		if specChanged {
			np := workingCopy(desired)
			switch {
			case next != nil:
				next = np // the old runners are stopping already
			case sameSpec(np, g.pod):
				g.pod = np // metadata only
			case g.problem != nil:
				// Nothing ran; try the new spec at once.
				g = w.startGeneration(ctx, np, false, false)
				deadline = w.deadlineTimer(g)
				dirty = true
			case w.state.Failure != nil || w.terminal():
				// A finished pod never runs again.
				g.pod = np
			default:
				w.log.Info("pod spec changed; restarting its containers")
				next = np
				g.stopAll(stopRestart, terminationGrace(g.pod))
			}
		}
		if next != nil && g.allDone() {
			g = w.startGeneration(ctx, next, true, false)
			next = nil
			deadline = w.deadlineTimer(g)
			dirty = true
		}
		w.advance(g)
		w.refresh(g, dirty)
	}
}

// startGeneration starts runners for pod. With restart, containers that
// ran before count a restart, as the kubelet does when a spec change
// replaces them. With recoverOnly, runners start no new task.
func (w *podWorker) startGeneration(ctx context.Context, pod *api.Pod, restart, recoverOnly bool) *generation {
	g := &generation{pod: pod, ctx: ctx, recoverOnly: recoverOnly}
	if f := w.a.checkRunnable(pod); f != nil {
		w.log.Warn("pod cannot run on this node", "reason", f.Reason, "message", f.Message)
		g.problem = f
		return g
	}
	w.mu.Lock()
	old := w.records
	recs := make(map[string]*containerRecord, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for _, c := range allContainers(pod) {
		rec := &containerRecord{}
		if o := old[c.Name]; o != nil {
			rec = o.clone()
			if restart {
				if o.Handle != nil || o.State.Running != nil || o.State.Terminated != nil {
					rec.RestartCount++
				}
				if o.State.Terminated != nil {
					rec.LastState = o.State
				}
				rec.State, rec.Done, rec.Handle = api.ContainerState{}, false, nil
			}
		}
		recs[c.Name] = rec
	}
	w.records = recs
	w.dirty = true
	w.mu.Unlock()
	if w.state.Failure != nil {
		return g // failed for good: nothing runs again
	}
	if recoverOnly {
		// Only tasks left by an earlier process matter, to stop them.
		for _, c := range pod.Spec.InitContainers {
			w.startRunner(g, c, true)
		}
		for _, c := range pod.Spec.Containers {
			w.startRunner(g, c, false)
		}
		g.appsStarted = true
		return g
	}
	w.advance(g)
	return g
}

// allContainers lists the init containers, then the app containers.
func allContainers(p *api.Pod) []api.Container {
	return append(append([]api.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...)
}

// startRunner starts a runner for c from its current record.
func (w *podWorker) startRunner(g *generation, c api.Container, init bool) *containerRunner {
	rec := w.record(c.Name)
	if rec == nil {
		rec = &containerRecord{}
	}
	r := newContainerRunner(w, g.ctx, g.pod, c, w.a.drivers[runtimeOf(g.pod)], *rec, init)
	r.recoverOnly = g.recoverOnly
	g.runners = append(g.runners, r)
	go r.run() // the worker waits for every runner's done before it returns
	return r
}

// advance runs the init containers in order, each once it is the next not
// yet completed, and the app containers once all completed. An init
// container that failed for good (restartPolicy Never) starts nothing more:
// the pod fails.
func (w *podWorker) advance(g *generation) {
	if g.problem != nil || g.stopped || g.appsStarted || w.state.Failure != nil {
		return
	}
	inits := g.pod.Spec.InitContainers
	for g.nextInit < len(inits) {
		if r := g.current; r != nil {
			if !r.finished() {
				return
			}
			g.current = nil
		}
		rec := w.record(inits[g.nextInit].Name)
		if rec != nil && rec.Done {
			if !completed(rec) {
				return // failed for good
			}
			g.nextInit++
			continue
		}
		if len(g.runners) > 0 && g.runners[len(g.runners)-1].c.Name == inits[g.nextInit].Name {
			return // its runner ended without completing: it was stopped
		}
		g.current = w.startRunner(g, inits[g.nextInit], true)
		return
	}
	for _, c := range g.pod.Spec.Containers {
		w.startRunner(g, c, false)
	}
	g.appsStarted = true
}

// completed reports whether a container ran to a successful end.
func completed(rec *containerRecord) bool {
	t := rec.State.Terminated
	return rec.Done && t != nil && t.ExitCode == 0 && t.Signal == 0
}

// shutdown stops the runners as the agent stops and waits for them.
func (w *podWorker) shutdown(g *generation, terminating bool) {
	grace := min(terminationGrace(g.pod), shutdownGrace)
	for _, r := range g.runners {
		r.requestStop(stopShutdown, grace)
		if terminating {
			r.forceKill() // being deleted anyway: finish fast
		}
	}
	for _, r := range g.runners {
		<-r.done
	}
}

func (w *podWorker) terminal() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last != nil && w.last.Phase.Terminal()
}

// deadlineTimer fires when the pod's activeDeadlineSeconds have passed
// since its start time (nil when it has none or cannot run any more).
func (w *podWorker) deadlineTimer(g *generation) <-chan time.Time {
	d := g.pod.Spec.ActiveDeadlineSeconds
	if d == nil || *d <= 0 || *d >= maxSeconds || g.problem != nil || w.state.Failure != nil || w.terminal() {
		return nil
	}
	return time.After(time.Until(w.state.StartTime.Add(seconds(*d))))
}

func (w *podWorker) status(g *generation) (api.PodStatus, map[string]*containerRecord) {
	w.mu.Lock()
	recs := make(map[string]*containerRecord, len(w.records))
	for k, v := range w.records {
		recs[k] = v.clone()
	}
	probes := make(map[string]probeState, len(w.probes))
	for k, v := range w.probes {
		probes[k] = v
	}
	prev := w.last
	w.mu.Unlock()
	return computePodStatus(podStatusInput{
		pod: g.pod, records: recs, probes: probes, problem: g.problem, failure: w.state.Failure,
		startTime: w.state.StartTime, hostIP: w.a.HostIP(), prev: prev, now: time.Now(),
	}), recs
}

func (w *podWorker) lastOr(g *generation) api.PodStatus {
	if st, ok := w.LastStatus(); ok {
		return st
	}
	st, _ := w.status(g)
	return st
}

// refresh recomputes the status; it keeps the records on disk when they
// changed and queues a report when the status changed.
func (w *podWorker) refresh(g *generation, persist bool) {
	st, recs := w.status(g)
	if persist {
		if err := w.a.local.SaveState(w.Pod().UID, &podState{StartTime: w.state.StartTime, Failure: w.state.Failure, Containers: recs}); err != nil {
			w.log.Error("cannot save pod state locally", "err", err)
		}
	}
	w.mu.Lock()
	prev := w.last
	changed := prev == nil || !statusEqual(*prev, st)
	if changed {
		w.last = &st
	}
	w.mu.Unlock()
	if !changed {
		return
	}
	if prev == nil || prev.Phase != st.Phase {
		w.log.Info("pod phase", "phase", st.Phase, "reason", st.Reason)
	}
	p := w.Pod()
	w.a.reporter.Enqueue(api.PodStatusReport{Namespace: p.Namespace, Name: p.Name, UID: p.UID, Status: st})
}

func sameSpec(a, b *api.Pod) bool {
	ja, _ := json.Marshal(a.Spec)
	jb, _ := json.Marshal(b.Spec)
	return string(ja) == string(jb)
}

func statusEqual(a, b api.PodStatus) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
