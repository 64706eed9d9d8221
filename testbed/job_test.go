package testbed_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/controllers"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed"
)

// TestJobKeepsParallelismPodsRunning makes a Job of 10 completions, 3 at a
// time, through the API on hollow agents. Hollow tasks run until stopped,
// so the Job never completes here (completion is covered by the
// controller's unit tests): it must run exactly 3 pods, scheduled onto the
// agents, report them as active, and never have more than 3 at once.
func TestJobKeepsParallelismPodsRunning(t *testing.T) {
	c := startHollowCluster(t, 2)
	ctx := context.Background()
	st := c.Server.Store

	var mu sync.Mutex
	most := 0
	watchCtx, stopWatch := context.WithCancel(ctx)
	events, err := store.For[*api.Pod](st).Watch(watchCtx, store.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pods := map[string]*api.Pod{}
		for ev := range events {
			switch ev.Type {
			case store.Added, store.Modified:
				pods[ev.Object.Name] = ev.Object
			case store.Deleted:
				delete(pods, ev.Name)
			}
			n := 0
			for _, p := range pods {
				if p.Labels[controllers.JobNameLabel] == "crunch" && !p.Status.Phase.Terminal() {
					n++
				}
			}
			mu.Lock()
			most = max(most, n)
			mu.Unlock()
		}
	}()
	defer func() { stopWatch(); wg.Wait() }()

	job := &api.Job{
		TypeMeta:   api.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: api.ObjectMeta{Name: "crunch", Namespace: "default"},
		Spec: api.JobSpec{
			Completions: int32p(10), Parallelism: int32p(3),
			Template: api.PodTemplateSpec{Spec: api.PodSpec{RestartPolicy: api.RestartPolicyNever,
				Containers: []api.Container{{Name: "crunch", Image: "registry.local/crunch:1"}}}},
		},
	}
	if _, err := c.Client.CreateObject(ctx, job); err != nil {
		t.Fatal(err)
	}
	info := api.KindOf(&api.Job{})
	var got *api.Job
	err = testbed.Poll(ctx, 10*time.Second, 10*time.Millisecond, func() (bool, error) {
		obj, err := c.Client.GetObject(ctx, info, "default", "crunch")
		if err != nil {
			return false, err
		}
		got = obj.(*api.Job)
		if got.Status.Active != 3 || got.Status.StartTime == nil {
			return false, nil
		}
		pods, err := c.Client.ListPods(ctx, "default")
		if err != nil {
			return false, err
		}
		running := 0
		for _, p := range pods {
			if p.Labels[controllers.JobControllerUIDLabel] == got.UID && p.Spec.NodeName != "" && podReady(p) {
				running++
			}
		}
		return running == 3, nil
	})
	if err != nil {
		t.Fatalf("3 running pods and status.active 3: %v (status %+v)", err, got.Status)
	}
	if got.Spec.Selector == nil || got.Spec.Selector.MatchLabels[controllers.JobControllerUIDLabel] != got.UID {
		t.Errorf("selector %+v: want the generated controller-uid=%s", got.Spec.Selector, got.UID)
	}
	if got.Status.Succeeded != 0 || got.Status.Failed != 0 || len(got.Status.Conditions) != 0 {
		t.Errorf("status %+v: nothing has finished yet", got.Status)
	}
	mu.Lock()
	defer mu.Unlock()
	if most != 3 {
		t.Errorf("at most %d of the job's pods existed at once, want 3 (parallelism)", most)
	}
}
