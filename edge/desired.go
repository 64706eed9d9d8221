package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/api"
)

// The desired state: pods pushed one by one (api.PodAssignment) and the
// full set from api.AgentSync. Both end in applyLocked, which writes the pod
// to disk before any worker acts on it.

// loadLocalPods starts a worker for every pod kept on disk.
func (a *Agent) loadLocalPods() {
	pods, errs := a.local.Load()
	for _, err := range errs {
		a.log.Error("local pod state unreadable", "err", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, lp := range pods {
		if _, ok := a.workers[lp.Pod.UID]; ok {
			continue
		}
		a.startWorkerLocked(lp.Pod, lp.State, 0)
	}
	if len(pods) > 0 {
		a.log.Info("pods restored from local state", "count", len(pods))
	}
}

// onAssignment handles a push on the node's pods subject.
func (a *Agent) onAssignment(m *nats.Msg) {
	var as api.PodAssignment
	if err := json.Unmarshal(m.Data, &as); err != nil {
		a.log.Warn("unreadable pod assignment ignored", "err", err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopping {
		return
	}
	a.pushSeq++
	// ConfigMaps and Secrets first, so that the pod finds them.
	hasConfigs := len(as.ConfigMaps)+len(as.Secrets) > 0
	if hasConfigs {
		a.applyConfigsLocked(as.ConfigMaps, as.Secrets, a.pushSeq, false, 0)
	}
	switch {
	case as.Pod == nil && !as.Removed && hasConfigs:
	case as.Pod != nil && !as.Removed:
		a.applyLocked(as.Pod, a.pushSeq)
	case as.Removed:
		w := a.workers[as.UID]
		if w == nil && as.UID == "" {
			w = a.workerByNameLocked(as.Namespace, as.Name)
		}
		if w != nil {
			// Gone from the store altogether: stop at once.
			w.Terminate(0, true)
		}
	default:
		a.log.Warn("pod assignment with neither a pod nor removed ignored")
	}
}

func (a *Agent) workerByNameLocked(namespace, name string) *podWorker {
	for _, w := range a.workers {
		if p := w.Pod(); p.Namespace == namespace && p.Name == name {
			return w
		}
	}
	return nil
}

// deletionGrace is how long a deleted pod gets to stop.
func deletionGrace(p *api.Pod) time.Duration {
	g := api.DefaultTerminationGracePeriodSeconds
	switch {
	case p.DeletionGracePeriodSeconds != nil:
		g = *p.DeletionGracePeriodSeconds
	case p.Spec.TerminationGracePeriodSeconds != nil:
		g = *p.Spec.TerminationGracePeriodSeconds
	}
	return seconds(g)
}

// agentView is the part of a pod the agent acts on. Metadata and status
// changes (mostly caused by the agent's own reports) change nothing here.
func agentView(p *api.Pod) []byte {
	b, _ := json.Marshal(struct {
		UID      string
		Spec     api.PodSpec
		Deletion *time.Time
		Grace    *int64
	}{p.UID, p.Spec, p.DeletionTimestamp, p.DeletionGracePeriodSeconds})
	return b
}

// olderThan reports whether p is an older revision than cur (both from
// the store, where resourceVersion is a growing KV revision).
func olderThan(p, cur *api.Pod) bool {
	a, err1 := strconv.ParseUint(p.ResourceVersion, 10, 64)
	b, err2 := strconv.ParseUint(cur.ResourceVersion, 10, 64)
	return err1 == nil && err2 == nil && a < b
}

// applyLocked makes one desired pod happen. seq is the push that carried
// it (0 for a sync answer or local state).
func (a *Agent) applyLocked(p *api.Pod, seq uint64) {
	if a.stopping {
		return
	}
	if err := validUID(p.UID); err != nil {
		a.log.Warn("pod without a usable uid ignored", "pod", p.Namespace+"/"+p.Name, "err", err)
		return
	}
	if p.Spec.NodeName != "" && p.Spec.NodeName != a.opts.NodeName {
		a.log.Warn("pod bound to another node ignored", "pod", p.Namespace+"/"+p.Name, "boundTo", p.Spec.NodeName)
		return
	}
	w := a.workers[p.UID]
	if w != nil && seq > 0 {
		w.pushSeq.Store(seq)
	}
	if w != nil && olderThan(p, w.Pod()) {
		return // a sync answer older than a push already applied
	}
	if p.DeletionTimestamp != nil {
		if w == nil {
			// Nothing runs here (never started, or already removed and
			// the report was lost): deletion is done as far as this
			// node is concerned.
			a.reporter.Enqueue(api.PodStatusReport{Namespace: p.Namespace, Name: p.Name, UID: p.UID, Status: p.Status, Removed: true})
			return
		}
		if w.Terminating() {
			w.Terminate(deletionGrace(p), true) // may shorten the grace period
			return
		}
		// Keep the deletion on disk, so that a restart finishes it
		// instead of starting the pod again.
		if err := a.local.SavePod(p); err != nil {
			a.log.Error("cannot save pod deletion locally", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
		w.Delete(p, deletionGrace(p))
		return
	}
	if w == nil {
		if t, ok := a.tombstones[p.UID]; ok && time.Since(t) < tombstoneTTL {
			return // removed lately; this is a stale copy
		}
		if err := a.local.SavePod(p); err != nil {
			// Never act on a pod that is not on disk; the next sync
			// tries again.
			a.log.Error("cannot save pod locally; not starting it", "pod", p.Namespace+"/"+p.Name, "err", err)
			return
		}
		a.startWorkerLocked(p, &podState{}, seq)
		return
	}
	if w.Terminating() || string(agentView(p)) == string(agentView(w.Pod())) {
		return
	}
	if err := a.local.SavePod(p); err != nil {
		a.log.Error("cannot save changed pod locally; keeping the old spec", "pod", p.Namespace+"/"+p.Name, "err", err)
		return
	}
	w.SetDesired(p)
}

func (a *Agent) startWorkerLocked(p *api.Pod, st *podState, seq uint64) {
	w := newPodWorker(a, p, st)
	w.pushSeq.Store(seq)
	if p.DeletionTimestamp != nil {
		// Before run, so that it starts nothing.
		w.Terminate(deletionGrace(p), true)
	}
	a.workers[p.UID] = w
	a.workersWG.Add(1)
	go func() {
		defer a.workersWG.Done()
		w.run(a.workerCtx)
	}()
}

// forget is a worker's last step after its pod stopped for good: delete the
// local state, then tell the control plane.
func (a *Agent) forget(w *podWorker, last api.PodStatus) {
	p := w.Pod()
	a.mu.Lock()
	if a.workers[p.UID] == w {
		delete(a.workers, p.UID)
	}
	if w.Deleted() {
		// Only a deleted UID never comes back; one dropped because a sync
		// did not list it comes back with the next sync that does.
		a.tombstones[p.UID] = time.Now()
	}
	err := a.local.Forget(p.UID)
	a.mu.Unlock()
	if err != nil {
		a.log.Error("cannot delete local pod state", "pod", p.Namespace+"/"+p.Name, "err", err)
	}
	a.log.Info("pod removed", "pod", p.Namespace+"/"+p.Name, "uid", p.UID)
	a.reporter.Enqueue(api.PodStatusReport{Namespace: p.Namespace, Name: p.Name, UID: p.UID, Status: last, Removed: true})
}

// stopWorkers stops every pod worker (as the agent stops, not as pods are
// deleted) and waits for them.
func (a *Agent) stopWorkers() {
	a.mu.Lock()
	a.stopping = true
	a.mu.Unlock()
	// Workers see a.workerCtx end.
	a.workersWG.Wait()
	a.mu.Lock()
	a.workers = map[string]*podWorker{}
	a.mu.Unlock()
}

// syncLoop asks for the full desired set on start, on reconnect and every
// ResyncInterval, retrying with back-off while nobody answers.
func (a *Agent) syncLoop(ctx context.Context) {
	t := time.NewTicker(a.opts.ResyncInterval)
	defer t.Stop()
	failures := 0
	var retry <-chan time.Time
	for {
		err := a.syncOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		retry = nil
		if err != nil {
			failures++
			if failures == 1 {
				a.log.Warn("full sync failed; running pods from local state meanwhile", "err", err)
			} else {
				a.log.Debug("full sync failed", "err", err)
			}
			retry = time.After(min(backoffDelay(time.Second, 30*time.Second, failures), a.opts.ResyncInterval))
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.syncKick:
		case <-retry:
		}
	}
}

// syncOnce fetches the full desired set and converges to it.
func (a *Agent) syncOnce(ctx context.Context) error {
	a.reporter.Resend()
	a.mu.Lock()
	startSeq := a.pushSeq
	a.mu.Unlock()
	b, err := json.Marshal(api.SyncRequest{Node: a.opts.NodeName})
	if err != nil {
		return err
	}
	var resp api.SyncResponse
	if err := a.request(ctx, api.AgentSync, b, &resp); err != nil {
		return fmt.Errorf("full sync: %w", err)
	}
	if resp.Error != "" {
		return fmt.Errorf("full sync: control plane: %s", resp.Error)
	}
	a.mu.Lock()
	if !a.stopping {
		a.applyConfigsLocked(resp.ConfigMaps, resp.Secrets, 0, true, startSeq)
	}
	a.mu.Unlock()
	a.applyFullSet(resp.Pods, startSeq)
	return nil
}

// applyConfigsLocked takes ConfigMaps and Secrets from a push (seq) or, with
// replace, the whole set from a sync taken after push startSeq, and lets
// the pod workers know when something changed.
func (a *Agent) applyConfigsLocked(cms []api.ConfigMap, secs []api.Secret, seq uint64, replace bool, startSeq uint64) {
	var changed bool
	var errs []error
	if replace {
		changed, errs = a.configs.Replace(cms, secs, startSeq)
	} else {
		changed, errs = a.configs.Apply(cms, secs, seq)
	}
	for _, err := range errs {
		a.log.Error("cannot keep a ConfigMap or Secret locally", "err", err)
	}
	if !changed {
		return
	}
	for _, w := range a.workers {
		w.ConfigsChanged()
	}
}

// applyFullSet converges to the full desired set: pods in it are ensured
// (unchanged ones left alone), local pods not in it are stopped and
// forgotten, and statuses the control plane lacks are reported again.
func (a *Agent) applyFullSet(pods []api.Pod, startSeq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopping {
		return
	}
	inSet := make(map[string]bool, len(pods))
	for i := range pods {
		p := &pods[i]
		inSet[p.UID] = true
		a.applyLocked(p, 0)
		if w := a.workers[p.UID]; w != nil && !w.Terminating() && !a.reporter.Pending(p.UID) {
			if st, ok := w.LastStatus(); ok && !sameReportedStatus(p.Status, st) {
				a.reporter.Enqueue(api.PodStatusReport{Namespace: p.Namespace, Name: p.Name, UID: p.UID, Status: st})
			}
		}
	}
	for uid, w := range a.workers {
		if inSet[uid] || w.Terminating() {
			continue
		}
		if w.pushSeq.Load() > startSeq {
			continue // pushed after the set was taken; the next sync decides
		}
		a.log.Info("pod not in the desired set; stopping it", "pod", w.Pod().Namespace+"/"+w.Pod().Name, "uid", uid)
		w.Terminate(0, false)
	}
	for uid, t := range a.tombstones {
		if time.Since(t) >= tombstoneTTL {
			delete(a.tombstones, uid)
		}
	}
}

// sameReportedStatus compares the control plane's copy of a status with
// the agent's, leaving out PodScheduled, which the scheduler owns.
func sameReportedStatus(stored, ours api.PodStatus) bool {
	strip := func(s api.PodStatus) []byte {
		var conds []api.PodCondition
		for _, c := range s.Conditions {
			if c.Type != api.PodScheduled {
				conds = append(conds, c)
			}
		}
		s.Conditions = conds
		b, _ := json.Marshal(s)
		return b
	}
	return string(strip(stored)) == string(strip(ours))
}
