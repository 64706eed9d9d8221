package scheduler

import (
	"errors"
	"fmt"
	"testing"

	"github.com/skiff-sh/skiff/api"
)

// testNode is a Ready node offering both runtimes, amd64/linux, 4 cpu,
// 8Gi and 110 pods, named by its hostname label.
func testNode(name string, opts ...func(*api.Node)) *api.Node {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{
		api.LabelHostname: name, api.LabelArch: "amd64", api.LabelOS: "linux",
	}}}
	n.Status.SetCondition(api.NodeCondition{Type: api.NodeReady, Status: api.ConditionTrue})
	n.Status.Runtimes = []api.NodeRuntimeHandler{{Name: "wasm"}, {Name: "containerd"}}
	n.Status.Allocatable = api.ResourceList{api.ResourceCPU: "4", api.ResourceMemory: "8Gi", api.ResourcePods: "110"}
	for _, o := range opts {
		o(n)
	}
	return n
}

func notReady(n *api.Node) {
	n.Status.SetCondition(api.NodeCondition{Type: api.NodeReady, Status: api.ConditionFalse})
}

func runtimes(names ...string) func(*api.Node) {
	return func(n *api.Node) {
		n.Status.Runtimes = nil
		for _, r := range names {
			n.Status.Runtimes = append(n.Status.Runtimes, api.NodeRuntimeHandler{Name: r})
		}
	}
}

func nodeLabels(kv ...string) func(*api.Node) {
	return func(n *api.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func taint(key, value, effect string) func(*api.Node) {
	return func(n *api.Node) {
		n.Spec.Taints = append(n.Spec.Taints, api.Taint{Key: key, Value: value, Effect: effect})
	}
}

func allocatable(cpu, mem string) func(*api.Node) {
	return func(n *api.Node) {
		n.Status.Allocatable[api.ResourceCPU] = api.Quantity(cpu)
		n.Status.Allocatable[api.ResourceMemory] = api.Quantity(mem)
	}
}

// testPod is a container pod in "default" with one container and no
// requests.
func testPod(name string, opts ...func(*api.Pod)) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "img"}}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func wasm(p *api.Pod) { p.Spec.RuntimeClassName = api.RuntimeClassWasm }

func requests(cpu, mem string) func(*api.Pod) {
	return func(p *api.Pod) {
		r := api.ResourceList{}
		if cpu != "" {
			r[api.ResourceCPU] = api.Quantity(cpu)
		}
		if mem != "" {
			r[api.ResourceMemory] = api.Quantity(mem)
		}
		p.Spec.Containers[0].Resources.Requests = r
	}
}

func podLabels(kv ...string) func(*api.Pod) {
	return func(p *api.Pod) {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func inNamespace(ns string) func(*api.Pod) { return func(p *api.Pod) { p.Namespace = ns } }

func on(node string) func(*api.Pod) { return func(p *api.Pod) { p.Spec.NodeName = node } }

func nodeSelector(kv ...string) func(*api.Pod) {
	return func(p *api.Pod) {
		p.Spec.NodeSelector = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Spec.NodeSelector[kv[i]] = kv[i+1]
		}
	}
}

func tolerate(t api.Toleration) func(*api.Pod) {
	return func(p *api.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, t) }
}

func selector(kv ...string) *api.LabelSelector {
	s := &api.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

// newTestCache holds the nodes and the pods (bound ones counted).
func newTestCache(nodes []*api.Node, pods []*api.Pod) *cache {
	c := newCache()
	for _, n := range nodes {
		c.setNode(n)
	}
	for _, p := range pods {
		c.setPod(podKey(p.Namespace, p.Name), p)
	}
	return c
}

func decideDefault(p *api.Pod, nodes []*api.Node, pods ...*api.Pod) (string, error) {
	c := newTestCache(nodes, pods)
	return newFramework(DefaultFilters(), DefaultScores()).decide(c, newPodInfo(p))
}

func TestDecide(t *testing.T) {
	wasmPod := testPod("w", wasm)
	tests := []struct {
		name    string
		give    *api.Pod
		nodes   []*api.Node
		pods    []*api.Pod
		want    string
		wantWhy string
	}{
		{name: "no nodes", give: wasmPod, wantWhy: "0/0 nodes are available: no nodes registered."},
		{name: "wasm needs the wasm runtime", give: wasmPod,
			nodes: []*api.Node{testNode("a", runtimes("containerd")), testNode("b", runtimes("wasm"))}, want: "b"},
		{name: "reasons grouped per cause", give: wasmPod,
			nodes:   []*api.Node{testNode("a", runtimes("containerd")), testNode("b", notReady), testNode("c", notReady)},
			wantWhy: "0/3 nodes are available: 1 node(s) have no wasm runtime, 2 node(s) are not ready."},
		{name: "cordoned", give: wasmPod, nodes: []*api.Node{testNode("a", func(n *api.Node) { n.Spec.Unschedulable = true })},
			wantWhy: "0/1 nodes are available: 1 node(s) are cordoned (unschedulable)."},
		{name: "node selector", give: testPod("p", nodeSelector(api.LabelArch, "arm64")), nodes: []*api.Node{testNode("a")},
			wantWhy: "0/1 nodes are available: 1 node(s) didn't match the pod's node selector."},
		{name: "selector matches", give: testPod("p", wasm, nodeSelector(api.LabelArch, "arm64")),
			nodes: []*api.Node{testNode("a"), testNode("b", nodeLabels(api.LabelArch, "arm64"))}, want: "b"},
		{name: "untolerated taint, Kubernetes' format", give: wasmPod, nodes: []*api.Node{testNode("t", taint("edge", "true", "NoSchedule"))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {edge: true}."},
		{name: "untolerated taint without a value", give: wasmPod, nodes: []*api.Node{testNode("t", taint("edge", "", "NoExecute"))},
			wantWhy: "0/1 nodes are available: 1 node(s) had untolerated taint {edge: }."},
		{name: "toleration lets the pod in", give: testPod("p", wasm, tolerate(api.Toleration{Key: "edge", Operator: "Exists"})),
			nodes: []*api.Node{testNode("t", taint("edge", "true", "NoSchedule"))}, want: "t"},
		{name: "too many pods", give: wasmPod,
			nodes: []*api.Node{testNode("a", func(n *api.Node) { n.Status.Allocatable[api.ResourcePods] = "1" })},
			pods:  []*api.Pod{testPod("x", on("a"))}, wantWhy: "0/1 nodes are available: 1 node(s) are full (too many pods)."},
		{name: "spreads to the node with fewer pods", give: wasmPod, nodes: []*api.Node{testNode("busy"), testNode("idle")},
			pods: []*api.Pod{testPod("x", on("busy")), testPod("y", on("busy"))}, want: "idle"},
		{name: "finished pods leave room", give: wasmPod, nodes: []*api.Node{testNode("busy"), testNode("idle")},
			pods: []*api.Pod{testPod("x", on("idle"), func(p *api.Pod) { p.Status.Phase = api.PodSucceeded }), testPod("y", on("busy"))}, want: "idle"},
		{name: "ties go to the first name", give: wasmPod, nodes: []*api.Node{testNode("b"), testNode("a"), testNode("c")}, want: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decideDefault(tt.give, tt.nodes, tt.pods...)
			if tt.wantWhy != "" {
				if !errors.Is(err, ErrUnschedulable) || err.Error() != tt.wantWhy {
					t.Fatalf("err = %v, want %q", err, tt.wantWhy)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("decide = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestUnschedulableMessageCountsMixedReasonsPerNodeLikeKubernetes(t *testing.T) {
	nodes := []*api.Node{
		testNode("small-1", allocatable("4", "1Gi")),
		testNode("small-2", allocatable("4", "1Gi")),
		testNode("tiny", allocatable("100m", "1Gi")),
		testNode("edge-1", taint("edge", "true", "NoSchedule")),
		testNode("edge-2", taint("edge", "true", "NoSchedule")),
	}
	_, err := decideDefault(testPod("big", requests("500m", "2Gi")), nodes)
	// tiny is short of both, and Kubernetes counts each resource.
	want := "0/5 nodes are available: 1 node(s) had insufficient cpu, 2 node(s) had untolerated taint {edge: true}, 3 node(s) had insufficient memory."
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant  %s", err, want)
	}
	var fe *FitError
	if !errors.As(err, &fe) || fe.Reasons[ReasonInsufficientMemory] != 3 || fe.NumNodes != 5 {
		t.Fatalf("FitError = %+v", fe)
	}
}

func TestArchitectureAndOSComeOnlyFromWhatThePodAsks(t *testing.T) {
	arm := testNode("arm", nodeLabels(api.LabelArch, "arm64"))
	amd := testNode("amd")
	win := testNode("win", nodeLabels(api.LabelOS, "windows"))
	affinityArm := func(p *api.Pod) {
		p.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
			NodeSelectorTerms: []api.NodeSelectorTerm{{MatchExpressions: []api.NodeSelectorRequirement{{Key: api.LabelArch, Operator: "In", Values: []string{"arm64"}}}}},
		}}}
	}
	tests := []struct {
		name string
		give *api.Pod
		want []string // nodes the pod may land on
	}{
		{name: "wasm pods are architecture-neutral", give: testPod("p", wasm), want: []string{"amd", "arm", "win"}},
		{name: "wasm pod that asks for arm64", give: testPod("p", wasm, nodeSelector(api.LabelArch, "arm64")), want: []string{"arm"}},
		{name: "container pod by nodeSelector", give: testPod("p", nodeSelector(api.LabelArch, "amd64", api.LabelOS, "linux")), want: []string{"amd"}},
		{name: "container pod by affinity", give: testPod("p", affinityArm), want: []string{"arm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, n := range []*api.Node{amd, arm, win} {
				if _, err := decideDefault(tt.give, []*api.Node{n}); err == nil {
					got = append(got, n.Name)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("fits %v, want %v", got, tt.want)
			}
		})
	}
}
