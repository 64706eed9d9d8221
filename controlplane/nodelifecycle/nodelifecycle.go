// Package nodelifecycle marks nodes NotReady when their agent stops
// renewing its lease for longer than a grace period, taints them
// NoExecute (node.kubernetes.io/unreachable or not-ready), and evicts the
// pods whose tolerations run out, as Kubernetes' node lifecycle controller
// and taint manager do. (Agents renewing again are marked Ready by agentapi
// as soon as the renewal arrives; the taint comes off at the next check.)
//
// Eviction is a per-workload choice through tolerations: a pod that
// tolerates the taint without tolerationSeconds stays where it is while the
// node is away (DaemonSet pods do); one with tolerationSeconds is replaced
// elsewhere after that long (every pod gets 300 s by default, as in
// Kubernetes).
//
// Package nodelifecycle imports api and store only.
package nodelifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Options configure the Controller.
type Options struct {
	// GracePeriod without a renewal before a node is NotReady. Default 40s.
	GracePeriod time.Duration
	// Interval between checks. Default GracePeriod/8, at least 100ms.
	Interval time.Duration
}

// Controller watches leases and node readiness.
type Controller struct {
	opts   Options
	nodes  *store.Resource[*api.Node]
	pods   *store.Resource[*api.Pod]
	leases jetstream.KeyValue
	log    *slog.Logger
	now    func() time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Controller; Start runs it.
func New(st *store.Store, leases jetstream.KeyValue, opts Options, log *slog.Logger) *Controller {
	if opts.GracePeriod == 0 {
		opts.GracePeriod = 40 * time.Second
	}
	if opts.Interval == 0 {
		opts.Interval = max(opts.GracePeriod/8, 100*time.Millisecond)
	}
	return &Controller{opts: opts, nodes: store.For[*api.Node](st), pods: store.For[*api.Pod](st), leases: leases, log: log, now: time.Now}
}

// Start begins the periodic check.
func (c *Controller) Start(ctx context.Context) error {
	ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(c.opts.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.Check(ctx)
			}
		}
	}()
	return nil
}

// Stop ends the check and waits for it.
func (c *Controller) Stop() {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
}

// Check marks NotReady every Ready node whose lease is older than the grace
// period. A node without a lease (registration writes the node just before
// its lease) counts from the heartbeat of its Ready condition. A lease that
// cannot be read now is no evidence against the node: it is skipped.
func (c *Controller) Check(ctx context.Context) {
	nodes, err := c.nodes.List(ctx, "")
	if err != nil {
		c.log.Warn("list nodes", "err", err)
		return
	}
	now := c.now().UTC()
	defer func() { c.taintAndEvict(ctx, now) }()
	for _, n := range nodes {
		if !n.IsReady() {
			continue
		}
		renewed := n.Status.Condition(api.NodeReady).LastHeartbeatTime
		e, err := c.leases.Get(ctx, n.Name)
		switch {
		case err == nil:
			var l api.Lease
			if json.Unmarshal(e.Value(), &l) == nil && l.RenewTime.After(renewed) {
				renewed = l.RenewTime
			}
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			c.log.Warn("read lease", "node", n.Name, "err", err)
			continue
		}
		if now.Sub(renewed) <= c.opts.GracePeriod {
			continue
		}
		changed := false
		_, err = c.nodes.Mutate(ctx, "", n.Name, func(cur *api.Node) error {
			changed = false
			if !cur.IsReady() {
				return store.ErrSkip
			}
			changed = true
			t := now.Truncate(time.Second)
			cur.Status.SetCondition(api.NodeCondition{
				Type: api.NodeReady, Status: api.ConditionUnknown, Reason: "NodeStatusUnknown",
				Message: "agent stopped renewing its lease", LastHeartbeatTime: renewed, LastTransitionTime: t,
			})
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			c.log.Warn("mark node not ready", "node", n.Name, "err", err)
			continue
		}
		if err == nil && changed {
			c.log.Info("node not ready", "node", n.Name, "lastRenewal", renewed)
		}
	}
}

// taintAndEvict brings every node's lifecycle taint in line with its Ready
// condition and evicts what must go.
func (c *Controller) taintAndEvict(ctx context.Context, now time.Time) {
	nodes, err := c.nodes.List(ctx, "")
	if err != nil {
		c.log.Warn("list nodes", "err", err)
		return
	}
	tainted := map[string]api.Taint{}
	for _, n := range nodes {
		n, err := c.reconcileTaints(ctx, n, now)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				c.log.Warn("taint node", "node", n.Name, "err", err)
			}
			continue
		}
		for _, t := range n.Spec.Taints {
			if isLifecycleTaint(t) {
				tainted[n.Name] = t
			}
		}
	}
	c.evict(ctx, tainted, now)
}
