package scheduler

import (
	"fmt"
	"slices"
	"testing"

	"github.com/skiff-sh/skiff/api"
)

// filterOn runs one filter plugin, PreFilter first when it has one, for
// the pod on the named node of a cluster of nodes and pods.
func filterOn(pl FilterPlugin, p *api.Pod, node string, nodes []*api.Node, pods []*api.Pod) []string {
	c := newTestCache(nodes, pods)
	cs := &CycleState{c: c, pod: newPodInfo(p)}
	if pf, ok := pl.(PreFilterPlugin); ok && pf.PreFilter(cs, p) {
		return nil
	}
	return pl.Filter(cs, p, c.nodes[node])
}

// scoresOf runs one score plugin over every node (all taken as feasible)
// and returns the normalized scores by node name.
func scoresOf(pl ScorePlugin, p *api.Pod, nodes []*api.Node, pods []*api.Pod) map[string]int64 {
	c := newTestCache(nodes, pods)
	cs := &CycleState{c: c, pod: newPodInfo(p)}
	feasible := c.nodeList()
	raw := make([]int64, len(feasible))
	if ps, ok := pl.(PreScorePlugin); !ok || !ps.PreScore(cs, p, feasible) {
		for i, n := range feasible {
			raw[i] = pl.Score(cs, p, n)
		}
		if nz, ok := pl.(ScoreNormalizer); ok {
			nz.Normalize(raw)
		}
	}
	out := map[string]int64{}
	for i, n := range feasible {
		out[n.Node.Name] = raw[i]
	}
	return out
}

func TestNodeResourcesFit(t *testing.T) {
	small := testNode("n", allocatable("1", "1Gi"), func(n *api.Node) { n.Status.Allocatable[api.ResourcePods] = "3" })
	tests := []struct {
		name string
		give *api.Pod
		node *api.Node
		pods []*api.Pod
		want []string
	}{
		{name: "fits an empty node", give: testPod("p", requests("1", "1Gi")), node: small},
		{name: "cpu short", give: testPod("p", requests("1500m", "")), node: small, want: []string{ReasonInsufficientCPU}},
		{name: "memory taken by bound pods", give: testPod("p", requests("", "512Mi")), node: small,
			pods: []*api.Pod{testPod("a", requests("", "600Mi"), on("n"))}, want: []string{ReasonInsufficientMemory}},
		{name: "both short, both said", give: testPod("p", requests("2", "2Gi")), node: small, want: []string{ReasonInsufficientCPU, ReasonInsufficientMemory}},
		{name: "exactly the rest fits", give: testPod("p", requests("250m", "256Mi")), node: small,
			pods: []*api.Pod{testPod("a", requests("750m", "768Mi"), on("n"))}},
		{name: "finished pods free their requests", give: testPod("p", requests("1", "")), node: small,
			pods: []*api.Pod{testPod("a", requests("1", ""), on("n"), func(p *api.Pod) { p.Status.Phase = api.PodFailed })}},
		{name: "pods on other nodes do not count", give: testPod("p", requests("1", "")), node: small,
			pods: []*api.Pod{testPod("a", requests("1", ""), on("other"))}},
		{name: "a limit without a request counts as the request", give: testPod("p", func(p *api.Pod) {
			p.Spec.Containers[0].Resources.Limits = api.ResourceList{api.ResourceMemory: "2Gi"}
		}), node: small, want: []string{ReasonInsufficientMemory}},
		{name: "requests of every container add up", give: testPod("p", requests("600m", ""), func(p *api.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: "b", Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: "600m"}}})
		}), node: small, want: []string{ReasonInsufficientCPU}},
		{name: "an init container asking more than the containers sets the request", give: testPod("p", requests("100m", ""), func(p *api.Pod) {
			p.Spec.InitContainers = []api.Container{{Name: "init", Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: "1500m"}}}}
		}), node: small, want: []string{ReasonInsufficientCPU}},
		{name: "init containers do not add to the containers", give: testPod("p", requests("600m", ""), func(p *api.Pod) {
			p.Spec.InitContainers = []api.Container{{Name: "init", Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: "600m"}}}}
		}), node: small},
		{name: "no requests fit a node that reports nothing", give: testPod("p"), node: testNode("n", func(n *api.Node) { n.Status.Allocatable = nil })},
		{name: "a request does not fit a node that reports nothing", give: testPod("p", requests("1m", "")),
			node: testNode("n", func(n *api.Node) { n.Status.Allocatable = nil }), want: []string{ReasonInsufficientCPU}},
		{name: "pod count", give: testPod("p"), node: small,
			pods: []*api.Pod{testPod("a", on("n")), testPod("b", on("n")), testPod("c", on("n"))}, want: []string{ReasonTooManyPods}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := filterOn(NodeResourcesFit{}, tt.give, "n", []*api.Node{tt.node}, tt.pods)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Filter = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLeastAllocatedPrefersRoomLeft(t *testing.T) {
	nodes := []*api.Node{testNode("empty"), testNode("half", allocatable("4", "8Gi")), testNode("big", allocatable("8", "16Gi"))}
	pods := []*api.Pod{testPod("a", requests("2", "4Gi"), on("half"))}
	got := scoresOf(LeastAllocated{}, testPod("p", requests("1", "2Gi")), nodes, pods)
	want := map[string]int64{"empty": 75, "half": 25, "big": 87}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scores = %v, want %v", got, want)
	}
	// Pods without requests count the default requests, so they spread.
	got = scoresOf(LeastAllocated{}, testPod("p"), []*api.Node{testNode("a"), testNode("b")}, []*api.Pod{testPod("x", on("a"))})
	if got["b"] <= got["a"] {
		t.Fatalf("scores = %v, want b above a", got)
	}
}

func nodeAffinity(required *api.NodeSelector, preferred ...api.PreferredSchedulingTerm) func(*api.Pod) {
	return func(p *api.Pod) {
		p.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: required, PreferredDuringSchedulingIgnoredDuringExecution: preferred}}
	}
}

func expr(key, op string, values ...string) api.NodeSelectorTerm {
	return api.NodeSelectorTerm{MatchExpressions: []api.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func TestNodeAffinityFilter(t *testing.T) {
	node := testNode("n", nodeLabels("zone", "a", "gen", "5"))
	tests := []struct {
		name string
		give *api.Pod
		want []string
	}{
		{name: "no affinity", give: testPod("p")},
		{name: "In matches", give: testPod("p", nodeAffinity(&api.NodeSelector{NodeSelectorTerms: []api.NodeSelectorTerm{expr("zone", "In", "a", "b")}}))},
		{name: "NotIn refuses", give: testPod("p", nodeAffinity(&api.NodeSelector{NodeSelectorTerms: []api.NodeSelectorTerm{expr("zone", "NotIn", "a")}})), want: []string{ReasonNodeAffinity}},
		{name: "any term may match", give: testPod("p", nodeAffinity(&api.NodeSelector{NodeSelectorTerms: []api.NodeSelectorTerm{expr("zone", "In", "z"), expr("gen", "Gt", "4")}}))},
		{name: "no term matches", give: testPod("p", nodeAffinity(&api.NodeSelector{NodeSelectorTerms: []api.NodeSelectorTerm{expr("zone", "In", "z"), expr("gen", "Lt", "4")}})), want: []string{ReasonNodeAffinity}},
		{name: "matchFields on the name", give: testPod("p", nodeAffinity(&api.NodeSelector{NodeSelectorTerms: []api.NodeSelectorTerm{{
			MatchFields: []api.NodeSelectorRequirement{{Key: "metadata.name", Operator: "In", Values: []string{"n"}}}}}}))},
		{name: "no terms match nothing", give: testPod("p", nodeAffinity(&api.NodeSelector{})), want: []string{ReasonNodeAffinity}},
		{name: "only preferred never filters", give: testPod("p", nodeAffinity(nil, api.PreferredSchedulingTerm{Weight: 10, Preference: expr("zone", "In", "z")}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := filterOn(NodeAffinity{}, tt.give, "n", []*api.Node{node}, nil); !slices.Equal(got, tt.want) {
				t.Fatalf("Filter = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNodeAffinityScore(t *testing.T) {
	nodes := []*api.Node{
		testNode("a", nodeLabels("zone", "a", "ssd", "true")),
		testNode("b", nodeLabels("zone", "b", "ssd", "true")),
		testNode("c", nodeLabels("zone", "c")),
	}
	tests := []struct {
		name string
		give *api.Pod
		want map[string]int64
	}{
		{name: "no preferences", give: testPod("p"), want: map[string]int64{"a": 0, "b": 0, "c": 0}},
		{name: "weights add up, best is 100", give: testPod("p", nodeAffinity(nil,
			api.PreferredSchedulingTerm{Weight: 30, Preference: expr("ssd", "Exists")},
			api.PreferredSchedulingTerm{Weight: 10, Preference: expr("zone", "In", "a")},
		)), want: map[string]int64{"a": 100, "b": 75, "c": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scoresOf(NodeAffinity{}, tt.give, nodes, nil); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("scores = %v, want %v", got, tt.want)
			}
		})
	}
	// The weight carries the preference over LeastAllocated's spread.
	got, err := decideDefault(testPod("p", nodeAffinity(nil, api.PreferredSchedulingTerm{Weight: 1, Preference: expr("zone", "In", "c")})),
		nodes, testPod("x", on("c")), testPod("y", on("c")))
	if err != nil || got != "c" {
		t.Fatalf("decide = %q, %v; want c", got, err)
	}
}

func TestTaintTolerationFilter(t *testing.T) {
	tests := []struct {
		name  string
		taint api.Taint
		give  []api.Toleration
		want  []string
	}{
		{name: "NoSchedule refused", taint: api.Taint{Key: "edge", Value: "true", Effect: "NoSchedule"}, want: []string{"had untolerated taint {edge: true}"}},
		{name: "NoExecute refused", taint: api.Taint{Key: "gone", Effect: "NoExecute"}, want: []string{"had untolerated taint {gone: }"}},
		{name: "PreferNoSchedule only scores", taint: api.Taint{Key: "edge", Value: "true", Effect: "PreferNoSchedule"}},
		{name: "Equal with the value", taint: api.Taint{Key: "edge", Value: "true", Effect: "NoSchedule"},
			give: []api.Toleration{{Key: "edge", Operator: "Equal", Value: "true", Effect: "NoSchedule"}}},
		{name: "Equal with another value", taint: api.Taint{Key: "edge", Value: "true", Effect: "NoSchedule"},
			give: []api.Toleration{{Key: "edge", Value: "false"}}, want: []string{"had untolerated taint {edge: true}"}},
		{name: "Exists without a key tolerates all", taint: api.Taint{Key: "edge", Value: "true", Effect: "NoExecute"},
			give: []api.Toleration{{Operator: "Exists"}}},
		{name: "another effect does not tolerate", taint: api.Taint{Key: "edge", Effect: "NoSchedule"},
			give: []api.Toleration{{Key: "edge", Operator: "Exists", Effect: "NoExecute"}}, want: []string{"had untolerated taint {edge: }"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testNode("n", func(n *api.Node) { n.Spec.Taints = []api.Taint{tt.taint} })
			p := testPod("p", func(p *api.Pod) { p.Spec.Tolerations = tt.give })
			if got := filterOn(TaintToleration{}, p, "n", []*api.Node{n}, nil); !slices.Equal(got, tt.want) {
				t.Fatalf("Filter = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTaintTolerationScorePrefersFewerUntoleratedPreferNoSchedule(t *testing.T) {
	nodes := []*api.Node{
		testNode("clean"),
		testNode("one", taint("a", "", "PreferNoSchedule")),
		testNode("two", taint("a", "", "PreferNoSchedule"), taint("b", "", "PreferNoSchedule")),
		testNode("hard", taint("c", "", "NoSchedule")),
	}
	tests := []struct {
		name string
		give *api.Pod
		want map[string]int64
	}{
		{name: "fewer is better", give: testPod("p"), want: map[string]int64{"clean": 100, "hard": 100, "one": 50, "two": 0}},
		{name: "tolerated ones do not count", give: testPod("p", tolerate(api.Toleration{Key: "b", Operator: "Exists", Effect: "PreferNoSchedule"})),
			want: map[string]int64{"clean": 100, "hard": 100, "one": 0, "two": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scoresOf(TaintToleration{}, tt.give, nodes, nil); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("scores = %v, want %v", got, tt.want)
			}
		})
	}
}

func antiAffinity(terms ...api.PodAffinityTerm) func(*api.Pod) {
	return func(p *api.Pod) {
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &api.Affinity{}
		}
		if p.Spec.Affinity.PodAntiAffinity == nil {
			p.Spec.Affinity.PodAntiAffinity = &api.PodAntiAffinity{}
		}
		a := p.Spec.Affinity.PodAntiAffinity
		a.RequiredDuringSchedulingIgnoredDuringExecution = append(a.RequiredDuringSchedulingIgnoredDuringExecution, terms...)
	}
}

func preferAntiAffinity(weight int32, term api.PodAffinityTerm) func(*api.Pod) {
	return func(p *api.Pod) {
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &api.Affinity{}
		}
		if p.Spec.Affinity.PodAntiAffinity == nil {
			p.Spec.Affinity.PodAntiAffinity = &api.PodAntiAffinity{}
		}
		a := p.Spec.Affinity.PodAntiAffinity
		a.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PreferredDuringSchedulingIgnoredDuringExecution,
			api.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: term})
	}
}

func TestInterPodAntiAffinityFilter(t *testing.T) {
	nodes := []*api.Node{
		testNode("a1", nodeLabels("zone", "a")),
		testNode("a2", nodeLabels("zone", "a")),
		testNode("b1", nodeLabels("zone", "b")),
		testNode("nozone"),
	}
	byHost := api.PodAffinityTerm{LabelSelector: selector("app", "web"), TopologyKey: api.LabelHostname}
	byZone := api.PodAffinityTerm{LabelSelector: selector("app", "web"), TopologyKey: "zone"}
	web := podLabels("app", "web")
	tests := []struct {
		name string
		give *api.Pod
		pods []*api.Pod
		want map[string][]string // refused nodes and why; the others pass
	}{
		{name: "no pods yet", give: testPod("p", web, antiAffinity(byHost)), want: map[string][]string{}},
		{name: "one per host", give: testPod("p", web, antiAffinity(byHost)), pods: []*api.Pod{testPod("x", web, on("a1"))},
			want: map[string][]string{"a1": {ReasonAntiAffinity}}},
		{name: "one per zone keeps the whole zone", give: testPod("p", web, antiAffinity(byZone)), pods: []*api.Pod{testPod("x", web, on("a1"))},
			want: map[string][]string{"a1": {ReasonAntiAffinity}, "a2": {ReasonAntiAffinity}}},
		{name: "a node without the key is in no domain", give: testPod("p", web, antiAffinity(byZone)),
			pods: []*api.Pod{testPod("x", web, on("a1")), testPod("y", web, on("b1"))},
			want: map[string][]string{"a1": {ReasonAntiAffinity}, "a2": {ReasonAntiAffinity}, "b1": {ReasonAntiAffinity}}},
		{name: "other labels do not count", give: testPod("p", web, antiAffinity(byHost)), pods: []*api.Pod{testPod("x", podLabels("app", "db"), on("a1"))},
			want: map[string][]string{}},
		{name: "namespaces default to the pod's own", give: testPod("p", web, antiAffinity(byHost)),
			pods: []*api.Pod{testPod("x", web, on("a1"), inNamespace("other"))}, want: map[string][]string{}},
		{name: "named namespaces", give: testPod("p", web, antiAffinity(api.PodAffinityTerm{LabelSelector: selector("app", "web"), TopologyKey: api.LabelHostname, Namespaces: []string{"other"}})),
			pods: []*api.Pod{testPod("x", web, on("a1"), inNamespace("other")), testPod("y", web, on("b1"))},
			want: map[string][]string{"a1": {ReasonAntiAffinity}}},
		{name: "finished pods do not count", give: testPod("p", web, antiAffinity(byHost)),
			pods: []*api.Pod{testPod("x", web, on("a1"), func(p *api.Pod) { p.Status.Phase = api.PodSucceeded })}, want: map[string][]string{}},
		{name: "symmetric: an existing pod's anti-affinity keeps this pod away", give: testPod("p", web),
			pods: []*api.Pod{testPod("x", podLabels("app", "db"), on("a2"), antiAffinity(byZone))},
			want: map[string][]string{"a1": {ReasonExistingAntiAffinity}, "a2": {ReasonExistingAntiAffinity}}},
		{name: "symmetric only for pods it selects", give: testPod("p", podLabels("app", "api")),
			pods: []*api.Pod{testPod("x", on("a2"), antiAffinity(byZone))}, want: map[string][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string][]string{}
			for _, n := range nodes {
				if r := filterOn(InterPodAntiAffinity{}, tt.give, n.Name, nodes, tt.pods); r != nil {
					got[n.Name] = r
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("refused %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInterPodAntiAffinityScore(t *testing.T) {
	nodes := []*api.Node{testNode("a"), testNode("b"), testNode("c")}
	web := podLabels("app", "web")
	term := api.PodAffinityTerm{LabelSelector: selector("app", "web"), TopologyKey: api.LabelHostname}
	tests := []struct {
		name string
		give *api.Pod
		pods []*api.Pod
		want map[string]int64
	}{
		{name: "nothing preferred", give: testPod("p", web), pods: []*api.Pod{testPod("x", web, on("a"))}, want: map[string]int64{"a": 0, "b": 0, "c": 0}},
		{name: "fewer matching pods is better", give: testPod("p", web, preferAntiAffinity(10, term)),
			pods: []*api.Pod{testPod("x", web, on("a")), testPod("y", web, on("a")), testPod("z", web, on("b"))},
			want: map[string]int64{"a": 0, "b": 50, "c": 100}},
		{name: "existing pods' preferences count too", give: testPod("p", web),
			pods: []*api.Pod{testPod("x", on("a"), preferAntiAffinity(5, term))}, want: map[string]int64{"a": 0, "b": 100, "c": 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scoresOf(InterPodAntiAffinity{}, tt.give, nodes, tt.pods); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("scores = %v, want %v", got, tt.want)
			}
		})
	}
}

func spread(maxSkew int32, key, when string, sel *api.LabelSelector) func(*api.Pod) {
	return func(p *api.Pod) {
		p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints,
			api.TopologySpreadConstraint{MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: when, LabelSelector: sel})
	}
}

func TestPodTopologySpreadFilter(t *testing.T) {
	nodes := []*api.Node{
		testNode("a1", nodeLabels("zone", "a")),
		testNode("a2", nodeLabels("zone", "a")),
		testNode("b1", nodeLabels("zone", "b")),
		testNode("c1", nodeLabels("zone", "c", "pool", "spare")),
		testNode("nozone"),
	}
	web := podLabels("app", "web")
	webSel := selector("app", "web")
	w := func(name, node string) *api.Pod { return testPod(name, web, on(node)) }
	tests := []struct {
		name string
		give *api.Pod
		pods []*api.Pod
		want map[string][]string // refused nodes and why
	}{
		{name: "empty zones: anywhere with the key", give: testPod("p", web, spread(1, "zone", api.DoNotSchedule, webSel)),
			want: map[string][]string{"nozone": {ReasonTopologySpreadLabel}}},
		{name: "a zone ahead is refused", give: testPod("p", web, spread(1, "zone", api.DoNotSchedule, webSel)),
			pods: []*api.Pod{w("x", "a1"), w("y", "b1")},
			want: map[string][]string{"a1": {ReasonTopologySpread}, "a2": {ReasonTopologySpread}, "b1": {ReasonTopologySpread}, "nozone": {ReasonTopologySpreadLabel}}},
		{name: "maxSkew 2 allows one more", give: testPod("p", web, spread(2, "zone", api.DoNotSchedule, webSel)),
			pods: []*api.Pod{w("x", "a1"), w("y", "b1")}, want: map[string][]string{"nozone": {ReasonTopologySpreadLabel}}},
		{name: "nodes the pod may not use do not set the minimum", give: testPod("p", web, nodeSelector("pool", "spare"), spread(1, "zone", api.DoNotSchedule, webSel)),
			pods: []*api.Pod{w("x", "c1")},
			// Only c1 is eligible: its zone is both the count and the
			// minimum, so skew stays 1 and the pod may go there.
			want: map[string][]string{"nozone": {ReasonTopologySpreadLabel}}},
		{name: "per host", give: testPod("p", web, spread(1, api.LabelHostname, api.DoNotSchedule, webSel)),
			pods: []*api.Pod{w("x", "a1"), w("y", "a2"), w("z", "b1"), w("v", "c1")},
			want: map[string][]string{"a1": {ReasonTopologySpread}, "a2": {ReasonTopologySpread}, "b1": {ReasonTopologySpread}, "c1": {ReasonTopologySpread}}},
		{name: "other namespaces do not count", give: testPod("p", web, spread(1, "zone", api.DoNotSchedule, webSel)),
			pods: []*api.Pod{testPod("x", web, on("a1"), inNamespace("other"))}, want: map[string][]string{"nozone": {ReasonTopologySpreadLabel}}},
		{name: "a pod its selector does not match adds nothing", give: testPod("p", spread(0, "zone", api.DoNotSchedule, webSel)),
			want: map[string][]string{"nozone": {ReasonTopologySpreadLabel}}},
		{name: "ScheduleAnyway never filters", give: testPod("p", web, spread(1, "zone", api.ScheduleAnyway, webSel)),
			pods: []*api.Pod{w("x", "a1"), w("y", "b1")}, want: map[string][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string][]string{}
			for _, n := range nodes {
				if r := filterOn(PodTopologySpread{}, tt.give, n.Name, nodes, tt.pods); r != nil {
					got[n.Name] = r
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("refused %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPodTopologySpreadScore(t *testing.T) {
	nodes := []*api.Node{testNode("a1", nodeLabels("zone", "a")), testNode("b1", nodeLabels("zone", "b")), testNode("c1", nodeLabels("zone", "c")), testNode("nozone")}
	web := podLabels("app", "web")
	p := testPod("p", web, spread(1, "zone", api.ScheduleAnyway, selector("app", "web")))
	pods := []*api.Pod{testPod("x", web, on("a1")), testPod("y", web, on("a1")), testPod("z", web, on("b1"))}
	want := map[string]int64{"a1": 0, "b1": 50, "c1": 100, "nozone": 0}
	if got := scoresOf(PodTopologySpread{}, p, nodes, pods); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scores = %v, want %v", got, want)
	}
}

func TestSpreadConstraintsPlaceAReplicaSetEvenly(t *testing.T) {
	var nodes []*api.Node
	for _, z := range []string{"a", "b", "c"} {
		for i := range 2 {
			nodes = append(nodes, testNode(fmt.Sprintf("%s%d", z, i), nodeLabels("zone", z)))
		}
	}
	c := newTestCache(nodes, nil)
	fw := newFramework(DefaultFilters(), DefaultScores())
	perZone := map[string]int{}
	for i := range 30 {
		p := testPod(fmt.Sprintf("web-%d", i), podLabels("app", "web"), spread(1, "zone", api.DoNotSchedule, selector("app", "web")),
			preferAntiAffinity(100, api.PodAffinityTerm{LabelSelector: selector("app", "web"), TopologyKey: api.LabelHostname}))
		node, err := fw.decide(c, newPodInfo(p))
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		p.Spec.NodeName = node
		c.setPod(podKey(p.Namespace, p.Name), p)
		perZone[node[:1]]++
		if lo, hi := min(perZone["a"], perZone["b"], perZone["c"]), max(perZone["a"], perZone["b"], perZone["c"]); hi-lo > 1 {
			t.Fatalf("after pod %d: %v", i, perZone)
		}
	}
	for _, n := range nodes {
		if got := c.nodes[n.Name].Pods; got != 5 {
			t.Fatalf("node %s has %d pods, want 5", n.Name, got)
		}
	}
}

func TestCacheKeepsCountsAsPodsComeAndGo(t *testing.T) {
	c := newTestCache([]*api.Node{testNode("a"), testNode("b")}, nil)
	web := podLabels("app", "web")
	sel := selector("app", "web")
	c.setPod("default/x", testPod("x", web, requests("1", "1Gi"), on("a")))
	idx := c.matching([]string{"default"}, sel) // built from the pods so far
	c.setPod("default/y", testPod("y", web, requests("1", ""), on("a")))
	c.setPod("default/z", testPod("z", web, on("ghost"))) // a node not registered (yet)
	if c.nodes["a"].Pods != 2 || c.nodes["a"].Requested.MilliCPU != 2000 || idx["a"] != 2 || idx["ghost"] != 1 {
		t.Fatalf("after adds: a=%+v idx=%v", c.nodes["a"], idx)
	}
	c.setPod("default/x", testPod("x", podLabels("app", "db"), requests("1", "1Gi"), on("a"))) // relabelled
	c.setPod("default/y", testPod("y", web, requests("1", ""), on("a"), func(p *api.Pod) { p.Status.Phase = api.PodSucceeded }))
	if c.nodes["a"].Pods != 1 || c.nodes["a"].Requested.MilliCPU != 1000 || idx["a"] != 0 {
		t.Fatalf("after changes: a=%+v idx=%v", c.nodes["a"], idx)
	}
	c.setNode(testNode("ghost"))
	if c.nodes["ghost"].Pods != 1 || len(c.nodeList()) != 3 {
		t.Fatalf("a node registered late keeps its pods: %+v", c.nodes["ghost"])
	}
	c.deleteNode("ghost")
	c.deletePod("default/z")
	c.deletePod("default/x")
	if _, ok := c.nodes["ghost"]; ok || c.nodes["a"].Pods != 0 || len(idx) != 0 || len(c.nodeList()) != 2 {
		t.Fatalf("after deletes: nodes=%v idx=%v", c.nodes, idx)
	}
}

func hostPortOf(port int32, ip, protocol string) func(*api.Pod) {
	return func(p *api.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, api.ContainerPort{ContainerPort: 80, HostPort: port, HostIP: ip, Protocol: protocol})
	}
}

func TestNodePorts(t *testing.T) {
	tests := []struct {
		name string
		give *api.Pod
		pods []*api.Pod
		want []string
	}{
		{name: "no host ports", give: testPod("p"), pods: []*api.Pod{testPod("a", hostPortOf(80, "", ""), on("n"))}},
		{name: "same port taken", give: testPod("p", hostPortOf(80, "", "")), pods: []*api.Pod{testPod("a", hostPortOf(80, "", "TCP"), on("n"))},
			want: []string{ReasonNodePorts}},
		{name: "another protocol", give: testPod("p", hostPortOf(80, "", "UDP")), pods: []*api.Pod{testPod("a", hostPortOf(80, "", ""), on("n"))}},
		{name: "other addresses", give: testPod("p", hostPortOf(80, "10.0.0.1", "")), pods: []*api.Pod{testPod("a", hostPortOf(80, "10.0.0.2", ""), on("n"))}},
		{name: "a wildcard address takes them all", give: testPod("p", hostPortOf(80, "10.0.0.1", "")), pods: []*api.Pod{testPod("a", hostPortOf(80, "0.0.0.0", ""), on("n"))},
			want: []string{ReasonNodePorts}},
		{name: "on another node", give: testPod("p", hostPortOf(80, "", "")), pods: []*api.Pod{testPod("a", hostPortOf(80, "", ""), on("m"))}},
		{name: "freed when the pod finished", give: testPod("p", hostPortOf(80, "", "")),
			pods: []*api.Pod{testPod("a", hostPortOf(80, "", ""), on("n"), func(p *api.Pod) { p.Status.Phase = api.PodSucceeded })}},
		{name: "a container port alone takes nothing", give: testPod("p", hostPortOf(0, "", "")), pods: []*api.Pod{testPod("a", hostPortOf(0, "", ""), on("n"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := filterOn(NodePorts{}, tt.give, "n", []*api.Node{testNode("n"), testNode("m")}, tt.pods); !slices.Equal(got, tt.want) {
				t.Fatalf("Filter = %q, want %q", got, tt.want)
			}
		})
	}
}
