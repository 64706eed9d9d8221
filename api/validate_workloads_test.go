package api

import (
	"errors"
	"strings"
	"testing"
)

func valuePtr[T any](v T) *T { return &v }

func webTemplate() PodTemplateSpec {
	return PodTemplateSpec{
		ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       PodSpec{Containers: []Container{{Name: "app", Image: "nginx:1.27"}}},
	}
}

func validDeployment() *Deployment {
	d := &Deployment{
		ObjectMeta: ObjectMeta{Name: "web"},
		Spec: DeploymentSpec{
			Selector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: webTemplate(),
		},
	}
	SetDefaults(d)
	return d
}

func validReplicaSet() *ReplicaSet {
	rs := &ReplicaSet{
		ObjectMeta: ObjectMeta{Name: "web-abc12"},
		Spec: ReplicaSetSpec{
			Selector: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "In", Values: []string{"web", "api"}}}},
			Template: webTemplate(),
		},
	}
	SetDefaults(rs)
	return rs
}

func validDaemonSet() *DaemonSet {
	ds := &DaemonSet{
		ObjectMeta: ObjectMeta{Name: "agent"},
		Spec: DaemonSetSpec{
			Selector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: webTemplate(),
		},
	}
	SetDefaults(ds)
	return ds
}

func validJob() *Job {
	j := &Job{ObjectMeta: ObjectMeta{Name: "migrate"}, Spec: JobSpec{Template: webTemplate()}}
	j.Spec.Template.Spec.RestartPolicy = RestartPolicyOnFailure
	SetDefaults(j)
	return j
}

func validCronJob() *CronJob {
	cj := &CronJob{ObjectMeta: ObjectMeta{Name: "nightly"}, Spec: CronJobSpec{
		Schedule:    "0 3 * * *",
		JobTemplate: JobTemplateSpec{Spec: JobSpec{Template: webTemplate()}},
	}}
	cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = RestartPolicyNever
	SetDefaults(cj)
	return cj
}

func TestValidWorkloadsPass(t *testing.T) {
	for _, obj := range []Object{
		validDeployment(), validReplicaSet(), validDaemonSet(), validJob(), validCronJob(),
		func() Object { ns := &Namespace{ObjectMeta: ObjectMeta{Name: "team-a"}}; SetDefaults(ns); return ns }(),
		func() Object {
			q := &ResourceQuota{ObjectMeta: ObjectMeta{Name: "q"}, Spec: ResourceQuotaSpec{Hard: ResourceList{
				ResourcePods: "10", ResourceCPU: "4", ResourceMemory: "8Gi", ResourceRequestsCPU: "2", ResourceRequestsMemory: "4Gi", ResourceLimitsCPU: "8", ResourceLimitsMemory: "16Gi",
			}}}
			SetDefaults(q)
			return q
		}(),
	} {
		if err := Validate(obj); err != nil {
			t.Errorf("%T: %v", obj, err)
		}
	}
}

// wantFieldError checks that err holds an error on field whose text
// contains detail.
func wantFieldError(t *testing.T, err error, field, detail string) {
	t.Helper()
	var fe FieldErrors
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v (%T), want FieldErrors with %s: %s", err, err, field, detail)
	}
	for _, e := range fe {
		if e.Field == field && strings.Contains(e.Detail, detail) {
			return
		}
	}
	t.Fatalf("errors %q do not include %s: %s", fe, field, detail)
}

func TestValidateDeployment(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(d *Deployment)
		field  string
		detail string
	}{
		{name: "negative replicas", edit: func(d *Deployment) { d.Spec.Replicas = valuePtr[int32](-1) }, field: "spec.replicas", detail: "must be greater than or equal to 0"},
		{name: "no selector", edit: func(d *Deployment) { d.Spec.Selector = nil }, field: "spec.selector", detail: "required"},
		{name: "empty selector", edit: func(d *Deployment) { d.Spec.Selector = &LabelSelector{} }, field: "spec.selector", detail: "empty selector is invalid for a Deployment"},
		{name: "selector not matching template", edit: func(d *Deployment) { d.Spec.Template.Labels = map[string]string{"app": "other"} }, field: "spec.template.metadata.labels", detail: `Invalid value: {"app":"other"}: selector does not match template labels`},
		{name: "bad selector operator", edit: func(d *Deployment) {
			d.Spec.Selector.MatchExpressions = []LabelSelectorRequirement{{Key: "tier", Operator: "Like"}}
		}, field: "spec.selector.matchExpressions[0].operator", detail: `"Like" is not one of In, NotIn, Exists, DoesNotExist`},
		{name: "In without values", edit: func(d *Deployment) {
			d.Spec.Selector.MatchExpressions = []LabelSelectorRequirement{{Key: "tier", Operator: "In"}}
		}, field: "spec.selector.matchExpressions[0].values", detail: "required"},
		{name: "Exists with values", edit: func(d *Deployment) {
			d.Spec.Selector.MatchExpressions = []LabelSelectorRequirement{{Key: "app", Operator: "Exists", Values: []string{"x"}}}
		}, field: "spec.selector.matchExpressions[0].values", detail: "must be empty when operator is Exists"},
		{name: "template restartPolicy", edit: func(d *Deployment) { d.Spec.Template.Spec.RestartPolicy = RestartPolicyNever }, field: "spec.template.spec.restartPolicy", detail: `"Never" is not supported: the pods of a Deployment must use Always`},
		{name: "template activeDeadlineSeconds", edit: func(d *Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = valuePtr[int64](5) }, field: "spec.template.spec.activeDeadlineSeconds", detail: "must not be set"},
		{name: "template pod spec", edit: func(d *Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" }, field: "spec.template.spec.containers[0].image", detail: "required"},
		{name: "template label value", edit: func(d *Deployment) { d.Spec.Template.Labels["tier"] = "not ok!" }, field: "spec.template.metadata.labels[tier]", detail: "invalid label value"},
		{name: "strategy type", edit: func(d *Deployment) { d.Spec.Strategy.Type = "BlueGreen" }, field: "spec.strategy.type", detail: `"BlueGreen" is not one of Recreate, RollingUpdate`},
		{name: "recreate with rollingUpdate", edit: func(d *Deployment) { d.Spec.Strategy.Type = RecreateDeploymentStrategyType }, field: "spec.strategy.rollingUpdate", detail: "must not be set when spec.strategy.type is Recreate"},
		{name: "rolling without bounds", edit: func(d *Deployment) { d.Spec.Strategy.RollingUpdate = nil }, field: "spec.strategy.rollingUpdate", detail: "required"},
		{name: "negative maxSurge", edit: func(d *Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = valuePtr(FromInt(-1)) }, field: "spec.strategy.rollingUpdate.maxSurge", detail: "-1 must be greater than or equal to 0"},
		{name: "maxUnavailable over 100%", edit: func(d *Deployment) { d.Spec.Strategy.RollingUpdate.MaxUnavailable = valuePtr(FromString("101%")) }, field: "spec.strategy.rollingUpdate.maxUnavailable", detail: `"101%" must not be greater than 100%`},
		{name: "maxUnavailable not a percentage", edit: func(d *Deployment) { d.Spec.Strategy.RollingUpdate.MaxUnavailable = valuePtr(FromString("half")) }, field: "spec.strategy.rollingUpdate.maxUnavailable", detail: `"half" must be an integer or a percentage like "25%"`},
		{name: "negative percentage", edit: func(d *Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = valuePtr(FromString("-5%")) }, field: "spec.strategy.rollingUpdate.maxSurge", detail: "must be an integer or a percentage"},
		{name: "both zero", edit: func(d *Deployment) {
			d.Spec.Strategy.RollingUpdate = &RollingUpdateDeployment{MaxSurge: valuePtr(FromString("0%")), MaxUnavailable: valuePtr(FromInt(0))}
		}, field: "spec.strategy.rollingUpdate.maxUnavailable", detail: "may not be 0 when maxSurge is 0"},
		{name: "negative revisionHistoryLimit", edit: func(d *Deployment) { d.Spec.RevisionHistoryLimit = valuePtr[int32](-1) }, field: "spec.revisionHistoryLimit", detail: "must be greater than or equal to 0"},
		{name: "negative minReadySeconds", edit: func(d *Deployment) { d.Spec.MinReadySeconds = -1 }, field: "spec.minReadySeconds", detail: "must be greater than or equal to 0"},
		{name: "progress deadline not above minReady", edit: func(d *Deployment) { d.Spec.MinReadySeconds = 600 }, field: "spec.progressDeadlineSeconds", detail: "600 must be greater than minReadySeconds (600)"},
		{name: "two controllers", edit: func(d *Deployment) {
			d.OwnerReferences = []OwnerReference{
				{APIVersion: "v1", Kind: "A", Name: "a", UID: "1", Controller: valuePtr(true)},
				{APIVersion: "v1", Kind: "B", Name: "b", UID: "2", Controller: valuePtr(true)},
			}
		}, field: "metadata.ownerReferences", detail: "only one reference may have controller: true, found A/a, B/b"},
		{name: "owner without uid", edit: func(d *Deployment) {
			d.OwnerReferences = []OwnerReference{{APIVersion: "v1", Kind: "A", Name: "a"}}
		}, field: "metadata.ownerReferences[0].uid", detail: "required"},
		{name: "owner without apiVersion", edit: func(d *Deployment) { d.OwnerReferences = []OwnerReference{{Kind: "A", Name: "a", UID: "1"}} }, field: "metadata.ownerReferences[0].apiVersion", detail: "required"},
		{name: "owner without kind", edit: func(d *Deployment) { d.OwnerReferences = []OwnerReference{{APIVersion: "v1", Name: "a", UID: "1"}} }, field: "metadata.ownerReferences[0].kind", detail: "required"},
		{name: "owner without name", edit: func(d *Deployment) { d.OwnerReferences = []OwnerReference{{APIVersion: "v1", Kind: "A", UID: "1"}} }, field: "metadata.ownerReferences[0].name", detail: "required"},
		{name: "owns itself", edit: func(d *Deployment) {
			d.UID = "u1"
			d.OwnerReferences = []OwnerReference{{APIVersion: "v1", Kind: "A", Name: "a", UID: "u1"}}
		}, field: "metadata.ownerReferences[0].uid", detail: "cannot own itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDeployment()
			tt.edit(d)
			wantFieldError(t, Validate(d), tt.field, tt.detail)
		})
	}
}

func TestValidateDeploymentAllowsMaxSurgeAbove100Percent(t *testing.T) {
	d := validDeployment()
	d.Spec.Strategy.RollingUpdate.MaxSurge = valuePtr(FromString("200%"))
	if err := Validate(d); err != nil {
		t.Fatal(err)
	}
}

func TestValidateReplicaSet(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(rs *ReplicaSet)
		field  string
		detail string
	}{
		{name: "negative replicas", edit: func(rs *ReplicaSet) { rs.Spec.Replicas = valuePtr[int32](-3) }, field: "spec.replicas", detail: "must be greater than or equal to 0"},
		{name: "no selector", edit: func(rs *ReplicaSet) { rs.Spec.Selector = nil }, field: "spec.selector", detail: "required"},
		{name: "empty selector", edit: func(rs *ReplicaSet) { rs.Spec.Selector = &LabelSelector{} }, field: "spec.selector", detail: "empty selector is invalid for a ReplicaSet"},
		{name: "not matching", edit: func(rs *ReplicaSet) { rs.Spec.Template.Labels = nil }, field: "spec.template.metadata.labels", detail: "Invalid value: {}: selector does not match template labels"},
		{name: "restartPolicy", edit: func(rs *ReplicaSet) { rs.Spec.Template.Spec.RestartPolicy = RestartPolicyOnFailure }, field: "spec.template.spec.restartPolicy", detail: "must use Always"},
		{name: "bad selector key", edit: func(rs *ReplicaSet) { rs.Spec.Selector.MatchLabels = map[string]string{"bad key": "x"} }, field: "spec.selector.matchLabels[bad key]", detail: "invalid label key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := validReplicaSet()
			tt.edit(rs)
			wantFieldError(t, Validate(rs), tt.field, tt.detail)
		})
	}
}

func TestValidateDaemonSet(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(ds *DaemonSet)
		field  string
		detail string
	}{
		{name: "no selector", edit: func(ds *DaemonSet) { ds.Spec.Selector = nil }, field: "spec.selector", detail: "required"},
		{name: "not matching", edit: func(ds *DaemonSet) { ds.Spec.Selector.MatchLabels["tier"] = "edge" }, field: "spec.template.metadata.labels", detail: "selector does not match template labels"},
		{name: "strategy type", edit: func(ds *DaemonSet) { ds.Spec.UpdateStrategy.Type = "Recreate" }, field: "spec.updateStrategy.type", detail: `"Recreate" is not one of RollingUpdate, OnDelete`},
		{name: "OnDelete with rollingUpdate", edit: func(ds *DaemonSet) { ds.Spec.UpdateStrategy.Type = OnDeleteDaemonSetStrategyType }, field: "spec.updateStrategy.rollingUpdate", detail: "must not be set"},
		{name: "maxSurge over 100%", edit: func(ds *DaemonSet) { ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = valuePtr(FromString("150%")) }, field: "spec.updateStrategy.rollingUpdate.maxSurge", detail: "must not be greater than 100%"},
		{name: "both zero", edit: func(ds *DaemonSet) { ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = valuePtr(FromInt(0)) }, field: "spec.updateStrategy.rollingUpdate.maxUnavailable", detail: "may not be 0 when maxSurge is 0"},
		{name: "restartPolicy", edit: func(ds *DaemonSet) { ds.Spec.Template.Spec.RestartPolicy = RestartPolicyNever }, field: "spec.template.spec.restartPolicy", detail: "the pods of a DaemonSet must use Always"},
		{name: "revisionHistoryLimit", edit: func(ds *DaemonSet) { ds.Spec.RevisionHistoryLimit = valuePtr[int32](-1) }, field: "spec.revisionHistoryLimit", detail: "must be greater than or equal to 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := validDaemonSet()
			tt.edit(ds)
			wantFieldError(t, Validate(ds), tt.field, tt.detail)
		})
	}
}

func TestValidateJob(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(j *Job)
		field  string
		detail string
	}{
		{name: "negative parallelism", edit: func(j *Job) { j.Spec.Parallelism = valuePtr[int32](-1) }, field: "spec.parallelism", detail: "must be greater than or equal to 0"},
		{name: "negative completions", edit: func(j *Job) { j.Spec.Completions = valuePtr[int32](-1) }, field: "spec.completions", detail: "must be greater than or equal to 0"},
		{name: "negative backoffLimit", edit: func(j *Job) { j.Spec.BackoffLimit = valuePtr[int32](-1) }, field: "spec.backoffLimit", detail: "must be greater than or equal to 0"},
		{name: "negative activeDeadlineSeconds", edit: func(j *Job) { j.Spec.ActiveDeadlineSeconds = valuePtr[int64](-1) }, field: "spec.activeDeadlineSeconds", detail: "must be greater than or equal to 0"},
		{name: "negative ttl", edit: func(j *Job) { j.Spec.TTLSecondsAfterFinished = valuePtr[int32](-1) }, field: "spec.ttlSecondsAfterFinished", detail: "must be greater than or equal to 0"},
		{name: "restartPolicy Always", edit: func(j *Job) { j.Spec.Template.Spec.RestartPolicy = RestartPolicyAlways }, field: "spec.template.spec.restartPolicy", detail: `"Always" is not supported: the pods of a Job must use OnFailure or Never`},
		{name: "restartPolicy empty", edit: func(j *Job) { j.Spec.Template.Spec.RestartPolicy = "" }, field: "spec.template.spec.restartPolicy", detail: "required: the pods of a Job must use OnFailure or Never"},
		{name: "manual selector required", edit: func(j *Job) { j.Spec.ManualSelector = valuePtr(true) }, field: "spec.selector", detail: "required"},
		{name: "selector not matching", edit: func(j *Job) {
			j.Spec.Selector = &LabelSelector{MatchLabels: map[string]string{"app": "db"}}
		}, field: "spec.template.metadata.labels", detail: "selector does not match template labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob()
			tt.edit(j)
			wantFieldError(t, Validate(j), tt.field, tt.detail)
		})
	}
}

func TestValidateJobReportsAnEmptyRestartPolicyOnce(t *testing.T) {
	j := validJob()
	j.Spec.Template.Spec.RestartPolicy = ""
	var fe FieldErrors
	if !errors.As(Validate(j), &fe) || len(fe) != 1 {
		t.Fatalf("errors = %v, want exactly one", fe)
	}
}

func TestValidateJobWithoutSelectorPasses(t *testing.T) {
	j := validJob()
	if j.Spec.Selector != nil {
		t.Fatalf("SetDefaults generated a selector %+v; that is the Job controller's job", j.Spec.Selector)
	}
	if err := Validate(j); err != nil {
		t.Fatal(err)
	}
}

func TestValidateCronJob(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(cj *CronJob)
		field  string
		detail string
	}{
		{name: "schedule out of range", edit: func(cj *CronJob) { cj.Spec.Schedule = "61 * * * *" }, field: "spec.schedule", detail: `"61 * * * *": minute 61 is out of range 0-59`},
		{name: "no schedule", edit: func(cj *CronJob) { cj.Spec.Schedule = "" }, field: "spec.schedule", detail: "required"},
		{name: "unknown time zone", edit: func(cj *CronJob) { cj.Spec.TimeZone = valuePtr("Mars/Olympus") }, field: "spec.timeZone", detail: `"Mars/Olympus" is not a known time zone`},
		{name: "empty time zone", edit: func(cj *CronJob) { cj.Spec.TimeZone = valuePtr("") }, field: "spec.timeZone", detail: "not empty"},
		{name: "Local time zone", edit: func(cj *CronJob) { cj.Spec.TimeZone = valuePtr("Local") }, field: "spec.timeZone", detail: "explicit IANA time zone"},
		{name: "concurrency policy", edit: func(cj *CronJob) { cj.Spec.ConcurrencyPolicy = "Queue" }, field: "spec.concurrencyPolicy", detail: `"Queue" is not one of Allow, Forbid, Replace`},
		{name: "negative deadline", edit: func(cj *CronJob) { cj.Spec.StartingDeadlineSeconds = valuePtr[int64](-1) }, field: "spec.startingDeadlineSeconds", detail: "must be greater than or equal to 0"},
		{name: "negative successful history", edit: func(cj *CronJob) { cj.Spec.SuccessfulJobsHistoryLimit = valuePtr[int32](-1) }, field: "spec.successfulJobsHistoryLimit", detail: "must be greater than or equal to 0"},
		{name: "negative failed history", edit: func(cj *CronJob) { cj.Spec.FailedJobsHistoryLimit = valuePtr[int32](-1) }, field: "spec.failedJobsHistoryLimit", detail: "must be greater than or equal to 0"},
		{name: "job template restartPolicy", edit: func(cj *CronJob) { cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = "" }, field: "spec.jobTemplate.spec.template.spec.restartPolicy", detail: "must use OnFailure or Never"},
		{name: "job template pod spec", edit: func(cj *CronJob) { cj.Spec.JobTemplate.Spec.Template.Spec.Containers = nil }, field: "spec.jobTemplate.spec.template.spec.containers", detail: "required"},
		{name: "job template parallelism", edit: func(cj *CronJob) { cj.Spec.JobTemplate.Spec.Parallelism = valuePtr[int32](-1) }, field: "spec.jobTemplate.spec.parallelism", detail: "must be greater than or equal to 0"},
		{name: "job template selector", edit: func(cj *CronJob) {
			cj.Spec.JobTemplate.Spec.Selector = &LabelSelector{MatchLabels: map[string]string{"app": "web"}}
		}, field: "spec.jobTemplate.spec.selector", detail: "must not be set"},
		{name: "job template manual selector", edit: func(cj *CronJob) { cj.Spec.JobTemplate.Spec.ManualSelector = valuePtr(true) }, field: "spec.jobTemplate.spec.manualSelector", detail: "must be false"},
		{name: "name too long for its jobs", edit: func(cj *CronJob) { cj.Name = strings.Repeat("a", 53) }, field: "metadata.name", detail: "must be at most 52 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := validCronJob()
			tt.edit(cj)
			wantFieldError(t, Validate(cj), tt.field, tt.detail)
		})
	}
}

func TestValidateCronJobScheduleMessage(t *testing.T) {
	cj := validCronJob()
	cj.Spec.Schedule = "61 * * * *"
	err := Validate(cj)
	if err == nil || err.Error() != `spec.schedule: "61 * * * *": minute 61 is out of range 0-59` {
		t.Fatalf("err = %v", err)
	}
}

func TestValidateCronJobAcceptsAKnownTimeZone(t *testing.T) {
	cj := validCronJob()
	cj.Spec.TimeZone = valuePtr("UTC")
	if err := Validate(cj); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamespace(t *testing.T) {
	ns := &Namespace{ObjectMeta: ObjectMeta{Name: "Team_A", Namespace: "x"}, Spec: NamespaceSpec{Finalizers: []string{"bad finalizer"}}}
	err := Validate(ns)
	wantFieldError(t, err, "metadata.name", "must be a DNS label")
	wantFieldError(t, err, "metadata.namespace", "not namespaced")
	wantFieldError(t, err, "spec.finalizers[0]", "not a qualified name")
}

func TestValidateResourceQuota(t *testing.T) {
	q := &ResourceQuota{ObjectMeta: ObjectMeta{Name: "q", Namespace: "default"}, Spec: ResourceQuotaSpec{Hard: ResourceList{
		"gpu": "1", ResourcePods: "1.5", ResourceLimitsMemory: "lots", "requests.storage": "1Gi",
	}}}
	err := Validate(q)
	wantFieldError(t, err, "spec.hard[gpu]", `"gpu" is not a resource Skiff limits`)
	wantFieldError(t, err, "spec.hard[requests.storage]", "is not a resource Skiff limits")
	wantFieldError(t, err, "spec.hard[pods]", `"1.5" must be a whole number of pods`)
	wantFieldError(t, err, "spec.hard[limits.memory]", `"lots" is not a quantity`)
}

func TestValidatePodSchedulingFields(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(s *PodSpec)
		field  string
		detail string
	}{
		{name: "toleration operator", edit: func(s *PodSpec) { s.Tolerations = []Toleration{{Key: "k", Operator: "Maybe"}} }, field: "spec.tolerations[0].operator", detail: `"Maybe" is not one of Exists, Equal`},
		{name: "Exists with a value", edit: func(s *PodSpec) { s.Tolerations = []Toleration{{Key: "k", Operator: "Exists", Value: "v"}} }, field: "spec.tolerations[0].value", detail: "must be empty when operator is Exists"},
		{name: "Equal without a key", edit: func(s *PodSpec) { s.Tolerations = []Toleration{{Operator: "Equal", Value: "v"}} }, field: "spec.tolerations[0].operator", detail: "must be Exists when key is empty"},
		{name: "toleration effect", edit: func(s *PodSpec) { s.Tolerations = []Toleration{{Key: "k", Operator: "Exists", Effect: "NoRun"}} }, field: "spec.tolerations[0].effect", detail: `"NoRun" is not one of NoSchedule, PreferNoSchedule, NoExecute`},
		{name: "tolerationSeconds without NoExecute", edit: func(s *PodSpec) {
			s.Tolerations = []Toleration{{Key: "k", Operator: "Exists", Effect: "NoSchedule", TolerationSeconds: valuePtr[int64](5)}}
		}, field: "spec.tolerations[0].tolerationSeconds", detail: "only when effect is NoExecute"},
		{name: "node affinity operator", edit: func(s *PodSpec) {
			s.Affinity = &Affinity{NodeAffinity: &NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &NodeSelector{NodeSelectorTerms: []NodeSelectorTerm{{MatchExpressions: []NodeSelectorRequirement{{Key: "zone", Operator: "Near"}}}}}}}
		}, field: "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator", detail: `"Near" is not one of In, NotIn, Exists, DoesNotExist, Gt, Lt`},
		{name: "required node affinity without terms", edit: func(s *PodSpec) {
			s.Affinity = &Affinity{NodeAffinity: &NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &NodeSelector{}}}
		}, field: "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", detail: "required"},
		{name: "Gt with two values", edit: func(s *PodSpec) {
			s.Affinity = &Affinity{NodeAffinity: &NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &NodeSelector{NodeSelectorTerms: []NodeSelectorTerm{{MatchExpressions: []NodeSelectorRequirement{{Key: "cores", Operator: "Gt", Values: []string{"1", "2"}}}}}}}}
		}, field: "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values", detail: "must hold exactly one integer when operator is Gt, found 2 values"},
		{name: "Lt with a word", edit: func(s *PodSpec) {
			s.Affinity = &Affinity{NodeAffinity: &NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []PreferredSchedulingTerm{{Weight: 10, Preference: NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{{Key: "cores", Operator: "Lt", Values: []string{"four"}}}}}}}}
		}, field: "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].values[0]", detail: `"four" must be an integer when operator is Lt`},
		{name: "node preference weight", edit: func(s *PodSpec) {
			s.Affinity = &Affinity{NodeAffinity: &NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []PreferredSchedulingTerm{{Weight: 101, Preference: NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{{Key: "zone", Operator: "Exists"}}}}}}}
		}, field: "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", detail: "101 must be in the range 1-100"},
		{name: "matchFields key", edit: func(s *PodSpec) {
			s.Affinity = &Affinity{NodeAffinity: &NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &NodeSelector{NodeSelectorTerms: []NodeSelectorTerm{{MatchFields: []NodeSelectorRequirement{{Key: "metadata.uid", Operator: "In", Values: []string{"x"}}}}}}}}
		}, field: "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key", detail: `"metadata.uid" is not one of metadata.name`},
		{name: "anti-affinity topologyKey", edit: func(s *PodSpec) {
			s.Affinity = &Affinity{PodAntiAffinity: &PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []PodAffinityTerm{{LabelSelector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}}
		}, field: "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", detail: "required"},
		{name: "anti-affinity weight", edit: func(s *PodSpec) {
			s.Affinity = &Affinity{PodAntiAffinity: &PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []WeightedPodAffinityTerm{{Weight: 0, PodAffinityTerm: PodAffinityTerm{TopologyKey: LabelHostname}}}}}
		}, field: "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", detail: "0 must be in the range 1-100"},
		{name: "anti-affinity selector", edit: func(s *PodSpec) {
			s.Affinity = &Affinity{PodAntiAffinity: &PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []PodAffinityTerm{{TopologyKey: LabelHostname, LabelSelector: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "Is"}}}}}}}
		}, field: "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].operator", detail: `"Is" is not one of`},
		{name: "maxSkew", edit: func(s *PodSpec) {
			s.TopologySpreadConstraints = []TopologySpreadConstraint{{MaxSkew: 0, TopologyKey: "zone", WhenUnsatisfiable: DoNotSchedule}}
		}, field: "spec.topologySpreadConstraints[0].maxSkew", detail: "0 must be greater than 0"},
		{name: "whenUnsatisfiable", edit: func(s *PodSpec) {
			s.TopologySpreadConstraints = []TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: "Whatever"}}
		}, field: "spec.topologySpreadConstraints[0].whenUnsatisfiable", detail: `"Whatever" is not one of DoNotSchedule, ScheduleAnyway`},
		{name: "spread topologyKey", edit: func(s *PodSpec) {
			s.TopologySpreadConstraints = []TopologySpreadConstraint{{MaxSkew: 1, WhenUnsatisfiable: ScheduleAnyway}}
		}, field: "spec.topologySpreadConstraints[0].topologyKey", detail: "required"},
		{name: "duplicate spread constraint", edit: func(s *PodSpec) {
			c := TopologySpreadConstraint{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: DoNotSchedule}
			s.TopologySpreadConstraints = []TopologySpreadConstraint{c, c}
		}, field: "spec.topologySpreadConstraints[1]", detail: `another constraint has topologyKey "zone"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Pod{ObjectMeta: ObjectMeta{Name: "p"}, Spec: PodSpec{Containers: []Container{{Name: "a", Image: "nginx"}}}}
			SetDefaults(p)
			tt.edit(&p.Spec)
			wantFieldError(t, Validate(p), tt.field, tt.detail)
		})
	}
}

func TestValidateTemplateSchedulingFieldsUseTheTemplatePath(t *testing.T) {
	cj := validCronJob()
	cj.Spec.JobTemplate.Spec.Template.Spec.Tolerations = []Toleration{{Key: "k", Operator: "Exists", Value: "v"}}
	wantFieldError(t, Validate(cj), "spec.jobTemplate.spec.template.spec.tolerations[0].value", "must be empty when operator is Exists")
}

func TestValidPodSchedulingFieldsPass(t *testing.T) {
	p := &Pod{ObjectMeta: ObjectMeta{Name: "p"}, Spec: PodSpec{
		Containers:  []Container{{Name: "a", Image: "nginx"}},
		Tolerations: []Toleration{{Operator: "Exists"}, {Key: "edge", Operator: "Equal", Value: "true", Effect: "NoExecute", TolerationSeconds: valuePtr[int64](300)}, {Key: "k", Value: "v", Effect: "NoSchedule"}},
		Affinity: &Affinity{
			NodeAffinity: &NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &NodeSelector{NodeSelectorTerms: []NodeSelectorTerm{
					{MatchExpressions: []NodeSelectorRequirement{{Key: LabelArch, Operator: "In", Values: []string{"arm64"}}, {Key: "cores", Operator: "Gt", Values: []string{"2"}}}},
					{MatchFields: []NodeSelectorRequirement{{Key: "metadata.name", Operator: "NotIn", Values: []string{"n1"}}}},
				}},
				PreferredDuringSchedulingIgnoredDuringExecution: []PreferredSchedulingTerm{{Weight: 100, Preference: NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{{Key: "zone", Operator: "DoesNotExist"}}}}},
			},
			PodAntiAffinity: &PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution:  []PodAffinityTerm{{LabelSelector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: LabelHostname, Namespaces: []string{"default"}}},
				PreferredDuringSchedulingIgnoredDuringExecution: []WeightedPodAffinityTerm{{Weight: 1, PodAffinityTerm: PodAffinityTerm{TopologyKey: "zone"}}},
			},
		},
		TopologySpreadConstraints: []TopologySpreadConstraint{
			{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: DoNotSchedule},
			{MaxSkew: 2, TopologyKey: "zone", WhenUnsatisfiable: ScheduleAnyway},
		},
	}}
	SetDefaults(p)
	if err := Validate(p); err != nil {
		t.Fatal(err)
	}
}

func TestIntOrStringScaled(t *testing.T) {
	tests := []struct {
		give    IntOrString
		total   int
		roundUp bool
		want    int
		wantErr bool
	}{
		{give: FromInt(3), total: 10, want: 3},
		{give: FromString("25%"), total: 10, roundUp: true, want: 3},
		{give: FromString("25%"), total: 10, want: 2},
		{give: FromString("100%"), total: 7, want: 7},
		{give: FromString("0%"), total: 7, roundUp: true, want: 0},
		{give: FromString("30%"), total: 0, roundUp: true, want: 0},
		{give: FromString("25"), total: 10, wantErr: true},
		{give: FromString("-5%"), total: 10, wantErr: true},
		{give: FromString("abc%"), total: 10, wantErr: true},
	}
	for _, tt := range tests {
		got, err := tt.give.Scaled(tt.total, tt.roundUp)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%+v.Scaled(%d, %v) = %d, %v; want %d (error %v)", tt.give, tt.total, tt.roundUp, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestLabelSelectorMatches(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "front"}
	tests := []struct {
		name string
		give *LabelSelector
		want bool
	}{
		{name: "nil matches nothing", give: nil, want: false},
		{name: "empty matches everything", give: &LabelSelector{}, want: true},
		{name: "matchLabels hit", give: &LabelSelector{MatchLabels: map[string]string{"app": "web"}}, want: true},
		{name: "matchLabels miss", give: &LabelSelector{MatchLabels: map[string]string{"app": "db"}}, want: false},
		{name: "matchLabels absent key", give: &LabelSelector{MatchLabels: map[string]string{"zone": "a"}}, want: false},
		{name: "In", give: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "tier", Operator: "In", Values: []string{"back", "front"}}}}, want: true},
		{name: "In absent", give: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: "In", Values: []string{"a"}}}}, want: false},
		{name: "NotIn absent key matches", give: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: "NotIn", Values: []string{"a"}}}}, want: true},
		{name: "NotIn hit", give: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "NotIn", Values: []string{"web"}}}}, want: false},
		{name: "Exists", give: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "Exists"}}}, want: true},
		{name: "DoesNotExist", give: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "DoesNotExist"}}}, want: false},
		{name: "unknown operator matches nothing", give: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "Like"}}}, want: false},
		{name: "labels and expressions together", give: &LabelSelector{MatchLabels: map[string]string{"app": "web"}, MatchExpressions: []LabelSelectorRequirement{{Key: "tier", Operator: "NotIn", Values: []string{"front"}}}}, want: false},
	}
	for _, tt := range tests {
		if got := tt.give.Matches(labels); got != tt.want {
			t.Errorf("%s: Matches = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNodeSelectorTermMatches(t *testing.T) {
	labels := map[string]string{LabelArch: "arm64", "cores": "4", "zone": "a"}
	req := func(key, op string, values ...string) NodeSelectorRequirement {
		return NodeSelectorRequirement{Key: key, Operator: op, Values: values}
	}
	tests := []struct {
		name string
		give NodeSelectorTerm
		want bool
	}{
		{name: "empty term matches nothing", give: NodeSelectorTerm{}, want: false},
		{name: "In", give: NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{req(LabelArch, "In", "amd64", "arm64")}}, want: true},
		{name: "NotIn", give: NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{req(LabelArch, "NotIn", "arm64")}}, want: false},
		{name: "Exists and DoesNotExist", give: NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{req("zone", "Exists"), req("gpu", "DoesNotExist")}}, want: true},
		{name: "Gt", give: NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{req("cores", "Gt", "2")}}, want: true},
		{name: "Gt equal is false", give: NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{req("cores", "Gt", "4")}}, want: false},
		{name: "Lt", give: NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{req("cores", "Lt", "8")}}, want: true},
		{name: "Lt on a missing label", give: NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{req("ram", "Lt", "8")}}, want: false},
		{name: "Gt with a non-integer", give: NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{req("zone", "Gt", "1")}}, want: false},
		{name: "every expression must hold", give: NodeSelectorTerm{MatchExpressions: []NodeSelectorRequirement{req("zone", "In", "a"), req("cores", "Gt", "10")}}, want: false},
		{name: "matchFields by name", give: NodeSelectorTerm{MatchFields: []NodeSelectorRequirement{req("metadata.name", "In", "n1")}}, want: true},
		{name: "matchFields other name", give: NodeSelectorTerm{MatchFields: []NodeSelectorRequirement{req("metadata.name", "In", "n2")}}, want: false},
		{name: "matchFields unknown field", give: NodeSelectorTerm{MatchFields: []NodeSelectorRequirement{req("metadata.uid", "In", "n1")}}, want: false},
	}
	for _, tt := range tests {
		if got := tt.give.Matches("n1", labels); got != tt.want {
			t.Errorf("%s: Matches = %v, want %v", tt.name, got, tt.want)
		}
	}
}
