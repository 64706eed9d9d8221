package testbed_test

import (
	"context"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed"
)

// TestKilledNodeGoesNotReadyAndItsPodsComeBackElsewhere stops one of two
// hollow agents: its node turns NotReady and is tainted, the Deployment's
// pods on it are evicted after their tolerationSeconds and replaced on the
// other node. When the node comes back, the replica count holds.
func TestKilledNodeGoesNotReadyAndItsPodsComeBackElsewhere(t *testing.T) {
	ctx := context.Background()
	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: t.TempDir(), Agents: 2, Hollow: true,
		Configure: func(cfg *config.Config) {
			cfg.Agent.LeaseInterval = 200 * time.Millisecond
			cfg.NodeLifecycle.GracePeriod = time.Second
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	st := c.Server.Store
	pods := store.For[*api.Pod](st)

	d := webDeployment(4, "v1")
	one := int64(1)
	d.Spec.Template.Spec.Tolerations = []api.Toleration{{Key: api.TaintNodeUnreachable, Operator: "Exists", Effect: "NoExecute", TolerationSeconds: &one}}
	if err := store.For[*api.Deployment](st).Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	byNode := func() (map[string]int, int) {
		list, err := pods.List(ctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int{}
		for _, p := range list {
			if p.Status.Phase == api.PodRunning && p.DeletionTimestamp == nil {
				m[p.Spec.NodeName]++
			}
		}
		return m, len(list)
	}
	if err := testbed.Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		m, _ := byNode()
		return m["node-1"]+m["node-2"] == 4 && m["node-1"] > 0, nil
	}); err != nil {
		m, _ := byNode()
		t.Fatalf("4 pods over both nodes never ran: %v", m)
	}

	// node-1's agent dies.
	if err := c.Agents[0].Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := testbed.Poll(ctx, 10*time.Second, 50*time.Millisecond, func() (bool, error) {
		n, err := store.For[*api.Node](st).Get(ctx, "", "node-1")
		if err != nil {
			return false, err
		}
		tainted := false
		for _, tt := range n.Spec.Taints {
			tainted = tainted || (tt.Key == api.TaintNodeUnreachable && tt.Effect == "NoExecute")
		}
		return !n.IsReady() && tainted, nil
	}); err != nil {
		t.Fatal("node-1 never became NotReady with the unreachable taint")
	}
	if err := testbed.Poll(ctx, 20*time.Second, 50*time.Millisecond, func() (bool, error) {
		m, _ := byNode()
		return m["node-2"] == 4 && m["node-1"] == 0, nil
	}); err != nil {
		m, total := byNode()
		t.Fatalf("the pods did not come back on node-2: running %v, %d pods in all", m, total)
	}

	// node-1 returns: it restarts the pods it has on disk, then its full
	// sync (which no longer lists them) stops them. The count holds.
	if _, err := c.AddAgent(ctx, "node-1", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitNodesReady(ctx, 2); err != nil {
		t.Fatal(err)
	}
	// Watch for two seconds that nothing changes.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for end := time.After(2 * time.Second); ; {
		m, total := byNode()
		if total != 4 || m["node-2"] != 4 {
			t.Fatalf("after node-1 returned: running %v, %d pods in all; want 4 on node-2 only", m, total)
		}
		select {
		case <-end:
			return
		case <-tick.C:
		}
	}
}
