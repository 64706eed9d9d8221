package controllers

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

func wlJob(name string, completions, parallelism *int32) *api.Job {
	j := &api.Job{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.JobSpec{
			Completions: completions, Parallelism: parallelism,
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"task": name}},
				Spec: api.PodSpec{RestartPolicy: api.RestartPolicyNever,
					Containers: []api.Container{{Name: "c", Image: "registry.local/task:1"}}},
			},
		},
	}
	api.SetDefaults(j)
	return j
}

func i32(v int32) *int32 { return &v }
func i64(v int64) *int64 { return &v }

// jobPodsOf lists the Job's pods by its uid.
func (e *wlEnv) jobPodsOf(t *testing.T, j *api.Job) []*api.Pod {
	t.Helper()
	pods, err := e.pods.List(e.ctx, j.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	var out []*api.Pod
	for _, p := range pods {
		if isControlledBy(p, j.UID) {
			out = append(out, p)
		}
	}
	return out
}

func (e *wlEnv) job(t *testing.T, name string) *api.Job {
	t.Helper()
	j, err := e.jobs.Get(e.ctx, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func condition(j *api.Job, typ string) *api.Condition {
	c := api.FindCondition(j.Status.Conditions, typ)
	if c == nil || c.Status != api.ConditionTrue {
		return nil
	}
	return c
}

func activeCount(pods map[string]*api.Pod, owner string) int {
	n := 0
	for _, p := range pods {
		if r := ControllerOf(p); r != nil && r.Name == owner && isActive(p) {
			n++
		}
	}
	return n
}

func TestJobRunsCompletionsNeverMoreThanParallelismAtOnce(t *testing.T) {
	e := startWLEnv(t, func(*api.Pod) api.PodPhase { return api.PodSucceeded }, nil)
	var mu sync.Mutex
	most := 0
	wlWatchPods(t, e.pods, func(pods map[string]*api.Pod) {
		mu.Lock()
		most = max(most, activeCount(pods, "batch"))
		mu.Unlock()
	})
	j := wlJob("batch", i32(5), i32(2))
	if err := e.jobs.Create(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	var got *api.Job
	wlPoll(t, 5*time.Second, "the job Complete", func() bool {
		got = e.job(t, "batch")
		return condition(got, api.JobComplete) != nil
	})
	mu.Lock()
	defer mu.Unlock()
	if most > 2 || most == 0 {
		t.Errorf("%d pods were active at once; parallelism is 2", most)
	}
	s := got.Status
	if s.Succeeded != 5 || s.Failed != 0 || s.Active != 0 || s.StartTime == nil || s.CompletionTime == nil || s.CompletionTime.Before(*s.StartTime) {
		t.Errorf("status %+v: want 5 succeeded, none active or failed, startTime ≤ completionTime", s)
	}
	pods := e.jobPodsOf(t, got)
	if len(pods) != 5 {
		t.Errorf("%d pods made, want exactly 5", len(pods))
	}
	want := map[string]string{JobControllerUIDLabel: got.UID, JobNameLabel: "batch"}
	for k, v := range want {
		if got.Spec.Selector.MatchLabels[k] != v || got.Spec.Template.Labels[k] != v {
			t.Errorf("generated selector %+v, template labels %v: want %s=%s in both", got.Spec.Selector, got.Spec.Template.Labels, k, v)
		}
	}
	for _, p := range pods {
		if !strings.HasPrefix(p.Name, "batch-") || len(p.Name) != len("batch-")+5 || p.Labels[JobControllerUIDLabel] != got.UID || p.Labels["task"] != "batch" {
			t.Errorf("pod %s labels %v: want batch-<5 random>, the generated labels and the template's", p.Name, p.Labels)
		}
	}
}

func TestJobWithoutCompletionsIsDoneWhenOnePodSucceededAndNoneRuns(t *testing.T) {
	e := startWLEnv(t, wlAlwaysRunning, nil)
	j := wlJob("queue", nil, i32(3))
	if err := e.jobs.Create(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	var pods []*api.Pod
	wlPoll(t, 5*time.Second, "3 running pods", func() bool {
		pods = e.jobPodsOf(t, j)
		return len(pods) == 3 && isReady(pods[0]) && isReady(pods[1]) && isReady(pods[2])
	})
	wlSetPhase(e.ctx, t, e.pods, pods[0], api.PodSucceeded)
	wlPoll(t, 5*time.Second, "status: 1 succeeded, 2 active", func() bool {
		s := e.job(t, "queue").Status
		return s.Succeeded == 1 && s.Active == 2
	})
	if n := len(e.jobPodsOf(t, j)); n != 3 {
		t.Fatalf("%d pods after one succeeded; a work queue starts no more once one succeeded", n)
	}
	if condition(e.job(t, "queue"), api.JobComplete) != nil {
		t.Fatal("Complete while two pods still run")
	}
	wlSetPhase(e.ctx, t, e.pods, pods[1], api.PodSucceeded)
	wlSetPhase(e.ctx, t, e.pods, pods[2], api.PodFailed)
	wlPoll(t, 5*time.Second, "the job Complete", func() bool { return condition(e.job(t, "queue"), api.JobComplete) != nil })
	if s := e.job(t, "queue").Status; s.Succeeded != 2 || s.Failed != 1 || s.Active != 0 {
		t.Errorf("status %+v: want 2 succeeded, 1 failed, 0 active", s)
	}
}

func TestJobFailsWhenFailuresExceedBackoffLimit(t *testing.T) {
	e := startWLEnv(t, func(*api.Pod) api.PodPhase { return api.PodFailed }, func(m *Manager) { m.Jobs.backoffBase = 10 * time.Millisecond })
	j := wlJob("flaky", i32(3), i32(1))
	j.Spec.BackoffLimit = i32(2)
	if err := e.jobs.Create(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	var got *api.Job
	wlPoll(t, 5*time.Second, "the job Failed", func() bool {
		got = e.job(t, "flaky")
		return condition(got, api.JobFailed) != nil
	})
	c := condition(got, api.JobFailed)
	if c.Reason != JobReasonBackoffLimitExceeded || got.Status.Failed != 3 || got.Status.Active != 0 || got.Status.CompletionTime != nil {
		t.Errorf("condition %+v status %+v: want reason %s after 3 failures, nothing active, no completionTime", c, got.Status, JobReasonBackoffLimitExceeded)
	}
	if n := len(e.jobPodsOf(t, got)); n != 3 {
		t.Errorf("%d pods made; backoffLimit 2 allows 3 tries", n)
	}
}

func TestJobFailedPodsAreReplacedAfterABackOff(t *testing.T) {
	var mu sync.Mutex
	made := 0
	e := startWLEnv(t, func(*api.Pod) api.PodPhase {
		mu.Lock()
		defer mu.Unlock()
		made++
		if made == 1 {
			return api.PodFailed
		}
		return api.PodSucceeded
	}, func(m *Manager) { m.Jobs.backoffBase = 300 * time.Millisecond })
	var failedAt, replacedAt time.Time
	seen := map[string]bool{}
	wlWatchPods(t, e.pods, func(pods map[string]*api.Pod) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range pods {
			if p.Status.Phase == api.PodFailed && failedAt.IsZero() {
				failedAt = finishedAt(p)
			}
			if !seen[p.Name] {
				seen[p.Name] = true
				if len(seen) == 2 {
					replacedAt = time.Now()
				}
			}
		}
	})
	j := wlJob("retry", i32(1), i32(1))
	if err := e.jobs.Create(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "the job Complete", func() bool { return condition(e.job(t, "retry"), api.JobComplete) != nil })
	if s := e.job(t, "retry").Status; s.Failed != 1 || s.Succeeded != 1 || len(e.jobPodsOf(t, j)) != 2 {
		t.Errorf("status %+v: want the failed pod and its replacement, 1 failed, 1 succeeded", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if gap := replacedAt.Sub(failedAt); gap < 300*time.Millisecond {
		t.Errorf("the replacement came %s after the failure; the back-off is 300ms", gap)
	}
}

func TestJobBackOffWaitsLongerAfterEachFailure(t *testing.T) {
	c := &JobController{backoffBase: 10 * time.Second, backoffMax: 6 * time.Minute}
	last := time.Unix(1000, 0)
	tests := []struct {
		failed int32
		now    time.Time
		want   time.Duration
	}{
		{failed: 0, now: last, want: 0},
		{failed: 1, now: last, want: 10 * time.Second},
		{failed: 2, now: last.Add(5 * time.Second), want: 15 * time.Second},
		{failed: 3, now: last.Add(50 * time.Second), want: 0},
		{failed: 20, now: last, want: 6 * time.Minute},
	}
	for _, tt := range tests {
		if got := c.backoff(tt.failed, last, tt.now); got != tt.want {
			t.Errorf("after %d failures, %s later: wait %s, want %s", tt.failed, tt.now.Sub(last), got, tt.want)
		}
	}
}

func TestJobFailsAfterActiveDeadlineAndItsPodsAreDeleted(t *testing.T) {
	e := startWLEnv(t, wlAlwaysRunning, nil)
	j := wlJob("slow", i32(4), i32(2))
	j.Spec.ActiveDeadlineSeconds = i64(1)
	if err := e.jobs.Create(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "2 running pods", func() bool { return len(e.jobPodsOf(t, j)) == 2 })
	var got *api.Job
	wlPoll(t, 5*time.Second, "the job Failed", func() bool {
		got = e.job(t, "slow")
		return condition(got, api.JobFailed) != nil
	})
	if c := condition(got, api.JobFailed); c.Reason != JobReasonDeadlineExceeded {
		t.Errorf("reason %q, want %s", c.Reason, JobReasonDeadlineExceeded)
	}
	if took := condition(got, api.JobFailed).LastTransitionTime.Sub(*got.Status.StartTime); took < time.Second {
		t.Errorf("failed %s after start; the deadline is 1s", took)
	}
	wlPoll(t, 5*time.Second, "the running pods deleted", func() bool { return len(e.jobPodsOf(t, j)) == 0 })
}

func TestJobTTLDeletesTheFinishedJobAndItsPods(t *testing.T) {
	e := startWLEnv(t, func(*api.Pod) api.PodPhase { return api.PodSucceeded }, nil)
	j := wlJob("once", i32(2), i32(2))
	j.Spec.TTLSecondsAfterFinished = i32(0)
	if err := e.jobs.Create(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "the job deleted", func() bool {
		_, err := e.jobs.Get(e.ctx, "default", "once")
		return errors.Is(err, store.ErrNotFound)
	})
	if pods := e.jobPodsOf(t, j); len(pods) != 0 {
		t.Errorf("%d pods left after the job's ttl", len(pods))
	}
}

func TestJobTTLWaitsBeforeDeleting(t *testing.T) {
	e := startWLEnv(t, func(*api.Pod) api.PodPhase { return api.PodSucceeded }, nil)
	j := wlJob("kept", i32(1), i32(1))
	j.Spec.TTLSecondsAfterFinished = i32(1)
	if err := e.jobs.Create(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	var done time.Time
	wlPoll(t, 5*time.Second, "the job Complete", func() bool {
		got := e.job(t, "kept")
		if got.Status.CompletionTime != nil {
			done = *got.Status.CompletionTime
		}
		return condition(got, api.JobComplete) != nil
	})
	wlPoll(t, 5*time.Second, "the job deleted", func() bool {
		_, err := e.jobs.Get(e.ctx, "default", "kept")
		return errors.Is(err, store.ErrNotFound)
	})
	if gone := time.Now(); gone.Before(done.Add(time.Second)) {
		t.Errorf("deleted at %s, completed at %s: ttl 1s not honoured", gone, done)
	}
}

func TestJobSuspendDeletesActivePodsAndResumeStartsThemAgain(t *testing.T) {
	e := startWLEnv(t, wlAlwaysRunning, nil)
	j := wlJob("pausable", i32(3), i32(3))
	if err := e.jobs.Create(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "3 running pods", func() bool { return len(e.jobPodsOf(t, j)) == 3 })
	setSuspend := func(v bool) {
		t.Helper()
		if _, err := e.jobs.Mutate(e.ctx, "default", "pausable", func(j *api.Job) error { j.Spec.Suspend = &v; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	setSuspend(true)
	wlPoll(t, 5*time.Second, "pods gone, Suspended", func() bool {
		got := e.job(t, "pausable")
		return len(e.jobPodsOf(t, j)) == 0 && condition(got, JobSuspended) != nil && got.Status.Active == 0
	})
	setSuspend(false)
	wlPoll(t, 5*time.Second, "3 pods again, not Suspended", func() bool {
		got := e.job(t, "pausable")
		return len(e.jobPodsOf(t, j)) == 3 && condition(got, JobSuspended) == nil && got.Status.Active == 3
	})
}

func TestJobParallelismLoweredDeletesExtraPods(t *testing.T) {
	e := startWLEnv(t, wlAlwaysRunning, nil)
	j := wlJob("wide", i32(10), i32(4))
	if err := e.jobs.Create(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "4 running pods", func() bool { return len(e.jobPodsOf(t, j)) == 4 })
	if _, err := e.jobs.Mutate(e.ctx, "default", "wide", func(j *api.Job) error { j.Spec.Parallelism = i32(1); return nil }); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "1 pod left, status active 1, no failures", func() bool {
		s := e.job(t, "wide").Status
		return len(e.jobPodsOf(t, j)) == 1 && s.Active == 1 && s.Failed == 0
	})
}

func TestJobOnFailureRestartsCountTowardBackoffLimit(t *testing.T) {
	e := startWLEnv(t, wlAlwaysRunning, nil)
	j := wlJob("crashy", i32(1), i32(1))
	j.Spec.Template.Spec.RestartPolicy = api.RestartPolicyOnFailure
	j.Spec.BackoffLimit = i32(1)
	if err := e.jobs.Create(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	var pod *api.Pod
	wlPoll(t, 5*time.Second, "a running pod", func() bool {
		pods := e.jobPodsOf(t, j)
		if len(pods) == 1 && isReady(pods[0]) {
			pod = pods[0]
		}
		return pod != nil
	})
	if _, err := e.pods.Mutate(e.ctx, "default", pod.Name, func(p *api.Pod) error {
		p.Status.ContainerStatuses[0].RestartCount = 2
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "Failed with BackoffLimitExceeded", func() bool {
		c := condition(e.job(t, "crashy"), api.JobFailed)
		return c != nil && c.Reason == JobReasonBackoffLimitExceeded
	})
}
