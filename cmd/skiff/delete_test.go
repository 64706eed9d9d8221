package main

import (
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
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
