package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// CronJobScheduledTimeAnnotation is set on each Job a CronJob makes: the
// scheduled time it runs for (RFC 3339), as in Kubernetes.
const CronJobScheduledTimeAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"

// maxMissedSchedules is how many missed start times are walked one by one;
// beyond it only the latest runs (and it is logged), as in Kubernetes.
const maxMissedSchedules = 100

// CronJobController makes each CronJob's Jobs on its schedule.
//
// # Rules
//
//   - Each reconcile looks for the latest scheduled time that is not after
//     now and later than both the last one run (status.lastScheduleTime, or
//     the newest Job's scheduled-time annotation) and the CronJob's
//     creation, in spec.timeZone (the control plane's zone when unset).
//     With startingDeadlineSeconds, times older than that are skipped. When
//     more than 100 were missed, the latest runs and a warning is logged.
//     Only one Job is made per reconcile, for that latest time.
//   - The Job is named <cronjob>-<scheduled time in Unix minutes>, so a
//     retry or a second controller gets ErrAlreadyExists instead of a
//     duplicate; an existing Job of that name owned by the CronJob counts
//     as made. It is built from jobTemplate with the CronJob as controller.
//   - concurrencyPolicy Allow runs Jobs side by side; Forbid skips the time
//     while a Job is active without recording it, so it may still run late
//     once the active Job ends (within startingDeadlineSeconds, if set);
//     Replace deletes the active Jobs (and their pods) first.
//   - suspend: true makes no Jobs; times missed meanwhile are subject to
//     the same rules on resume.
//   - status.active lists the CronJob's unfinished Jobs, lastScheduleTime
//     the latest time run, lastSuccessfulTime the latest completionTime.
//   - Finished Jobs beyond successfulJobsHistoryLimit and
//     failedJobsHistoryLimit are deleted, oldest first, with their pods.
//   - The CronJob is looked at again at its next scheduled time.
type CronJobController struct {
	inf  *informer.Set
	cjs  *store.Resource[*api.CronJob]
	jobs *store.Resource[*api.Job]
	pc   podControl
	q    *Queue
	log  *slog.Logger
	// now is the clock; tests replace it.
	now func() time.Time
}

// NewCronJobController wires the controller to the informers.
func NewCronJobController(inf *informer.Set, st *store.Store, log *slog.Logger) *CronJobController {
	c := &CronJobController{
		inf: inf, cjs: store.For[*api.CronJob](st), jobs: store.For[*api.Job](st),
		pc: newPodControl(inf, st),
		q:  NewQueue(5*time.Millisecond, time.Minute), log: log, now: time.Now,
	}
	enqueue := func(cj *api.CronJob) { c.q.Add(informer.KeyOf(cj)) }
	inf.CronJobs.AddHandler(informer.Handler[*api.CronJob]{
		OnAdd: enqueue, OnUpdate: func(_, cur *api.CronJob) { enqueue(cur) },
	})
	owner := func(j *api.Job) {
		if r := ControllerOf(j); r != nil && r.Kind == "CronJob" {
			c.q.Add(informer.Key(j.Namespace, r.Name))
		}
	}
	inf.Jobs.AddHandler(informer.Handler[*api.Job]{
		OnAdd: owner, OnUpdate: func(_, cur *api.Job) { owner(cur) }, OnDelete: owner,
	})
	return c
}

// Runner returns the controller's runner.
func (c *CronJobController) Runner(workers int) *Runner {
	return &Runner{Name: "cronjob", Queue: c.q, R: c, Workers: workers, Resync: 30 * time.Second, Log: c.log,
		Keys: func() []string { return keysOf(c.inf.CronJobs.List("", nil)) }}
}

// CronJobJobName is the name of the Job a CronJob makes for scheduled.
func CronJobJobName(cronJob string, scheduled time.Time) string {
	return cronJob + "-" + strconv.FormatInt(scheduled.Unix()/60, 10)
}

// Reconcile makes the CronJob's due Job, if any, and tidies its history.
func (c *CronJobController) Reconcile(ctx context.Context, key string) (time.Duration, error) {
	ns, name := splitKey(key)
	cj, ok := c.inf.CronJobs.Get(ns, name)
	if !ok || cj.DeletionTimestamp != nil {
		return 0, nil
	}
	now := c.now()
	jobs := c.inf.Jobs.List(ns, func(j *api.Job) bool { return isControlledBy(j, cj.UID) && j.DeletionTimestamp == nil })
	active, err := c.activeJobs(ctx, cj, jobs)
	if err != nil {
		return 0, err
	}
	st := api.CronJobStatus{LastScheduleTime: cj.Status.LastScheduleTime, LastSuccessfulTime: cj.Status.LastSuccessfulTime}
	for _, j := range jobs {
		if cond := JobFinished(j); cond != nil && cond.Type == api.JobComplete && j.Status.CompletionTime != nil &&
			(st.LastSuccessfulTime == nil || j.Status.CompletionTime.After(*st.LastSuccessfulTime)) {
			t := *j.Status.CompletionTime
			st.LastSuccessfulTime = &t
		}
	}
	herr := c.cleanupHistory(ctx, cj, jobs)

	requeue, err := c.schedule(ctx, cj, jobs, &active, &st, now)
	st.Active = make([]api.ObjectReference, 0, len(active))
	for _, j := range active {
		st.Active = append(st.Active, jobRef(j))
	}
	if len(st.Active) == 0 {
		st.Active = nil
	}
	return requeue, errors.Join(err, herr, c.writeStatus(ctx, cj, st))
}

// schedule runs the due Job, if any, and returns when to look again.
func (c *CronJobController) schedule(ctx context.Context, cj *api.CronJob, jobs []*api.Job, active *[]*api.Job, st *api.CronJobStatus, now time.Time) (time.Duration, error) {
	key := informer.KeyOf(cj)
	sched, err := api.ParseCron(cj.Spec.Schedule)
	if err != nil {
		c.log.Warn("cronjob has an unusable schedule; no jobs are made", "cronjob", key, "schedule", cj.Spec.Schedule, "err", err)
		return 0, nil // a spec change queues the CronJob again
	}
	loc := time.Local
	if tz := cj.Spec.TimeZone; tz != nil {
		if loc, err = time.LoadLocation(*tz); err != nil {
			c.log.Warn("cronjob has an unknown time zone; no jobs are made", "cronjob", key, "timeZone", *tz, "err", err)
			return 0, nil
		}
	}
	nowIn := now.In(loc)
	var requeue time.Duration
	if next := sched.Next(nowIn); !next.IsZero() {
		requeue = next.Sub(now) + 100*time.Millisecond
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return 0, nil
	}

	earliest := cj.CreationTimestamp
	if st.LastScheduleTime != nil && st.LastScheduleTime.After(earliest) {
		earliest = *st.LastScheduleTime
	}
	for _, j := range jobs { // the cache may hold a newer Job than the status says
		if t, err := time.Parse(time.RFC3339, j.Annotations[CronJobScheduledTimeAnnotation]); err == nil && t.After(earliest) {
			earliest = t
		}
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if e := now.Add(-time.Duration(*d) * time.Second); e.After(earliest) {
			earliest = e
		}
	}
	due, missed := mostRecentSchedule(sched, earliest.In(loc), nowIn)
	if due.IsZero() {
		return requeue, nil
	}
	if missed > maxMissedSchedules {
		c.log.Warn("cronjob missed more than 100 start times; running the latest only (set startingDeadlineSeconds to bound this)",
			"cronjob", key, "scheduled", due, "since", earliest)
	}
	jobName := CronJobJobName(cj.Name, due)
	others := slices.DeleteFunc(slices.Clone(*active), func(j *api.Job) bool { return j.Name == jobName })
	switch cj.Spec.ConcurrencyPolicy {
	case api.ForbidConcurrent:
		if len(others) > 0 {
			c.log.Debug("cronjob run skipped: a job is still active", "cronjob", key, "scheduled", due)
			return requeue, nil
		}
	case api.ReplaceConcurrent:
		for _, j := range others {
			if err := deleteJobWithPods(ctx, c.jobs, c.pc, c.inf, j); err != nil {
				return 0, fmt.Errorf("replace job %s/%s: %w", j.Namespace, j.Name, err)
			}
			c.log.Info("active job replaced", "cronjob", key, "job", j.Name)
		}
		*active = slices.DeleteFunc(*active, func(j *api.Job) bool { return j.Name != jobName })
	}

	job, err := c.createJob(ctx, cj, jobName, due)
	if err != nil {
		return 0, err
	}
	if JobFinished(job) == nil && !slices.ContainsFunc(*active, func(j *api.Job) bool { return j.UID == job.UID }) {
		*active = append(*active, job)
	}
	t := due.UTC()
	st.LastScheduleTime = &t
	return requeue, nil
}

// mostRecentSchedule returns the latest time sched fires in
// (earliest, now] (zero when none) and how many times it fired there,
// counting no further than maxMissedSchedules+1.
func mostRecentSchedule(sched *api.CronSchedule, earliest, now time.Time) (time.Time, int) {
	var last time.Time
	n := 0
	for t := sched.Next(earliest); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		last = t
		n++
		if n > maxMissedSchedules {
			return latestFiring(sched, earliest, now), n
		}
	}
	return last, n
}

// latestFiring finds the last time sched fires in (earliest, now] by
// looking back from now in doubling windows (a cron schedule has no
// "previous").
func latestFiring(sched *api.CronSchedule, earliest, now time.Time) time.Time {
	for w := time.Minute; ; w *= 2 {
		from := now.Add(-w)
		if !from.After(earliest) {
			from = earliest
		}
		var last time.Time
		for t := sched.Next(from); !t.IsZero() && !t.After(now); t = sched.Next(t) {
			last = t
		}
		if !last.IsZero() || from.Equal(earliest) {
			return last
		}
	}
}

// createJob makes the Job for one scheduled time, or returns the one that
// already exists under that name when the CronJob owns it.
func (c *CronJobController) createJob(ctx context.Context, cj *api.CronJob, name string, scheduled time.Time) (*api.Job, error) {
	jt := &cj.Spec.JobTemplate
	ann := copyMap(jt.Annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	ann[CronJobScheduledTimeAnnotation] = scheduled.UTC().Format(time.RFC3339)
	job := &api.Job{
		ObjectMeta: api.ObjectMeta{
			Name: name, Namespace: cj.Namespace, Labels: copyMap(jt.Labels), Annotations: ann,
			OwnerReferences: []api.OwnerReference{ControllerRef(cj)},
		},
		Spec: jt.Spec,
	}
	api.SetDefaults(job)
	err := c.jobs.Create(ctx, job)
	if errors.Is(err, store.ErrAlreadyExists) {
		existing, gerr := c.jobs.Get(ctx, cj.Namespace, name)
		if gerr != nil {
			return nil, fmt.Errorf("create job %s/%s for cronjob %s: %w", cj.Namespace, name, cj.Name, gerr)
		}
		if !isControlledBy(existing, cj.UID) {
			return nil, fmt.Errorf("create job %s/%s for cronjob %s: the name is taken by a job it does not own: %w", cj.Namespace, name, cj.Name, err)
		}
		return existing, nil
	}
	if err != nil {
		return nil, fmt.Errorf("create job for cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	c.log.Info("job created", "cronjob", cj.Namespace+"/"+cj.Name, "job", name, "scheduled", scheduled)
	return job, nil
}

// activeJobs are the CronJob's unfinished Jobs: those in the cache, plus
// any its status lists that the cache has not seen yet but the store holds.
func (c *CronJobController) activeJobs(ctx context.Context, cj *api.CronJob, jobs []*api.Job) ([]*api.Job, error) {
	var out []*api.Job
	seen := map[string]bool{}
	for _, j := range jobs {
		seen[j.UID] = true
		if JobFinished(j) == nil {
			out = append(out, j)
		}
	}
	for _, ref := range cj.Status.Active {
		if seen[ref.UID] {
			continue
		}
		j, err := c.jobs.Get(ctx, cj.Namespace, ref.Name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("active job %s/%s of cronjob %s: %w", cj.Namespace, ref.Name, cj.Name, err)
		}
		if j.UID == ref.UID && isControlledBy(j, cj.UID) && JobFinished(j) == nil && j.DeletionTimestamp == nil {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Name < out[k].Name })
	return out, nil
}

func jobRef(j *api.Job) api.ObjectReference {
	return api.ObjectReference{APIVersion: api.KindOf(j).APIVersion(), Kind: "Job", Namespace: j.Namespace, Name: j.Name, UID: j.UID}
}

// cleanupHistory deletes the oldest finished Jobs beyond the history
// limits.
func (c *CronJobController) cleanupHistory(ctx context.Context, cj *api.CronJob, jobs []*api.Job) error {
	var succeeded, failed []*api.Job
	for _, j := range jobs {
		switch cond := JobFinished(j); {
		case cond == nil:
		case cond.Type == api.JobComplete:
			succeeded = append(succeeded, j)
		default:
			failed = append(failed, j)
		}
	}
	var errs []error
	prune := func(list []*api.Job, limit *int32, def int32) {
		n := def
		if limit != nil {
			n = *limit
		}
		if len(list) <= int(n) {
			return
		}
		sort.Slice(list, func(i, k int) bool { return jobStarted(list[i]).Before(jobStarted(list[k])) })
		for _, j := range list[:len(list)-int(n)] {
			if err := deleteJobWithPods(ctx, c.jobs, c.pc, c.inf, j); err != nil {
				errs = append(errs, err)
				continue
			}
			c.log.Debug("old job deleted", "cronjob", cj.Namespace+"/"+cj.Name, "job", j.Name)
		}
	}
	prune(succeeded, cj.Spec.SuccessfulJobsHistoryLimit, api.DefaultSuccessfulJobsHistoryLimit)
	prune(failed, cj.Spec.FailedJobsHistoryLimit, api.DefaultFailedJobsHistoryLimit)
	return errors.Join(errs...)
}

// jobStarted orders a CronJob's Jobs: by scheduled time, else by
// startTime, else by creation.
func jobStarted(j *api.Job) time.Time {
	if t, err := time.Parse(time.RFC3339, j.Annotations[CronJobScheduledTimeAnnotation]); err == nil {
		return t
	}
	if j.Status.StartTime != nil {
		return *j.Status.StartTime
	}
	return j.CreationTimestamp
}

func (c *CronJobController) writeStatus(ctx context.Context, cj *api.CronJob, st api.CronJobStatus) error {
	if equalJSON(st, cj.Status) {
		return nil
	}
	_, err := c.cjs.Mutate(ctx, cj.Namespace, cj.Name, func(cur *api.CronJob) error {
		if cur.UID != cj.UID {
			return store.ErrSkip
		}
		// Never move lastScheduleTime back: another reconcile may have
		// run a later time since this one read the CronJob.
		if cur.Status.LastScheduleTime != nil && (st.LastScheduleTime == nil || cur.Status.LastScheduleTime.After(*st.LastScheduleTime)) {
			st.LastScheduleTime = cur.Status.LastScheduleTime
		}
		cur.Status = st
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("status of cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	return nil
}
