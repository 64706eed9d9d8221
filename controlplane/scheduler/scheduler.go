package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Options configure a Scheduler.
type Options struct {
	Filters []FilterPlugin // default DefaultFilters()
	Scores  []ScorePlugin  // default DefaultScores()
	// Resync is how often every pending pod is tried again. Default 30s.
	Resync time.Duration
	// RetryInterval is the least time between two retries of the pods no
	// node fit, which are tried again when the cluster changes (a node
	// added or changed, a pod bound or gone). Default 1s.
	RetryInterval time.Duration
	// Observer, if set, hears of every scheduling attempt (metrics).
	Observer Observer
}

// Scheduler binds pending pods to nodes.
type Scheduler struct {
	opts  Options
	fw    *framework
	pods  *store.Resource[*api.Pod]
	nodes *store.Resource[*api.Node]
	log   *slog.Logger

	// Owned by the run goroutine.
	c      *cache
	queue  []string
	queued map[string]bool
	// waiting holds the pods no node fit (or whose bind failed); they are
	// tried again after the cluster changed, or at the next resync.
	waiting     map[string]bool
	changed     bool
	lastRetry   time.Time
	podsSynced  bool
	nodesSynced bool

	// For tests and benchmarks, set before Start: onBind hears of every
	// pod this scheduler bound; mutateOnly binds with a read then a
	// compare-and-swap, as before the cached-version fast path.
	onBind     func(key, node string)
	mutateOnly bool

	// Binding runs apart from deciding, as kube-scheduler's binding
	// cycle does: a decided pod is assumed in the cache at once (so the
	// next decision counts it) and its write goes to a pool of binders.
	// inflight holds each assumed pod's cached version from before the
	// decision, to put back if the write fails; results come back to the
	// run goroutine, which alone touches the cache.
	jobs     chan bindJob
	inflight map[string]*api.Pod
	resMu    sync.Mutex
	results  []bindResult
	notify   chan struct{}
	// conflicts counts writes of a cached version that met a newer one.
	conflicts atomic.Int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Scheduler over the store; Start runs it.
func New(st *store.Store, opts Options, log *slog.Logger) *Scheduler {
	if opts.Filters == nil {
		opts.Filters = DefaultFilters()
	}
	if opts.Scores == nil {
		opts.Scores = DefaultScores()
	}
	if opts.Resync == 0 {
		opts.Resync = 30 * time.Second
	}
	if opts.RetryInterval == 0 {
		opts.RetryInterval = time.Second
	}
	return &Scheduler{
		opts: opts, fw: newFramework(opts.Filters, opts.Scores),
		pods: store.For[*api.Pod](st), nodes: store.For[*api.Node](st), log: log,
	}
}

// Start begins watching and scheduling, from an empty cache; Stop ends it.
func (s *Scheduler) Start(ctx context.Context) error {
	s.c = newCache()
	s.queue, s.queued, s.waiting = nil, map[string]bool{}, map[string]bool{}
	s.jobs, s.inflight, s.notify = make(chan bindJob, maxInflight), map[string]*api.Pod{}, make(chan struct{}, 1)
	s.results = nil
	s.changed, s.podsSynced, s.nodesSynced = false, false, false
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	pods, err := s.pods.Watch(ctx, store.WatchOptions{})
	if err != nil {
		s.cancel()
		return fmt.Errorf("scheduler: %w", err)
	}
	nodes, err := s.nodes.Watch(ctx, store.WatchOptions{})
	if err != nil {
		s.cancel()
		return fmt.Errorf("scheduler: %w", err)
	}
	s.wg.Add(1 + binders)
	go func() {
		defer s.wg.Done()
		s.run(ctx, pods, nodes)
	}()
	for i := 0; i < binders; i++ {
		go func() {
			defer s.wg.Done()
			s.binder(ctx)
		}()
	}
	return nil
}

// binders write decided pods in parallel: one fsynced write at a time would
// cap binding at the disk's latency, while the store takes many at once.
const (
	binders     = 16
	maxInflight = 256
)

// Stop ends scheduling and waits for it.
func (s *Scheduler) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

func podKey(ns, name string) string { return ns + "/" + name }

func needsScheduling(p *api.Pod) bool {
	return p.Spec.NodeName == "" && p.DeletionTimestamp == nil && !p.Status.Phase.Terminal()
}

func (s *Scheduler) run(ctx context.Context, pods <-chan store.Event[*api.Pod], nodes <-chan store.Event[*api.Node]) {
	resync := time.NewTicker(s.opts.Resync)
	defer resync.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		// Decide only once both watches have delivered what exists, so a
		// decision never misses a node or the pods already bound.
		ready := s.podsSynced && s.nodesSynced
		if ready && len(s.queue) > 0 && len(s.inflight) < maxInflight {
			// Take every event that is already waiting before scheduling,
			// so decisions use the freshest cache; block only when idle.
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-pods:
				if !ok {
					return
				}
				s.onPod(ev)
				continue
			case ev, ok := <-nodes:
				if !ok {
					return
				}
				s.onNode(ev)
				continue
			case <-s.notify:
				s.drainResults()
				continue
			default:
			}
			key := s.queue[0]
			s.queue[0] = ""
			s.queue = s.queue[1:]
			delete(s.queued, key)
			s.scheduleOne(ctx, key)
			continue
		}
		var retryC <-chan time.Time
		if ready && s.changed && len(s.waiting) > 0 {
			wait := s.opts.RetryInterval - time.Since(s.lastRetry)
			if wait <= 0 {
				s.retryWaiting()
				continue
			}
			retry.Reset(wait)
			retryC = retry.C
		}
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-pods:
			if !ok {
				return
			}
			s.onPod(ev)
		case ev, ok := <-nodes:
			if !ok {
				return
			}
			s.onNode(ev)
		case <-resync.C:
			s.resync()
		case <-retryC:
		case <-s.notify:
			s.drainResults()
		}
	}
}

func (s *Scheduler) enqueue(key string) {
	if !s.queued[key] {
		s.queued[key] = true
		s.queue = append(s.queue, key)
	}
}

// retryWaiting queues the pods that wait for a cluster change.
func (s *Scheduler) retryWaiting() {
	keys := slices.Sorted(maps.Keys(s.waiting))
	clear(s.waiting)
	for _, k := range keys {
		s.enqueue(k)
	}
	s.changed = false
	s.lastRetry = time.Now()
}

// resync queues every pod that still needs a node.
func (s *Scheduler) resync() {
	keys := make([]string, 0)
	for k, pi := range s.c.pods {
		if needsScheduling(pi.pod) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		delete(s.waiting, k)
		s.enqueue(k)
	}
	s.changed = false
	s.lastRetry = time.Now()
}

func (s *Scheduler) onPod(ev store.Event[*api.Pod]) {
	switch ev.Type {
	case store.Added, store.Modified:
		p := ev.Object
		key := podKey(p.Namespace, p.Name)
		old := s.c.pod(key)
		if old != nil && ev.Revision < store.RevisionOf(old.pod) {
			return // older than what this scheduler wrote and cached
		}
		s.c.setPod(key, p)
		was := old != nil && counted(old.pod)
		if was != counted(p) || was && (old.pod.Spec.NodeName != p.Spec.NodeName || !maps.Equal(old.pod.Labels, p.Labels)) {
			s.changed = true
		}
		if !needsScheduling(p) {
			delete(s.waiting, key)
			return
		}
		if s.waiting[key] && old != nil && old.pod.Generation == p.Generation && maps.Equal(old.pod.Labels, p.Labels) {
			return // still waits for the cluster to change, not for itself
		}
		delete(s.waiting, key)
		s.enqueue(key)
	case store.Deleted:
		key := podKey(ev.Namespace, ev.Name)
		if old := s.c.deletePod(key); old != nil && counted(old.pod) {
			s.changed = true
		}
		delete(s.waiting, key)
	case store.Synced:
		s.podsSynced = true
	}
}

func (s *Scheduler) onNode(ev store.Event[*api.Node]) {
	switch ev.Type {
	case store.Added, store.Modified:
		if old := s.c.setNode(ev.Object); old == nil || nodeSchedulingChanged(old, ev.Object) {
			s.changed = true
		}
	case store.Deleted:
		s.c.deleteNode(ev.Name)
	case store.Synced:
		s.nodesSynced = true
	}
}

func (s *Scheduler) scheduleOne(ctx context.Context, key string) {
	pi := s.c.pod(key)
	if pi == nil || !needsScheduling(pi.pod) {
		return
	}
	if _, busy := s.inflight[key]; busy {
		return // its binding is being written; its result decides
	}
	p := pi.pod
	start := time.Now()
	node, err := s.fw.decide(s.c, pi)
	now := time.Now().UTC().Truncate(time.Second)
	if err != nil {
		s.observe(ResultUnschedulable, start)
		s.waiting[key] = true
		msg := err.Error()
		if c := p.Status.Condition(api.PodScheduled); c != nil && c.Status == api.ConditionFalse && c.Message == msg {
			return // already says so
		}
		stored, _, werr := s.write(ctx, p, func(cur *api.Pod) bool {
			if cur.UID != p.UID || !needsScheduling(cur) {
				return false
			}
			cur.Status.Phase = api.PodPending
			cur.Status.SetCondition(api.PodCondition{Type: api.PodScheduled, Status: api.ConditionFalse, Reason: "Unschedulable", Message: msg, LastTransitionTime: now})
			return true
		})
		switch {
		case werr == nil && stored != nil:
			s.c.setPod(key, stored)
		case werr != nil && !errors.Is(werr, store.ErrNotFound):
			s.log.Warn("record unschedulable pod", "pod", key, "err", werr)
		}
		return
	}
	// Assume the pod bound at once, so the next decision counts it, and
	// hand the write to the binders.
	assumed := *p
	assumed.Spec.NodeName = node
	s.c.setPod(key, &assumed)
	s.inflight[key] = p
	s.jobs <- bindJob{key: key, pod: p, node: node, at: now, start: start}
}

type bindJob struct {
	key   string
	pod   *api.Pod // the cached version the decision was made on
	node  string
	at    time.Time
	start time.Time
}

type bindResult struct {
	bindJob
	stored *api.Pod
	bound  bool
	err    error
}

// binder writes bindings until ctx ends.
func (s *Scheduler) binder(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.jobs:
			p := j.pod
			stored, bound, err := s.write(ctx, p, func(cur *api.Pod) bool {
				if cur.UID != p.UID || !needsScheduling(cur) {
					return false // bound or deleted meanwhile
				}
				cur.Spec.NodeName = j.node
				cur.Status.Phase = api.PodPending
				cur.Status.SetCondition(api.PodCondition{Type: api.PodScheduled, Status: api.ConditionTrue, LastTransitionTime: j.at})
				return true
			})
			s.resMu.Lock()
			s.results = append(s.results, bindResult{bindJob: j, stored: stored, bound: bound, err: err})
			s.resMu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default: // a wake-up is already pending
			}
		}
	}
}

// drainResults applies finished bindings to the cache (run goroutine only).
func (s *Scheduler) drainResults() {
	s.resMu.Lock()
	results := s.results
	s.results = nil
	s.resMu.Unlock()
	for _, r := range results {
		delete(s.inflight, r.key)
		cur := s.c.pod(r.key)
		switch {
		case errors.Is(r.err, store.ErrNotFound):
			// Deleted meanwhile; the watch says so next.
		case r.err != nil:
			s.observe(ResultError, r.start)
			s.log.Warn("bind pod", "pod", r.key, "node", r.node, "err", r.err)
			// Take the assumption back unless the watch has news.
			if cur != nil && store.RevisionOf(cur.pod) <= store.RevisionOf(r.pod) {
				s.c.setPod(r.key, r.pod)
			}
			s.waiting[r.key] = true
			s.changed = true
		default:
			if r.stored != nil && (cur == nil || store.RevisionOf(cur.pod) <= store.RevisionOf(r.stored)) {
				s.c.setPod(r.key, r.stored)
			} else if r.stored == nil && cur != nil && store.RevisionOf(cur.pod) <= store.RevisionOf(r.pod) {
				s.c.setPod(r.key, r.pod) // nothing written: not ours to bind
			}
			if r.bound {
				s.observe(ResultBound, r.start)
				s.log.Debug("bound pod", "pod", r.key, "node", r.node)
				if s.onBind != nil {
					s.onBind(r.key, r.node)
				}
			}
		}
	}
}

// write makes change to a pod as a conditional write. It first writes the
// cached version changed, with one compare-and-swap on its resourceVersion
// and no read; when the cache was behind (ErrConflict) it reads the stored
// pod, applies change to that and writes it with a compare-and-swap,
// retrying on conflict. change returns false to write nothing. write
// returns the pod as stored (nil when change declined the cached version)
// and whether it wrote.
func (s *Scheduler) write(ctx context.Context, cached *api.Pod, change func(*api.Pod) bool) (*api.Pod, bool, error) {
	if !s.mutateOnly {
		cp := *cached
		cp.Status.Conditions = slices.Clone(cached.Status.Conditions)
		if !change(&cp) {
			return nil, false, nil
		}
		err := s.pods.UpdateFrom(ctx, cached, &cp)
		if err == nil {
			return &cp, true, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, false, err
		}
		s.conflicts.Add(1)
	}
	wrote := false
	stored, err := s.pods.Mutate(ctx, cached.Namespace, cached.Name, func(cur *api.Pod) error {
		wrote = change(cur)
		if !wrote {
			return store.ErrSkip
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return stored, wrote, nil
}
