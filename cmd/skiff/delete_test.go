package main

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/admission"
	"github.com/skiff-sh/skiff/controlplane/store"
)

func TestDeletePods(t *testing.T) {
	e := startCLIEnv(t)
	e.putPod("default", "idle", false, "", api.PodStatus{})
	e.putPod("default", "busy", false, "edge-1", api.PodStatus{Phase: api.PodRunning})
	e.putPod("edge", "far", false, "", api.PodStatus{})

	if out := e.mustRun("delete", "pod", "idle"); out != "pod \"idle\" deleted\n" {
		t.Fatalf("delete printed %q", out)
	}
	if e.pod("default", "idle") != nil {
		t.Fatal("unbound pod still stored")
	}

	if out := e.mustRun("delete", "po", "busy", "--grace-period", "9"); out != "pod \"busy\" deleted\n" {
		t.Fatalf("delete printed %q", out)
	}
	p := e.pod("default", "busy")
	if p == nil || p.DeletionTimestamp == nil || *p.DeletionGracePeriodSeconds != 9 {
		t.Fatalf("running pod should be terminating with grace 9: %+v", p)
	}
	rows := table(e.mustRun("get", "pods"))
	if len(rows) != 2 || rows[1][2] != "Terminating" {
		t.Fatalf("get after delete: %v", rows)
	}

	e.mustRun("delete", "pod", "busy", "--force")
	if e.pod("default", "busy") != nil {
		t.Fatal("--force left the pod")
	}

	e.mustRun("delete", "pod", "far", "-n", "edge")
	if e.pod("edge", "far") != nil {
		t.Fatal("pod in namespace edge not deleted")
	}
}

func TestDeleteErrors(t *testing.T) {
	e := startCLIEnv(t)
	e.putPod("default", "there", false, "", api.PodStatus{})
	out, _, err := e.run("delete", "pod", "missing", "there")
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing pod: %v", err)
	}
	if out != "pod \"there\" deleted\n" {
		t.Fatalf("the other pod was not deleted: %q", out)
	}
	_, _, err = e.run("delete", "gadget", "g")
	if err == nil || !strings.HasPrefix(err.Error(), `unknown resource type "gadget": use one of pods (po), `) {
		t.Fatalf("delete gadget: %v", err)
	}
	_, _, err = e.run("delete", "pod", "x", "--grace-period", "-5")
	if err == nil || !strings.Contains(err.Error(), "--grace-period") {
		t.Fatalf("bad grace period: %v", err)
	}
}

func webDeployment(name string) *api.Deployment {
	return &api.Deployment{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"tier": "front"}},
		Spec: api.DeploymentSpec{Replicas: int32p(1), Selector: selectorFor(name), Template: podTemplate(name, "nginx:1")}}
}

func TestDeleteCascadeSendsThePropagationPolicy(t *testing.T) {
	e := startCLIEnv(t)
	for _, n := range []string{"bg", "fg", "orph"} {
		e.put(webDeployment(n))
	}
	deps := store.For[*api.Deployment](e.store)
	if out := e.mustRun("delete", "deployment", "bg"); out != "deployment.apps \"bg\" deleted\n" {
		t.Fatalf("delete printed %q", out)
	}
	if _, err := deps.Get(t.Context(), "default", "bg"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("background delete left the deployment: %v", err)
	}
	// Foreground and orphan leave the object marked for the garbage
	// collector, with the finalizer that says which.
	for _, tt := range []struct{ name, cascade, finalizer string }{
		{"fg", "foreground", admission.FinalizerForeground},
		{"orph", "orphan", admission.FinalizerOrphan},
	} {
		e.mustRun("delete", "deploy/"+tt.name, "--cascade="+tt.cascade)
		d, err := deps.Get(t.Context(), "default", tt.name)
		if err != nil || d.DeletionTimestamp == nil || !slices.Contains(d.Finalizers, tt.finalizer) {
			t.Fatalf("--cascade=%s: %+v, %v", tt.cascade, d, err)
		}
	}
	_, _, err := e.run("delete", "deploy", "x", "--cascade=sideways")
	if err == nil || err.Error() != `--cascade "sideways" is not one of background, foreground, orphan` {
		t.Fatalf("bad --cascade: %v", err)
	}
}

func TestDeleteBySelectorAndKindsOfEveryGroup(t *testing.T) {
	e := startCLIEnv(t)
	e.put(webDeployment("a"))
	e.put(webDeployment("b"))
	other := webDeployment("c")
	other.Labels = map[string]string{"tier": "back"}
	e.put(other)
	e.put(&api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "settings", Namespace: "default"}, Data: map[string]string{"a": "1"}})

	if out := e.mustRun("delete", "deploy", "-l", "tier=front"); out != "deployment.apps \"a\" deleted\ndeployment.apps \"b\" deleted\n" {
		t.Fatalf("delete -l printed %q", out)
	}
	if out := e.mustRun("get", "deploy", "-o", "name"); out != "deployment.apps/c\n" {
		t.Fatalf("left %q", out)
	}
	if out := e.mustRun("delete", "cm/settings", "deployment.apps/c"); out != "configmap \"settings\" deleted\ndeployment.apps \"c\" deleted\n" {
		t.Fatalf("delete KIND/NAME printed %q", out)
	}
	_, errOut, err := e.run("delete", "deploy", "-l", "tier=none")
	if err != nil || errOut != "No resources found\n" {
		t.Fatalf("delete -l matching nothing: %q %v", errOut, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"delete", "deploy"}, "name the deployments to delete"},
		{[]string{"delete", "deploy", "a", "-l", "x=y"}, "cannot be combined"},
		{[]string{"delete", "deploy/a", "b"}, "not both"},
	} {
		if _, _, err := e.run(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestDeleteDryRunDeletesNothing(t *testing.T) {
	e := startCLIEnv(t)
	e.putPod("default", "busy", false, "edge-1", api.PodStatus{Phase: api.PodRunning})
	_, before, err := e.store.Revisions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if out := e.mustRun("delete", "pod", "busy", "--dry-run=server"); out != "pod \"busy\" deleted (server dry run)\n" {
		t.Fatalf("server dry run printed %q", out)
	}
	if out := e.mustRun("delete", "pod", "busy", "--dry-run=client", "--force"); out != "pod \"busy\" deleted (dry run)\n" {
		t.Fatalf("client dry run printed %q", out)
	}
	for _, mode := range []string{"client", "server"} {
		if _, _, err := e.run("delete", "pod", "missing", "--dry-run="+mode); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("%s dry run of a missing pod: %v", mode, err)
		}
	}
	_, after, err := e.store.Revisions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if p := e.pod("default", "busy"); after != before || p == nil || p.DeletionTimestamp != nil {
		t.Fatalf("a dry run deleted: revision %d → %d, pod %+v", before, after, p)
	}
}
