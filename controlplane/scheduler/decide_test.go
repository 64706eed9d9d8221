package scheduler

import (
	"errors"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
)

func node(name string, ready bool, runtimes ...string) *NodeInfo {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{api.LabelArch: "arm64"}}}
	st := api.ConditionFalse
	if ready {
		st = api.ConditionTrue
	}
	n.Status.SetCondition(api.NodeCondition{Type: api.NodeReady, Status: st})
	for _, r := range runtimes {
		n.Status.Runtimes = append(n.Status.Runtimes, api.NodeRuntimeHandler{Name: r})
	}
	return &NodeInfo{Node: n}
}

func TestDecide(t *testing.T) {
	wasmPod := &api.Pod{Spec: api.PodSpec{RuntimeClassName: "wasm"}}
	armWasm := &api.Pod{Spec: api.PodSpec{RuntimeClassName: "wasm", NodeSelector: map[string]string{api.LabelArch: "arm64"}}}
	amdPod := &api.Pod{Spec: api.PodSpec{NodeSelector: map[string]string{api.LabelArch: "amd64"}}}
	tainted := node("t", true, "wasm")
	tainted.Node.Spec.Taints = []api.Taint{{Key: "edge", Value: "true", Effect: "NoSchedule"}}
	busy, idle := node("busy", true, "wasm"), node("idle", true, "wasm")
	busy.Pods = 3
	tests := []struct {
		name    string
		give    *api.Pod
		nodes   []*NodeInfo
		want    string
		wantWhy string
	}{
		{name: "no nodes", give: wasmPod, wantWhy: "0/0 nodes are available: no nodes registered"},
		{name: "wasm needs the wasm runtime", give: wasmPod, nodes: []*NodeInfo{node("a", true, "containerd"), node("b", true, "wasm")}, want: "b"},
		{name: "reasons grouped per cause", give: wasmPod, nodes: []*NodeInfo{node("a", true, "containerd"), node("b", false, "wasm"), node("c", false, "wasm")},
			wantWhy: "0/3 nodes are available: 1 node(s) have no wasm runtime, 2 node(s) are not ready"},
		{name: "node selector", give: amdPod, nodes: []*NodeInfo{node("a", true, "containerd")}, wantWhy: "1 node(s) didn't match the pod's node selector"},
		{name: "selector matches", give: armWasm, nodes: []*NodeInfo{node("a", true, "wasm")}, want: "a"},
		{name: "untolerated taint", give: wasmPod, nodes: []*NodeInfo{tainted}, wantWhy: "1 node(s) had untolerated taint {edge=true:NoSchedule}"},
		{name: "spreads to the node with fewer pods", give: wasmPod, nodes: []*NodeInfo{busy, idle}, want: "idle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]*NodeInfo{}
			for _, n := range tt.nodes {
				m[n.Node.Name] = n
			}
			got, err := decide(tt.give, m, DefaultFilters(), DefaultScores())
			if tt.wantWhy != "" {
				if !errors.Is(err, ErrUnschedulable) || !strings.Contains(err.Error(), tt.wantWhy) {
					t.Fatalf("err = %v, want it to say %q", err, tt.wantWhy)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("decide = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("toleration lets the pod in", func(t *testing.T) {
		p := &api.Pod{Spec: api.PodSpec{RuntimeClassName: "wasm", Tolerations: []api.Toleration{{Key: "edge", Operator: "Exists"}}}}
		if got, err := decide(p, map[string]*NodeInfo{"t": tainted}, DefaultFilters(), DefaultScores()); err != nil || got != "t" {
			t.Fatalf("decide = %q, %v", got, err)
		}
	})
}
