package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

// BenchmarkScheduleAndBind measures pods bound per second: 1,000 pending
// pods over 100 nodes, from the scheduler's start until a watch has seen
// every pod bound, against a real store (embedded NATS with JetStream,
// fsync on). Beside it, on the same store, raw KV compare-and-swap updates
// per second made one after another as the scheduler makes its writes:
// the ceiling of a scheduler that binds with one write per pod.
//
//	go test -run '^$' -bench ScheduleAndBind -benchtime 3x ./controlplane/scheduler/
//
// "cas" binds with one compare-and-swap on the cached pod; "mutate" reads
// the pod first and then swaps, as the scheduler did before.
func BenchmarkScheduleAndBind(b *testing.B) {
	b.Run("cas", func(b *testing.B) { benchScheduleAndBind(b, 100, 1000, nil) })
	b.Run("mutate", func(b *testing.B) { benchScheduleAndBind(b, 100, 1000, func(s *Scheduler) { s.mutateOnly = true }) })
}

// BenchmarkScheduleAndBindFleet is the same at the size of issue 4's
// fleet: 10,000 pods over 1,000 nodes.
//
//	go test -run '^$' -bench ScheduleAndBindFleet -benchtime 1x -timeout 30m ./controlplane/scheduler/
func BenchmarkScheduleAndBindFleet(b *testing.B) { benchScheduleAndBind(b, 1000, 10000, nil) }

func benchScheduleAndBind(b *testing.B, nodeCount, podCount int, configure func(*Scheduler)) {
	ctx := context.Background()
	var bindTime, casTime time.Duration
	conflicts := 0
	for range b.N {
		b.StopTimer()
		st, _, _ := natstest.Store(b)
		nodes, pods := store.For[*api.Node](st), store.For[*api.Pod](st)
		parallel(b, nodeCount, func(i int) error { return nodes.Create(ctx, testNode(fmt.Sprintf("node-%04d", i))) })
		parallel(b, podCount, func(i int) error {
			return pods.Create(ctx, testPod(fmt.Sprintf("pod-%05d", i), requests("100m", "64Mi")))
		})
		wctx, cancel := context.WithCancel(ctx)
		events, err := pods.Watch(wctx, store.WatchOptions{})
		if err != nil {
			b.Fatal(err)
		}
		s := New(st, Options{}, slog.New(slog.DiscardHandler))
		if configure != nil {
			configure(s)
		}

		b.StartTimer()
		start := time.Now()
		if err := s.Start(ctx); err != nil {
			b.Fatal(err)
		}
		bound := map[string]bool{}
		for len(bound) < podCount {
			select {
			case ev := <-events:
				if ev.Object != nil && ev.Object.Spec.NodeName != "" {
					bound[ev.Object.Name] = true
				}
			case <-time.After(time.Minute):
				b.Fatalf("%d of %d pods bound, then none for a minute", len(bound), podCount)
			}
		}
		bindTime += time.Since(start)
		b.StopTimer()
		s.Stop()
		cancel()
		conflicts += int(s.conflicts.Load())

		// The baseline: the same number of CAS updates of one key, each
		// after the last, with a pod's worth of bytes.
		kv := st.KV()
		payload, _ := json.Marshal(testPod("pod-00000", requests("100m", "64Mi"), on("node-0000")))
		rev, err := kv.Put(ctx, "bench.cas", payload)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		for range podCount {
			if rev, err = kv.Update(ctx, "bench.cas", payload, rev); err != nil {
				b.Fatal(err)
			}
		}
		casTime += time.Since(start)
	}
	b.ReportMetric(float64(podCount*b.N)/bindTime.Seconds(), "pods/s")
	b.ReportMetric(float64(podCount*b.N)/casTime.Seconds(), "kv-cas/s")
	b.ReportMetric(float64(conflicts)/float64(podCount*b.N), "conflicts/pod")
}

// parallel runs fn(0..n-1) on a few goroutines, for setup.
func parallel(b *testing.B, n int, fn func(i int) error) {
	b.Helper()
	work := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if err := fn(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkDecideTenThousandPodsOverAThousandNodes places issue 4's fleet
// (10,000 pods over 1,000 nodes) in memory, each decision counted in the
// cache as a bind would be: the cost of deciding alone, which must not
// grow with the pods already placed.
//
//	go test -run '^$' -bench DecideTenThousand -benchtime 1x ./controlplane/scheduler/
func BenchmarkDecideTenThousandPodsOverAThousandNodes(b *testing.B) {
	const nodeCount, podCount = 1000, 10000
	var nodes []*api.Node
	for i := range nodeCount {
		nodes = append(nodes, testNode(fmt.Sprintf("node-%04d", i), nodeLabels("zone", fmt.Sprintf("z%d", i%10))))
	}
	web := podLabels("app", "web")
	cases := []struct {
		name string
		pod  func(i int) *api.Pod
	}{
		{name: "requests", pod: func(i int) *api.Pod { return testPod(fmt.Sprintf("p%05d", i), web, requests("100m", "64Mi")) }},
		{name: "spread-and-anti-affinity", pod: func(i int) *api.Pod {
			return testPod(fmt.Sprintf("p%05d", i), web, requests("100m", "64Mi"),
				spread(1, "zone", api.DoNotSchedule, selector("app", "web")),
				preferAntiAffinity(100, api.PodAffinityTerm{LabelSelector: selector("app", "web"), TopologyKey: api.LabelHostname}))
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			fw := newFramework(DefaultFilters(), DefaultScores())
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				c := newTestCache(nodes, nil)
				pods := make([]*api.Pod, podCount)
				for i := range pods {
					pods[i] = tc.pod(i)
				}
				b.StartTimer()
				start := time.Now()
				for _, p := range pods {
					pi := newPodInfo(p)
					node, err := fw.decide(c, pi)
					if err != nil {
						b.Fatal(err)
					}
					p.Spec.NodeName = node
					c.setPod(podKey(p.Namespace, p.Name), p)
				}
				elapsed += time.Since(start)
				if most := maxPods(c); most > podCount/nodeCount+1 {
					b.Fatalf("a node got %d pods", most)
				}
			}
			b.ReportMetric(float64(podCount*b.N)/elapsed.Seconds(), "pods/s")
		})
	}
}

func maxPods(c *cache) int {
	most := 0
	for _, n := range c.nodeList() {
		most = max(most, n.Pods)
	}
	return most
}
