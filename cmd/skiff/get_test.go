package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// putPod stores a pod with a status, as the scheduler and agents would.
func (e *cliEnv) putPod(ns, name string, wasm bool, node string, status api.PodStatus) {
	e.t.Helper()
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns},
		Spec: api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "main", Image: "nginx:1"}}}}
	if wasm {
		p.Spec.RuntimeClassName = api.RuntimeClassWasm
	}
	api.SetDefaults(p)
	p.Status = status
	if err := store.For[*api.Pod](e.store).Create(e.t.Context(), p); err != nil {
		e.t.Fatal(err)
	}
}

// table splits command output into rows of whitespace-separated cells.
func table(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

func TestGetPodsTable(t *testing.T) {
	e := startCLIEnv(t)
	e.putPod("default", "runner", true, "edge-1", api.PodStatus{Phase: api.PodRunning, ContainerStatuses: []api.ContainerStatus{
		{Name: "main", Ready: true, State: api.ContainerState{Running: &api.ContainerStateRunning{}}},
	}})
	e.putPod("default", "crasher", false, "edge-2", api.PodStatus{Phase: api.PodRunning, ContainerStatuses: []api.ContainerStatus{
		{Name: "main", RestartCount: 4, State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}},
	}})
	e.putPod("default", "waiting", false, "", api.PodStatus{})
	e.putPod("other", "elsewhere", false, "", api.PodStatus{})

	rows := table(e.mustRun("get", "pods"))
	want := [][]string{
		{"NAME", "READY", "STATUS", "NODE", "RUNTIME", "AGE"},
		{"crasher", "0/1", "CrashLoopBackOff", "edge-2", "container"},
		{"runner", "1/1", "Running", "edge-1", "wasm"},
		{"waiting", "0/1", "Pending", "<none>", "container"},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows = %v", rows)
	}
	for i, w := range want {
		if len(rows[i]) != 6 || strings.Join(rows[i][:len(w)], " ") != strings.Join(w, " ") {
			t.Errorf("row %d = %v, want %v …", i, rows[i], w)
		}
		if i > 0 && !strings.HasSuffix(rows[i][5], "s") {
			t.Errorf("row %d AGE = %q, want seconds", i, rows[i][5])
		}
	}

	all := table(e.mustRun("get", "po", "-A"))
	if all[0][0] != "NAMESPACE" || len(all) != 5 || all[1][0] != "default" || all[4][0] != "other" {
		t.Fatalf("-A rows = %v", all)
	}
	wide := table(e.mustRun("get", "pods", "-o", "wide"))
	if strings.Join(wide[0][6:], " ") != "RESTARTS IP IMAGES" || wide[1][6] != "4" {
		t.Fatalf("wide rows = %v", wide)
	}
	if out := e.mustRun("get", "pods", "-o", "name"); out != "pod/crasher\npod/runner\npod/waiting\n" {
		t.Fatalf("-o name = %q", out)
	}
}

func TestGetOnePodAsYAMLAndJSON(t *testing.T) {
	e := startCLIEnv(t)
	e.putPod("default", "one", true, "edge-1", api.PodStatus{Phase: api.PodRunning})
	var p api.Pod
	if err := yaml.Unmarshal([]byte(e.mustRun("get", "pod", "one", "-o", "yaml")), &p); err != nil {
		t.Fatal(err)
	}
	if p.Name != "one" || p.Kind != "Pod" || p.Status.Phase != api.PodRunning || p.ResourceVersion == "" {
		t.Fatalf("yaml pod = %+v", p)
	}
	var list struct {
		Kind  string    `json:"kind"`
		Items []api.Pod `json:"items"`
	}
	if err := json.Unmarshal([]byte(e.mustRun("get", "pods", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "List" || len(list.Items) != 1 || list.Items[0].Name != "one" {
		t.Fatalf("json list = %+v", list)
	}
}

func TestGetNodesTable(t *testing.T) {
	e := startCLIEnv(t)
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: "edge-1"}}
	n.Status.NodeInfo = api.NodeSystemInfo{Architecture: "arm64", OperatingSystem: "linux", AgentVersion: "v0.1.0"}
	n.Status.Runtimes = []api.NodeRuntimeHandler{{Name: "wasm"}, {Name: "containerd"}}
	n.Status.SetCondition(api.NodeCondition{Type: api.NodeReady, Status: api.ConditionTrue})
	if err := store.For[*api.Node](e.store).Create(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	down := &api.Node{ObjectMeta: api.ObjectMeta{Name: "edge-2"}, Spec: api.NodeSpec{Unschedulable: true}}
	down.Status.SetCondition(api.NodeCondition{Type: api.NodeReady, Status: api.ConditionUnknown})
	if err := store.For[*api.Node](e.store).Create(t.Context(), down); err != nil {
		t.Fatal(err)
	}
	rows := table(e.mustRun("get", "nodes"))
	want := [][]string{
		{"NAME", "STATUS", "ARCH", "OS", "RUNTIMES", "AGE"},
		{"edge-1", "Ready", "arm64", "linux", "wasm,containerd"},
		{"edge-2", "NotReady,SchedulingDisabled", "<none>", "<none>", "<none>"},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows = %v", rows)
	}
	for i, w := range want {
		if strings.Join(rows[i][:len(w)], " ") != strings.Join(w, " ") {
			t.Errorf("row %d = %v, want %v …", i, rows[i], w)
		}
	}
	one := table(e.mustRun("get", "no", "edge-1", "-o", "wide"))
	if len(one) != 2 || one[1][6] != "v0.1.0" {
		t.Fatalf("wide node = %v", one)
	}
}

func TestGetErrors(t *testing.T) {
	e := startCLIEnv(t)
	_, _, err := e.run("get", "gadgets")
	if err == nil || err.Error() != `unknown resource type "gadgets": use one of pods (po), nodes (no)` {
		t.Fatalf("unknown kind: %v", err)
	}
	_, _, err = e.run("get", "pod", "missing")
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing pod: %v", err)
	}
	_, _, err = e.run("get", "pods", "-o", "table")
	if err == nil || !strings.Contains(err.Error(), "--output") {
		t.Fatalf("bad output: %v", err)
	}
	_, _, err = e.run("get", "pod", "x", "-A")
	if err == nil || !strings.Contains(err.Error(), "across all namespaces") {
		t.Fatalf("name with -A: %v", err)
	}
	out, errOut, err := e.run("get", "pods", "-n", "empty")
	if err != nil || out != "" || errOut != "No resources found in empty namespace.\n" {
		t.Fatalf("empty namespace: %q %q %v", out, errOut, err)
	}
}

func TestPodStatusColumn(t *testing.T) {
	now := time.Now()
	term := func(code, signal int32, reason string) api.ContainerStatus {
		return api.ContainerStatus{State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: code, Signal: signal, Reason: reason}}}
	}
	tests := []struct {
		name string
		give api.Pod
		want string
	}{
		{name: "no status yet", want: "Pending"},
		{name: "phase", give: api.Pod{Status: api.PodStatus{Phase: api.PodRunning}}, want: "Running"},
		{name: "pod reason", give: api.Pod{Status: api.PodStatus{Phase: api.PodFailed, Reason: "DeadlineExceeded"}}, want: "DeadlineExceeded"},
		{name: "waiting reason", give: api.Pod{Status: api.PodStatus{Phase: api.PodPending, ContainerStatuses: []api.ContainerStatus{
			{State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "ErrImagePull"}}}}}}, want: "ErrImagePull"},
		{name: "exit 0", give: api.Pod{Status: api.PodStatus{Phase: api.PodSucceeded, ContainerStatuses: []api.ContainerStatus{term(0, 0, "")}}}, want: "Completed"},
		{name: "exit 1", give: api.Pod{Status: api.PodStatus{Phase: api.PodFailed, ContainerStatuses: []api.ContainerStatus{term(1, 0, "")}}}, want: "Error"},
		{name: "signal", give: api.Pod{Status: api.PodStatus{Phase: api.PodFailed, ContainerStatuses: []api.ContainerStatus{term(137, 9, "")}}}, want: "Signal:9"},
		{name: "terminated reason", give: api.Pod{Status: api.PodStatus{Phase: api.PodFailed, ContainerStatuses: []api.ContainerStatus{term(137, 0, "OOMKilled")}}}, want: "OOMKilled"},
		{name: "one done one running", give: api.Pod{Status: api.PodStatus{Phase: api.PodRunning, ContainerStatuses: []api.ContainerStatus{
			term(0, 0, "Completed"), {State: api.ContainerState{Running: &api.ContainerStateRunning{}}}}}}, want: "Running"},
		{name: "terminating", give: api.Pod{ObjectMeta: api.ObjectMeta{DeletionTimestamp: &now}, Status: api.PodStatus{Phase: api.PodRunning}}, want: "Terminating"},
	}
	for _, tt := range tests {
		if got := podStatus(&tt.give); got != tt.want {
			t.Errorf("%s: podStatus = %q, want %q", tt.name, got, tt.want)
		}
	}
}
