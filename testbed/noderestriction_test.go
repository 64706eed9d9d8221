package testbed_test

import (
	"context"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/testbed"
)

// TestLabelsSetThroughTheAPIOutliveTheAgentsRegistration is Kubernetes'
// NodeRestriction: an administrator labels a node through the API; the
// agent, restarted with another view of its labels, registers again and
// changes only the labels it owns.
func TestLabelsSetThroughTheAPIOutliveTheAgentsRegistration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: t.TempDir(), Agents: 1, Hollow: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	nodes, _ := api.LookupKind("Node")
	patched, err := c.Client.Patch(ctx, nodes, "", "node-1", []byte(`{"metadata":{"labels":{"site":"north","agent.skiff.sh/role":"camera"}}}`))
	if err != nil {
		t.Fatalf("label the node through the API: %v", err)
	}
	labelled := patched.GetObjectMeta().ResourceVersion

	// The agent restarts (same data dir, so the same identity) and
	// registers again.
	if err := c.Agents[0].Stop(ctx); err != nil {
		t.Fatal(err)
	}
	c.Agents = c.Agents[:0]
	if _, err := c.AddAgent(ctx, "node-1", nil); err != nil {
		t.Fatal(err)
	}
	err = testbed.Poll(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		obj, err := c.Client.GetObject(ctx, nodes, "", "node-1")
		if err != nil {
			return false, nil
		}
		// The registration wrote the node after the labelling.
		return obj.GetObjectMeta().ResourceVersion != labelled, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := c.Client.GetObject(ctx, nodes, "", "node-1")
	if err != nil {
		t.Fatal(err)
	}
	n := obj.(*api.Node)
	if n.Labels["site"] != "north" {
		t.Errorf("the administrator's label site=north is gone after the agent registered again: %v", n.Labels)
	}
	// agent.skiff.sh/ labels are the agent's: it sets none, so it removed
	// this one.
	if _, ok := n.Labels["agent.skiff.sh/role"]; ok {
		t.Errorf("an agent-owned label the agent does not set survived its registration: %v", n.Labels)
	}
}
