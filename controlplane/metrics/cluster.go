package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Cluster reports pods by phase and nodes by readiness. It keeps the phase
// of every pod and the readiness of every node from a watch of the store,
// so that a scrape costs a few map reads, not a list. It runs on every
// control-plane replica (it only reads).
type Cluster struct {
	pods  *store.Resource[*api.Pod]
	nodes *store.Resource[*api.Node]
	log   *slog.Logger

	podsDesc, nodesDesc, agentsDesc *prometheus.Desc

	mu        sync.Mutex
	podPhase  map[string]api.PodPhase // namespace/name → phase
	nodeReady map[string]string       // name → "true", "false", "unknown"

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ prometheus.Collector = (*Cluster)(nil)

// retryWatch is how long Cluster waits before watching again after its
// watch failed or ended.
const retryWatch = time.Second

// NewCluster returns a Cluster over st; register it on a registry and
// Start it.
func NewCluster(st *store.Store, log *slog.Logger) *Cluster {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cluster{
		pods: store.For[*api.Pod](st), nodes: store.For[*api.Node](st), log: log,
		podsDesc:   prometheus.NewDesc(Pods, "Pods by phase.", []string{"phase"}, nil),
		nodesDesc:  prometheus.NewDesc(Nodes, "Nodes by their Ready condition: true, false or unknown.", []string{"ready"}, nil),
		agentsDesc: prometheus.NewDesc(AgentsConnected, "Nodes whose agent renews its lease (Ready).", nil, nil),
		podPhase:   map[string]api.PodPhase{}, nodeReady: map[string]string{},
	}
}

// Start watches pods and nodes until Stop.
func (c *Cluster) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		follow(ctx, c, c.pods, func(ev store.Event[*api.Pod]) {
			key := ev.Namespace + "/" + ev.Name
			if ev.Type == store.Deleted {
				delete(c.podPhase, key)
				return
			}
			c.podPhase[key] = ev.Object.Status.Phase
		}, func() { clear(c.podPhase) })
	}()
	go func() {
		defer c.wg.Done()
		follow(ctx, c, c.nodes, func(ev store.Event[*api.Node]) {
			if ev.Type == store.Deleted {
				delete(c.nodeReady, ev.Name)
				return
			}
			c.nodeReady[ev.Name] = readiness(ev.Object)
		}, func() { clear(c.nodeReady) })
	}()
	return nil
}

// Stop ends the watches and waits for them.
func (c *Cluster) Stop(context.Context) error {
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	return nil
}

// follow applies a kind's watch events under c.mu until ctx ends, watching
// again (from a fresh list: reset, then the Added events) when the watch
// fails or ends.
func follow[T api.Object](ctx context.Context, c *Cluster, r *store.Resource[T], apply func(store.Event[T]), reset func()) {
	for {
		ch, err := r.Watch(ctx, store.WatchOptions{})
		if err != nil {
			c.log.Warn("metrics: watch", "kind", r.Info().Kind, "err", err)
		} else {
			c.mu.Lock()
			reset()
			c.mu.Unlock()
			for ev := range ch {
				if ev.Type == store.Synced {
					continue
				}
				c.mu.Lock()
				apply(ev)
				c.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retryWatch):
		}
	}
}

func readiness(n *api.Node) string {
	c := n.Status.Condition(api.NodeReady)
	switch {
	case c == nil:
		return "unknown"
	case c.Status == api.ConditionTrue:
		return "true"
	case c.Status == api.ConditionFalse:
		return "false"
	}
	return "unknown"
}

// Describe sends the descriptions of the series (prometheus.Collector).
func (c *Cluster) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.podsDesc
	ch <- c.nodesDesc
	ch <- c.agentsDesc
}

// Collect sends the counts as they are now (prometheus.Collector). Every
// phase and readiness is sent, zero included, so that the series exist
// from the start.
func (c *Cluster) Collect(ch chan<- prometheus.Metric) {
	phases := map[api.PodPhase]float64{}
	for _, p := range []api.PodPhase{api.PodPending, api.PodRunning, api.PodSucceeded, api.PodFailed, api.PodUnknown} {
		phases[p] = 0
	}
	ready := map[string]float64{"true": 0, "false": 0, "unknown": 0}
	c.mu.Lock()
	for _, p := range c.podPhase {
		if p == "" {
			p = api.PodPending // not scheduled yet
		}
		phases[p]++
	}
	for _, r := range c.nodeReady {
		ready[r]++
	}
	c.mu.Unlock()
	for p, n := range phases {
		ch <- prometheus.MustNewConstMetric(c.podsDesc, prometheus.GaugeValue, n, string(p))
	}
	for r, n := range ready {
		ch <- prometheus.MustNewConstMetric(c.nodesDesc, prometheus.GaugeValue, n, r)
	}
	ch <- prometheus.MustNewConstMetric(c.agentsDesc, prometheus.GaugeValue, ready["true"])
}
