package client_test

import (
	"fmt"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/web/client"
)

func webDeployment(name string, replicas int32) *api.Deployment {
	labels := map[string]string{"app": name}
	return &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.DeploymentSpec{
			Replicas: &replicas,
			Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "main", Image: "nginx:1.27"}}}},
		},
	}
}

func TestPatchThroughClient(t *testing.T) {
	e := startAPI(t)
	ctx := t.Context()
	created, err := e.client.CreatePod(ctx, newPod("web"))
	if err != nil {
		t.Fatal(err)
	}
	info := api.KindOf(created)
	obj, err := e.client.Patch(ctx, info, "", "web", []byte(`{"metadata":{"labels":{"tier":"db"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p := obj.(*api.Pod); p.Labels["tier"] != "db" || p.ResourceVersion == created.ResourceVersion {
		t.Fatalf("patched pod: %+v", p.ObjectMeta)
	}
	stale := fmt.Appendf(nil, `{"metadata":{"resourceVersion":%q,"labels":{"tier":"web"}}}`, created.ResourceVersion)
	if _, err := e.client.Patch(ctx, info, "", "web", stale); !client.IsConflict(err) {
		t.Fatalf("stale patch: %v, want a conflict", err)
	}
	if _, err := e.client.Patch(ctx, info, "", "missing", []byte(`{}`)); !client.IsNotFound(err) {
		t.Fatalf("patch of a missing pod: %v", err)
	}
}

func TestScaleThroughClient(t *testing.T) {
	e := startAPI(t)
	ctx := t.Context()
	d, err := e.client.CreateObject(ctx, webDeployment("web", 2))
	if err != nil {
		t.Fatal(err)
	}
	info := api.KindOf(d)
	sc, err := e.client.GetScale(ctx, info, "", "web")
	if err != nil || sc.Spec.Replicas != 2 || sc.Status.Selector != "app=web" || sc.ResourceVersion != d.GetObjectMeta().ResourceVersion {
		t.Fatalf("GetScale = %+v, %v", sc, err)
	}
	stale := *sc
	sc.Spec.Replicas = 7
	up, err := e.client.UpdateScale(ctx, info, "", "web", sc)
	if err != nil || up.Spec.Replicas != 7 {
		t.Fatalf("UpdateScale = %+v, %v", up, err)
	}
	if _, err := e.client.UpdateScale(ctx, info, "", "web", &stale); !client.IsConflict(err) {
		t.Fatalf("stale UpdateScale: %v, want a conflict", err)
	}
	got, err := e.client.GetObject(ctx, info, "default", "web")
	if err != nil || *got.(*api.Deployment).Spec.Replicas != 7 {
		t.Fatalf("deployment after scale: %v", err)
	}
}
