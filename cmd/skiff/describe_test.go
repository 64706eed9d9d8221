package main

import (
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/controllers"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// wantLines checks that each want appears in out, as the fields of one
// line (so that alignment does not matter).
func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	lines := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	for _, w := range want {
		if !lines[w] {
			t.Errorf("no line %q in:\n%s", w, out)
		}
	}
}

func describedPod() *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec: api.PodSpec{NodeName: "edge-1", RuntimeClassName: api.RuntimeClassWasm, Containers: []api.Container{{
			Name: "web", Image: "skiff://artifacts/sha256:ab", Args: []string{"--port", "8080"},
			Env:       []api.EnvVar{{Name: "MODE", Value: "fast"}, {Name: "TOKEN", ValueFrom: &api.EnvVarSource{SecretKeyRef: &api.SecretKeySelector{Name: "creds", Key: "token"}}}},
			Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": "250m", "memory": "64Mi"}, Limits: api.ResourceList{"memory": "128Mi"}},
		}}},
		Status: api.PodStatus{Phase: api.PodRunning, HostIP: "10.0.0.7", ContainerStatuses: []api.ContainerStatus{{
			Name: "web", Ready: true, RestartCount: 2, State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: time.Now()}},
			LastState: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}},
		}}},
	}
	p.Status.SetCondition(api.PodCondition{Type: api.PodReady, Status: api.ConditionTrue})
	return p
}

func TestDescribePodShowsItsFieldsAndRecentEvents(t *testing.T) {
	e := startCLIEnv(t)
	f := e.startEvents()
	p := describedPod()
	e.put(p)
	for i := range describeEvents + 5 {
		f.record(p, "Restarted", "container web restarted (restart "+strings.Repeat("i", i+1)+")")
	}
	f.record(p, "Running", "pod is Running")
	f.record(podNamed("default", "web-2"), "Created", "another pod's event")

	out := e.mustRun("describe", "pod", "web-1")
	wantLines(t, out,
		"Name: web-1",
		"Namespace: default",
		"Labels: app=web",
		"tier=front",
		"Node: edge-1",
		"Runtime: wasm",
		"Status: Running",
		"IP: 10.0.0.7",
		"Containers:",
		"web:",
		"Image: skiff://artifacts/sha256:ab",
		"Args: --port 8080",
		"State: Running",
		"Last State: Terminated",
		"Reason: OOMKilled",
		"Exit Code: 137",
		"Ready: true",
		"Restart Count: 2",
		"cpu: 250m",
		"memory: 128Mi",
		"Environment: MODE=fast",
		"TOKEN from secret creds key token",
		"Ready True",
		"Events:",
		"Type Reason Age From Message",
		"Normal Running 0s skiff/controlplane pod is Running",
	)
	// The newest twenty of the pod's events, and no other pod's.
	if got := strings.Count(out, "Restarted"); got != describeEvents-1 {
		t.Errorf("%d Restarted events shown, want %d (the newest %d with Running)", got, describeEvents-1, describeEvents)
	}
	if strings.Contains(out, "another pod's event") || strings.Contains(out, "(restart i)") {
		t.Errorf("describe showed events it should not:\n%s", out)
	}
	// kind/name works too, and -n.
	if out2 := e.mustRun("describe", "pod/web-1", "-n", "default"); !strings.Contains(out2, "Name:") {
		t.Errorf("describe pod/web-1:\n%s", out2)
	}
}

func TestDescribeWithoutEventsSaysSoAndShowsTheObject(t *testing.T) {
	e := startCLIEnvWith(t, false) // a server that cannot read events
	e.put(describedPod())
	e.put(podNamed("default", "web-2"))
	out, errOut, err := e.run("describe", "pods")
	if err != nil {
		t.Fatalf("describe failed without events: %v", err)
	}
	wantLines(t, out, "Name: web-1", "Events: <unavailable>", "Name: web-2", "Events: <unavailable>")
	if lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "warning: events not shown: ") || !strings.Contains(lines[0], "cannot read events") {
		t.Fatalf("stderr = %q, want one warning line", errOut)
	}
	// --events 0 does not look for events at all.
	out, errOut, err = e.run("describe", "pod", "web-1", "--events", "0")
	if err != nil || errOut != "" || strings.Contains(out, "Events:") {
		t.Fatalf("--events 0: %q %q %v", out, errOut, err)
	}
}

func TestDescribeDeploymentShowsItsReplicaSets(t *testing.T) {
	e := startCLIEnv(t)
	e.startEvents()
	d := webDeployment("web")
	d.Spec.Replicas = int32p(3)
	e.put(d)
	d, _ = store.For[*api.Deployment](e.store).Get(t.Context(), "default", "web")
	d.Status = api.DeploymentStatus{Replicas: 3, UpdatedReplicas: 2, AvailableReplicas: 2, UnavailableReplicas: 1,
		Conditions: []api.Condition{{Type: api.DeploymentProgressing, Status: api.ConditionTrue, Reason: "ReplicaSetUpdated"}}}
	if err := store.For[*api.Deployment](e.store).Update(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	hash := controllers.TemplateHash(&d.Spec.Template)
	newTmpl := d.Spec.Template
	newTmpl.Labels = map[string]string{"app": "web", controllers.PodTemplateHashLabel: hash}
	oldTmpl := podTemplate("web", "nginx:0.9")
	oldTmpl.Labels[controllers.PodTemplateHashLabel] = "0ld"
	for _, rs := range []*api.ReplicaSet{
		{ObjectMeta: api.ObjectMeta{Name: "web-" + hash, Namespace: "default", Labels: newTmpl.Labels,
			Annotations: map[string]string{controllers.RevisionAnnotation: "2"}, OwnerReferences: []api.OwnerReference{controllers.ControllerRef(d)}},
			Spec: api.ReplicaSetSpec{Replicas: int32p(2), Selector: selectorFor("web"), Template: newTmpl}, Status: api.ReplicaSetStatus{Replicas: 2}},
		{ObjectMeta: api.ObjectMeta{Name: "web-0ld", Namespace: "default", Labels: oldTmpl.Labels,
			Annotations: map[string]string{controllers.RevisionAnnotation: "1"}, OwnerReferences: []api.OwnerReference{controllers.ControllerRef(d)}},
			Spec: api.ReplicaSetSpec{Replicas: int32p(1), Selector: selectorFor("web"), Template: oldTmpl}, Status: api.ReplicaSetStatus{Replicas: 1}},
	} {
		e.put(rs)
	}
	out := e.mustRun("describe", "deploy", "web")
	wantLines(t, out,
		"Name: web",
		"Selector: app=web",
		"Replicas: 3 desired | 2 updated | 3 total | 2 available | 1 unavailable",
		"StrategyType: RollingUpdate",
		"Pod Template:",
		"Image: nginx:1",
		"Progressing True ReplicaSetUpdated",
		"OldReplicaSets: web-0ld (1/1 replicas created, revision 1)",
		"NewReplicaSet: web-"+hash+" (2/2 replicas created, revision 2)",
		"Events: <none>",
	)
	out = e.mustRun("describe", "rs", "web-0ld")
	wantLines(t, out, "Controlled By: Deployment/web", "Revision: 1", "Replicas: 1 current / 1 desired", "Pods Status: 0 Running / 0 Waiting / 0 Succeeded / 0 Failed")
}

func TestDescribeNodeShowsItsPodsAndWhatTheyRequest(t *testing.T) {
	e := startCLIEnv(t)
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: "edge-1", Labels: map[string]string{"kubernetes.io/arch": "arm64"}},
		Spec: api.NodeSpec{Taints: []api.Taint{{Key: "dedicated", Value: "edge", Effect: "NoSchedule"}}}}
	n.Status.Allocatable = api.ResourceList{"cpu": "2", "memory": "1Gi", "pods": "10"}
	n.Status.NodeInfo = api.NodeSystemInfo{Architecture: "arm64", OperatingSystem: "linux"}
	n.Status.Runtimes = []api.NodeRuntimeHandler{{Name: "wasm"}}
	n.Status.SetCondition(api.NodeCondition{Type: api.NodeReady, Status: api.ConditionTrue, Reason: "AgentReady"})
	e.put(n)
	e.put(describedPod())
	done := describedPod()
	done.Name, done.Status.Phase = "done", api.PodSucceeded
	e.put(done)

	out := e.mustRun("describe", "node", "edge-1", "--events", "0")
	wantLines(t, out,
		"Name: edge-1",
		"Status: Ready",
		"Taints: dedicated=edge:NoSchedule",
		"Architecture: arm64",
		"Runtimes: wasm",
		"Non-terminated Pods: (1 in total)",
		"cpu 250m (12%) 0m (0%)",
		"memory 64Mi (6%) 128Mi (12%)",
	)
	if !strings.Contains(out, "web-1") || strings.Contains(out, "done") {
		t.Errorf("pods on the node:\n%s", out)
	}
}

func TestDescribeEveryOtherKind(t *testing.T) {
	e := startCLIEnv(t)
	e.createNamespace("shop")
	start := time.Now().Add(-time.Minute).UTC()
	for _, obj := range []api.Object{
		&api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "settings", Namespace: "shop"}, Data: map[string]string{"color": "blue"}},
		&api.Secret{ObjectMeta: api.ObjectMeta{Name: "creds", Namespace: "shop"}, Data: map[string]api.Bytes{"token": []byte("s3cret")}},
		&api.ResourceQuota{ObjectMeta: api.ObjectMeta{Name: "limits", Namespace: "shop"}, Spec: api.ResourceQuotaSpec{Hard: api.ResourceList{"pods": "10"}},
			Status: api.ResourceQuotaStatus{Used: api.ResourceList{"pods": "4"}}},
		&api.Job{ObjectMeta: api.ObjectMeta{Name: "migrate", Namespace: "shop"}, Spec: api.JobSpec{Completions: int32p(2), Template: podTemplate("migrate", "migrate:1")},
			Status: api.JobStatus{Active: 1, Succeeded: 1, StartTime: &start}},
		&api.CronJob{ObjectMeta: api.ObjectMeta{Name: "nightly", Namespace: "shop"}, Spec: api.CronJobSpec{Schedule: "0 3 * * *",
			JobTemplate: api.JobTemplateSpec{Spec: api.JobSpec{Template: podTemplate("nightly", "backup:1")}}}},
		&api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: "agent", Namespace: "shop"}, Spec: api.DaemonSetSpec{Selector: selectorFor("agent"), Template: podTemplate("agent", "agent:1")},
			Status: api.DaemonSetStatus{DesiredNumberScheduled: 3, NumberReady: 2}},
	} {
		e.put(obj)
	}
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"ns", "shop"}, []string{"Name: shop", "Status: Active"}},
		{[]string{"cm", "settings"}, []string{"Namespace: shop", "color:", "blue"}},
		{[]string{"secret", "creds"}, []string{"Type: Opaque", "token: 6 bytes"}},
		{[]string{"quota", "limits"}, []string{"Resource Used Hard", "pods 4 10"}},
		{[]string{"job", "migrate"}, []string{"Completions: 2", "Pods Statuses: 1 Active / 1 Succeeded / 0 Failed", "Duration: 60s", "Image: migrate:1"}},
		{[]string{"cj", "nightly"}, []string{"Schedule: 0 3 * * *", "Concurrency Policy: Allow", "Suspend: false", "Last Schedule Time: <unset>", "Image: backup:1"}},
		{[]string{"ds", "agent"}, []string{"Desired Number of Nodes Scheduled: 3", "Pods Ready: 2", "Update Strategy: RollingUpdate"}},
	} {
		out := e.mustRun(append(append([]string{"describe"}, tt.args...), "-n", "shop", "--events", "0")...)
		wantLines(t, out, tt.want...)
		if strings.Contains(out, "s3cret") {
			t.Errorf("describe printed a secret's value:\n%s", out)
		}
	}
	// Every configmap of the namespace, separated by a blank line.
	e.put(&api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "more", Namespace: "shop"}})
	out := e.mustRun("describe", "cm", "-n", "shop", "--events", "0")
	if strings.Count(out, "Name:") != 2 {
		t.Errorf("describe cm listed:\n%s", out)
	}
	_, _, err := e.run("describe", "cm", "missing", "-n", "shop", "--events", "0")
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing object: %v", err)
	}
}
