package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// burstReplicas bounds the creates or deletes of one reconcile, as
// kube-controller-manager's does; the next reconcile does the rest.
const burstReplicas = 500

// ReplicaSetController keeps each ReplicaSet's number of active pods at
// spec.replicas. It adopts matching orphan pods, creates pods from the
// template in slow-start batches (1, 2, 4, …), deletes the best candidates
// first (see rankForDeletion), and reports replicas, ready and available
// counts.
type ReplicaSetController struct {
	inf *informer.Set
	rss *store.Resource[*api.ReplicaSet]
	pc  podControl
	exp *Expectations
	q   *Queue
	log *slog.Logger
	now func() time.Time
}

// NewReplicaSetController wires the controller to the informers.
func NewReplicaSetController(inf *informer.Set, st *store.Store, log *slog.Logger) *ReplicaSetController {
	c := &ReplicaSetController{
		inf: inf, rss: store.For[*api.ReplicaSet](st), pc: newPodControl(inf, st),
		exp: NewExpectations(), q: NewQueue(5*time.Millisecond, time.Minute), log: log, now: time.Now,
	}
	enqueue := func(rs *api.ReplicaSet) { c.q.Add(informer.KeyOf(rs)) }
	inf.ReplicaSets.AddHandler(informer.Handler[*api.ReplicaSet]{
		OnAdd:    enqueue,
		OnUpdate: func(_, cur *api.ReplicaSet) { enqueue(cur) },
		OnDelete: func(rs *api.ReplicaSet) { c.exp.Forget(informer.KeyOf(rs)) },
	})
	inf.Pods.AddHandler(ownedPodHandler(c.ownerKey, c.enqueueMatching, c.exp, c.q))
	return c
}

func (c *ReplicaSetController) ownerKey(p *api.Pod) (string, bool) {
	r := ControllerOf(p)
	if r == nil || r.Kind != "ReplicaSet" {
		return "", false
	}
	return informer.Key(p.Namespace, r.Name), true
}

func (c *ReplicaSetController) enqueueMatching(p *api.Pod) {
	if !isActive(p) {
		return
	}
	for _, rs := range c.inf.ReplicaSets.List(p.Namespace, func(rs *api.ReplicaSet) bool { return rs.Spec.Selector.Matches(p.Labels) }) {
		c.q.Add(informer.KeyOf(rs))
	}
}

// Runner returns the controller's runner.
func (c *ReplicaSetController) Runner(workers int) *Runner {
	return &Runner{Name: "replicaset", Queue: c.q, R: c, Workers: workers, Resync: 30 * time.Second, Log: c.log,
		Keys: func() []string { return keysOf(c.inf.ReplicaSets.List("", nil)) }}
}

func keysOf[T api.Object](objs []T) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = informer.KeyOf(o)
	}
	return out
}

func splitKey(key string) (ns, name string) {
	ns, name, ok := strings.Cut(key, "/")
	if !ok {
		return "", key
	}
	return ns, name
}

// Reconcile brings one ReplicaSet to its replica count.
func (c *ReplicaSetController) Reconcile(ctx context.Context, key string) (time.Duration, error) {
	ns, name := splitKey(key)
	rs, ok := c.inf.ReplicaSets.Get(ns, name)
	if !ok {
		c.exp.Forget(key)
		return 0, nil
	}
	// Read the expectations before the cache: an event that lands between
	// the two then makes this reconcile wait rather than act twice on a
	// list that predates it.
	satisfied := c.exp.Satisfied(key)
	pods := c.inf.Pods.ControlledBy(rs.UID)
	adopted, err := c.adopt(ctx, rs)
	pods = append(pods, adopted...)
	var active []*api.Pod
	for _, p := range pods {
		if isActive(p) {
			active = append(active, p)
		}
	}
	if err == nil && rs.DeletionTimestamp == nil && satisfied {
		var deleted map[string]bool
		deleted, err = c.manage(ctx, key, rs, active)
		// The status describes the world after this reconcile's deletes,
		// so that observedGeneration never vouches for pods just deleted
		// (the Deployment controller scales on these numbers).
		active = slices.DeleteFunc(active, func(p *api.Pod) bool { return deleted[p.Name] })
	}
	requeue, serr := c.updateStatus(ctx, rs, active)
	return requeue, errors.Join(err, serr)
}

// adopt takes matching orphan pods (no controller) into the ReplicaSet.
func (c *ReplicaSetController) adopt(ctx context.Context, rs *api.ReplicaSet) ([]*api.Pod, error) {
	if rs.DeletionTimestamp != nil {
		return nil, nil
	}
	orphans := c.inf.Pods.Orphans(rs.Namespace, func(p *api.Pod) bool {
		return isActive(p) && rs.Spec.Selector.Matches(p.Labels)
	})
	var out []*api.Pod
	for _, o := range orphans {
		p, err := c.pc.pods.Mutate(ctx, o.Namespace, o.Name, func(p *api.Pod) error {
			if ControllerOf(p) != nil || !isActive(p) || !rs.Spec.Selector.Matches(p.Labels) {
				return store.ErrSkip
			}
			p.OwnerReferences = append(p.OwnerReferences, ControllerRef(rs))
			return nil
		})
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return out, fmt.Errorf("adopt pod %s/%s: %w", o.Namespace, o.Name, err)
		}
		if isControlledBy(p, rs.UID) {
			out = append(out, p)
		}
	}
	return out, nil
}

// manage creates or deletes pods and returns the names of those it asked
// to delete.
func (c *ReplicaSetController) manage(ctx context.Context, key string, rs *api.ReplicaSet, active []*api.Pod) (map[string]bool, error) {
	want := int(replicasOf(rs.Spec.Replicas))
	diff := len(active) - want
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		c.exp.Expect(key, n, 0)
		created, err := slowStart(ctx, n, func(ctx context.Context) error {
			return c.pc.create(ctx, PodFromTemplate(&rs.Spec.Template, rs, rs.Name+"-"))
		})
		for i := created; i < n; i++ {
			c.exp.Observed(key, true) // never coming
		}
		return nil, err
	case diff > 0:
		n := min(diff, burstReplicas)
		rankForDeletion(active, c.nodeReady)
		victims := slices.Clone(active[:n])
		c.exp.Expect(key, 0, n)
		deleted := make(map[string]bool, n)
		for _, p := range victims {
			deleted[p.Name] = true
		}
		return deleted, parallel(ctx, victims, func(ctx context.Context, p *api.Pod) error {
			err := c.pc.delete(ctx, p)
			if err != nil {
				c.exp.Observed(key, false)
			}
			return err
		})
	}
	return nil, nil
}

func (c *ReplicaSetController) nodeReady(name string) bool {
	n, ok := c.inf.Nodes.Get("", name)
	return ok && n.IsReady()
}

func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// slowStart runs fn n times in batches of 1, 2, 4, … concurrently, stopping
// after a batch with an error, and returns how many succeeded.
func slowStart(ctx context.Context, n int, fn func(context.Context) error) (int, error) {
	done := 0
	for batch := 1; done < n; batch *= 2 {
		size := min(batch, n-done)
		errs := make(chan error, size)
		for i := 0; i < size; i++ {
			go func() { errs <- fn(ctx) }()
		}
		var firstErr error
		ok := 0
		for i := 0; i < size; i++ {
			if err := <-errs; err != nil {
				firstErr = errors.Join(firstErr, err)
			} else {
				ok++
			}
		}
		done += ok
		if firstErr != nil {
			return done, firstErr
		}
	}
	return done, nil
}

// parallel runs fn for every item, at most 64 at a time.
func parallel[T any](ctx context.Context, items []T, fn func(context.Context, T) error) error {
	sem := make(chan struct{}, 64)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(ctx, it); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *ReplicaSetController) updateStatus(ctx context.Context, rs *api.ReplicaSet, active []*api.Pod) (time.Duration, error) {
	now := c.now()
	minReady := time.Duration(rs.Spec.MinReadySeconds) * time.Second
	st := api.ReplicaSetStatus{Replicas: int32(len(active)), ObservedGeneration: rs.Generation, Conditions: rs.Status.Conditions}
	var requeue time.Duration
	for _, p := range active {
		if labelsMatch(rs.Spec.Template.Labels, p.Labels) {
			st.FullyLabeledReplicas++
		}
		if isReady(p) {
			st.ReadyReplicas++
			if isAvailable(p, minReady, now) {
				st.AvailableReplicas++
			} else if c := p.Status.Condition(api.PodReady); c != nil {
				wait := c.LastTransitionTime.Add(minReady).Sub(now) + time.Second
				if requeue == 0 || wait < requeue {
					requeue = wait
				}
			}
		}
	}
	if equalJSON(st, rs.Status) {
		return requeue, nil
	}
	_, err := c.rss.Mutate(ctx, rs.Namespace, rs.Name, func(cur *api.ReplicaSet) error {
		if cur.UID != rs.UID {
			return store.ErrSkip
		}
		cur.Status = st
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	return requeue, err
}

func labelsMatch(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
