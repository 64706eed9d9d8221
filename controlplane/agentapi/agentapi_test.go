package agentapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/agentapi"
	"github.com/skiff-sh/skiff/controlplane/natsserver"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

type env struct {
	url    string
	nodes  *store.Resource[*api.Node]
	pods   *store.Resource[*api.Pod]
	st     *store.Store
	leases jetstream.KeyValue
}

func start(t *testing.T, opts agentapi.Options) *env {
	t.Helper()
	ctx := context.Background()
	st, nc, js := natstest.Store(t)
	leases, err := agentapi.OpenLeases(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv := agentapi.New(nc, st, leases, opts, slog.New(slog.DiscardHandler))
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return &env{url: nc.ConnectedUrl(), st: st, nodes: store.For[*api.Node](st), pods: store.For[*api.Pod](st), leases: leases}
}

// agent is a raw NATS client speaking for one node, as an edge agent does.
type agent struct {
	t    *testing.T
	name string
	nc   *nats.Conn
}

func (e *env) agent(t *testing.T, name string) *agent {
	t.Helper()
	nc, err := nats.Connect(e.url, nats.CustomInboxPrefix(api.NodeInboxPrefix(name)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &agent{t: t, name: name, nc: nc}
}

// ask sends a request on the agent's own subject for verb and returns the Ack.
func (a *agent) ask(verb string, v any) api.Ack {
	a.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		a.t.Fatal(err)
	}
	msg, err := a.nc.Request(api.AgentSubject(a.name, verb), b, 10*time.Second)
	if err != nil {
		a.t.Fatalf("%s request: %v", verb, err)
	}
	var ack api.Ack
	if err := json.Unmarshal(msg.Data, &ack); err != nil {
		a.t.Fatalf("decode ack: %v", err)
	}
	return ack
}

func (a *agent) publish(verb string, v any) {
	a.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		a.t.Fatal(err)
	}
	if err := a.nc.Publish(api.AgentSubject(a.name, verb), b); err != nil {
		a.t.Fatal(err)
	}
}

func (a *agent) register(node api.Node) {
	a.t.Helper()
	if ack := a.ask(api.AgentRegister, api.NodeRegistration{Node: node}); ack.Error != "" {
		a.t.Fatalf("register %s: %s", node.Name, ack.Error)
	}
}

func nodeAsAgentSees(name string) api.Node {
	return api.Node{
		ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{
			api.LabelArch: "arm64", api.LabelOS: "linux", api.LabelHostname: name,
		}},
		Status: api.NodeStatus{
			NodeInfo: api.NodeSystemInfo{OperatingSystem: "linux", Architecture: "arm64", AgentVersion: "v1"},
			Runtimes: []api.NodeRuntimeHandler{{Name: api.RuntimeClassWasm}},
		},
	}
}

// eventually polls fn until it returns nil, failing with its last error
// after the deadline.
func eventually(t *testing.T, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		<-tick.C
	}
}

func (e *env) lease(t *testing.T, node string) (api.Lease, bool) {
	t.Helper()
	entry, err := e.leases.Get(context.Background(), node)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return api.Lease{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var l api.Lease
	if err := json.Unmarshal(entry.Value(), &l); err != nil {
		t.Fatal(err)
	}
	return l, true
}

func TestRegistrationCreatesAReadyNodeWithALease(t *testing.T) {
	e := start(t, agentapi.Options{})
	before := time.Now().Add(-time.Second)
	e.agent(t, "edge-1").register(nodeAsAgentSees("edge-1"))

	n, err := e.nodes.Get(context.Background(), "", "edge-1")
	if err != nil {
		t.Fatal(err)
	}
	if !n.IsReady() {
		t.Fatalf("registered node is not Ready: %+v", n.Status.Conditions)
	}
	c := n.Status.Condition(api.NodeReady)
	if c.LastHeartbeatTime.Before(before.Truncate(time.Second)) || c.Reason == "" {
		t.Errorf("Ready condition %+v: want a reason and a fresh heartbeat", c)
	}
	if n.Labels[api.LabelArch] != "arm64" || n.Status.NodeInfo.Architecture != "arm64" || !n.Status.HasRuntime(api.RuntimeClassWasm) {
		t.Errorf("node does not carry what the agent sent: labels %v status %+v", n.Labels, n.Status)
	}
	if n.UID == "" || n.Kind != "Node" {
		t.Errorf("node meta = %+v %+v, want a uid and kind Node", n.TypeMeta, n.ObjectMeta)
	}
	l, ok := e.lease(t, "edge-1")
	if !ok {
		t.Fatal("no lease after registration")
	}
	if l.Node != "edge-1" || l.RenewTime.Before(before.Truncate(time.Second)) {
		t.Errorf("lease = %+v, want node edge-1 renewed now", l)
	}
}

func TestReRegistrationKeepsWhatTheAdministratorSet(t *testing.T) {
	e := start(t, agentapi.Options{})
	ctx := context.Background()
	a := e.agent(t, "edge-1")
	a.register(nodeAsAgentSees("edge-1"))

	// An administrator cordons and taints the node and labels it.
	if _, err := e.nodes.Mutate(ctx, "", "edge-1", func(n *api.Node) error {
		n.Spec.Unschedulable = true
		n.Spec.Taints = []api.Taint{{Key: "dedicated", Value: "cameras", Effect: "NoSchedule"}}
		n.Labels["zone"] = "north"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	orig, _ := e.nodes.Get(ctx, "", "edge-1")

	// The agent restarts, upgraded, with a changed view of itself: a new
	// label under its own prefix, and (node restriction) labels it does
	// not own, which are not applied and come back as warnings.
	again := nodeAsAgentSees("edge-1")
	again.Labels[api.AgentLabelPrefix+"tier"] = "edge"
	again.Labels["zone"] = "south"
	again.Labels["gpu"] = "yes"
	again.Status.NodeInfo.AgentVersion = "v2"
	ack := a.ask(api.AgentRegister, api.NodeRegistration{Node: again})
	if ack.Error != "" {
		t.Fatal(ack.Error)
	}
	if len(ack.Warnings) != 2 || !strings.Contains(ack.Warnings[0], "gpu=yes") || !strings.Contains(ack.Warnings[1], "zone=south") {
		t.Errorf("warnings = %q; want one each for gpu=yes and zone=south", ack.Warnings)
	}

	n, err := e.nodes.Get(ctx, "", "edge-1")
	if err != nil {
		t.Fatal(err)
	}
	if !n.Spec.Unschedulable || len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != "dedicated" {
		t.Errorf("spec after re-registration = %+v, want the administrator's", n.Spec)
	}
	if n.Labels["zone"] != "north" || n.Labels[api.AgentLabelPrefix+"tier"] != "edge" || n.Labels[api.LabelArch] != "arm64" {
		t.Errorf("labels after re-registration = %v, want the administrator's and the agent's", n.Labels)
	}
	if _, ok := n.Labels["gpu"]; ok {
		t.Errorf("the agent added a label it does not own: %v", n.Labels)
	}
	if n.Status.NodeInfo.AgentVersion != "v2" || !n.IsReady() {
		t.Errorf("status after re-registration = %+v, want the agent's new status, Ready", n.Status)
	}
	if n.UID != orig.UID || !n.CreationTimestamp.Equal(orig.CreationTimestamp) {
		t.Errorf("re-registration replaced the node: uid %s→%s", orig.UID, n.UID)
	}
}

func TestANodeCannotRegisterUnderAnotherNodesSubject(t *testing.T) {
	e := start(t, agentapi.Options{})
	ctx := context.Background()
	mallory := e.agent(t, "mallory")

	// Claiming a name that does not exist yet.
	ack := mallory.ask(api.AgentRegister, api.NodeRegistration{Node: nodeAsAgentSees("victim")})
	if ack.Error == "" || !strings.Contains(ack.Error, "victim") {
		t.Fatalf("register as another node: ack %+v, want an error naming it", ack)
	}
	if list, err := e.nodes.List(ctx, ""); err != nil || len(list) != 0 {
		t.Fatalf("nodes after a refused registration: %d, %v; want none", len(list), err)
	}
	for _, name := range []string{"victim", "mallory"} {
		if _, ok := e.lease(t, name); ok {
			t.Errorf("a refused registration wrote a lease for %s", name)
		}
	}

	// Overwriting a node that exists.
	e.agent(t, "victim").register(nodeAsAgentSees("victim"))
	before, _ := e.nodes.Get(ctx, "", "victim")
	forged := nodeAsAgentSees("victim")
	forged.Labels[api.LabelArch] = "amd64"
	if ack := mallory.ask(api.AgentRegister, api.NodeRegistration{Node: forged}); ack.Error == "" {
		t.Fatal("re-registering another node's name was accepted")
	}
	after, _ := e.nodes.Get(ctx, "", "victim")
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("victim's node changed (rv %s→%s) by another node's registration", before.ResourceVersion, after.ResourceVersion)
	}
}

func TestRegistrationOfAnInvalidNodeIsRefusedNamingTheField(t *testing.T) {
	e := start(t, agentapi.Options{})
	a := e.agent(t, "edge-1")
	bad := nodeAsAgentSees("edge-1")
	bad.Spec.Taints = []api.Taint{{Key: "x", Effect: "Sometimes"}}
	ack := a.ask(api.AgentRegister, api.NodeRegistration{Node: bad})
	if !strings.Contains(ack.Error, "spec.taints[0].effect") {
		t.Errorf("ack = %+v, want an error naming spec.taints[0].effect", ack)
	}
	msg, err := a.nc.Request(api.AgentSubject("edge-1", api.AgentRegister), []byte("{not json"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg.Data), "bad message") {
		t.Errorf("non-JSON registration answered %s, want a bad message error", msg.Data)
	}
	if _, err := e.nodes.Get(context.Background(), "", "edge-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused registrations stored a node: %v", err)
	}
}

func TestLeaseRenewalMarksANotReadyNodeReady(t *testing.T) {
	e := start(t, agentapi.Options{})
	ctx := context.Background()
	a := e.agent(t, "edge-1")
	a.register(nodeAsAgentSees("edge-1"))
	first, _ := e.lease(t, "edge-1")

	// Node lifecycle gave up on it.
	if _, err := e.nodes.Mutate(ctx, "", "edge-1", func(n *api.Node) error {
		n.Status.SetCondition(api.NodeCondition{Type: api.NodeReady, Status: api.ConditionUnknown, Reason: "NodeStatusUnknown", LastTransitionTime: time.Now().UTC().Truncate(time.Second)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	a.publish(api.AgentLease, api.LeaseRenewal{Node: "edge-1", RenewTime: time.Now(), LeaseDurationSeconds: 40})
	eventually(t, func() error {
		n, err := e.nodes.Get(ctx, "", "edge-1")
		if err != nil {
			return err
		}
		if !n.IsReady() {
			return fmt.Errorf("node still not Ready after a renewal: %+v", n.Status.Conditions)
		}
		return nil
	})
	l, _ := e.lease(t, "edge-1")
	if l.LeaseDurationSeconds != 40 || l.RenewTime.Before(first.RenewTime) {
		t.Errorf("lease after renewal = %+v (first %+v)", l, first)
	}
}

func TestLeaseRenewalIsStoredUnderTheSubjectsNodeOnly(t *testing.T) {
	e := start(t, agentapi.Options{})
	e.agent(t, "victim").register(nodeAsAgentSees("victim"))
	before, _ := e.lease(t, "victim")

	mallory := e.agent(t, "mallory")
	mallory.publish(api.AgentLease, api.LeaseRenewal{Node: "victim", RenewTime: time.Now().Add(time.Hour), LeaseDurationSeconds: 99})
	eventually(t, func() error {
		if _, ok := e.lease(t, "mallory"); !ok {
			return errors.New("no lease for mallory yet")
		}
		return nil
	})
	after, _ := e.lease(t, "victim")
	if after != before {
		t.Errorf("victim's lease changed by mallory's renewal: %+v → %+v", before, after)
	}
	// An unregistered node's renewal creates no node.
	if _, err := e.nodes.Get(context.Background(), "", "mallory"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a renewal created a node: %v", err)
	}
}

// boundPod stores a pod bound to node, with the PodScheduled condition the
// scheduler writes.
func (e *env) boundPod(t *testing.T, name, node string) *api.Pod {
	t.Helper()
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "app", Image: "busybox"}}},
		Status: api.PodStatus{Phase: api.PodPending, Conditions: []api.PodCondition{{
			Type: api.PodScheduled, Status: api.ConditionTrue, Reason: "Scheduled", Message: "by the scheduler",
			LastTransitionTime: time.Now().UTC().Truncate(time.Second),
		}}},
	}
	api.SetDefaults(p)
	if err := e.pods.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func runningStatus(restarts int32) api.PodStatus {
	now := time.Now().UTC().Truncate(time.Second)
	return api.PodStatus{
		Phase: api.PodRunning,
		Conditions: []api.PodCondition{
			{Type: api.PodReady, Status: api.ConditionTrue},
			// The agent does not own this one; its view must not win.
			{Type: api.PodScheduled, Status: api.ConditionFalse, Reason: "AgentThinks"},
		},
		StartTime: &now,
		ContainerStatuses: []api.ContainerStatus{{
			Name: "app", Image: "busybox", Ready: true, RestartCount: restarts,
			State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: now}},
		}},
	}
}

func TestStatusReportIsWrittenKeepingTheSchedulersPodScheduled(t *testing.T) {
	e := start(t, agentapi.Options{})
	p := e.boundPod(t, "web", "edge-1")
	a := e.agent(t, "edge-1")
	if ack := a.ask(api.AgentStatus, api.PodStatusReport{Namespace: "default", Name: "web", UID: p.UID, Status: runningStatus(2)}); ack.Error != "" {
		t.Fatal(ack.Error)
	}
	got, err := e.pods.Get(context.Background(), "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != api.PodRunning || len(got.Status.ContainerStatuses) != 1 || got.Status.ContainerStatuses[0].RestartCount != 2 {
		t.Errorf("status not written: %+v", got.Status)
	}
	if c := got.Status.Condition(api.PodReady); c == nil || c.Status != api.ConditionTrue {
		t.Errorf("Ready condition = %+v, want the agent's True", c)
	}
	c := got.Status.Condition(api.PodScheduled)
	if c == nil || c.Status != api.ConditionTrue || c.Message != "by the scheduler" {
		t.Errorf("PodScheduled = %+v, want the scheduler's True", c)
	}
	if got.Spec.NodeName != "edge-1" || got.UID != p.UID {
		t.Errorf("a status report changed the pod's identity or spec: %+v", got)
	}
}

func TestStatusReportAboutAPodOfAnotherNodeOrAStaleUIDIsIgnored(t *testing.T) {
	e := start(t, agentapi.Options{})
	ctx := context.Background()
	p := e.boundPod(t, "web", "edge-1")

	mallory := e.agent(t, "edge-2")
	ack := mallory.ask(api.AgentStatus, api.PodStatusReport{Namespace: "default", Name: "web", UID: p.UID, Status: runningStatus(0)})
	if ack.Error != "" {
		t.Fatalf("a report that is ignored got an error: %s", ack.Error)
	}
	owner := e.agent(t, "edge-1")
	owner.ask(api.AgentStatus, api.PodStatusReport{Namespace: "default", Name: "web", UID: "an-older-pod-with-this-name", Status: runningStatus(0)})

	got, err := e.pods.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != p.ResourceVersion || got.Status.Phase != api.PodPending {
		t.Errorf("pod changed (rv %s→%s, phase %s) by reports that must be ignored", p.ResourceVersion, got.ResourceVersion, got.Status.Phase)
	}

	// Reports may not delete it either.
	now := time.Now().UTC().Truncate(time.Second)
	if _, err := e.pods.Mutate(ctx, "default", "web", func(p *api.Pod) error { p.DeletionTimestamp = &now; return nil }); err != nil {
		t.Fatal(err)
	}
	mallory.ask(api.AgentStatus, api.PodStatusReport{Namespace: "default", Name: "web", UID: p.UID, Removed: true})
	owner.ask(api.AgentStatus, api.PodStatusReport{Namespace: "default", Name: "web", UID: "an-older-pod-with-this-name", Removed: true})
	if _, err := e.pods.Get(ctx, "default", "web"); err != nil {
		t.Errorf("pod deleted by a report from another node or about another uid: %v", err)
	}

	// A report about a pod that is gone is not an error.
	if ack := owner.ask(api.AgentStatus, api.PodStatusReport{Namespace: "default", Name: "gone", UID: "x", Status: runningStatus(0)}); ack.Error != "" {
		t.Errorf("report about a missing pod: %s", ack.Error)
	}
}

func TestRemovedDeletesThePodOnlyWhenDeletionWasRequested(t *testing.T) {
	e := start(t, agentapi.Options{})
	ctx := context.Background()
	p := e.boundPod(t, "web", "edge-1")
	a := e.agent(t, "edge-1")

	if ack := a.ask(api.AgentStatus, api.PodStatusReport{Namespace: "default", Name: "web", UID: p.UID, Removed: true}); ack.Error != "" {
		t.Fatal(ack.Error)
	}
	if _, err := e.pods.Get(ctx, "default", "web"); err != nil {
		t.Fatalf("Removed without deletionTimestamp deleted the pod: %v", err)
	}

	now := time.Now().UTC().Truncate(time.Second)
	if _, err := e.pods.Mutate(ctx, "default", "web", func(p *api.Pod) error { p.DeletionTimestamp = &now; return nil }); err != nil {
		t.Fatal(err)
	}
	if ack := a.ask(api.AgentStatus, api.PodStatusReport{Namespace: "default", Name: "web", UID: p.UID, Removed: true}); ack.Error != "" {
		t.Fatal(ack.Error)
	}
	if _, err := e.pods.Get(ctx, "default", "web"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after Removed of a terminating pod: %v, want ErrNotFound", err)
	}
	// Saying it again is harmless.
	if ack := a.ask(api.AgentStatus, api.PodStatusReport{Namespace: "default", Name: "web", UID: p.UID, Removed: true}); ack.Error != "" {
		t.Errorf("second Removed: %s", ack.Error)
	}
}

func TestStatusReportsAboutOnePodAreAppliedInOrderUnderLoad(t *testing.T) {
	e := start(t, agentapi.Options{Workers: 4})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const pods, reports = 10, 30
	uids := map[string]string{}
	for i := range pods {
		name := fmt.Sprintf("p%02d", i)
		uids[name] = e.boundPod(t, name, fmt.Sprintf("edge-%d", i%3)).UID
	}

	// Every write any pod sees must carry a restart count at least the
	// one before: a report applied out of order would go back.
	w, err := e.pods.Watch(ctx, store.WatchOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	last := map[string]int32{}
	var backwards []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w {
			if ev.Object == nil || len(ev.Object.Status.ContainerStatuses) == 0 {
				continue
			}
			n := ev.Object.Status.ContainerStatuses[0].RestartCount
			mu.Lock()
			if n < last[ev.Name] {
				backwards = append(backwards, fmt.Sprintf("%s: %d after %d", ev.Name, n, last[ev.Name]))
			}
			last[ev.Name] = n
			mu.Unlock()
		}
	}()

	agents := []*agent{e.agent(t, "edge-0"), e.agent(t, "edge-1"), e.agent(t, "edge-2")}
	var wg sync.WaitGroup
	for i, a := range agents {
		wg.Go(func() {
			for r := 1; r <= reports; r++ {
				for p := i; p < pods; p += len(agents) {
					name := fmt.Sprintf("p%02d", p)
					a.publish(api.AgentStatus, api.PodStatusReport{Namespace: "default", Name: name, UID: uids[name], Status: runningStatus(int32(r))})
				}
			}
			if err := a.nc.Flush(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	eventually(t, func() error {
		list, err := e.pods.List(context.Background(), "default")
		if err != nil {
			return err
		}
		for _, p := range list {
			if len(p.Status.ContainerStatuses) == 0 {
				return fmt.Errorf("pod %s: no status written yet", p.Name)
			}
			if n := p.Status.ContainerStatuses[0].RestartCount; n != reports {
				return fmt.Errorf("pod %s: restart count %d, want the last report's %d", p.Name, n, reports)
			}
		}
		return nil
	})
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(backwards) > 0 {
		t.Errorf("reports applied out of order: %v", backwards)
	}
}

func TestStopEndsHandlingAgentMessages(t *testing.T) {
	s, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	st, err := store.Open(ctx, js, store.Options{Keyring: natstest.Keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	leases, err := agentapi.OpenLeases(ctx, js, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv := agentapi.New(nc, st, leases, agentapi.Options{}, slog.New(slog.DiscardHandler))
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	srv.Stop() // twice is fine

	b, _ := json.Marshal(api.NodeRegistration{Node: nodeAsAgentSees("edge-1")})
	if _, err := nc.Request(api.AgentSubject("edge-1", api.AgentRegister), b, 2*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("register after Stop: %v, want no responders", err)
	}
}
