package controllers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

// The workload tests (DaemonSet, Job, CronJob) run the Manager against a
// real store on an embedded NATS server. No agents run: wlKubelet plays
// every node's agent.

type wlEnv struct {
	ctx   context.Context
	st    *store.Store
	m     *Manager
	pods  *store.Resource[*api.Pod]
	nodes *store.Resource[*api.Node]
	dss   *store.Resource[*api.DaemonSet]
	jobs  *store.Resource[*api.Job]
}

func wlLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startWLEnv starts a store, the in-test kubelet (fate decides what each
// new pod becomes; "" leaves it Pending) and a Manager; configure may
// change the controllers before they start.
func startWLEnv(t *testing.T, fate func(*api.Pod) api.PodPhase, configure func(*Manager)) *wlEnv {
	t.Helper()
	st, _, _ := natstest.Store(t)
	e := &wlEnv{ctx: context.Background(), st: st, pods: store.For[*api.Pod](st), nodes: store.For[*api.Node](st),
		dss: store.For[*api.DaemonSet](st), jobs: store.For[*api.Job](st)}
	startWLKubelet(t, e.pods, fate)
	e.m = NewManager(st, wlLogger())
	if configure != nil {
		configure(e.m)
	}
	if err := e.m.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.m.Stop)
	return e
}

// startWLKubelet is a tiny kubelet for every node at once: it removes
// pods whose deletion was asked for (as an agent confirms a stop) and
// moves each new pod to the phase fate returns (Running pods are Ready).
func startWLKubelet(t *testing.T, pods *store.Resource[*api.Pod], fate func(*api.Pod) api.PodPhase) {
	ctx, cancel := context.WithCancel(context.Background())
	events, err := pods.Watch(ctx, store.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		decided := map[string]bool{} // uids fate was asked about, once each
		for ev := range events {
			if ev.Type != store.Added && ev.Type != store.Modified {
				continue
			}
			p := ev.Object
			switch {
			case p.DeletionTimestamp != nil:
				if err := pods.Delete(ctx, p.Namespace, p.Name, ""); err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
					t.Errorf("kubelet: remove %s: %v", p.Name, err)
				}
			case p.Status.Phase == "" && !decided[p.UID]:
				decided[p.UID] = true
				if ph := fate(p); ph != "" {
					wlSetPhase(ctx, t, pods, p, ph)
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// wlSetPhase moves a pod to a phase as its agent would report it.
func wlSetPhase(ctx context.Context, t *testing.T, pods *store.Resource[*api.Pod], p *api.Pod, phase api.PodPhase) {
	now := time.Now().UTC().Truncate(time.Second)
	_, err := pods.Mutate(ctx, p.Namespace, p.Name, func(cur *api.Pod) error {
		if cur.UID != p.UID || cur.Status.Phase.Terminal() {
			return store.ErrSkip
		}
		cur.Status.Phase = phase
		ready := api.ConditionFalse
		cs := api.ContainerStatus{Name: "c"}
		switch phase {
		case api.PodRunning:
			ready = api.ConditionTrue
			cs.Ready = true
			cs.State.Running = &api.ContainerStateRunning{StartedAt: now}
		case api.PodSucceeded, api.PodFailed:
			code := int32(0)
			if phase == api.PodFailed {
				code = 1
			}
			cs.State.Terminated = &api.ContainerStateTerminated{ExitCode: code, FinishedAt: time.Now().UTC()}
		}
		cur.Status.ContainerStatuses = []api.ContainerStatus{cs}
		cur.Status.Conditions = slices.DeleteFunc(cur.Status.Conditions, func(c api.PodCondition) bool { return c.Type == api.PodReady })
		cur.Status.Conditions = append(cur.Status.Conditions, api.PodCondition{Type: api.PodReady, Status: ready, LastTransitionTime: now})
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
		t.Errorf("kubelet: set %s %s: %v", p.Name, phase, err)
	}
}

func wlAlwaysRunning(*api.Pod) api.PodPhase { return api.PodRunning }

// wlPoll calls cond until it is true or timeout passes.
func wlPoll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}

// wlWatchPods calls check, in order, with every state of the pods after
// the watch synced, until the test ends.
func wlWatchPods(t *testing.T, pods *store.Resource[*api.Pod], check func(map[string]*api.Pod)) {
	ctx, cancel := context.WithCancel(context.Background())
	events, err := pods.Watch(ctx, store.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	synced := make(chan struct{})
	go func() {
		defer wg.Done()
		state := map[string]*api.Pod{}
		live := false
		for ev := range events {
			switch ev.Type {
			case store.Synced:
				live = true
				close(synced)
			case store.Added, store.Modified:
				state[ev.Object.Name] = ev.Object
			case store.Deleted:
				delete(state, ev.Name)
			}
			if live {
				check(state)
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	<-synced
}

func wlNode(name string, labels map[string]string, mods ...func(*api.Node)) *api.Node {
	n := &api.Node{
		ObjectMeta: api.ObjectMeta{Name: name, Labels: labels},
		Status: api.NodeStatus{
			Runtimes:   []api.NodeRuntimeHandler{{Name: api.RuntimeHandlerWasm}, {Name: api.RuntimeHandlerContainerd}},
			Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}},
		},
	}
	api.SetDefaults(n)
	for _, m := range mods {
		m(n)
	}
	return n
}

func (e *wlEnv) addNodes(t *testing.T, nodes ...*api.Node) {
	t.Helper()
	for _, n := range nodes {
		if err := e.nodes.Create(e.ctx, n); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *wlEnv) editNode(t *testing.T, name string, fn func(*api.Node)) {
	t.Helper()
	if _, err := e.nodes.Mutate(e.ctx, "", name, func(n *api.Node) error { fn(n); return nil }); err != nil {
		t.Fatal(err)
	}
}

func wlDaemonSet(name string, nodeSelector map[string]string) *api.DaemonSet {
	ds := &api.DaemonSet{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.DaemonSetSpec{
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: api.PodSpec{NodeSelector: nodeSelector, Containers: []api.Container{{Name: "c", Image: "registry.local/agent:1",
					Env: []api.EnvVar{{Name: "VERSION", Value: "v1"}}}}},
			},
		},
	}
	api.SetDefaults(ds)
	return ds
}

// daemonPods lists the DaemonSet's pods that are not being deleted, by node.
func (e *wlEnv) daemonPods(t *testing.T, app string) map[string][]*api.Pod {
	t.Helper()
	pods, err := e.pods.List(e.ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*api.Pod{}
	for _, p := range pods {
		if p.Labels["app"] == app && p.DeletionTimestamp == nil {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
		}
	}
	return out
}

// onNodes reports whether the DaemonSet has exactly one Ready pod on each
// of nodes and none elsewhere.
func (e *wlEnv) onNodes(t *testing.T, app string, nodes ...string) bool {
	got := e.daemonPods(t, app)
	if len(got) != len(nodes) {
		return false
	}
	for _, n := range nodes {
		if len(got[n]) != 1 || !isReady(got[n][0]) {
			return false
		}
	}
	return true
}

func nodeNames(m map[string][]*api.Pod) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func TestDaemonSetRunsOnePodOnEveryNodeThatShouldRunIt(t *testing.T) {
	e := startWLEnv(t, wlAlwaysRunning, nil)
	north := func() map[string]string { return map[string]string{"site": "north"} }
	e.addNodes(t,
		wlNode("a", north()),
		wlNode("b", north()),
		wlNode("south", map[string]string{"site": "south"}),
		wlNode("tainted", north(), func(n *api.Node) {
			n.Spec.Taints = []api.Taint{{Key: "dedicated", Value: "db", Effect: api.TaintEffectNoSchedule}}
		}),
		wlNode("tolerated", north(), func(n *api.Node) {
			n.Spec.Taints = []api.Taint{{Key: "edge", Effect: api.TaintEffectNoExecute}}
		}),
		wlNode("cordoned", north(), func(n *api.Node) { n.Spec.Unschedulable = true }),
		wlNode("no-wasm", north(), func(n *api.Node) {
			n.Status.Runtimes = []api.NodeRuntimeHandler{{Name: api.RuntimeHandlerContainerd}}
		}),
		wlNode("zone-b", map[string]string{"site": "north", "zone": "b"}),
	)
	ds := wlDaemonSet("agent", map[string]string{"site": "north"})
	ds.Spec.Template.Spec.RuntimeClassName = api.RuntimeClassWasm
	ds.Spec.Template.Spec.Tolerations = []api.Toleration{{Key: "edge", Operator: "Exists", Effect: api.TaintEffectNoExecute}}
	ds.Spec.Template.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{NodeSelectorTerms: []api.NodeSelectorTerm{{
			MatchExpressions: []api.NodeSelectorRequirement{{Key: "zone", Operator: api.LabelSelectorOpNotIn, Values: []string{"b"}}},
		}}},
	}}
	if err := e.dss.Create(e.ctx, ds); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "pods on a, b and tolerated only", func() bool { return e.onNodes(t, "agent", "a", "b", "tolerated") })

	hash := DaemonSetHash(ds)
	for node, pods := range e.daemonPods(t, "agent") {
		p := pods[0]
		if p.Spec.NodeName != node || p.Labels[DaemonSetRevisionLabel] != hash || !isControlledBy(p, ds.UID) {
			t.Errorf("pod %s: node %q, revision %q, owner %+v; want bound to its node, revision %s, owned by the DaemonSet", p.Name, p.Spec.NodeName, p.Labels[DaemonSetRevisionLabel], p.OwnerReferences, hash)
		}
		for _, key := range []string{api.TaintNodeUnreachable, api.TaintNodeNotReady} {
			i := slices.IndexFunc(p.Spec.Tolerations, func(tol api.Toleration) bool { return tol.Key == key })
			if i < 0 || p.Spec.Tolerations[i].Effect != api.TaintEffectNoExecute || p.Spec.Tolerations[i].TolerationSeconds != nil {
				t.Errorf("pod %s tolerations %+v: want %s NoExecute without tolerationSeconds", p.Name, p.Spec.Tolerations, key)
			}
		}
	}
	var got *api.DaemonSet
	wlPoll(t, 5*time.Second, "status of 3 ready pods", func() bool {
		got, _ = e.dss.Get(e.ctx, "default", "agent")
		s := got.Status
		return s.DesiredNumberScheduled == 3 && s.CurrentNumberScheduled == 3 && s.NumberReady == 3 && s.NumberAvailable == 3 &&
			s.UpdatedNumberScheduled == 3 && s.NumberMisscheduled == 0 && s.NumberUnavailable == 0 && s.ObservedGeneration == got.Generation
	})
}

func TestDaemonSetFollowsNodeChanges(t *testing.T) {
	e := startWLEnv(t, wlAlwaysRunning, nil)
	north := map[string]string{"site": "north"}
	e.addNodes(t, wlNode("n1", north), wlNode("n2", north), wlNode("n3", map[string]string{"site": "south"}))
	if err := e.dss.Create(e.ctx, wlDaemonSet("agent", map[string]string{"site": "north"})); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "pods on n1, n2", func() bool { return e.onNodes(t, "agent", "n1", "n2") })

	e.editNode(t, "n3", func(n *api.Node) { n.Labels["site"] = "north" })
	e.editNode(t, "n1", func(n *api.Node) { n.Labels["site"] = "south" })
	wlPoll(t, 5*time.Second, "relabelled: pods on n2, n3", func() bool { return e.onNodes(t, "agent", "n2", "n3") })

	e.addNodes(t, wlNode("n4", north))
	wlPoll(t, 5*time.Second, "new node n4 gets a pod", func() bool { return e.onNodes(t, "agent", "n2", "n3", "n4") })

	// A cordon or a NoSchedule taint keeps new pods away but leaves the
	// one already there; an untolerated NoExecute taint removes it.
	e.editNode(t, "n2", func(n *api.Node) { n.Spec.Unschedulable = true })
	e.editNode(t, "n3", func(n *api.Node) {
		n.Spec.Taints = []api.Taint{{Key: "maintenance", Effect: api.TaintEffectNoSchedule}}
	})
	e.editNode(t, "n4", func(n *api.Node) {
		n.Spec.Taints = []api.Taint{{Key: "broken", Effect: api.TaintEffectNoExecute}}
	})
	wlPoll(t, 5*time.Second, "NoExecute taint removes n4's pod", func() bool { return e.onNodes(t, "agent", "n2", "n3") })

	// A node that is away keeps its pod (the pods tolerate unreachable).
	e.editNode(t, "n2", func(n *api.Node) {
		n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionUnknown}}
		n.Spec.Taints = []api.Taint{{Key: api.TaintNodeUnreachable, Effect: api.TaintEffectNoExecute}}
	})
	if err := e.nodes.Delete(e.ctx, "", "n3", ""); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "deleted node n3 loses its pod, unreachable n2 keeps it", func() bool { return e.onNodes(t, "agent", "n2") })
	wlPoll(t, 5*time.Second, "status after the changes", func() bool {
		ds, _ := e.dss.Get(e.ctx, "default", "agent")
		return ds.Status.DesiredNumberScheduled == 1 && ds.Status.CurrentNumberScheduled == 1 && ds.Status.NumberMisscheduled == 0
	})
}

func TestDaemonSetDeletesTheNewestDuplicateOnANode(t *testing.T) {
	// Pods labelled stay-pending never start, so the duplicate is never
	// ready: whether it was made in the same second as the original (ready
	// first) or later (oldest first), the original must survive.
	e := startWLEnv(t, func(p *api.Pod) api.PodPhase {
		if p.Labels["stay-pending"] == "yes" {
			return ""
		}
		return api.PodRunning
	}, nil)
	e.addNodes(t, wlNode("n1", nil))
	ds := wlDaemonSet("agent", nil)
	if err := e.dss.Create(e.ctx, ds); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "a pod on n1", func() bool { return e.onNodes(t, "agent", "n1") })
	original := e.daemonPods(t, "agent")["n1"][0]

	dup := newDaemonPod(ds, "n1", DaemonSetHash(ds), time.Now())
	dup.Labels["stay-pending"] = "yes"
	if err := e.pods.Create(e.ctx, dup); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "the duplicate deleted", func() bool {
		got := e.daemonPods(t, "agent")["n1"]
		return len(got) == 1 && got[0].UID == original.UID
	})
}

func TestDaemonSetReplacesAFailedPodAfterABackOff(t *testing.T) {
	var mu sync.Mutex
	failures := 0
	e := startWLEnv(t, func(*api.Pod) api.PodPhase {
		mu.Lock()
		defer mu.Unlock()
		if failures < 2 {
			failures++
			return api.PodFailed
		}
		return api.PodRunning
	}, func(m *Manager) { m.DaemonSets.failBase = 50 * time.Millisecond })
	e.addNodes(t, wlNode("n1", nil))
	if err := e.dss.Create(e.ctx, wlDaemonSet("agent", nil)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	t.Cleanup(func() {
		if t.Failed() {
			ds, _ := e.dss.Get(e.ctx, "default", "agent")
			t.Logf("ds status %+v", ds.Status)
			for n, ps := range e.daemonPods(t, "agent") {
				for _, p := range ps {
					t.Logf("node %s pod %s phase %s", n, p.Name, p.Status.Phase)
				}
			}
			e.m.DaemonSets.exp.mu.Lock()
			x := e.m.DaemonSets.exp.m["default/agent"]
			if x != nil {
				t.Logf("expectation %+v", *x)
			}
			e.m.DaemonSets.exp.mu.Unlock()
			t.Logf("backoff %+v", e.m.DaemonSets.failures.m)
		}
	})
	wlPoll(t, 5*time.Second, "a running pod after two failures", func() bool { return e.onNodes(t, "agent", "n1") })
	// Back-offs of 50 ms and 100 ms came between the three pods.
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("the third pod ran %s after the DaemonSet was made; the back-off wants at least 150ms", took)
	}
	mu.Lock()
	defer mu.Unlock()
	if failures != 2 {
		t.Errorf("%d pods failed, want 2", failures)
	}
}

// unavailableNodes counts nodes (of those given) with no Ready pod of app
// that is not being deleted.
func unavailableNodes(pods map[string]*api.Pod, app string, nodes []string) int {
	ok := map[string]bool{}
	for _, p := range pods {
		if p.Labels["app"] == app && p.DeletionTimestamp == nil && !p.Status.Phase.Terminal() && isReady(p) {
			ok[p.Spec.NodeName] = true
		}
	}
	n := 0
	for _, node := range nodes {
		if !ok[node] {
			n++
		}
	}
	return n
}

func updateVersion(t *testing.T, e *wlEnv, name, version string) {
	t.Helper()
	_, err := e.dss.Mutate(e.ctx, "default", name, func(ds *api.DaemonSet) error {
		ds.Spec.Template.Spec.Containers[0].Env[0].Value = version
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func podsAtVersion(t *testing.T, e *wlEnv, app, version string, nodes []string) bool {
	got := e.daemonPods(t, app)
	if !slices.Equal(nodeNames(got), nodes) {
		return false
	}
	for _, pods := range got {
		if len(pods) != 1 || !isReady(pods[0]) || pods[0].Spec.Containers[0].Env[0].Value != version {
			return false
		}
	}
	return true
}

func TestDaemonSetRollingUpdateNeverExceedsMaxUnavailable(t *testing.T) {
	e := startWLEnv(t, wlAlwaysRunning, nil)
	nodes := []string{"n1", "n2", "n3", "n4", "n5", "n6"}
	for _, n := range nodes {
		e.addNodes(t, wlNode(n, nil))
	}
	ds := wlDaemonSet("agent", nil)
	two := api.FromInt(2)
	ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &two
	if err := e.dss.Create(e.ctx, ds); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "v1 on every node", func() bool { return podsAtVersion(t, e, "agent", "v1", nodes) })

	var mu sync.Mutex
	worst := 0
	wlWatchPods(t, e.pods, func(pods map[string]*api.Pod) {
		mu.Lock()
		worst = max(worst, unavailableNodes(pods, "agent", nodes))
		mu.Unlock()
	})
	updateVersion(t, e, "agent", "v2")
	wlPoll(t, 10*time.Second, "v2 on every node", func() bool { return podsAtVersion(t, e, "agent", "v2", nodes) })
	mu.Lock()
	defer mu.Unlock()
	if worst > 2 {
		t.Errorf("%d nodes were without an available pod at once; maxUnavailable is 2", worst)
	}
	if worst == 0 {
		t.Errorf("no node was ever without an available pod: the update did not replace pods")
	}
	t.Logf("most nodes without an available pod at once: %d", worst)
	wlPoll(t, 5*time.Second, "status: 6 updated and available", func() bool {
		got, _ := e.dss.Get(e.ctx, "default", "agent")
		return got.Status.UpdatedNumberScheduled == 6 && got.Status.NumberAvailable == 6 && got.Status.ObservedGeneration == got.Generation
	})
}

func TestDaemonSetSurgeUpdateKeepsEveryNodeAvailable(t *testing.T) {
	e := startWLEnv(t, wlAlwaysRunning, nil)
	nodes := []string{"n1", "n2", "n3", "n4"}
	for _, n := range nodes {
		e.addNodes(t, wlNode(n, nil))
	}
	ds := wlDaemonSet("agent", nil)
	zero, one := api.FromInt(0), api.FromInt(1)
	ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &zero
	ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = &one
	if err := e.dss.Create(e.ctx, ds); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "v1 on every node", func() bool { return podsAtVersion(t, e, "agent", "v1", nodes) })

	var mu sync.Mutex
	worst, mostPods := 0, 0
	wlWatchPods(t, e.pods, func(pods map[string]*api.Pod) {
		mu.Lock()
		defer mu.Unlock()
		worst = max(worst, unavailableNodes(pods, "agent", nodes))
		alive := 0
		for _, p := range pods {
			if !p.Status.Phase.Terminal() {
				alive++
			}
		}
		mostPods = max(mostPods, alive)
	})
	updateVersion(t, e, "agent", "v2")
	wlPoll(t, 10*time.Second, "v2 on every node", func() bool { return podsAtVersion(t, e, "agent", "v2", nodes) })
	mu.Lock()
	defer mu.Unlock()
	if worst != 0 {
		t.Errorf("%d nodes were without an available pod; with maxUnavailable 0 and maxSurge 1 none may be", worst)
	}
	t.Logf("most pods at once: %d", mostPods)
	if mostPods < 5 {
		t.Errorf("at most %d pods existed at once; a surge update runs a new pod beside an old one", mostPods)
	}
}

func TestDaemonSetOnDeleteReplacesOnlyDeletedPods(t *testing.T) {
	e := startWLEnv(t, wlAlwaysRunning, nil)
	nodes := []string{"n1", "n2"}
	for _, n := range nodes {
		e.addNodes(t, wlNode(n, nil))
	}
	ds := wlDaemonSet("agent", nil)
	ds.Spec.UpdateStrategy = api.DaemonSetUpdateStrategy{Type: api.OnDeleteDaemonSetStrategyType}
	if err := e.dss.Create(e.ctx, ds); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "v1 on every node", func() bool { return podsAtVersion(t, e, "agent", "v1", nodes) })
	updateVersion(t, e, "agent", "v2")
	wlPoll(t, 5*time.Second, "the status to see the new template", func() bool {
		got, _ := e.dss.Get(e.ctx, "default", "agent")
		return got.Status.ObservedGeneration == got.Generation && got.Status.UpdatedNumberScheduled == 0 && got.Status.NumberAvailable == 2
	})
	if !podsAtVersion(t, e, "agent", "v1", nodes) {
		t.Fatalf("OnDelete replaced pods nobody deleted: %v", e.daemonPods(t, "agent"))
	}
	victim := e.daemonPods(t, "agent")["n1"][0]
	if _, err := store.DeletePod(e.ctx, e.pods, "default", victim.Name, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "n1 replaced with v2, n2 still v1", func() bool {
		got := e.daemonPods(t, "agent")
		return len(got["n1"]) == 1 && isReady(got["n1"][0]) && got["n1"][0].Spec.Containers[0].Env[0].Value == "v2" &&
			len(got["n2"]) == 1 && got["n2"][0].Spec.Containers[0].Env[0].Value == "v1"
	})
}

func TestDaemonSetAdoptsMatchingOrphanPods(t *testing.T) {
	e := startWLEnv(t, wlAlwaysRunning, nil)
	e.addNodes(t, wlNode("n1", nil))
	orphan := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "orphan", Namespace: "default", Labels: map[string]string{"app": "agent"}},
		Spec:       api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "c", Image: "registry.local/agent:0"}}},
	}
	api.SetDefaults(orphan)
	if err := e.pods.Create(e.ctx, orphan); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "the orphan running", func() bool {
		p, err := e.pods.Get(e.ctx, "default", "orphan")
		return err == nil && isReady(p)
	})
	ds := wlDaemonSet("agent", nil)
	ds.Spec.UpdateStrategy = api.DaemonSetUpdateStrategy{Type: api.OnDeleteDaemonSetStrategyType}
	if err := e.dss.Create(e.ctx, ds); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "the orphan adopted and no second pod", func() bool {
		got := e.daemonPods(t, "agent")["n1"]
		return len(got) == 1 && got[0].Name == "orphan" && isControlledBy(got[0], ds.UID)
	})
}

func TestNodeShouldRunDaemonPod(t *testing.T) {
	ds := wlDaemonSet("agent", map[string]string{"site": "north"})
	ds.Spec.Template.Spec.Tolerations = []api.Toleration{{Key: "ok", Operator: "Exists"}}
	north := func() map[string]string { return map[string]string{"site": "north"} }
	tests := []struct {
		give               *api.Node
		wantRun, wantStays bool
	}{
		{give: wlNode("match", north()), wantRun: true, wantStays: true},
		{give: wlNode("other-site", map[string]string{"site": "south"})},
		{give: wlNode("no-labels", nil)},
		{give: wlNode("cordoned", north(), func(n *api.Node) { n.Spec.Unschedulable = true }), wantStays: true},
		{give: wlNode("noschedule", north(), func(n *api.Node) { n.Spec.Taints = []api.Taint{{Key: "x", Effect: "NoSchedule"}} }), wantStays: true},
		{give: wlNode("noexecute", north(), func(n *api.Node) { n.Spec.Taints = []api.Taint{{Key: "x", Effect: "NoExecute"}} })},
		{give: wlNode("prefer", north(), func(n *api.Node) { n.Spec.Taints = []api.Taint{{Key: "x", Effect: "PreferNoSchedule"}} }), wantRun: true, wantStays: true},
		{give: wlNode("tolerated", north(), func(n *api.Node) { n.Spec.Taints = []api.Taint{{Key: "ok", Effect: "NoExecute"}} }), wantRun: true, wantStays: true},
		{give: wlNode("unreachable", north(), func(n *api.Node) {
			n.Spec.Taints = []api.Taint{{Key: api.TaintNodeUnreachable, Effect: "NoExecute"}}
		}), wantRun: true, wantStays: true},
		{give: wlNode("no-containerd", north(), func(n *api.Node) { n.Status.Runtimes = []api.NodeRuntimeHandler{{Name: "wasm"}} })},
	}
	for _, tt := range tests {
		t.Run(tt.give.Name, func(t *testing.T) {
			run, stays := NodeShouldRunDaemonPod(ds, tt.give)
			if run != tt.wantRun || stays != tt.wantStays {
				t.Errorf("shouldRun, shouldContinue = %v, %v; want %v, %v", run, stays, tt.wantRun, tt.wantStays)
			}
		})
	}
}

func TestDaemonSetBoundsResolvePercentagesUpward(t *testing.T) {
	tests := []struct {
		name               string
		surge, unavailable api.IntOrString
		desired            int
		wantS, wantU       int
	}{
		{name: "absolute", surge: api.FromInt(0), unavailable: api.FromInt(1), desired: 10, wantS: 0, wantU: 1},
		{name: "10% of 15", surge: api.FromInt(0), unavailable: api.FromString("10%"), desired: 15, wantS: 0, wantU: 2},
		{name: "25% surge of 3", surge: api.FromString("25%"), unavailable: api.FromInt(0), desired: 3, wantS: 1, wantU: 0},
		{name: "both zero", surge: api.FromInt(0), unavailable: api.FromInt(0), desired: 3, wantS: 0, wantU: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := wlDaemonSet("x", nil)
			ds.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateDaemonSet{MaxSurge: &tt.surge, MaxUnavailable: &tt.unavailable}
			s, u := daemonSetBounds(ds, tt.desired)
			if s != tt.wantS || u != tt.wantU {
				t.Errorf("surge, unavailable = %d, %d; want %d, %d", s, u, tt.wantS, tt.wantU)
			}
		})
	}
}

func TestDuplicatesKeepTheOldestPodAndWithSurgeOnePerTemplate(t *testing.T) {
	at := func(name string, sec int, hash string) *api.Pod {
		return &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, CreationTimestamp: time.Unix(int64(1000+sec), 0),
			Labels: map[string]string{DaemonSetRevisionLabel: hash}}}
	}
	names := func(ps []*api.Pod) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	pods := []*api.Pod{at("c", 2, "new"), at("a", 0, "old"), at("b", 1, "new"), at("d", 3, "old")}
	slices.SortFunc(pods, olderDaemonPod)
	if got := names(duplicates(pods, "new", false)); !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Errorf("without surge deleted %v, want the newest three [b c d]", got)
	}
	if got := names(duplicates(pods, "new", true)); !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("with surge deleted %v, want [c d] (keeping the oldest old a and the oldest new b)", got)
	}
	ready := at("z", 0, "old")
	ready.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue}}
	tie := []*api.Pod{at("y", 0, "old"), ready}
	slices.SortFunc(tie, olderDaemonPod)
	if tie[0].Name != "z" {
		t.Errorf("with equal creation times %s sorted first; want the ready pod z", tie[0].Name)
	}
}
