package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
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
	if err == nil || !strings.HasPrefix(err.Error(), `unknown resource type "gadgets": use one of pods (po), nodes (no), `) {
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

func (e *cliEnv) labelPod(ns, name string, labels map[string]string, node string, phase api.PodPhase) {
	e.t.Helper()
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "main", Image: "nginx:1"}}}}
	api.SetDefaults(p)
	p.Status.Phase = phase
	if err := store.For[*api.Pod](e.store).Create(e.t.Context(), p); err != nil {
		e.t.Fatal(err)
	}
}

func TestGetPodsBySelectors(t *testing.T) {
	e := startCLIEnv(t)
	e.labelPod("default", "web-1", map[string]string{"app": "web", "tier": "front"}, "edge-1", api.PodRunning)
	e.labelPod("default", "web-2", map[string]string{"app": "web", "legacy": "yes"}, "edge-2", api.PodRunning)
	e.labelPod("default", "db-1", map[string]string{"app": "db"}, "edge-1", api.PodPending)
	e.labelPod("other", "web-3", map[string]string{"app": "web"}, "edge-1", api.PodRunning)

	if out := e.mustRun("get", "pods", "-l", "app=web,!legacy", "-o", "name"); out != "pod/web-1\n" {
		t.Fatalf("-l = %q", out)
	}
	if out := e.mustRun("get", "pods", "--field-selector", "spec.nodeName=edge-1,status.phase=Running", "-A", "-o", "name"); out != "pod/web-1\npod/web-3\n" {
		t.Fatalf("--field-selector -A = %q", out)
	}
	if out := e.mustRun("get", "pods", "--selector", "app in (web,db)", "--field-selector", "spec.nodeName!=edge-2", "-o", "name"); out != "pod/db-1\npod/web-1\n" {
		t.Fatalf("both = %q", out)
	}
	if out := e.mustRun("get", "pod", "db-1", "--field-selector", "status.phase=Pending", "-o", "name"); out != "pod/db-1\n" {
		t.Fatalf("name with --field-selector = %q", out)
	}
	_, _, err := e.run("get", "pods", "-l", "app=web,tier!=db!")
	if err == nil || !strings.HasPrefix(err.Error(), "--selector (-l): ") || !strings.Contains(err.Error(), `"tier!=db!"`) {
		t.Fatalf("bad -l: %v", err)
	}
	_, _, err = e.run("get", "pods", "--field-selector", "spec.image=x")
	if err == nil || !strings.HasPrefix(err.Error(), "--field-selector: ") || !strings.Contains(err.Error(), "spec.nodeName") {
		t.Fatalf("unsupported field: %v", err)
	}
	_, _, err = e.run("get", "pod", "web-1", "-l", "app=web")
	if err == nil || !strings.Contains(err.Error(), "cannot be combined") {
		t.Fatalf("name with -l: %v", err)
	}
}

func TestGetPodsReadsLargeListsInChunks(t *testing.T) {
	e := startCLIEnv(t)
	for i := range 7 {
		e.labelPod("default", fmt.Sprintf("p-%d", i), nil, "", api.PodPending)
	}
	rows := table(e.mustRun("get", "pods", "--chunk-size", "2"))
	if len(rows) != 8 || rows[1][0] != "p-0" || rows[7][0] != "p-6" {
		t.Fatalf("rows = %v", rows)
	}
}

// syncBuffer is an output a running command writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startCmd runs a long-running command (a watch) in the background; stop
// interrupts it and returns its error.
func (e *cliEnv) startCmd(args ...string) (*syncBuffer, func() error) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.t.Context())
	root := newRootCmd()
	out := &syncBuffer{}
	root.SetOut(out)
	root.SetErr(out)
	root.SetArgs(append(args, "--server", e.server))
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	stopped := false
	var err error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	e.t.Cleanup(func() { _ = stop() })
	return out, stop
}

// waitForLines polls the output until it has n lines, the last matching
// want (fields compared as a prefix).
func waitForLines(t *testing.T, out *syncBuffer, n int, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var lines []string
		if o := strings.TrimRight(out.String(), "\n"); o != "" {
			lines = strings.Split(o, "\n")
		}
		if len(lines) >= n {
			got := strings.Fields(lines[n-1])
			if len(got) < len(want) || strings.Join(got[:len(want)], " ") != strings.Join(want, " ") {
				t.Fatalf("line %d = %q, want it to start with %v; output:\n%s", n, lines[n-1], want, out.String())
			}
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line %d within 5s; output:\n%s", n, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGetPodsWatchPrintsRowsAsTheyChange(t *testing.T) {
	e := startCLIEnv(t)
	e.labelPod("default", "web-1", map[string]string{"app": "web"}, "", api.PodPending)
	e.labelPod("default", "db-1", map[string]string{"app": "db"}, "", api.PodPending)
	out, stop := e.startCmd("get", "pods", "-l", "app=web", "-w")
	waitForLines(t, out, 1, "NAME", "READY", "STATUS")
	waitForLines(t, out, 2, "web-1", "0/1", "Pending", "<none>")

	pods := store.For[*api.Pod](e.store)
	if _, err := pods.Mutate(t.Context(), "default", "web-1", func(p *api.Pod) error {
		p.Spec.NodeName, p.Status.Phase = "edge-1", api.PodRunning
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitForLines(t, out, 3, "web-1", "0/1", "Running", "edge-1")
	e.labelPod("default", "db-2", map[string]string{"app": "db"}, "", api.PodPending) // not shown
	e.labelPod("default", "web-2", map[string]string{"app": "web"}, "", api.PodPending)
	lines := waitForLines(t, out, 4, "web-2", "0/1", "Pending")
	// Later rows keep the columns of the first ones.
	if strings.Index(lines[3], "Pending") != strings.Index(lines[1], "Pending") {
		t.Fatalf("columns moved:\n%s", strings.Join(lines, "\n"))
	}
	if err := pods.Delete(t.Context(), "default", "web-2", ""); err != nil {
		t.Fatal(err)
	}
	waitForLines(t, out, 5, "web-2")
	if err := stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("watch ended with %v", err)
	}
	if n := len(strings.Split(strings.TrimRight(out.String(), "\n"), "\n")); n != 5 {
		t.Fatalf("%d lines, want 5:\n%s", n, out.String())
	}
}

func TestGetWatchWithEventsAllNamespacesAndOnePod(t *testing.T) {
	e := startCLIEnv(t)
	e.labelPod("default", "a", nil, "", api.PodPending)
	out, stop := e.startCmd("get", "pods", "-A", "-w", "--output-watch-events")
	waitForLines(t, out, 1, "EVENT", "NAMESPACE", "NAME")
	waitForLines(t, out, 2, "ADDED", "default", "a")
	e.labelPod("prod", "b", nil, "", api.PodPending)
	waitForLines(t, out, 3, "ADDED", "prod", "b")
	if err := store.For[*api.Pod](e.store).Delete(t.Context(), "default", "a", ""); err != nil {
		t.Fatal(err)
	}
	waitForLines(t, out, 4, "DELETED", "default", "a")
	_ = stop()

	one, stopOne := e.startCmd("get", "pod", "b", "-n", "prod", "-w", "-o", "name", "--output-watch-events")
	waitForLines(t, one, 1, "ADDED", "pod/b")
	e.labelPod("prod", "c", nil, "", api.PodPending) // another pod: not shown
	if _, err := store.For[*api.Pod](e.store).Mutate(t.Context(), "prod", "b", func(p *api.Pod) error {
		p.Status.Phase = api.PodRunning
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitForLines(t, one, 2, "MODIFIED", "pod/b")
	_ = stopOne()
}

func TestGetWatchOnlyPrintsOnlyChanges(t *testing.T) {
	e := startCLIEnv(t)
	e.labelPod("default", "old", nil, "", api.PodPending)
	out, stop := e.startCmd("get", "pods", "--watch-only")
	waitForLines(t, out, 1, "NAME") // printed once the watch is open
	e.labelPod("default", "new", nil, "", api.PodPending)
	lines := waitForLines(t, out, 2, "new")
	_ = stop()
	if len(lines) != 2 {
		t.Fatalf("output = %q", out.String())
	}
}
