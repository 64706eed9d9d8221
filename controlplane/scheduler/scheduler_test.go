package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

func createAll[T api.Object](t testing.TB, r *store.Resource[T], objs ...T) {
	t.Helper()
	for _, o := range objs {
		if err := r.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

func startScheduler(t testing.TB, st *store.Store, opts Options, configure func(*Scheduler)) *Scheduler {
	t.Helper()
	s := New(st, opts, slog.New(slog.DiscardHandler))
	if configure != nil {
		configure(s)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// podWrites watches every write to pods and checks each pod's nodeName
// only ever goes from "" to one node.
type podWrites struct {
	mu       sync.Mutex
	node     map[string]string // pod → node it was bound to
	rebound  []string
	sentinel bool
	// unschedulable are the PodScheduled=False messages written.
	unschedulable []string
}

func watchPodWrites(t *testing.T, st *store.Store) *podWrites {
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := store.For[*api.Pod](st).Watch(ctx, store.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := &podWrites{node: map[string]string{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range ch {
			if ev.Object == nil {
				continue
			}
			w.mu.Lock()
			key, got := ev.Object.Name, ev.Object.Spec.NodeName
			if c := ev.Object.Status.Condition(api.PodScheduled); c != nil && c.Status == api.ConditionFalse {
				w.unschedulable = append(w.unschedulable, key+": "+c.Message)
			}
			if key == "sentinel" {
				w.sentinel = true
			} else if prev, ok := w.node[key]; ok && prev != got {
				w.rebound = append(w.rebound, fmt.Sprintf("%s: %s then %q", key, prev, got))
			} else if got != "" {
				w.node[key] = got
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// waitForSentinel writes a pod and waits until the watch saw it, and so
// every write before it.
func (w *podWrites) waitForSentinel(t *testing.T, pods *store.Resource[*api.Pod]) {
	t.Helper()
	createAll(t, pods, testPod("sentinel", wasm, func(p *api.Pod) { p.Status.Phase = api.PodSucceeded }))
	waitFor(t, 10*time.Second, "the sentinel write", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.sentinel
	})
}

func (w *podWrites) bound() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.node)
}

func TestTwoSchedulersNeverBindAPodTwice(t *testing.T) {
	st, _, _ := natstest.Store(t)
	pods, nodes := store.For[*api.Pod](st), store.For[*api.Node](st)
	for i := range 5 {
		createAll(t, nodes, testNode(fmt.Sprintf("n%d", i)))
	}
	writes := watchPodWrites(t, st)
	var mu sync.Mutex
	binds := map[string][]string{} // pod → scheduler that bound it, each time
	hook := func(name string) func(*Scheduler) {
		return func(s *Scheduler) {
			s.onBind = func(key, node string) {
				mu.Lock()
				defer mu.Unlock()
				binds[key] = append(binds[key], name)
			}
		}
	}
	s1 := startScheduler(t, st, Options{}, hook("s1"))
	s2 := startScheduler(t, st, Options{}, hook("s2"))

	const n = 200
	for i := range n {
		createAll(t, pods, testPod(fmt.Sprintf("p%03d", i), wasm))
	}
	waitFor(t, 30*time.Second, "every pod bound", func() bool { return writes.bound() == n })
	s1.Stop()
	s2.Stop()
	writes.waitForSentinel(t, pods)

	writes.mu.Lock()
	defer writes.mu.Unlock()
	if len(writes.rebound) > 0 {
		t.Fatalf("pods bound twice: %v", writes.rebound)
	}
	mu.Lock()
	defer mu.Unlock()
	perScheduler := map[string]int{}
	for key, by := range binds {
		if len(by) != 1 {
			t.Errorf("%s bound %d times, by %v", key, len(by), by)
		}
		perScheduler[by[0]]++
	}
	if len(binds) != n || len(writes.node) != n {
		t.Fatalf("%d pods reported bound, %d seen bound; want %d", len(binds), len(writes.node), n)
	}
	stored, err := pods.List(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range stored {
		if p.Name != "sentinel" && p.Spec.NodeName != writes.node[p.Name] {
			t.Errorf("%s is on %q, the watch saw it bound to %q", p.Name, p.Spec.NodeName, writes.node[p.Name])
		}
	}
	t.Logf("binds per scheduler: %v; cached-version writes that conflicted: %d", perScheduler, s1.conflicts.Load()+s2.conflicts.Load())
}

func TestSchedulerFillsNodesToCapacityThenSaysWhyAndBindsWhenANodeJoins(t *testing.T) {
	st, _, _ := natstest.Store(t)
	pods, nodes := store.For[*api.Pod](st), store.For[*api.Node](st)
	for i := range 3 {
		createAll(t, nodes, testNode(fmt.Sprintf("n%d", i), allocatable("1", "8Gi")))
	}
	startScheduler(t, st, Options{RetryInterval: 20 * time.Millisecond}, nil)
	for i := range 7 {
		createAll(t, pods, testPod(fmt.Sprintf("p%d", i), wasm, requests("500m", "")))
	}
	ctx := context.Background()
	const why = "0/3 nodes are available: 3 node(s) had insufficient cpu."
	var list []*api.Pod
	waitFor(t, 10*time.Second, "six pods bound and one unschedulable", func() bool {
		var err error
		if list, err = pods.List(ctx, "default"); err != nil {
			t.Fatal(err)
		}
		bound, waiting := 0, 0
		for _, p := range list {
			if p.Spec.NodeName != "" {
				bound++
			} else if c := p.Status.Condition(api.PodScheduled); c != nil && c.Status == api.ConditionFalse && c.Message == why && c.Reason == "Unschedulable" {
				waiting++
			}
		}
		return bound == 6 && waiting == 1
	})
	perNode := map[string]int{}
	for _, p := range list {
		perNode[p.Spec.NodeName]++
	}
	if perNode["n0"] != 2 || perNode["n1"] != 2 || perNode["n2"] != 2 {
		t.Fatalf("pods per node = %v, want 2 on each", perNode)
	}

	createAll(t, nodes, testNode("n3", allocatable("1", "8Gi")))
	waitFor(t, 10*time.Second, "the seventh pod bound to the new node", func() bool {
		list, _ = pods.List(ctx, "default")
		for _, p := range list {
			if p.Spec.NodeName == "" {
				return false
			}
		}
		return true
	})
	for _, p := range list {
		if c := p.Status.Condition(api.PodScheduled); c == nil || c.Status != api.ConditionTrue || p.Status.Phase != api.PodPending {
			t.Fatalf("%s: phase %s, PodScheduled %+v", p.Name, p.Status.Phase, c)
		}
	}
}

func TestSchedulerWaitsForBothWatchesBeforeDeciding(t *testing.T) {
	st, _, _ := natstest.Store(t)
	pods, nodes := store.For[*api.Pod](st), store.For[*api.Node](st)
	// Already bound when the scheduler starts: it must count them.
	createAll(t, nodes, testNode("full", allocatable("1", "8Gi")), testNode("free", allocatable("1", "8Gi")))
	createAll(t, pods, testPod("old", wasm, requests("1", ""), on("full")))
	createAll(t, pods, testPod("new", wasm, requests("1", "")))
	writes := watchPodWrites(t, st)
	s := startScheduler(t, st, Options{}, nil)
	waitFor(t, 10*time.Second, "the new pod bound", func() bool { return writes.bound() == 2 })
	s.Stop()
	writes.waitForSentinel(t, pods)
	writes.mu.Lock()
	defer writes.mu.Unlock()
	if writes.node["new"] != "free" || len(writes.unschedulable) > 0 {
		t.Fatalf("new bound to %q; unschedulable written: %q", writes.node["new"], writes.unschedulable)
	}
}

func TestWriteUsesTheCachedVersionAndFallsBackWhenItIsStale(t *testing.T) {
	st, _, _ := natstest.Store(t)
	pods := store.For[*api.Pod](st)
	ctx := context.Background()
	s := New(st, Options{}, slog.New(slog.DiscardHandler))
	bindTo := func(cached *api.Pod, node string) func(*api.Pod) bool {
		return func(cur *api.Pod) bool {
			if cur.UID != cached.UID || !needsScheduling(cur) {
				return false
			}
			cur.Spec.NodeName = node
			return true
		}
	}

	t.Run("fresh cache: one compare-and-swap", func(t *testing.T) {
		createAll(t, pods, testPod("fresh", wasm))
		cached, _ := pods.Get(ctx, "default", "fresh")
		stored, wrote, err := s.write(ctx, cached, bindTo(cached, "a"))
		if err != nil || !wrote || stored.Spec.NodeName != "a" || stored.ResourceVersion == cached.ResourceVersion {
			t.Fatalf("write = %+v, %v, %v", stored, wrote, err)
		}
		if cached.Spec.NodeName != "" {
			t.Fatal("write changed the cached pod")
		}
		if got, _ := pods.Get(ctx, "default", "fresh"); got.Spec.NodeName != "a" || got.ResourceVersion != stored.ResourceVersion || got.Generation != cached.Generation+1 {
			t.Fatalf("stored %s at %s generation %d", got.Spec.NodeName, got.ResourceVersion, got.Generation)
		}
	})
	t.Run("stale cache: reads and keeps the other writer's change", func(t *testing.T) {
		createAll(t, pods, testPod("relabelled", wasm))
		cached, _ := pods.Get(ctx, "default", "relabelled")
		if _, err := pods.Mutate(ctx, "default", "relabelled", func(p *api.Pod) error { p.Labels = map[string]string{"by": "other"}; return nil }); err != nil {
			t.Fatal(err)
		}
		stored, wrote, err := s.write(ctx, cached, bindTo(cached, "a"))
		if err != nil || !wrote || stored.Spec.NodeName != "a" || stored.Labels["by"] != "other" {
			t.Fatalf("write = %+v, %v, %v", stored, wrote, err)
		}
	})
	t.Run("bound meanwhile by another scheduler: nothing written", func(t *testing.T) {
		createAll(t, pods, testPod("raced", wasm))
		cached, _ := pods.Get(ctx, "default", "raced")
		if _, err := pods.Mutate(ctx, "default", "raced", func(p *api.Pod) error { p.Spec.NodeName = "b"; return nil }); err != nil {
			t.Fatal(err)
		}
		stored, wrote, err := s.write(ctx, cached, bindTo(cached, "a"))
		if err != nil || wrote || stored.Spec.NodeName != "b" {
			t.Fatalf("write = %+v, %v, %v", stored, wrote, err)
		}
	})
	t.Run("deleted meanwhile", func(t *testing.T) {
		createAll(t, pods, testPod("gone", wasm))
		cached, _ := pods.Get(ctx, "default", "gone")
		if err := pods.Delete(ctx, "default", "gone", ""); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.write(ctx, cached, bindTo(cached, "a")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}
