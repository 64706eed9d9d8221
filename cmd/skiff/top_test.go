package main

import (
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
)

// requestingPod is a pod bound to node with one container's requests and
// limits ("" leaves one out).
func requestingPod(ns, name, node, cpuReq, memReq, cpuLim, memLim string) *api.Pod {
	r := api.ResourceRequirements{Requests: api.ResourceList{}, Limits: api.ResourceList{}}
	for q, set := range map[*api.ResourceList]map[api.ResourceName]string{
		&r.Requests: {api.ResourceCPU: cpuReq, api.ResourceMemory: memReq},
		&r.Limits:   {api.ResourceCPU: cpuLim, api.ResourceMemory: memLim},
	} {
		for n, v := range set {
			if v != "" {
				(*q)[n] = api.Quantity(v)
			}
		}
	}
	return &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns},
		Spec:   api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "main", Image: "nginx:1", Resources: r}}},
		Status: api.PodStatus{Phase: api.PodRunning}}
}

func topNode(name, cpu, mem string) *api.Node {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name}}
	if cpu != "" {
		n.Status.Allocatable = api.ResourceList{api.ResourceCPU: api.Quantity(cpu), api.ResourceMemory: api.Quantity(mem)}
	}
	return n
}

func TestTopNodesSumsRequestsAgainstAllocatable(t *testing.T) {
	e := startCLIEnv(t)
	e.put(topNode("edge-1", "2", "1Gi"))
	e.put(topNode("edge-2", "4", "2Gi"))
	e.put(topNode("bare", "", ""))
	e.put(requestingPod("default", "a", "edge-1", "500m", "256Mi", "1", ""))
	e.put(requestingPod("shop", "b", "edge-1", "", "", "250m", "128Mi")) // limits count as requests
	e.put(requestingPod("default", "c", "edge-2", "100m", "", "", ""))
	ended := requestingPod("default", "ended", "edge-2", "3", "1Gi", "", "")
	ended.Status.Phase = api.PodSucceeded
	e.put(ended)
	e.put(requestingPod("default", "unbound", "", "3", "1Gi", "", ""))

	wantRows(t, e.mustRun("top", "nodes"),
		[]string{"NAME", "CPU(requests)", "CPU(allocatable)", "CPU%", "MEMORY(requests)", "MEMORY(allocatable)", "MEMORY%", "PODS"},
		[]string{"bare", "0m", "<unknown>", "<unknown>", "0Mi", "<unknown>", "<unknown>", "0"},
		[]string{"edge-1", "750m", "2000m", "37%", "384Mi", "1024Mi", "37%", "2"},
		[]string{"edge-2", "100m", "4000m", "2%", "0Mi", "2048Mi", "0%", "1"})
	rows := table(e.mustRun("top", "nodes", "--sort-by", "cpu"))
	if rows[1][0] != "edge-1" || rows[2][0] != "edge-2" || rows[3][0] != "bare" {
		t.Errorf("--sort-by cpu: %v", rows)
	}
	wantRows(t, e.mustRun("top", "node", "edge-2"),
		[]string{"NAME", "CPU(requests)", "CPU(allocatable)", "CPU%", "MEMORY(requests)", "MEMORY(allocatable)", "MEMORY%", "PODS"},
		[]string{"edge-2", "100m"})
}

func TestTopPodsShowsRequestsAndLimits(t *testing.T) {
	e := startCLIEnv(t)
	e.put(requestingPod("default", "a", "edge-1", "500m", "256Mi", "1", ""))
	e.put(requestingPod("default", "b", "", "", "", "", ""))
	e.put(requestingPod("shop", "c", "edge-2", "2", "1Gi", "", "2Gi"))

	wantRows(t, e.mustRun("top", "pods"),
		[]string{"NAME", "CPU(requests)", "CPU(limits)", "MEMORY(requests)", "MEMORY(limits)", "NODE"},
		[]string{"a", "500m", "1000m", "256Mi", "<none>", "edge-1"},
		[]string{"b", "0m", "<none>", "0Mi", "<none>", "<none>"})
	wantRows(t, e.mustRun("top", "po", "-A", "--sort-by", "memory"),
		[]string{"NAMESPACE", "NAME", "CPU(requests)", "CPU(limits)", "MEMORY(requests)", "MEMORY(limits)", "NODE"},
		[]string{"shop", "c", "2000m", "<none>", "1024Mi", "2048Mi", "edge-2"},
		[]string{"default", "a"},
		[]string{"default", "b"})
	wantRows(t, e.mustRun("top", "pod", "c", "-n", "shop"),
		[]string{"NAME", "CPU(requests)", "CPU(limits)", "MEMORY(requests)", "MEMORY(limits)", "NODE"},
		[]string{"c", "2000m"})
	if _, _, err := e.run("top", "pods", "--sort-by", "disk"); err == nil || !strings.Contains(err.Error(), "--sort-by") {
		t.Errorf("bad --sort-by: %v", err)
	}
	if _, _, err := e.run("top", "pod", "gone"); err == nil || !strings.Contains(err.Error(), `pod "gone" not found`) {
		t.Errorf("missing pod: %v", err)
	}
}

func TestTopHelpSaysRequestedNotMeasured(t *testing.T) {
	for _, args := range [][]string{{"top", "--help"}, {"top", "nodes", "--help"}, {"top", "pods", "--help"}} {
		out, _, err := runCLI(t, "", args...)
		if err != nil || !strings.Contains(out, "requested, not measured") {
			t.Errorf("skiff %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestFormatMemory(t *testing.T) {
	for give, want := range map[int64]string{0: "0Mi", 1: "1Ki", 1023 << 10: "1023Ki", 1 << 20: "1Mi", 1<<20 + 1: "2Mi", 3 << 30: "3072Mi"} {
		if got := formatMemory(give); got != want {
			t.Errorf("formatMemory(%d) = %q, want %q", give, got, want)
		}
	}
}

func TestNewCommandsWithoutServerSayHowToStartOne(t *testing.T) {
	isolateClientConfig(t)
	server := closedServer(t)
	_, _, want := runCLI(t, "", "get", "pods", "--server", server)
	if want == nil || !strings.Contains(want.Error(), server) {
		t.Fatalf("get pods without a server: %v", want)
	}
	for _, args := range [][]string{
		{"get", "deployments"},
		{"describe", "deployment", "web"},
		{"delete", "deployment", "web", "--cascade=orphan"},
		{"scale", "deployment/web", "--replicas", "2"},
		{"rollout", "status", "deployment/web"},
		{"rollout", "history", "deployment/web"},
		{"rollout", "undo", "deployment/web"},
		{"rollout", "pause", "deployment/web"},
		{"top", "nodes"},
		{"top", "pods"},
	} {
		_, _, err := runCLI(t, "", append(args, "--server", server)...)
		if err == nil || err.Error() != want.Error() {
			t.Errorf("skiff %s: error\n %v\nwant\n %v", strings.Join(args, " "), err, want)
		}
	}
}

func TestGroupCommandsRefuseUnknownSubcommands(t *testing.T) {
	_, _, err := runCLI(t, "", "top", "disks")
	if err == nil || err.Error() != `unknown command "disks" for "skiff top": use one of nodes, pods` {
		t.Errorf("top disks: %v", err)
	}
	_, _, err = runCLI(t, "", "rollout", "restart", "deployment/web")
	if err == nil || err.Error() != `unknown command "restart" for "skiff rollout": use one of history, pause, resume, status, undo` {
		t.Errorf("rollout restart: %v", err)
	}
	if out, _, err := runCLI(t, "", "top"); err != nil || !strings.Contains(out, "Available Commands") {
		t.Errorf("top alone: %v\n%s", err, out)
	}
}
