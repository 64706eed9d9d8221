package testbed_test

import (
	"context"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/controllers"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed"
)

func startHollowCluster(t *testing.T, agents int) *testbed.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: t.TempDir(), Agents: agents, Hollow: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	})
	return c
}

func int32p(v int32) *int32 { return &v }

func webDeployment(replicas int32, env string) *api.Deployment {
	one := api.FromInt(1)
	d := &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.DeploymentSpec{
			Replicas: int32p(replicas),
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: api.DeploymentStrategy{Type: api.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &api.RollingUpdateDeployment{MaxUnavailable: &one, MaxSurge: &one}},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "web", Image: "registry.local/web:1",
					Env: []api.EnvVar{{Name: "VERSION", Value: env}}}}},
			},
		},
	}
	api.SetDefaults(d)
	return d
}

// readyPods counts the deployment's pods that are Ready and not being
// deleted, by template version.
func readyPods(t *testing.T, st *store.Store) (total int, byVersion map[string]int) {
	t.Helper()
	pods, err := store.For[*api.Pod](st).List(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	byVersion = map[string]int{}
	for _, p := range pods {
		c := p.Status.Condition(api.PodReady)
		if p.DeletionTimestamp != nil || c == nil || c.Status != api.ConditionTrue || p.Labels["app"] != "web" {
			continue
		}
		total++
		byVersion[p.Spec.Containers[0].Env[0].Value]++
	}
	return total, byVersion
}

// TestRollingUpdateNeverBelowMaxUnavailable rolls a 6-replica Deployment
// to a new template on hollow agents and checks, at every observation,
// that at least replicas-maxUnavailable pods are Ready.
func TestRollingUpdateNeverBelowMaxUnavailable(t *testing.T) {
	c := startHollowCluster(t, 3)
	st := c.Server.Store
	deps := store.For[*api.Deployment](st)
	ctx := context.Background()
	if err := deps.Create(ctx, webDeployment(6, "v1")); err != nil {
		t.Fatal(err)
	}
	err := testbed.Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		n, by := readyPods(t, st)
		return n == 6 && by["v1"] == 6, nil
	})
	if err != nil {
		t.Fatalf("6 v1 pods never became ready: %v", err)
	}
	// Change the template as a user would: read, change, write with
	// compare-and-swap, again when the controllers wrote status meanwhile.
	if _, err := deps.Mutate(ctx, "default", "web", func(d *api.Deployment) error {
		d.Spec.Template.Spec.Containers[0].Env[0].Value = "v2"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	minSeen := 6
	err = testbed.Poll(ctx, 60*time.Second, 5*time.Millisecond, func() (bool, error) {
		n, by := readyPods(t, st)
		minSeen = min(minSeen, n)
		if n < 5 {
			t.Fatalf("only %d pods ready during the rollout (%v); maxUnavailable 1 allows no fewer than 5", n, by)
		}
		return by["v2"] == 6 && by["v1"] == 0, nil
	})
	if err != nil {
		t.Fatalf("rollout to v2 did not finish: %v", err)
	}
	var got *api.Deployment
	err = testbed.Poll(ctx, 10*time.Second, 10*time.Millisecond, func() (bool, error) {
		got, err = deps.Get(ctx, "default", "web")
		if err != nil {
			return false, err
		}
		prog := api.FindCondition(got.Status.Conditions, api.DeploymentProgressing)
		return got.Status.UpdatedReplicas == 6 && got.Status.AvailableReplicas == 6 && prog != nil && prog.Reason == "NewReplicaSetAvailable", nil
	})
	if err != nil {
		t.Fatalf("status after the rollout never showed it complete: %+v", got.Status)
	}
	t.Logf("fewest ready pods seen during the rollout: %d", minSeen)

	// Rollback: the v1 ReplicaSet's template comes back as a new revision.
	rss, _ := store.For[*api.ReplicaSet](st).List(ctx, "default")
	var v1 *api.ReplicaSet
	for _, rs := range rss {
		if rs.Spec.Template.Spec.Containers[0].Env[0].Value == "v1" {
			v1 = rs
		}
	}
	if v1 == nil || controllers.Revision(v1) != 1 {
		t.Fatalf("the v1 ReplicaSet was not kept for rollback: %+v", rss)
	}
	if _, err := deps.Mutate(ctx, "default", "web", func(d *api.Deployment) error {
		d.Spec.Template = v1.Spec.Template
		delete(d.Spec.Template.Labels, controllers.PodTemplateHashLabel)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	err = testbed.Poll(ctx, 60*time.Second, 10*time.Millisecond, func() (bool, error) {
		_, by := readyPods(t, st)
		return by["v1"] == 6 && by["v2"] == 0, nil
	})
	if err != nil {
		t.Fatalf("rollback to v1 did not finish: %v", err)
	}
	v1, _ = store.For[*api.ReplicaSet](st).Get(ctx, "default", v1.Name)
	if controllers.Revision(v1) != 3 {
		t.Fatalf("the rolled-back ReplicaSet has revision %d, want 3", controllers.Revision(v1))
	}
}
