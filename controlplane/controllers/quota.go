package controllers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/admission"
	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// QuotaController keeps each ResourceQuota's status (hard and used)
// computed from the pods of its namespace (admission.RecomputeQuota): when
// the quota changes, when a pod is added, finishes or goes, and on a
// resync. That is what releases the quota that admission reserved for
// pods that have since finished or been deleted. The recompute is a
// compare-and-swap on the quota, like admission's reservations, and keeps
// the reservations of pods admitted but not created yet. It remembers the
// pods its informer saw written lately, so that a reservation for a pod
// created and deleted between two recomputes is released too.
type QuotaController struct {
	inf    *informer.Set
	quotas *store.Resource[*api.ResourceQuota]
	q      *Queue
	log    *slog.Logger
	now    func() time.Time

	mu   sync.Mutex
	seen map[string]seenPod // namespace/name → last write seen
}

type seenPod struct {
	rev uint64
	at  time.Time
}

// NewQuotaController wires the controller to the informers.
func NewQuotaController(inf *informer.Set, st *store.Store, log *slog.Logger) *QuotaController {
	c := &QuotaController{inf: inf, quotas: store.For[*api.ResourceQuota](st),
		q: NewQueue(5*time.Millisecond, time.Minute), log: log, now: time.Now, seen: map[string]seenPod{}}
	enqueue := func(rq *api.ResourceQuota) { c.q.Add(informer.KeyOf(rq)) }
	inf.ResourceQuotas.AddHandler(informer.Handler[*api.ResourceQuota]{
		OnAdd: enqueue,
		OnUpdate: func(old, cur *api.ResourceQuota) {
			// Admission's reservations change status and the pending
			// annotation; only a recompute's inputs matter here.
			if !equalJSON(old.Spec, cur.Spec) || cur.Annotations[admission.PendingAnnotation] != "" {
				enqueue(cur)
			}
		},
	})
	inf.Pods.AddHandler(informer.Handler[*api.Pod]{
		OnAdd: func(p *api.Pod) {
			c.saw(p)
			c.enqueueNamespace(p.Namespace)
		},
		OnUpdate: func(old, cur *api.Pod) {
			if old.Status.Phase.Terminal() != cur.Status.Phase.Terminal() {
				c.enqueueNamespace(cur.Namespace)
			}
		},
		OnDelete: func(p *api.Pod) {
			c.saw(p)
			c.enqueueNamespace(p.Namespace)
		},
	})
	return c
}

// saw records that a pod was written at its resourceVersion.
func (c *QuotaController) saw(p *api.Pod) {
	rev, err := store.ParseResourceVersion(p.ResourceVersion)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := informer.KeyOf(p)
	if s, ok := c.seen[key]; !ok || rev > s.rev {
		c.seen[key] = seenPod{rev: rev, at: c.now()}
	}
}

// seenAfter reports whether a pod of ns was seen written after rev.
func (c *QuotaController) seenAfter(ns string) func(pod string, rev uint64) bool {
	return func(pod string, rev uint64) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		s, ok := c.seen[informer.Key(ns, pod)]
		return ok && s.rev > rev
	}
}

// forgetOld drops what was seen long enough ago that no reservation can
// still be waiting for it.
func (c *QuotaController) forgetOld() {
	c.mu.Lock()
	defer c.mu.Unlock()
	cutoff := c.now().Add(-2 * admission.PendingTTL)
	for k, s := range c.seen {
		if s.at.Before(cutoff) {
			delete(c.seen, k)
		}
	}
}

func (c *QuotaController) enqueueNamespace(ns string) {
	for _, rq := range c.inf.ResourceQuotas.List(ns, nil) {
		c.q.Add(informer.KeyOf(rq))
	}
}

// Runner returns the controller's runner.
func (c *QuotaController) Runner(workers int) *Runner {
	return &Runner{Name: "resourcequota", Queue: c.q, R: c, Workers: workers, Resync: 30 * time.Second, Log: c.log,
		Keys: func() []string {
			c.forgetOld()
			return keysOf(c.inf.ResourceQuotas.List("", nil))
		}}
}

// Reconcile recomputes one quota's status from the pods.
func (c *QuotaController) Reconcile(ctx context.Context, key string) (time.Duration, error) {
	ns, name := splitKey(key)
	if _, ok := c.inf.ResourceQuotas.Get(ns, name); !ok {
		return 0, nil
	}
	var next time.Time
	_, err := c.quotas.Mutate(ctx, ns, name, func(q *api.ResourceQuota) error {
		before := q.Status
		pending := q.Annotations[admission.PendingAnnotation]
		// The pods are read after the quota, so every reservation in it
		// is either a pod in this list or still pending.
		next = admission.RecomputeQuota(q, c.inf.Pods.List(ns, nil), c.now(), c.seenAfter(ns))
		if equalJSON(before, q.Status) && pending == q.Annotations[admission.PendingAnnotation] {
			return store.ErrSkip
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if next.IsZero() {
		return 0, nil
	}
	return max(next.Sub(c.now()), time.Second), nil
}
