package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// put stores an object as the controllers would (status included),
// defaulted, bypassing admission.
func (e *cliEnv) put(obj api.Object) {
	e.t.Helper()
	api.SetDefaults(obj)
	if err := e.store.CreateObject(e.t.Context(), obj); err != nil {
		e.t.Fatalf("store %T: %v", obj, err)
	}
}

// createNamespace stores a namespace, which the API wants to exist before
// anything is created in it.
func (e *cliEnv) createNamespace(name string) {
	e.t.Helper()
	e.put(&api.Namespace{ObjectMeta: api.ObjectMeta{Name: name}, Status: api.NamespaceStatus{Phase: api.NamespaceActive}})
}

func int32p(v int32) *int32 { return &v }

func podTemplate(app, image string) api.PodTemplateSpec {
	return api.PodTemplateSpec{
		ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: app, Image: image}}},
	}
}

func selectorFor(app string) *api.LabelSelector {
	return &api.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

// wantRows checks a table's rows against want, cell by cell as a prefix
// of each row (AGE and later columns may be left out).
func wantRows(t *testing.T, out string, want ...[]string) {
	t.Helper()
	rows := table(out)
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), len(want), out)
	}
	for i, w := range want {
		if len(rows[i]) < len(w) || strings.Join(rows[i][:len(w)], " ") != strings.Join(w, " ") {
			t.Errorf("row %d = %v, want it to start with %v\n%s", i, rows[i], w, out)
		}
	}
}

func TestGetWorkloadsShowsKubectlColumns(t *testing.T) {
	e := startCLIEnv(t)
	start := time.Now().Add(-150 * time.Second).UTC().Truncate(time.Second)
	done := start.Add(90 * time.Second)
	last := time.Now().Add(-30 * time.Second).UTC()
	e.put(&api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:   api.DeploymentSpec{Replicas: int32p(4), Selector: selectorFor("web"), Template: podTemplate("web", "nginx:1.27")},
		Status: api.DeploymentStatus{Replicas: 4, ReadyReplicas: 3, UpdatedReplicas: 2, AvailableReplicas: 3}})
	e.put(&api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web-abc", Namespace: "default"},
		Spec:   api.ReplicaSetSpec{Replicas: int32p(3), Selector: selectorFor("web"), Template: podTemplate("web", "nginx:1.27")},
		Status: api.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 2}})
	ds := &api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec:   api.DaemonSetSpec{Selector: selectorFor("agent"), Template: podTemplate("agent", "agent:1")},
		Status: api.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 3, NumberAvailable: 2}}
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/arch": "arm64"}
	e.put(ds)
	e.put(&api.Job{ObjectMeta: api.ObjectMeta{Name: "migrate", Namespace: "default"},
		Spec:   api.JobSpec{Completions: int32p(3), Template: podTemplate("migrate", "migrate:1")},
		Status: api.JobStatus{Succeeded: 3, StartTime: &start, CompletionTime: &done}})
	e.put(&api.CronJob{ObjectMeta: api.ObjectMeta{Name: "nightly", Namespace: "default"},
		Spec: api.CronJobSpec{Schedule: "0 3 * * *",
			JobTemplate: api.JobTemplateSpec{Spec: api.JobSpec{Template: podTemplate("nightly", "backup:1")}}},
		Status: api.CronJobStatus{LastScheduleTime: &last, Active: []api.ObjectReference{{Name: "nightly-1"}}}})

	wantRows(t, e.mustRun("get", "deploy"),
		[]string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"},
		[]string{"web", "3/4", "2", "3"})
	wantRows(t, e.mustRun("get", "deployments", "-o", "wide"),
		[]string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"},
		[]string{"web", "3/4", "2", "3"})
	if rows := table(e.mustRun("get", "deployments", "-o", "wide")); strings.Join(rows[1][5:], " ") != "web nginx:1.27 app=web" {
		t.Errorf("wide deployment row = %v", rows[1])
	}
	wantRows(t, e.mustRun("get", "rs"),
		[]string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"},
		[]string{"web-abc", "3", "3", "2"})
	wantRows(t, e.mustRun("get", "ds"),
		[]string{"NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE", "SELECTOR", "AGE"},
		[]string{"agent", "3", "3", "2", "3", "2", "kubernetes.io/arch=arm64"})
	wantRows(t, e.mustRun("get", "jobs"),
		[]string{"NAME", "COMPLETIONS", "DURATION", "AGE"},
		[]string{"migrate", "3/3", "90s"})
	wantRows(t, e.mustRun("get", "cj"),
		[]string{"NAME", "SCHEDULE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"},
		[]string{"nightly", "0", "3", "*", "*", "*", "false", "1", "30s"})
	if out := e.mustRun("get", "deploy", "-o", "name"); out != "deployment.apps/web\n" {
		t.Errorf("-o name = %q", out)
	}
	if out := e.mustRun("get", "cronjobs", "-o", "name"); out != "cronjob.batch/nightly\n" {
		t.Errorf("-o name = %q", out)
	}
}

func TestGetConfigKindsAndNamespaces(t *testing.T) {
	e := startCLIEnv(t)
	e.createNamespace("shop")
	e.put(&api.Namespace{ObjectMeta: api.ObjectMeta{Name: "old"}, Status: api.NamespaceStatus{Phase: api.NamespaceTerminating}})
	e.put(&api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "settings", Namespace: "shop"}, Data: map[string]string{"a": "1", "b": "2"}})
	e.put(&api.Secret{ObjectMeta: api.ObjectMeta{Name: "creds", Namespace: "shop"}, Data: map[string]api.Bytes{"password": []byte("x")}})
	e.put(&api.ResourceQuota{ObjectMeta: api.ObjectMeta{Name: "limits", Namespace: "shop"},
		Spec: api.ResourceQuotaSpec{Hard: api.ResourceList{"pods": "10", "requests.cpu": "2", "limits.memory": "4Gi"}},
		Status: api.ResourceQuotaStatus{Hard: api.ResourceList{"pods": "10", "requests.cpu": "2", "limits.memory": "4Gi"},
			Used: api.ResourceList{"pods": "3", "requests.cpu": "500m", "limits.memory": "1Gi"}}})

	wantRows(t, e.mustRun("get", "ns", "old"),
		[]string{"NAME", "STATUS", "AGE"},
		[]string{"old", "Terminating"})
	wantRows(t, e.mustRun("get", "cm", "-n", "shop"),
		[]string{"NAME", "DATA", "AGE"},
		[]string{"settings", "2"})
	wantRows(t, e.mustRun("get", "secrets", "-n", "shop"),
		[]string{"NAME", "TYPE", "DATA", "AGE"},
		[]string{"creds", "Opaque", "1"})
	out := e.mustRun("get", "quota", "-n", "shop")
	if !strings.Contains(out, "pods: 3/10, requests.cpu: 500m/2") || !strings.Contains(out, "limits.memory: 1Gi/4Gi") {
		t.Errorf("quota table:\n%s", out)
	}
	// -A adds NAMESPACE to namespaced kinds only.
	wantRows(t, e.mustRun("get", "configmaps", "-A"),
		[]string{"NAMESPACE", "NAME", "DATA", "AGE"},
		[]string{"shop", "settings", "2"})
	if rows := table(e.mustRun("get", "namespaces", "-A")); rows[0][0] != "NAME" {
		t.Errorf("namespaces -A grew a NAMESPACE column: %v", rows[0])
	}
	var cm api.ConfigMap
	if err := yaml.Unmarshal([]byte(e.mustRun("get", "configmap/settings", "-n", "shop", "-o", "yaml")), &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Kind != "ConfigMap" || cm.APIVersion != "v1" || cm.Data["b"] != "2" {
		t.Errorf("configmap as yaml = %+v", cm)
	}
}

func TestGetWatchFollowsAnyKind(t *testing.T) {
	e := startCLIEnv(t)
	e.put(&api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.DeploymentSpec{Replicas: int32p(2), Selector: selectorFor("web"), Template: podTemplate("web", "nginx:1")}})
	out, stop := e.startCmd("get", "deployments", "-w")
	waitForLines(t, out, 1, "NAME", "READY", "UP-TO-DATE")
	waitForLines(t, out, 2, "web", "0/2", "0", "0")
	if _, err := store.For[*api.Deployment](e.store).Mutate(t.Context(), "default", "web", func(d *api.Deployment) error {
		d.Status.ReadyReplicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas = 2, 2, 2
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitForLines(t, out, 3, "web", "2/2", "2", "2")
	if err := stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("watch ended with %v", err)
	}
}

func TestGetNamesKindsAndObjectsInEveryForm(t *testing.T) {
	e := startCLIEnv(t)
	e.put(&api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.DeploymentSpec{Replicas: int32p(1), Selector: selectorFor("web"), Template: podTemplate("web", "nginx:1")}})
	for _, args := range [][]string{{"deploy", "web"}, {"deployment/web"}, {"Deployment", "web"}, {"deployments", "web"}, {"deployment.apps/web"}, {"deployments.apps", "web"}} {
		if out := e.mustRun(append([]string{"get"}, append(args, "-o", "name")...)...); out != "deployment.apps/web\n" {
			t.Errorf("get %v = %q", args, out)
		}
	}
	_, _, err := e.run("get", "gadgets")
	if err == nil || !strings.HasPrefix(err.Error(), `unknown resource type "gadgets": use one of pods (po), nodes (no), `) || !strings.Contains(err.Error(), "deployments (deploy)") {
		t.Fatalf("unknown kind: %v", err)
	}
	_, _, err = e.run("get", "deploy/web", "rs/x")
	if err == nil || !strings.Contains(err.Error(), "one object") {
		t.Fatalf("two objects: %v", err)
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		give time.Duration
		want string
	}{
		{0, "0s"}, {90 * time.Second, "90s"}, {150 * time.Second, "2m30s"}, {5 * time.Minute, "5m"},
		{45 * time.Minute, "45m"}, {5*time.Hour + 10*time.Minute, "5h10m"}, {20 * time.Hour, "20h"},
		{3*24*time.Hour + 4*time.Hour, "3d4h"}, {30 * 24 * time.Hour, "30d"}, {3 * 365 * 24 * time.Hour, "3y"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.give); got != tt.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tt.give, got, tt.want)
		}
	}
}

func TestFormatSelector(t *testing.T) {
	sel := &api.LabelSelector{
		MatchLabels: map[string]string{"tier": "front", "app": "web"},
		MatchExpressions: []api.LabelSelectorRequirement{
			{Key: "env", Operator: api.LabelSelectorOpIn, Values: []string{"a", "b"}},
			{Key: "legacy", Operator: api.LabelSelectorOpDoesNotExist},
			{Key: "canary", Operator: api.LabelSelectorOpExists},
		},
	}
	if got := formatSelector(sel); got != "app=web,tier=front,env in (a,b),!legacy,canary" {
		t.Fatalf("formatSelector = %q", got)
	}
	if _, err := api.ParseLabelSelector(formatSelector(sel)); err != nil {
		t.Fatalf("-l cannot read what formatSelector wrote: %v", err)
	}
}
