package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
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
}

// Scheduler binds pending pods to nodes.
type Scheduler struct {
	opts  Options
	pods  *store.Resource[*api.Pod]
	nodes *store.Resource[*api.Node]
	log   *slog.Logger

	// The cache, owned by the run goroutine.
	podCache  map[string]*api.Pod
	nodeCache map[string]*NodeInfo
	queue     []string
	queued    map[string]bool

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
	return &Scheduler{
		opts: opts, pods: store.For[*api.Pod](st), nodes: store.For[*api.Node](st), log: log,
		podCache: map[string]*api.Pod{}, nodeCache: map[string]*NodeInfo{}, queued: map[string]bool{},
	}
}

// Start begins watching and scheduling; Stop ends it.
func (s *Scheduler) Start(ctx context.Context) error {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	pods, err := s.pods.Watch(ctx, store.WatchOptions{})
	if err != nil {
		s.cancel()
		return err
	}
	nodes, err := s.nodes.Watch(ctx, store.WatchOptions{})
	if err != nil {
		s.cancel()
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(ctx, pods, nodes)
	}()
	return nil
}

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
	for {
		// Take every event that is already waiting before scheduling, so
		// decisions use the freshest cache; block only when idle.
		if len(s.queue) > 0 {
			select {
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
			default:
			}
			key := s.queue[0]
			s.queue = s.queue[1:]
			delete(s.queued, key)
			s.scheduleOne(ctx, key)
			continue
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
			s.requeuePending()
		}
	}
}

func (s *Scheduler) enqueue(key string) {
	if !s.queued[key] {
		s.queued[key] = true
		s.queue = append(s.queue, key)
	}
}

func (s *Scheduler) requeuePending() {
	keys := make([]string, 0)
	for k, p := range s.podCache {
		if needsScheduling(p) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // oldest-first would be better; stable order is enough
	for _, k := range keys {
		s.enqueue(k)
	}
}

// account adds (sign +1) or removes (-1) a pod's claim on its node.
func (s *Scheduler) account(p *api.Pod, sign int) {
	if p == nil || p.Spec.NodeName == "" || p.Status.Phase.Terminal() {
		return
	}
	if n, ok := s.nodeCache[p.Spec.NodeName]; ok {
		n.Pods += sign
	}
}

func (s *Scheduler) onPod(ev store.Event[*api.Pod]) {
	switch ev.Type {
	case store.Added, store.Modified:
		key := podKey(ev.Object.Namespace, ev.Object.Name)
		s.account(s.podCache[key], -1)
		s.podCache[key] = ev.Object
		s.account(ev.Object, +1)
		if needsScheduling(ev.Object) {
			s.enqueue(key)
		}
	case store.Deleted:
		key := podKey(ev.Namespace, ev.Name)
		s.account(s.podCache[key], -1)
		delete(s.podCache, key)
	}
}

func (s *Scheduler) onNode(ev store.Event[*api.Node]) {
	switch ev.Type {
	case store.Added, store.Modified:
		n, ok := s.nodeCache[ev.Object.Name]
		if !ok {
			n = &NodeInfo{}
			s.nodeCache[ev.Object.Name] = n
			for _, p := range s.podCache {
				if p.Spec.NodeName == ev.Object.Name && !p.Status.Phase.Terminal() {
					n.Pods++
				}
			}
		}
		n.Node = ev.Object
		s.requeuePending()
	case store.Deleted:
		delete(s.nodeCache, ev.Name)
	case store.Synced:
		s.requeuePending()
	}
}

// Decide picks a node for the pod from the cache, or explains why none fits.
func (s *Scheduler) Decide(p *api.Pod) (string, error) {
	return decide(p, s.nodeCache, s.opts.Filters, s.opts.Scores)
}

// ErrUnschedulable wraps the explanation of a pod no node fits.
var ErrUnschedulable = errors.New("unschedulable")

func decide(p *api.Pod, nodes map[string]*NodeInfo, filters []FilterPlugin, scores []ScorePlugin) (string, error) {
	reasons := map[string]int{}
	best, bestScore := "", int64(0)
	names := make([]string, 0, len(nodes))
	for name := range nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n := nodes[name]
		rejected := false
		for _, f := range filters {
			if r := f.Filter(p, n); r != "" {
				reasons[r]++
				rejected = true
				break
			}
		}
		if rejected {
			continue
		}
		var score int64
		for _, sp := range scores {
			score += sp.Score(p, n)
		}
		if best == "" || score > bestScore {
			best, bestScore = name, score
		}
	}
	if best != "" {
		return best, nil
	}
	if len(nodes) == 0 {
		return "", fmt.Errorf("0/0 nodes are available: no nodes registered: %w", ErrUnschedulable)
	}
	parts := make([]string, 0, len(reasons))
	for r, c := range reasons {
		parts = append(parts, fmt.Sprintf("%d node(s) %s", c, r))
	}
	sort.Strings(parts)
	return "", fmt.Errorf("0/%d nodes are available: %s: %w", len(nodes), strings.Join(parts, ", "), ErrUnschedulable)
}

func (s *Scheduler) scheduleOne(ctx context.Context, key string) {
	p, ok := s.podCache[key]
	if !ok || !needsScheduling(p) {
		return
	}
	node, err := s.Decide(p)
	now := time.Now().UTC().Truncate(time.Second)
	if err != nil {
		msg := strings.TrimSuffix(err.Error(), ": "+ErrUnschedulable.Error())
		if c := p.Status.Condition(api.PodScheduled); c != nil && c.Status == api.ConditionFalse && c.Message == msg {
			return // already says so
		}
		_, werr := s.pods.Mutate(ctx, p.Namespace, p.Name, func(cur *api.Pod) error {
			if cur.UID != p.UID || !needsScheduling(cur) {
				return store.ErrSkip
			}
			cur.Status.Phase = api.PodPending
			cur.Status.SetCondition(api.PodCondition{Type: api.PodScheduled, Status: api.ConditionFalse, Reason: "Unschedulable", Message: msg, LastTransitionTime: now})
			return nil
		})
		if werr != nil && !errors.Is(werr, store.ErrNotFound) {
			s.log.Warn("record unschedulable pod", "pod", key, "err", werr)
		}
		return
	}
	bound := false
	_, err = s.pods.Mutate(ctx, p.Namespace, p.Name, func(cur *api.Pod) error {
		if cur.UID != p.UID || !needsScheduling(cur) {
			return store.ErrSkip // bound or deleted meanwhile
		}
		cur.Spec.NodeName = node
		cur.Status.Phase = api.PodPending
		cur.Status.SetCondition(api.PodCondition{Type: api.PodScheduled, Status: api.ConditionTrue, LastTransitionTime: now})
		bound = true
		return nil
	})
	switch {
	case err != nil && errors.Is(err, store.ErrNotFound):
	case err != nil:
		s.log.Warn("bind pod", "pod", key, "node", node, "err", err)
		s.enqueue(key)
	case bound:
		s.log.Debug("bound pod", "pod", key, "node", node)
		// Count the claim now, so the next decision sees it before the
		// watch echoes the write back.
		cp := *p
		cp.Spec.NodeName = node
		s.account(s.podCache[key], -1)
		s.podCache[key] = &cp
		s.account(&cp, +1)
	}
}
