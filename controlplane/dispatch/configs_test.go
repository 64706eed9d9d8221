package dispatch_test

import (
	"context"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

func (e *env) createConfig(t *testing.T, objs ...api.Object) {
	t.Helper()
	for _, o := range objs {
		api.SetDefaults(o)
		if err := e.st.CreateObject(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

func podUsing(name, node, cm, secret string) *api.Pod {
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.PodSpec{NodeName: node, Containers: []api.Container{{
			Name: "app", Image: "busybox",
			EnvFrom: []api.EnvFromSource{{SecretRef: &api.SecretEnvSource{Name: secret}}},
		}}, Volumes: []api.Volume{{Name: "cfg", VolumeSource: api.VolumeSource{ConfigMap: &api.ConfigMapVolumeSource{Name: cm}}}}},
	}
	api.SetDefaults(p)
	return p
}

// A pod's push and its node's sync carry the ConfigMaps and Secrets the
// pod references; a node whose pods reference none gets none.
func TestPushAndSyncCarryTheConfigMapsAndSecretsAPodReferences(t *testing.T) {
	e, _ := start(t)
	e.createConfig(t,
		&api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "settings", Namespace: "default"}, Data: map[string]string{"mode": "fast"}},
		&api.Secret{ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "default"}, StringData: map[string]string{"password": "hunter2"}},
		&api.Secret{ObjectMeta: api.ObjectMeta{Name: "other", Namespace: "default"}, StringData: map[string]string{"x": "y"}},
	)
	n1, n2 := e.node(t, "edge-1"), e.node(t, "edge-2")
	if err := e.pods.Create(context.Background(), podUsing("web", "edge-1", "settings", "db")); err != nil {
		t.Fatal(err)
	}
	a := n1.nextFor("web")
	if len(a.ConfigMaps) != 1 || a.ConfigMaps[0].Data["mode"] != "fast" {
		t.Errorf("push carries configMaps %+v, want settings", a.ConfigMaps)
	}
	if len(a.Secrets) != 1 || a.Secrets[0].Name != "db" || string(a.Secrets[0].Data["password"]) != "hunter2" {
		t.Errorf("push carries secrets %+v, want db only", a.Secrets)
	}
	r := n1.sync()
	if len(r.Pods) != 1 || len(r.ConfigMaps) != 1 || len(r.Secrets) != 1 || r.Secrets[0].Name != "db" {
		t.Errorf("sync of edge-1 = %d pods, configMaps %+v, secrets %+v", len(r.Pods), r.ConfigMaps, r.Secrets)
	}
	if r := n2.sync(); len(r.ConfigMaps)+len(r.Secrets) != 0 {
		t.Errorf("edge-2 runs no pod yet got configMaps %+v and secrets %+v", r.ConfigMaps, r.Secrets)
	}
}

// A changed ConfigMap is pushed, alone, to the nodes whose pods reference
// it and to no other.
func TestAChangedConfigMapIsPushedToTheNodesThatUseIt(t *testing.T) {
	e, _ := start(t)
	cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "settings", Namespace: "default"}, Data: map[string]string{"mode": "fast"}}
	e.createConfig(t, cm)
	n1, n2 := e.node(t, "edge-1"), e.node(t, "edge-2")
	if err := e.pods.Create(context.Background(), podUsing("web", "edge-1", "settings", "db")); err != nil {
		t.Fatal(err)
	}
	if first := n1.nextFor("web"); len(first.ConfigMaps) == 0 {
		// The dispatcher's ConfigMap watch may see the ConfigMap after
		// its pod watch saw the pod: then the ConfigMap follows the pod.
		if a := n1.next(); len(a.ConfigMaps) != 1 || a.ConfigMaps[0].Data["mode"] != "fast" {
			t.Fatalf("the pod went out without its ConfigMap and none followed: %+v", a)
		}
	}
	e.create(t, "default", "plain", "edge-2")
	n2.nextFor("plain")

	cms := store.For[*api.ConfigMap](e.st)
	if _, err := cms.Mutate(context.Background(), "default", "settings", func(c *api.ConfigMap) error {
		c.Data["mode"] = "slow"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a := n1.next()
	if a.Pod != nil || len(a.ConfigMaps) != 1 || a.ConfigMaps[0].Data["mode"] != "slow" {
		t.Fatalf("push after the change = %+v, want the changed ConfigMap alone", a)
	}
	// edge-2's next push is about its next pod: it got no ConfigMap.
	e.create(t, "default", "marker", "edge-2")
	n2.nextFor("marker")
}
