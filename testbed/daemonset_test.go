package testbed_test

import (
	"context"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed"
)

func fleetDaemonSet(version string) *api.DaemonSet {
	return &api.DaemonSet{
		TypeMeta:   api.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: api.ObjectMeta{Name: "edge-agent", Namespace: "default"},
		Spec: api.DaemonSetSpec{
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "edge-agent"}},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "edge-agent"}},
				Spec: api.PodSpec{
					NodeSelector: map[string]string{"site": "north"},
					Containers: []api.Container{{Name: "agent", Image: "registry.local/edge-agent:1",
						Env: []api.EnvVar{{Name: "VERSION", Value: version}}}},
				},
			},
		},
	}
}

// fleetPods lists the DaemonSet's pods through the API that are not being
// deleted, by node.
func fleetPods(t *testing.T, c *testbed.Cluster) map[string][]*api.Pod {
	t.Helper()
	pods, err := c.Client.ListPods(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*api.Pod{}
	for _, p := range pods {
		if p.Labels["app"] == "edge-agent" && p.DeletionTimestamp == nil {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
		}
	}
	return out
}

func podReady(p *api.Pod) bool {
	c := p.Status.Condition(api.PodReady)
	return p.Status.Phase == api.PodRunning && c != nil && c.Status == api.ConditionTrue
}

// fleetRunsOn reports whether exactly the given nodes run one Ready pod of
// the DaemonSet at version.
func fleetRunsOn(t *testing.T, c *testbed.Cluster, version string, nodes ...string) bool {
	got := fleetPods(t, c)
	if len(got) != len(nodes) {
		return false
	}
	for _, n := range nodes {
		ps := got[n]
		if len(ps) != 1 || !podReady(ps[0]) || ps[0].Spec.Containers[0].Env[0].Value != version {
			return false
		}
	}
	return true
}

func setSite(t *testing.T, st *store.Store, node, site string) {
	t.Helper()
	_, err := store.For[*api.Node](st).Mutate(context.Background(), "", node, func(n *api.Node) error {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels["site"] = site
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDaemonSetFollowsNodeLabels runs a DaemonSet for site=north on hollow
// agents: relabelled nodes gain and lose its pod, a new agent that joins
// with the label gets one, and a rolling update never leaves more than
// maxUnavailable (1) north nodes without an available pod.
func TestDaemonSetFollowsNodeLabels(t *testing.T) {
	ctx := context.Background()
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := testbed.StartCluster(startCtx, testbed.ClusterOptions{Dir: t.TempDir(), Agents: 3, Hollow: true,
		Configure: func(cfg *config.Config) {
			if cfg.Agent.NodeName == "node-4" {
				cfg.Agent.Labels = map[string]string{"site": "north"}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
	st := c.Server.Store
	setSite(t, st, "node-1", "north")
	setSite(t, st, "node-2", "north")
	setSite(t, st, "node-3", "south")
	if _, err := c.Client.CreateObject(ctx, fleetDaemonSet("v1")); err != nil {
		t.Fatal(err)
	}
	poll := func(what string, cond func() bool) {
		t.Helper()
		if err := testbed.Poll(ctx, 10*time.Second, 10*time.Millisecond, func() (bool, error) { return cond(), nil }); err != nil {
			t.Fatalf("%s: %v (pods by node: %v)", what, err, nodesOf(fleetPods(t, c)))
		}
	}
	poll("pods on node-1 and node-2", func() bool { return fleetRunsOn(t, c, "v1", "node-1", "node-2") })

	setSite(t, st, "node-2", "south")
	setSite(t, st, "node-3", "north")
	poll("after relabelling, pods on node-1 and node-3", func() bool { return fleetRunsOn(t, c, "v1", "node-1", "node-3") })

	if _, err := c.AddAgent(startCtx, "node-4", nil); err != nil {
		t.Fatal(err)
	}
	north := []string{"node-1", "node-3", "node-4"}
	poll("the new agent node-4 gets a pod", func() bool { return fleetRunsOn(t, c, "v1", north...) })

	// Rolling update, watched event by event from the store.
	var mu sync.Mutex
	worst := 0
	watchCtx, stopWatch := context.WithCancel(ctx)
	events, err := store.For[*api.Pod](st).Watch(watchCtx, store.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	synced := make(chan struct{})
	go func() {
		defer wg.Done()
		pods := map[string]*api.Pod{}
		live := false
		for ev := range events {
			switch ev.Type {
			case store.Synced:
				live = true
				close(synced)
			case store.Added, store.Modified:
				pods[ev.Object.Name] = ev.Object
			case store.Deleted:
				delete(pods, ev.Name)
			}
			if !live {
				continue
			}
			available := map[string]bool{}
			for _, p := range pods {
				if p.Labels["app"] == "edge-agent" && p.DeletionTimestamp == nil && podReady(p) {
					available[p.Spec.NodeName] = true
				}
			}
			missing := 0
			for _, n := range north {
				if !available[n] {
					missing++
				}
			}
			mu.Lock()
			worst = max(worst, missing)
			mu.Unlock()
		}
	}()
	defer func() { stopWatch(); wg.Wait() }()
	<-synced
	dss := store.For[*api.DaemonSet](st)
	if _, err := dss.Mutate(ctx, "default", "edge-agent", func(ds *api.DaemonSet) error {
		ds.Spec.Template.Spec.Containers[0].Env[0].Value = "v2"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	poll("every north node at v2", func() bool { return fleetRunsOn(t, c, "v2", north...) })
	mu.Lock()
	if worst > 1 {
		t.Errorf("%d north nodes were without an available pod at once; maxUnavailable is 1", worst)
	}
	if worst == 0 {
		t.Errorf("no node was ever without an available pod: the update replaced nothing")
	}
	mu.Unlock()
	poll("status: 3 desired, updated and available", func() bool {
		ds, err := dss.Get(ctx, "default", "edge-agent")
		if err != nil {
			t.Fatal(err)
		}
		s := ds.Status
		return s.DesiredNumberScheduled == 3 && s.UpdatedNumberScheduled == 3 && s.NumberAvailable == 3 &&
			s.NumberMisscheduled == 0 && s.ObservedGeneration == ds.Generation
	})
}

func nodesOf(m map[string][]*api.Pod) []string {
	out := make([]string, 0, len(m))
	for n, ps := range m {
		for range ps {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return slices.Clip(out)
}
