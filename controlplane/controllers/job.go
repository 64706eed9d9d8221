package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Labels of a Job's pods and selector when the selector is generated, as
// in Kubernetes.
const (
	JobControllerUIDLabel = "controller-uid"
	JobNameLabel          = "batch.kubernetes.io/job-name"
)

// Job condition reasons.
const (
	JobReasonBackoffLimitExceeded = "BackoffLimitExceeded"
	JobReasonDeadlineExceeded     = "DeadlineExceeded"
	JobSuspended                  = "Suspended"
)

// JobController runs each Job's pods to completion.
//
// # Rules
//
//   - Without manualSelector: true the selector is generated once and
//     written into the Job: controller-uid=<job uid> and
//     batch.kubernetes.io/job-name=<name>, on the selector and the pod
//     template. Pods are found by their controller reference (the Job's uid)
//     either way; orphans are not adopted.
//   - Pods are named <job>-<random>. While active+succeeded < completions
//     the Job keeps min(parallelism, completions-succeeded) pods active.
//     Without completions (a work queue) it keeps parallelism pods until
//     one succeeds, then starts no more and is Complete once none is
//     active.
//   - succeeded and failed count the Job's pods in those phases and never
//     go down (a counted pod that is later removed stays counted). A pod
//     the Job or someone else deleted before it finished is not a failure:
//     it is replaced.
//   - After failures, new pods wait a back-off (10 s doubling to 6 min
//     from the last failure, as Kubernetes does).
//   - Failed (reason BackoffLimitExceeded) when failures exceed
//     backoffLimit; with restartPolicy OnFailure container restarts of
//     active pods count as failures too. Failed (reason DeadlineExceeded)
//     once activeDeadlineSeconds have passed since startTime. A Failed Job's
//     active pods are deleted.
//   - Complete when succeeded reaches completions (remaining active pods are
//     deleted), with completionTime.
//   - startTime is set on the first sync that is not suspended. suspend:
//     true deletes the active pods and sets condition Suspended; resuming
//     restarts startTime (so activeDeadlineSeconds counts from the resume).
//   - ttlSecondsAfterFinished: that long after completionTime (or the Failed
//     condition) the Job's pods are deleted, then the Job. The pods are
//     deleted here rather than left to the garbage collector, so a finished
//     Job never leaves pods behind whether or not a collector runs.
type JobController struct {
	inf  *informer.Set
	jobs *store.Resource[*api.Job]
	pc   podControl
	exp  *Expectations
	q    *Queue
	log  *slog.Logger
	now  func() time.Time

	// backoffBase and backoffMax bound the wait before a pod replaces a
	// failed one.
	backoffBase, backoffMax time.Duration
}

// NewJobController wires the controller to the informers.
func NewJobController(inf *informer.Set, st *store.Store, log *slog.Logger) *JobController {
	c := &JobController{
		inf: inf, jobs: store.For[*api.Job](st), pc: newPodControl(inf, st),
		exp: NewExpectations(), q: NewQueue(5*time.Millisecond, time.Minute), log: log, now: time.Now,
		backoffBase: 10 * time.Second, backoffMax: 6 * time.Minute,
	}
	enqueue := func(j *api.Job) { c.q.Add(informer.KeyOf(j)) }
	inf.Jobs.AddHandler(informer.Handler[*api.Job]{
		OnAdd:    enqueue,
		OnUpdate: func(_, cur *api.Job) { enqueue(cur) },
		OnDelete: func(j *api.Job) { c.exp.Forget(informer.KeyOf(j)) },
	})
	inf.Pods.AddHandler(informer.Handler[*api.Pod]{
		OnAdd: func(p *api.Pod) {
			if key, ok := jobOwnerKey(p); ok {
				c.exp.Observed(key, true)
				c.q.Add(key)
			}
		},
		OnUpdate: func(old, cur *api.Pod) {
			if key, ok := jobOwnerKey(cur); ok {
				if old.DeletionTimestamp == nil && cur.DeletionTimestamp != nil {
					c.exp.Observed(key, false)
				}
				c.q.Add(key)
			}
		},
		OnDelete: func(p *api.Pod) {
			if key, ok := jobOwnerKey(p); ok {
				if p.DeletionTimestamp == nil {
					c.exp.Observed(key, false)
				}
				c.q.Add(key)
			}
		},
	})
	return c
}

func jobOwnerKey(p *api.Pod) (string, bool) {
	r := ControllerOf(p)
	if r == nil || r.Kind != "Job" {
		return "", false
	}
	return informer.Key(p.Namespace, r.Name), true
}

// Runner returns the controller's runner.
func (c *JobController) Runner(workers int) *Runner {
	return &Runner{Name: "job", Queue: c.q, R: c, Workers: workers, Resync: 30 * time.Second, Log: c.log,
		Keys: func() []string { return keysOf(c.inf.Jobs.List("", nil)) }}
}

// JobFinished returns the Job's Complete or Failed condition that is True,
// or nil while it runs.
func JobFinished(j *api.Job) *api.Condition {
	for _, t := range []string{api.JobComplete, api.JobFailed} {
		if c := api.FindCondition(j.Status.Conditions, t); c != nil && c.Status == api.ConditionTrue {
			return c
		}
	}
	return nil
}

// jobPods are a Job's pods, sorted into what counts.
type jobPods struct {
	active      []*api.Pod
	succeeded   int32
	failed      int32
	restarts    int32 // of active pods, for restartPolicy OnFailure
	lastFailure time.Time
}

func countJobPods(j *api.Job, pods []*api.Pod) jobPods {
	var out jobPods
	for _, p := range pods {
		switch {
		case p.Status.Phase == api.PodSucceeded:
			out.succeeded++
		case p.Status.Phase == api.PodFailed:
			if p.DeletionTimestamp != nil {
				continue // deleted before it ended: not a failure
			}
			out.failed++
			if t := finishedAt(p); t.After(out.lastFailure) {
				out.lastFailure = t
			}
		case p.DeletionTimestamp == nil:
			out.active = append(out.active, p)
			if j.Spec.Template.Spec.RestartPolicy == api.RestartPolicyOnFailure {
				for _, cs := range p.Status.ContainerStatuses {
					out.restarts += cs.RestartCount
				}
			}
		}
	}
	return out
}

// finishedAt is when a finished pod's last container ended (its creation
// time when no container says).
func finishedAt(p *api.Pod) time.Time {
	var t time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Terminated != nil && cs.State.Terminated.FinishedAt.After(t) {
			t = cs.State.Terminated.FinishedAt
		}
	}
	if t.IsZero() {
		if c := p.Status.Condition(api.PodReady); c != nil && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime
		}
		return p.CreationTimestamp
	}
	return t
}

// Reconcile moves one Job a step toward completion.
func (c *JobController) Reconcile(ctx context.Context, key string) (time.Duration, error) {
	ns, name := splitKey(key)
	if _, ok := c.inf.Jobs.Get(ns, name); !ok {
		c.exp.Forget(key)
		return 0, nil
	}
	// The Job itself is read from the store, not the cache: its status is
	// what this reconcile builds on, and a cached Job one write behind
	// would not yet be finished, so pods of a Failed Job (whose restarts
	// went with them) would be made again.
	job, err := c.jobs.Get(ctx, ns, name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if job.DeletionTimestamp != nil {
		return 0, nil
	}
	now := c.now()
	if JobFinished(job) != nil {
		return c.finished(ctx, job, now)
	}
	job, err = c.ensureSelector(ctx, job)
	if err != nil || job == nil {
		return 0, err
	}
	// Expectations before the list (see DaemonSetController.Reconcile).
	satisfied := c.exp.Satisfied(key)
	pods := countJobPods(job, c.inf.Pods.ControlledBy(job.UID))
	st := job.Status
	st.Conditions = slices.Clone(job.Status.Conditions)
	st.Succeeded = max(st.Succeeded, pods.succeeded)
	st.Failed = max(st.Failed, pods.failed)
	// Full precision: activeDeadlineSeconds and ttlSecondsAfterFinished
	// count from these, and a time cut to the second would end them early.
	t := now.UTC()
	suspended := job.Spec.Suspend != nil && *job.Spec.Suspend
	if !satisfied {
		// Creates or deletes are still on their way to the cache: count
		// without acting.
		st.Active = int32(len(pods.active))
		return 0, c.writeStatus(ctx, job, st)
	}

	var requeue time.Duration
	after := func(d time.Duration) {
		if d > 0 && (requeue == 0 || d < requeue) {
			requeue = d
		}
	}
	var deleted []*api.Pod
	var actErr error
	switch {
	case suspended:
		setJobCondition(&st.Conditions, api.Condition{Type: JobSuspended, Status: api.ConditionTrue, Reason: "JobSuspended", Message: "Job suspended"}, t)
		deleted = pods.active
	default:
		if sc := api.FindCondition(st.Conditions, JobSuspended); sc != nil && sc.Status == api.ConditionTrue {
			setJobCondition(&st.Conditions, api.Condition{Type: JobSuspended, Status: api.ConditionFalse, Reason: "JobResumed", Message: "Job resumed"}, t)
			st.StartTime = nil
		}
		if st.StartTime == nil {
			st.StartTime = &t
		}
		reason, msg := jobFailure(job, st, pods, now)
		complete := jobComplete(job, st.Succeeded, len(pods.active))
		switch {
		case reason != "":
			setJobCondition(&st.Conditions, api.Condition{Type: api.JobFailed, Status: api.ConditionTrue, Reason: reason, Message: msg}, t)
			deleted = pods.active
			c.log.Info("job failed", "job", key, "reason", reason, "failed", st.Failed)
		case complete:
			setJobCondition(&st.Conditions, api.Condition{Type: api.JobComplete, Status: api.ConditionTrue}, t)
			st.CompletionTime = &t
			deleted = pods.active
			c.log.Info("job complete", "job", key, "succeeded", st.Succeeded)
		default:
			var wait time.Duration
			deleted, wait, actErr = c.manage(ctx, key, job, st, pods, now)
			after(wait)
			if d := job.Spec.ActiveDeadlineSeconds; d != nil {
				after(st.StartTime.Add(time.Duration(*d)*time.Second).Sub(now) + 10*time.Millisecond)
			}
		}
	}
	if err := c.deletePods(ctx, key, deleted); err != nil {
		actErr = errors.Join(actErr, err)
	}
	gone := map[string]bool{}
	for _, p := range deleted {
		gone[p.Name] = true
	}
	st.Active = int32(len(slices.DeleteFunc(slices.Clone(pods.active), func(p *api.Pod) bool { return gone[p.Name] })))
	if err := c.writeStatus(ctx, job, st); err != nil {
		return 0, errors.Join(actErr, err)
	}
	return requeue, actErr
}

// jobFailure says why the Job has failed, or "".
func jobFailure(job *api.Job, st api.JobStatus, pods jobPods, now time.Time) (reason, msg string) {
	limit := api.DefaultBackoffLimit
	if job.Spec.BackoffLimit != nil {
		limit = *job.Spec.BackoffLimit
	}
	if st.Failed+pods.restarts > limit {
		return JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit"
	}
	if d := job.Spec.ActiveDeadlineSeconds; d != nil && st.StartTime != nil &&
		!now.Before(st.StartTime.Add(time.Duration(*d)*time.Second)) {
		return JobReasonDeadlineExceeded, "Job was active longer than specified deadline"
	}
	return "", ""
}

// jobComplete: succeeded reached completions, or (work queue) a pod
// succeeded and none is active.
func jobComplete(job *api.Job, succeeded int32, active int) bool {
	if job.Spec.Completions == nil {
		return succeeded > 0 && active == 0
	}
	return succeeded >= *job.Spec.Completions
}

// manage creates or deletes pods toward the wanted number of active ones.
// It returns the pods it deleted and how long to wait for a back-off.
func (c *JobController) manage(ctx context.Context, key string, job *api.Job, st api.JobStatus, pods jobPods, now time.Time) ([]*api.Pod, time.Duration, error) {
	parallelism := int32(1)
	if job.Spec.Parallelism != nil {
		parallelism = *job.Spec.Parallelism
	}
	active := int32(len(pods.active))
	var want int32
	switch {
	case job.Spec.Completions == nil && st.Succeeded > 0:
		want = active // a work queue with a success starts no more pods
	case job.Spec.Completions == nil:
		want = parallelism
	default:
		want = max(min(parallelism, *job.Spec.Completions-st.Succeeded), 0)
	}
	switch {
	case active > want:
		victims := slices.Clone(pods.active)
		rankForDeletion(victims, c.nodeReady)
		return victims[:active-want], 0, nil
	case active < want:
		if wait := c.backoff(st.Failed, pods.lastFailure, now); wait > 0 {
			return nil, wait, nil
		}
		n := min(int(want-active), burstReplicas)
		c.exp.Expect(key, n, 0)
		created, err := slowStart(ctx, n, func(ctx context.Context) error {
			return c.pc.create(ctx, PodFromTemplate(&job.Spec.Template, job, job.Name+"-"))
		})
		for i := created; i < n; i++ {
			c.exp.Observed(key, true) // never coming
		}
		return nil, 0, err
	}
	return nil, 0, nil
}

// backoff is how long new pods still wait after failed ones.
func (c *JobController) backoff(failed int32, last, now time.Time) time.Duration {
	if failed == 0 || last.IsZero() {
		return 0
	}
	d := c.backoffBase
	for i := int32(1); i < failed && d < c.backoffMax; i++ {
		d *= 2
	}
	return max(last.Add(min(d, c.backoffMax)).Sub(now), 0)
}

func (c *JobController) nodeReady(name string) bool {
	n, ok := c.inf.Nodes.Get("", name)
	return ok && n.IsReady()
}

func (c *JobController) deletePods(ctx context.Context, key string, pods []*api.Pod) error {
	if len(pods) == 0 {
		return nil
	}
	c.exp.Expect(key, 0, len(pods))
	return parallel(ctx, pods, func(ctx context.Context, p *api.Pod) error {
		err := c.pc.delete(ctx, p)
		if err != nil {
			c.exp.Observed(key, false)
		}
		return err
	})
}

// setJobCondition sets a condition stamped t, keeping its times when
// nothing about it changed.
func setJobCondition(conds *[]api.Condition, cond api.Condition, t time.Time) {
	cond.LastUpdateTime, cond.LastTransitionTime = t, t
	keepTimes(&cond, api.FindCondition(*conds, cond.Type))
	api.SetCondition(conds, cond)
}

// ensureSelector writes the generated selector into a Job without
// manualSelector, once. It returns nil when the Job is gone or replaced.
func (c *JobController) ensureSelector(ctx context.Context, job *api.Job) (*api.Job, error) {
	if (job.Spec.ManualSelector != nil && *job.Spec.ManualSelector) || hasGeneratedSelector(job) {
		return job, nil
	}
	got, err := c.jobs.Mutate(ctx, job.Namespace, job.Name, func(j *api.Job) error {
		if j.UID != job.UID || hasGeneratedSelector(j) {
			return store.ErrSkip
		}
		labels := map[string]string{JobControllerUIDLabel: j.UID, JobNameLabel: j.Name}
		j.Spec.Selector = &api.LabelSelector{MatchLabels: copyMap(labels)}
		if j.Spec.Template.Labels == nil {
			j.Spec.Template.Labels = map[string]string{}
		}
		for k, v := range labels {
			j.Spec.Template.Labels[k] = v
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && got.UID != job.UID) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("generate selector of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return got, nil
}

func hasGeneratedSelector(j *api.Job) bool {
	return j.Spec.Selector != nil && j.Spec.Selector.MatchLabels[JobControllerUIDLabel] == j.UID &&
		j.Spec.Template.Labels[JobControllerUIDLabel] == j.UID && j.Spec.Template.Labels[JobNameLabel] == j.Name
}

func (c *JobController) writeStatus(ctx context.Context, job *api.Job, st api.JobStatus) error {
	if equalJSON(st, job.Status) {
		return nil
	}
	_, err := c.jobs.Mutate(ctx, job.Namespace, job.Name, func(cur *api.Job) error {
		if cur.UID != job.UID || (JobFinished(cur) != nil && JobFinished(&api.Job{Status: st}) == nil) {
			return store.ErrSkip // a finished Job stays finished
		}
		cur.Status = st
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("status of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return nil
}

// finished handles a Job that is Complete or Failed: pods still active
// are deleted, and after ttlSecondsAfterFinished the Job goes.
func (c *JobController) finished(ctx context.Context, job *api.Job, now time.Time) (time.Duration, error) {
	key := informer.KeyOf(job)
	satisfied := c.exp.Satisfied(key)
	var active []*api.Pod
	for _, p := range c.inf.Pods.ControlledBy(job.UID) {
		if isActive(p) {
			active = append(active, p)
		}
	}
	if len(active) > 0 && satisfied {
		if err := c.deletePods(ctx, key, active); err != nil {
			return 0, err
		}
	}
	if job.Spec.TTLSecondsAfterFinished == nil {
		return 0, nil
	}
	expire := jobFinishTime(job).Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	if wait := expire.Sub(now); wait > 0 {
		return wait + 10*time.Millisecond, nil
	}
	if err := deleteJobWithPods(ctx, c.jobs, c.pc, c.inf, job); err != nil {
		return 0, err
	}
	c.log.Info("finished job deleted after its ttl", "job", key, "ttlSecondsAfterFinished", *job.Spec.TTLSecondsAfterFinished)
	return 0, nil
}

// jobFinishTime is completionTime, or when the Failed condition was set.
func jobFinishTime(j *api.Job) time.Time {
	if j.Status.CompletionTime != nil {
		return *j.Status.CompletionTime
	}
	if c := JobFinished(j); c != nil {
		return c.LastTransitionTime
	}
	return j.CreationTimestamp
}

// deleteJobWithPods deletes a Job's pods, then the Job (only the one with
// job's uid). The pods go first, so nothing is left running whether or not
// a garbage collector follows ownerReferences.
func deleteJobWithPods(ctx context.Context, jobs *store.Resource[*api.Job], pc podControl, inf *informer.Set, job *api.Job) error {
	cur, err := jobs.Get(ctx, job.Namespace, job.Name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.UID != job.UID {
		return nil
	}
	pods := inf.Pods.ControlledBy(job.UID)
	if err := parallel(ctx, pods, pc.delete); err != nil {
		return fmt.Errorf("delete pods of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	for {
		err := jobs.Delete(ctx, cur.Namespace, cur.Name, cur.ResourceVersion)
		switch {
		case err == nil, errors.Is(err, store.ErrNotFound):
			return nil
		case !errors.Is(err, store.ErrConflict) || ctx.Err() != nil:
			return fmt.Errorf("delete job %s/%s: %w", job.Namespace, job.Name, err)
		}
		cur, err = jobs.Get(ctx, job.Namespace, job.Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil
		case err != nil:
			return err
		case cur.UID != job.UID:
			return nil
		}
	}
}
