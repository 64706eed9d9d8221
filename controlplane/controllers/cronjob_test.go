package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

// The CronJob tests drive Reconcile directly with a test clock, against a
// real store and informers; Job statuses are written by the test.

type wlClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *wlClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *wlClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type cronEnv struct {
	ctx   context.Context
	st    *store.Store
	clock *wlClock
	inf   *informer.Set
	c     *CronJobController
	cjs   *store.Resource[*api.CronJob]
	jobs  *store.Resource[*api.Job]
	pods  *store.Resource[*api.Pod]
}

func startCronEnv(t *testing.T) *cronEnv {
	t.Helper()
	st, _, _ := natstest.Store(t)
	e := &cronEnv{ctx: context.Background(), st: st, clock: &wlClock{t: time.Now()},
		cjs: store.For[*api.CronJob](st), jobs: store.For[*api.Job](st), pods: store.For[*api.Pod](st)}
	e.inf, e.c = e.newController(t)
	return e
}

// newController starts informers and a CronJob controller on the clock
// (no runner: tests call Reconcile).
func (e *cronEnv) newController(t *testing.T) (*informer.Set, *CronJobController) {
	t.Helper()
	inf := informer.NewSet(e.st, wlLogger())
	c := NewCronJobController(inf, e.st, wlLogger())
	c.now = e.clock.Now
	if err := inf.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inf.Stop)
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	if err := inf.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	return inf, c
}

// sync waits until inf holds exactly what the store holds of CronJobs and
// Jobs, so a reconcile reads the latest.
func (e *cronEnv) sync(t *testing.T, inf *informer.Set) {
	t.Helper()
	same := func(stored, cached map[string]string) bool {
		if len(stored) != len(cached) {
			return false
		}
		for k, v := range stored {
			if cached[k] != v {
				return false
			}
		}
		return true
	}
	wlPoll(t, 5*time.Second, "informers to catch up", func() bool {
		cjs, err := e.cjs.List(e.ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := e.jobs.List(e.ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		return same(versions(cjs), versions(inf.CronJobs.List("", nil))) && same(versions(jobs), versions(inf.Jobs.List("", nil)))
	})
}

func versions[T api.Object](objs []T) map[string]string {
	out := map[string]string{}
	for _, o := range objs {
		out[informer.KeyOf(o)] = o.GetObjectMeta().ResourceVersion
	}
	return out
}

func (e *cronEnv) reconcile(t *testing.T, name string) time.Duration {
	t.Helper()
	e.sync(t, e.inf)
	d, err := e.c.Reconcile(e.ctx, "default/"+name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func wlCronJob(name, schedule string) *api.CronJob {
	utc := "UTC"
	cj := &api.CronJob{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.CronJobSpec{
			Schedule: schedule, TimeZone: &utc,
			JobTemplate: api.JobTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"cron": name}},
				Spec: api.JobSpec{Template: api.PodTemplateSpec{Spec: api.PodSpec{RestartPolicy: api.RestartPolicyOnFailure,
					Containers: []api.Container{{Name: "c", Image: "registry.local/report:1"}}}}},
			},
		},
	}
	api.SetDefaults(cj)
	return cj
}

func (e *cronEnv) create(t *testing.T, cj *api.CronJob) *api.CronJob {
	t.Helper()
	if err := e.cjs.Create(e.ctx, cj); err != nil {
		t.Fatal(err)
	}
	return cj
}

func (e *cronEnv) jobNames(t *testing.T) map[string]*api.Job {
	t.Helper()
	jobs, err := e.jobs.List(e.ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*api.Job{}
	for _, j := range jobs {
		out[j.Name] = j
	}
	return out
}

func (e *cronEnv) cronJob(t *testing.T, name string) *api.CronJob {
	t.Helper()
	cj, err := e.cjs.Get(e.ctx, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return cj
}

// finish marks a Job Complete (or Failed) as its controller would.
func (e *cronEnv) finish(t *testing.T, name, cond string, at time.Time) {
	t.Helper()
	_, err := e.jobs.Mutate(e.ctx, "default", name, func(j *api.Job) error {
		j.Status.Conditions = []api.Condition{{Type: cond, Status: api.ConditionTrue, LastTransitionTime: at}}
		if cond == api.JobComplete {
			j.Status.CompletionTime = &at
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func activeNames(cj *api.CronJob) []string {
	var out []string
	for _, r := range cj.Status.Active {
		out = append(out, r.Name)
	}
	return out
}

func TestCronJobRunsTheMostRecentMissedTimeOnce(t *testing.T) {
	e := startCronEnv(t)
	cj := e.create(t, wlCronJob("report", "*/5 * * * *"))
	now := cj.CreationTimestamp.Add(17 * time.Minute)
	e.clock.Set(now)
	due := now.Truncate(5 * time.Minute)

	requeue := e.reconcile(t, "report")
	jobs := e.jobNames(t)
	name := fmt.Sprintf("report-%d", due.Unix()/60)
	j := jobs[name]
	if len(jobs) != 1 || j == nil {
		t.Fatalf("jobs %v, want exactly %s", jobs, name)
	}
	if !isControlledBy(j, cj.UID) || j.Labels["cron"] != "report" || j.Annotations[CronJobScheduledTimeAnnotation] != due.UTC().Format(time.RFC3339) ||
		j.Spec.Template.Spec.Containers[0].Image != "registry.local/report:1" || j.Spec.BackoffLimit == nil {
		t.Errorf("job %+v: want owned by the CronJob, built (and defaulted) from jobTemplate, annotated with %s", j, due)
	}
	if want := due.Add(5 * time.Minute).Sub(now); requeue < want || requeue > want+time.Second {
		t.Errorf("requeue after %s, want the next schedule time %s away", requeue, want)
	}
	got := e.cronJob(t, "report")
	if got.Status.LastScheduleTime == nil || !got.Status.LastScheduleTime.Equal(due) || len(got.Status.Active) != 1 ||
		got.Status.Active[0].Name != name || got.Status.Active[0].UID != j.UID || got.Status.Active[0].Kind != "Job" {
		t.Errorf("status %+v: want lastScheduleTime %s and %s active", got.Status, due, name)
	}

	e.reconcile(t, "report")
	e.clock.Set(due.Add(5*time.Minute - time.Second)) // still before the next time
	e.reconcile(t, "report")
	if jobs := e.jobNames(t); len(jobs) != 1 {
		t.Errorf("jobs %v after reconciling again: the same time ran twice", jobs)
	}
}

func TestCronJobTwoControllersMakeOneJobPerTime(t *testing.T) {
	e := startCronEnv(t)
	cj := e.create(t, wlCronJob("report", "* * * * *"))
	e.clock.Set(cj.CreationTimestamp.Add(90 * time.Second))
	inf2, c2 := e.newController(t)
	e.sync(t, e.inf)
	e.sync(t, inf2)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []*CronJobController{e.c, c2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Reconcile(e.ctx, "default/report")
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if jobs := e.jobNames(t); len(jobs) != 1 {
		t.Errorf("jobs %v: two controllers made more than one Job for one time", jobs)
	}
	e.sync(t, e.inf)
	if got := e.cronJob(t, "report"); len(got.Status.Active) != 1 {
		t.Errorf("status.active %v, want the one job", activeNames(got))
	}
}

func TestCronJobForbidSkipsWhileAJobIsActiveThenRunsLate(t *testing.T) {
	e := startCronEnv(t)
	cj := wlCronJob("report", "* * * * *")
	cj.Spec.ConcurrencyPolicy = api.ForbidConcurrent
	cj = e.create(t, cj)
	start := cj.CreationTimestamp.Truncate(time.Minute)
	e.clock.Set(start.Add(90 * time.Second))
	e.reconcile(t, "report")
	first := fmt.Sprintf("report-%d", start.Add(time.Minute).Unix()/60)
	if jobs := e.jobNames(t); len(jobs) != 1 || jobs[first] == nil {
		t.Fatalf("jobs %v, want %s", jobs, first)
	}

	e.clock.Set(start.Add(150 * time.Second))
	e.reconcile(t, "report")
	if jobs := e.jobNames(t); len(jobs) != 1 {
		t.Fatalf("jobs %v: Forbid made a job while %s was active", jobs, first)
	}
	if got := e.cronJob(t, "report"); !got.Status.LastScheduleTime.Equal(start.Add(time.Minute)) {
		t.Errorf("lastScheduleTime %s: the skipped time must not be recorded", got.Status.LastScheduleTime)
	}

	done := start.Add(160 * time.Second).UTC()
	e.finish(t, first, api.JobComplete, done)
	e.reconcile(t, "report")
	second := fmt.Sprintf("report-%d", start.Add(2*time.Minute).Unix()/60)
	if jobs := e.jobNames(t); len(jobs) != 2 || jobs[second] == nil {
		t.Fatalf("jobs %v, want %s to run late once %s finished", jobs, second, first)
	}
	got := e.cronJob(t, "report")
	if got.Status.LastSuccessfulTime == nil || !got.Status.LastSuccessfulTime.Equal(done) || len(got.Status.Active) != 1 || got.Status.Active[0].Name != second {
		t.Errorf("status %+v: want lastSuccessfulTime %s and only %s active", got.Status, done, second)
	}
}

func TestCronJobReplaceDeletesTheActiveJobAndItsPods(t *testing.T) {
	e := startCronEnv(t)
	cj := wlCronJob("report", "* * * * *")
	cj.Spec.ConcurrencyPolicy = api.ReplaceConcurrent
	cj = e.create(t, cj)
	start := cj.CreationTimestamp.Truncate(time.Minute)
	e.clock.Set(start.Add(90 * time.Second))
	e.reconcile(t, "report")
	first := e.jobNames(t)[fmt.Sprintf("report-%d", start.Add(time.Minute).Unix()/60)]
	if first == nil {
		t.Fatalf("no first job: %v", e.jobNames(t))
	}
	pod := PodFromTemplate(&first.Spec.Template, first, first.Name+"-")
	if err := e.pods.Create(e.ctx, pod); err != nil {
		t.Fatal(err)
	}
	wlPoll(t, 5*time.Second, "the pod in the cache", func() bool { _, ok := e.inf.Pods.Get("default", pod.Name); return ok })

	e.clock.Set(start.Add(150 * time.Second))
	e.reconcile(t, "report")
	second := fmt.Sprintf("report-%d", start.Add(2*time.Minute).Unix()/60)
	jobs := e.jobNames(t)
	if len(jobs) != 1 || jobs[second] == nil {
		t.Fatalf("jobs %v, want only %s", jobs, second)
	}
	if _, err := e.pods.Get(e.ctx, "default", pod.Name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the replaced job's pod is still there (err %v)", err)
	}
	if got := activeNames(e.cronJob(t, "report")); len(got) != 1 || got[0] != second {
		t.Errorf("status.active %v, want [%s]", got, second)
	}
}

func TestCronJobAllowRunsJobsSideBySide(t *testing.T) {
	e := startCronEnv(t)
	cj := e.create(t, wlCronJob("report", "* * * * *"))
	start := cj.CreationTimestamp.Truncate(time.Minute)
	e.clock.Set(start.Add(90 * time.Second))
	e.reconcile(t, "report")
	e.clock.Set(start.Add(150 * time.Second))
	e.reconcile(t, "report")
	if jobs := e.jobNames(t); len(jobs) != 2 {
		t.Fatalf("jobs %v, want two running side by side", jobs)
	}
	if got := activeNames(e.cronJob(t, "report")); len(got) != 2 {
		t.Errorf("status.active %v, want both", got)
	}
}

func TestCronJobSuspendedMakesNoJobs(t *testing.T) {
	e := startCronEnv(t)
	cj := wlCronJob("report", "* * * * *")
	yes := true
	cj.Spec.Suspend = &yes
	cj = e.create(t, cj)
	e.clock.Set(cj.CreationTimestamp.Add(5 * time.Minute))
	if d := e.reconcile(t, "report"); d != 0 {
		t.Errorf("a suspended CronJob asked to be looked at again in %s", d)
	}
	if jobs := e.jobNames(t); len(jobs) != 0 {
		t.Errorf("jobs %v while suspended", jobs)
	}
}

func TestCronJobStartingDeadlineSkipsRunsThatAreTooLate(t *testing.T) {
	e := startCronEnv(t)
	cj := wlCronJob("report", "0 * * * *")
	cj.Spec.StartingDeadlineSeconds = i64(60)
	cj = e.create(t, cj)
	hour := cj.CreationTimestamp.Truncate(time.Hour).Add(time.Hour)
	e.clock.Set(hour.Add(5 * time.Minute))
	if d := e.reconcile(t, "report"); d < 54*time.Minute || d > 56*time.Minute {
		t.Errorf("requeue after %s, want the next hour (55m)", d)
	}
	if jobs := e.jobNames(t); len(jobs) != 0 {
		t.Fatalf("jobs %v: a run 5 minutes late with a 60s deadline must be skipped", jobs)
	}
	e.clock.Set(hour.Add(time.Hour + 30*time.Second))
	e.reconcile(t, "report")
	want := fmt.Sprintf("report-%d", hour.Add(time.Hour).Unix()/60)
	if jobs := e.jobNames(t); len(jobs) != 1 || jobs[want] == nil {
		t.Errorf("jobs %v, want %s (30s late, within the deadline)", jobs, want)
	}
}

func TestCronJobWithManyMissedTimesRunsOnlyTheLatest(t *testing.T) {
	e := startCronEnv(t)
	cj := e.create(t, wlCronJob("report", "* * * * *"))
	now := cj.CreationTimestamp.Add(300*time.Minute + 10*time.Second)
	e.clock.Set(now)
	e.reconcile(t, "report")
	want := fmt.Sprintf("report-%d", now.Truncate(time.Minute).Unix()/60)
	if jobs := e.jobNames(t); len(jobs) != 1 || jobs[want] == nil {
		t.Errorf("jobs %v, want only the latest %s", jobs, want)
	}
}

func TestCronJobScheduleFollowsItsTimeZone(t *testing.T) {
	e := startCronEnv(t)
	cj := wlCronJob("report", "0 9 * * *")
	tokyo := "Asia/Tokyo" // UTC+9, no daylight saving
	cj.Spec.TimeZone = &tokyo
	cj = e.create(t, cj)
	midnightUTC := cj.CreationTimestamp.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	e.clock.Set(midnightUTC.Add(30 * time.Minute))
	e.reconcile(t, "report")
	want := fmt.Sprintf("report-%d", midnightUTC.Unix()/60)
	if jobs := e.jobNames(t); len(jobs) != 1 || jobs[want] == nil {
		t.Errorf("jobs %v, want %s (09:00 in Tokyo is 00:00 UTC)", jobs, want)
	}
}

func TestCronJobHistoryLimitsDeleteTheOldestFinishedJobs(t *testing.T) {
	e := startCronEnv(t)
	cj := wlCronJob("report", "0 0 1 1 *")
	cj.Spec.SuccessfulJobsHistoryLimit = i32(2)
	cj.Spec.FailedJobsHistoryLimit = i32(1)
	cj = e.create(t, cj)
	e.clock.Set(cj.CreationTimestamp) // nothing due
	base := cj.CreationTimestamp.Add(-24 * time.Hour)
	mk := func(i int, cond string) string {
		at := base.Add(time.Duration(i) * time.Minute).UTC()
		j := &api.Job{
			ObjectMeta: api.ObjectMeta{Name: CronJobJobName("report", at), Namespace: "default",
				Annotations:     map[string]string{CronJobScheduledTimeAnnotation: at.Format(time.RFC3339)},
				OwnerReferences: []api.OwnerReference{ControllerRef(cj)}},
			Spec:   cj.Spec.JobTemplate.Spec,
			Status: api.JobStatus{Conditions: []api.Condition{{Type: cond, Status: api.ConditionTrue}}},
		}
		api.SetDefaults(j)
		if err := e.jobs.Create(e.ctx, j); err != nil {
			t.Fatal(err)
		}
		return j.Name
	}
	// Created out of order: age comes from the scheduled time.
	s3, s1, s4, s2 := mk(3, api.JobComplete), mk(1, api.JobComplete), mk(4, api.JobComplete), mk(2, api.JobComplete)
	f2, f1 := mk(6, api.JobFailed), mk(5, api.JobFailed)
	running := mk(0, "Running")
	e.reconcile(t, "report")
	jobs := e.jobNames(t)
	for _, gone := range []string{s1, s2, f1} {
		if jobs[gone] != nil {
			t.Errorf("%s kept; it is beyond the history limit", gone)
		}
	}
	for _, kept := range []string{s3, s4, f2, running} {
		if jobs[kept] == nil {
			t.Errorf("%s deleted; it is within the history limit or still running", kept)
		}
	}
}

func TestMostRecentScheduleMatchesWalkingEveryTime(t *testing.T) {
	walk := func(s *api.CronSchedule, earliest, now time.Time) (time.Time, int) {
		var last time.Time
		n := 0
		for t := s.Next(earliest); !t.IsZero() && !t.After(now); t = s.Next(t) {
			last, n = t, n+1
		}
		return last, n
	}
	earliest := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	tests := []struct {
		schedule string
		window   time.Duration
	}{
		{"* * * * *", 30 * time.Minute},
		{"* * * * *", 10 * time.Hour},
		{"*/5 * * * *", 12 * time.Hour},
		{"* 0 * * *", 80 * time.Hour},
		{"*/7 * 1 * *", 45 * 24 * time.Hour},
		{"0 9 * * MON-FRI", 30 * 24 * time.Hour},
		{"0 0 29 2 *", 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s over %s", tt.schedule, tt.window), func(t *testing.T) {
			s, err := api.ParseCron(tt.schedule)
			if err != nil {
				t.Fatal(err)
			}
			now := earliest.Add(tt.window)
			wantLast, wantN := walk(s, earliest, now)
			gotLast, gotN := mostRecentSchedule(s, earliest, now)
			if !gotLast.Equal(wantLast) {
				t.Errorf("latest %s, want %s", gotLast, wantLast)
			}
			if min(wantN, maxMissedSchedules+1) != gotN {
				t.Errorf("counted %d, want %d (capped at %d)", gotN, wantN, maxMissedSchedules+1)
			}
		})
	}
}

func TestCronJobJobRunsToCompletionUnderTheManager(t *testing.T) {
	clock := &wlClock{t: time.Now()}
	e := startWLEnv(t, func(*api.Pod) api.PodPhase { return api.PodSucceeded }, func(m *Manager) { m.CronJobs.now = clock.Now })
	cjs := store.For[*api.CronJob](e.st)
	cj := wlCronJob("report", "* * * * *")
	if err := cjs.Create(e.ctx, cj); err != nil {
		t.Fatal(err)
	}
	clock.Set(cj.CreationTimestamp.Add(90 * time.Second))
	e.m.CronJobs.q.Add("default/report")
	name := CronJobJobName("report", cj.CreationTimestamp.Add(90*time.Second).Truncate(time.Minute))
	wlPoll(t, 5*time.Second, "the CronJob's Job complete and recorded", func() bool {
		got, err := cjs.Get(e.ctx, "default", "report")
		if err != nil {
			t.Fatal(err)
		}
		j, err := e.jobs.Get(e.ctx, "default", name)
		if errors.Is(err, store.ErrNotFound) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		return condition(j, api.JobComplete) != nil && j.Status.Succeeded == 1 && len(got.Status.Active) == 0 &&
			got.Status.LastSuccessfulTime != nil && got.Status.LastSuccessfulTime.Equal(*j.Status.CompletionTime)
	})
}
