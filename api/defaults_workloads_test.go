package api

import (
	"encoding/json"
	"testing"
)

func TestSetDefaultsDeployment(t *testing.T) {
	d := &Deployment{ObjectMeta: ObjectMeta{Name: "web"}, Spec: DeploymentSpec{Template: webTemplate()}}
	SetDefaults(d)
	s := d.Spec
	if d.Namespace != DefaultNamespace || d.Kind != "Deployment" || d.APIVersion != "apps/v1" {
		t.Errorf("meta = %+v %+v", d.TypeMeta, d.ObjectMeta)
	}
	if *s.Replicas != 1 || *s.RevisionHistoryLimit != 10 || *s.ProgressDeadlineSeconds != 600 {
		t.Errorf("replicas %d, revisionHistoryLimit %d, progressDeadlineSeconds %d", *s.Replicas, *s.RevisionHistoryLimit, *s.ProgressDeadlineSeconds)
	}
	if s.Strategy.Type != RollingUpdateDeploymentStrategyType || *s.Strategy.RollingUpdate.MaxSurge != FromString("25%") || *s.Strategy.RollingUpdate.MaxUnavailable != FromString("25%") {
		t.Errorf("strategy = %+v", s.Strategy)
	}
	if s.Template.Spec.RestartPolicy != RestartPolicyAlways || *s.Template.Spec.TerminationGracePeriodSeconds != 30 {
		t.Errorf("template spec = %+v", s.Template.Spec)
	}
}

func TestSetDefaultsKeepsWhatIsSet(t *testing.T) {
	d := &Deployment{ObjectMeta: ObjectMeta{Name: "web", Namespace: "team-a"}, Spec: DeploymentSpec{
		Replicas:                valuePtr[int32](0),
		Strategy:                DeploymentStrategy{Type: RollingUpdateDeploymentStrategyType, RollingUpdate: &RollingUpdateDeployment{MaxSurge: valuePtr(FromInt(0))}},
		RevisionHistoryLimit:    valuePtr[int32](0),
		ProgressDeadlineSeconds: valuePtr[int32](60),
		Template:                webTemplate(),
	}}
	d.Spec.Template.Spec.TerminationGracePeriodSeconds = valuePtr[int64](0)
	SetDefaults(d)
	s := d.Spec
	if d.Namespace != "team-a" || *s.Replicas != 0 || *s.RevisionHistoryLimit != 0 || *s.ProgressDeadlineSeconds != 60 || *s.Template.Spec.TerminationGracePeriodSeconds != 0 {
		t.Errorf("defaults overwrote set fields: namespace %q replicas %d revisionHistoryLimit %d progressDeadlineSeconds %d grace %d", d.Namespace, *s.Replicas, *s.RevisionHistoryLimit, *s.ProgressDeadlineSeconds, *s.Template.Spec.TerminationGracePeriodSeconds)
	}
	if *s.Strategy.RollingUpdate.MaxSurge != FromInt(0) || *s.Strategy.RollingUpdate.MaxUnavailable != FromString("25%") {
		t.Errorf("rollingUpdate = %+v %+v", *s.Strategy.RollingUpdate.MaxSurge, *s.Strategy.RollingUpdate.MaxUnavailable)
	}
}

func TestSetDefaultsRecreateGetsNoRollingUpdate(t *testing.T) {
	d := &Deployment{ObjectMeta: ObjectMeta{Name: "web"}, Spec: DeploymentSpec{Strategy: DeploymentStrategy{Type: RecreateDeploymentStrategyType}}}
	SetDefaults(d)
	if d.Spec.Strategy.RollingUpdate != nil {
		t.Fatalf("rollingUpdate = %+v, want nil for Recreate", d.Spec.Strategy.RollingUpdate)
	}
}

func TestSetDefaultsReplicaSet(t *testing.T) {
	rs := &ReplicaSet{ObjectMeta: ObjectMeta{Name: "web"}, Spec: ReplicaSetSpec{Template: webTemplate()}}
	SetDefaults(rs)
	if *rs.Spec.Replicas != 1 || rs.Spec.Template.Spec.RestartPolicy != RestartPolicyAlways || *rs.Spec.Template.Spec.TerminationGracePeriodSeconds != 30 || rs.Namespace != DefaultNamespace {
		t.Fatalf("replicas %d restartPolicy %q grace %d namespace %q", *rs.Spec.Replicas, rs.Spec.Template.Spec.RestartPolicy, *rs.Spec.Template.Spec.TerminationGracePeriodSeconds, rs.Namespace)
	}
}

func TestSetDefaultsDaemonSet(t *testing.T) {
	ds := &DaemonSet{ObjectMeta: ObjectMeta{Name: "agent"}, Spec: DaemonSetSpec{Template: webTemplate()}}
	SetDefaults(ds)
	us := ds.Spec.UpdateStrategy
	if us.Type != RollingUpdateDaemonSetStrategyType || *us.RollingUpdate.MaxUnavailable != FromInt(1) || *us.RollingUpdate.MaxSurge != FromInt(0) {
		t.Errorf("updateStrategy = %+v", us)
	}
	if *ds.Spec.RevisionHistoryLimit != 10 || ds.Spec.Template.Spec.RestartPolicy != RestartPolicyAlways {
		t.Errorf("revisionHistoryLimit %d restartPolicy %q", *ds.Spec.RevisionHistoryLimit, ds.Spec.Template.Spec.RestartPolicy)
	}
	onDelete := &DaemonSet{Spec: DaemonSetSpec{UpdateStrategy: DaemonSetUpdateStrategy{Type: OnDeleteDaemonSetStrategyType}}}
	SetDefaults(onDelete)
	if onDelete.Spec.UpdateStrategy.RollingUpdate != nil {
		t.Errorf("OnDelete got rollingUpdate %+v", onDelete.Spec.UpdateStrategy.RollingUpdate)
	}
}

func TestSetDefaultsJob(t *testing.T) {
	j := &Job{ObjectMeta: ObjectMeta{Name: "migrate", UID: "u1"}, Spec: JobSpec{Template: webTemplate()}}
	SetDefaults(j)
	s := j.Spec
	if *s.Parallelism != 1 || *s.Completions != 1 || *s.BackoffLimit != 6 || *s.Suspend {
		t.Errorf("parallelism %d completions %d backoffLimit %d suspend %v; want 1 1 6 false", *s.Parallelism, *s.Completions, *s.BackoffLimit, *s.Suspend)
	}
	if s.Selector != nil || s.ManualSelector != nil {
		t.Errorf("selector %+v manualSelector %v: generating them is the Job controller's job", s.Selector, s.ManualSelector)
	}
	if s.Template.Spec.RestartPolicy != "" || *s.Template.Spec.TerminationGracePeriodSeconds != 30 {
		t.Errorf("template spec = %+v, want no restartPolicy and a 30s grace period", s.Template.Spec)
	}
}

func TestSetDefaultsWorkQueueJobKeepsCompletionsUnset(t *testing.T) {
	j := &Job{ObjectMeta: ObjectMeta{Name: "queue"}, Spec: JobSpec{Parallelism: valuePtr[int32](5)}}
	SetDefaults(j)
	if j.Spec.Completions != nil || *j.Spec.Parallelism != 5 {
		t.Fatalf("completions %v parallelism %d", j.Spec.Completions, *j.Spec.Parallelism)
	}
	fixed := &Job{ObjectMeta: ObjectMeta{Name: "fixed"}, Spec: JobSpec{Completions: valuePtr[int32](5)}}
	SetDefaults(fixed)
	if *fixed.Spec.Completions != 5 || *fixed.Spec.Parallelism != 1 {
		t.Fatalf("completions %d parallelism %d", *fixed.Spec.Completions, *fixed.Spec.Parallelism)
	}
}

func TestSetDefaultsCronJob(t *testing.T) {
	cj := &CronJob{ObjectMeta: ObjectMeta{Name: "nightly"}, Spec: CronJobSpec{Schedule: "@daily", JobTemplate: JobTemplateSpec{Spec: JobSpec{Template: webTemplate()}}}}
	SetDefaults(cj)
	s := cj.Spec
	if s.ConcurrencyPolicy != AllowConcurrent || *s.Suspend || *s.SuccessfulJobsHistoryLimit != 3 || *s.FailedJobsHistoryLimit != 1 {
		t.Errorf("concurrencyPolicy %s suspend %v history %d/%d; want Allow false 3/1", s.ConcurrencyPolicy, *s.Suspend, *s.SuccessfulJobsHistoryLimit, *s.FailedJobsHistoryLimit)
	}
	pod := s.JobTemplate.Spec.Template.Spec
	if pod.RestartPolicy != "" || *pod.TerminationGracePeriodSeconds != 30 {
		t.Errorf("job template pod spec = %+v", pod)
	}
	if cj.Kind != "CronJob" || cj.APIVersion != "batch/v1" || cj.Namespace != DefaultNamespace {
		t.Errorf("meta = %+v %+v", cj.TypeMeta, cj.ObjectMeta)
	}
}

func TestSetDefaultsNamespace(t *testing.T) {
	ns := &Namespace{ObjectMeta: ObjectMeta{Name: "team-a"}}
	SetDefaults(ns)
	if ns.Status.Phase != NamespaceActive || ns.Namespace != "" {
		t.Fatalf("namespace = %+v", ns)
	}
	terminating := &Namespace{ObjectMeta: ObjectMeta{Name: "old"}, Status: NamespaceStatus{Phase: NamespaceTerminating}}
	SetDefaults(terminating)
	if terminating.Status.Phase != NamespaceTerminating {
		t.Fatalf("phase = %s, want Terminating kept", terminating.Status.Phase)
	}
}

func TestSetDefaultsIsIdempotent(t *testing.T) {
	for _, obj := range []Object{validDeployment(), validReplicaSet(), validDaemonSet(), validJob(), validCronJob()} {
		before, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		SetDefaults(obj)
		after, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		if string(before) != string(after) {
			t.Errorf("%T changed on a second SetDefaults:\n%s\n%s", obj, before, after)
		}
	}
}
