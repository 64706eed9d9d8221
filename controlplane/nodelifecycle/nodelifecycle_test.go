package nodelifecycle_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/agentapi"
	"github.com/skiff-sh/skiff/controlplane/nodelifecycle"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

type env struct {
	st     *store.Store
	nodes  *store.Resource[*api.Node]
	leases jetstream.KeyValue
}

func start(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, _, js := natstest.Store(t)
	leases, err := agentapi.OpenLeases(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: st, nodes: store.For[*api.Node](st), leases: leases}
}

func (e *env) controller(opts nodelifecycle.Options) *nodelifecycle.Controller {
	return nodelifecycle.New(e.st, e.leases, opts, slog.New(slog.DiscardHandler))
}

// readyNode stores a node that was Ready with its last heartbeat at hb.
func (e *env) readyNode(t *testing.T, name string, hb time.Time) *api.Node {
	t.Helper()
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name}}
	n.Status.SetCondition(api.NodeCondition{Type: api.NodeReady, Status: api.ConditionTrue, Reason: "AgentReady", LastHeartbeatTime: hb, LastTransitionTime: hb})
	api.SetDefaults(n)
	if err := e.nodes.Create(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) renew(t *testing.T, name string, at time.Time) {
	t.Helper()
	b, _ := json.Marshal(api.Lease{Node: name, RenewTime: at, LeaseDurationSeconds: 40})
	if _, err := e.leases.Put(context.Background(), name, b); err != nil {
		t.Fatal(err)
	}
}

func (e *env) get(t *testing.T, name string) *api.Node {
	t.Helper()
	n, err := e.nodes.Get(context.Background(), "", name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAReadyNodeWhoseLeaseIsOlderThanTheGracePeriodBecomesUnknown(t *testing.T) {
	e := start(t)
	long := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	e.readyNode(t, "edge-1", long)
	lastRenewal := time.Now().UTC().Add(-10 * time.Second)
	e.renew(t, "edge-1", lastRenewal)

	e.controller(nodelifecycle.Options{GracePeriod: 5 * time.Second}).Check(context.Background())

	n := e.get(t, "edge-1")
	c := n.Status.Condition(api.NodeReady)
	if c == nil || c.Status != api.ConditionUnknown || n.IsReady() {
		t.Fatalf("Ready condition = %+v, want Unknown", c)
	}
	if c.Reason != "NodeStatusUnknown" || c.Message == "" {
		t.Errorf("Ready condition = %+v, want reason NodeStatusUnknown and a message", c)
	}
	if !c.LastHeartbeatTime.Equal(lastRenewal) {
		t.Errorf("lastHeartbeatTime = %v, want the last renewal %v", c.LastHeartbeatTime, lastRenewal)
	}
	if c.LastTransitionTime.Before(time.Now().Add(-5 * time.Second)) {
		t.Errorf("lastTransitionTime = %v, want now", c.LastTransitionTime)
	}

	// Checking again changes nothing more.
	rv := n.ResourceVersion
	e.controller(nodelifecycle.Options{GracePeriod: 5 * time.Second}).Check(context.Background())
	if got := e.get(t, "edge-1").ResourceVersion; got != rv {
		t.Errorf("a second check rewrote the node (rv %s→%s)", rv, got)
	}
}

func TestAFreshLeaseKeepsTheNodeReady(t *testing.T) {
	e := start(t)
	n := e.readyNode(t, "edge-1", time.Now().UTC().Add(-time.Hour))
	e.renew(t, "edge-1", time.Now().UTC().Add(-time.Second))

	e.controller(nodelifecycle.Options{GracePeriod: 5 * time.Second}).Check(context.Background())

	got := e.get(t, "edge-1")
	if !got.IsReady() || got.ResourceVersion != n.ResourceVersion {
		t.Errorf("node with a fresh lease: ready %v, rv %s→%s; want it untouched", got.IsReady(), n.ResourceVersion, got.ResourceVersion)
	}
}

func TestAJustRegisteredNodeWithoutALeaseYetStaysReady(t *testing.T) {
	e := start(t)
	// agentapi writes the node, then its lease: a check in between sees
	// a Ready node with no lease.
	n := e.readyNode(t, "edge-1", time.Now().UTC().Truncate(time.Second))
	e.controller(nodelifecycle.Options{GracePeriod: 5 * time.Second}).Check(context.Background())
	if got := e.get(t, "edge-1"); !got.IsReady() || got.ResourceVersion != n.ResourceVersion {
		t.Errorf("a node registered just now lost Ready for want of a lease: %+v", got.Status.Conditions)
	}
}

func TestAReadyNodeWithNoLeaseSinceLongAgoBecomesUnknown(t *testing.T) {
	e := start(t)
	e.readyNode(t, "edge-1", time.Now().UTC().Add(-time.Hour))
	e.controller(nodelifecycle.Options{GracePeriod: 5 * time.Second}).Check(context.Background())
	if c := e.get(t, "edge-1").Status.Condition(api.NodeReady); c.Status != api.ConditionUnknown {
		t.Errorf("node without a lease for an hour: Ready %+v, want Unknown", c)
	}
}

func TestANodeThatIsNotReadyKeepsItsConditionAndGetsTheNotReadyTaint(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: "edge-1"}}
	n.Status.SetCondition(api.NodeCondition{Type: api.NodeReady, Status: api.ConditionFalse, Reason: "KubeletNotReady", Message: "the agent says so"})
	api.SetDefaults(n)
	if err := e.nodes.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	bare := &api.Node{ObjectMeta: api.ObjectMeta{Name: "edge-2"}} // no conditions at all
	if err := e.nodes.Create(ctx, bare); err != nil {
		t.Fatal(err)
	}
	e.controller(nodelifecycle.Options{GracePeriod: time.Second}).Check(ctx)
	got := e.get(t, "edge-1")
	if c := got.Status.Condition(api.NodeReady); c.Status != api.ConditionFalse || c.Reason != "KubeletNotReady" {
		t.Errorf("a NotReady node's condition was rewritten: %+v", got.Status.Conditions)
	}
	if len(got.Spec.Taints) != 1 || got.Spec.Taints[0].Key != nodelifecycle.TaintNotReady || got.Spec.Taints[0].Effect != "NoExecute" {
		t.Errorf("taints of a NotReady node = %+v, want %s:NoExecute", got.Spec.Taints, nodelifecycle.TaintNotReady)
	}
	if got := e.get(t, "edge-2"); got.ResourceVersion != bare.ResourceVersion {
		// No Ready condition: nothing is known, nothing is done.
		t.Errorf("a node without conditions was rewritten: %+v", got.Status.Conditions)
	}
}

func TestStartedControllerNoticesALeaseGoingStale(t *testing.T) {
	e := start(t)
	now := time.Now().UTC()
	e.readyNode(t, "quiet", now.Truncate(time.Second))
	e.renew(t, "quiet", now)
	e.readyNode(t, "busy", now.Truncate(time.Second))

	c := e.controller(nodelifecycle.Options{GracePeriod: 1500 * time.Millisecond, Interval: 20 * time.Millisecond})
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)

	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		e.renew(t, "busy", time.Now().UTC()) // busy keeps renewing
		if !e.get(t, "quiet").IsReady() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("quiet node still Ready 10s after its lease went stale")
		}
		<-tick.C
	}
	if took := time.Since(now); took < 1500*time.Millisecond {
		t.Errorf("quiet node marked after %v, before its grace period", took)
	}
	if !e.get(t, "busy").IsReady() {
		t.Error("a node that kept renewing was marked not Ready")
	}
	c.Stop()
	c.Stop() // twice is fine
}

func TestCheckWithManyNodesMarksOnlyTheStaleOnes(t *testing.T) {
	e := start(t)
	now := time.Now().UTC()
	for i := range 10 {
		name := fmt.Sprintf("edge-%d", i)
		e.readyNode(t, name, now.Add(-time.Hour))
		if i%2 == 0 {
			e.renew(t, name, now)
		} else {
			e.renew(t, name, now.Add(-time.Minute))
		}
	}
	e.controller(nodelifecycle.Options{GracePeriod: 30 * time.Second}).Check(context.Background())
	for i := range 10 {
		name := fmt.Sprintf("edge-%d", i)
		if ready, want := e.get(t, name).IsReady(), i%2 == 0; ready != want {
			t.Errorf("%s: ready %v, want %v", name, ready, want)
		}
	}
}
