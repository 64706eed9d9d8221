package main

import (
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/controllers"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/web/client"
)

func TestScaleDeploymentsAndReplicaSets(t *testing.T) {
	e := startCLIEnv(t)
	e.put(webDeployment("web"))
	e.put(webDeployment("api"))
	deps := store.For[*api.Deployment](e.store)

	if out := e.mustRun("scale", "deployment/web", "--replicas", "5"); out != "deployment.apps/web scaled\n" {
		t.Fatalf("scale printed %q", out)
	}
	d, err := deps.Get(t.Context(), "default", "web")
	if err != nil || *d.Spec.Replicas != 5 || d.Generation != 2 {
		t.Fatalf("after scale: replicas %v generation %d, %v", d.Spec.Replicas, d.Generation, err)
	}
	if out := e.mustRun("scale", "deploy", "web", "api", "--replicas", "0"); out != "deployment.apps/web scaled\ndeployment.apps/api scaled\n" {
		t.Fatalf("scale of two printed %q", out)
	}
	for _, n := range []string{"web", "api"} {
		if d, _ := deps.Get(t.Context(), "default", n); *d.Spec.Replicas != 0 {
			t.Fatalf("%s has %d replicas", n, *d.Spec.Replicas)
		}
	}

	_, _, err = e.run("scale", "deployment/web", "--replicas", "3", "--current-replicas", "2")
	if err == nil || !strings.Contains(err.Error(), `has 0 replicas, not --current-replicas 2: nothing changed`) {
		t.Fatalf("--current-replicas mismatch: %v", err)
	}
	e.mustRun("scale", "deployment/web", "--replicas", "3", "--current-replicas", "0")

	// A ReplicaSet a Deployment owns is scaled, with a warning that the
	// Deployment will set it back.
	owner, _ := deps.Get(t.Context(), "default", "web")
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web-1", Namespace: "default", OwnerReferences: []api.OwnerReference{controllers.ControllerRef(owner)}},
		Spec: api.ReplicaSetSpec{Replicas: int32p(1), Selector: selectorFor("web"), Template: podTemplate("web", "nginx:1")}}
	e.put(rs)
	out, errOut, err := e.run("scale", "rs/web-1", "--replicas", "2")
	if err != nil || out != "replicaset.apps/web-1 scaled\n" || !strings.Contains(errOut, `belongs to deployment "web"`) {
		t.Fatalf("scale rs: %q %q %v", out, errOut, err)
	}
}

func TestScaleErrorsSayWhatToDo(t *testing.T) {
	e := startCLIEnv(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"scale", "deployment/web"}, "--replicas is required"},
		{[]string{"scale", "deployment/web", "--replicas", "-2"}, "--replicas -2 must be 0 or more"},
		{[]string{"scale", "pod/p", "--replicas", "1"}, `unknown resource type "pod": use one of deployments (deploy), replicasets (rs)`},
		{[]string{"scale", "deployment", "--replicas", "1"}, "name what to scale"},
		{[]string{"scale", "deployment/missing", "--replicas", "1"}, "not found"},
	} {
		if _, _, err := e.run(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.want)
		}
	}
}

func TestModifyObjectRetriesAWriteThatLostARace(t *testing.T) {
	e := startCLIEnv(t)
	e.put(webDeployment("web"))
	c := client.New(e.server)
	info, _ := api.LookupKind("Deployment")
	attempts := 0
	obj, changed, err := modifyObject(t.Context(), c, info, "default", "web", func(obj api.Object) (bool, error) {
		attempts++
		if attempts == 1 {
			// Someone else writes between our read and our write.
			if _, err := store.For[*api.Deployment](e.store).Mutate(t.Context(), "default", "web", func(d *api.Deployment) error {
				d.Labels["by"] = "someone-else"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		d := obj.(*api.Deployment)
		d.Spec.Replicas = int32p(7)
		return true, nil
	})
	if err != nil || !changed || attempts != 2 {
		t.Fatalf("modifyObject: changed %v, %d attempts, %v", changed, attempts, err)
	}
	d := obj.(*api.Deployment)
	if *d.Spec.Replicas != 7 || d.Labels["by"] != "someone-else" {
		t.Fatalf("the write lost the other one's change or its own: %+v", d.ObjectMeta)
	}
}
