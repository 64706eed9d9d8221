package api

// Defaults of the workload kinds, Namespace and pod templates, as
// Kubernetes' API server sets them.

// Workload defaults, as in Kubernetes.
const (
	DefaultRevisionHistoryLimit         int32 = 10
	DefaultProgressDeadlineSeconds      int32 = 600
	DefaultBackoffLimit                 int32 = 6
	DefaultSuccessfulJobsHistoryLimit   int32 = 3
	DefaultFailedJobsHistoryLimit       int32 = 1
	DefaultDeploymentMaxSurge                 = "25%"
	DefaultDeploymentMaxUnavailable           = "25%"
	DefaultDaemonSetMaxUnavailable      int32 = 1
	defaultReplicas                     int32 = 1
	defaultJobParallelismAndCompletions int32 = 1
)

// setWorkloadDefaults fills the defaults of the kinds other than Pod and
// Node; SetDefaults calls it after the type fields and namespace.
func setWorkloadDefaults(obj Object) {
	switch o := obj.(type) {
	case *Pod:
		setPodSpecKubeletDefaults(&o.Spec)
	case *Secret:
		setSecretDefaults(o)
	case *Deployment:
		setDeploymentDefaults(o)
	case *ReplicaSet:
		setDefault32(&o.Spec.Replicas, defaultReplicas)
		setTemplateDefaults(&o.Spec.Template, RestartPolicyAlways)
	case *DaemonSet:
		setDaemonSetDefaults(o)
	case *Job:
		setJobSpecDefaults(&o.Spec)
	case *CronJob:
		setCronJobDefaults(o)
	case *Namespace:
		if o.Status.Phase == "" {
			o.Status.Phase = NamespaceActive
		}
	}
}

func setDeploymentDefaults(d *Deployment) {
	s := &d.Spec
	setDefault32(&s.Replicas, defaultReplicas)
	if s.Strategy.Type == "" {
		s.Strategy.Type = RollingUpdateDeploymentStrategyType
	}
	if s.Strategy.Type == RollingUpdateDeploymentStrategyType {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &RollingUpdateDeployment{}
		}
		ru := s.Strategy.RollingUpdate
		if ru.MaxSurge == nil {
			v := FromString(DefaultDeploymentMaxSurge)
			ru.MaxSurge = &v
		}
		if ru.MaxUnavailable == nil {
			v := FromString(DefaultDeploymentMaxUnavailable)
			ru.MaxUnavailable = &v
		}
	}
	setDefault32(&s.RevisionHistoryLimit, DefaultRevisionHistoryLimit)
	setDefault32(&s.ProgressDeadlineSeconds, DefaultProgressDeadlineSeconds)
	setTemplateDefaults(&s.Template, RestartPolicyAlways)
}

func setDaemonSetDefaults(ds *DaemonSet) {
	s := &ds.Spec
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = RollingUpdateDaemonSetStrategyType
	}
	if s.UpdateStrategy.Type == RollingUpdateDaemonSetStrategyType {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &RollingUpdateDaemonSet{}
		}
		ru := s.UpdateStrategy.RollingUpdate
		if ru.MaxUnavailable == nil {
			v := FromInt(DefaultDaemonSetMaxUnavailable)
			ru.MaxUnavailable = &v
		}
		if ru.MaxSurge == nil {
			v := FromInt(0)
			ru.MaxSurge = &v
		}
	}
	setDefault32(&s.RevisionHistoryLimit, DefaultRevisionHistoryLimit)
	setTemplateDefaults(&s.Template, RestartPolicyAlways)
}

// setJobSpecDefaults defaults a Job's spec. As in Kubernetes, completions
// stays unset when only parallelism is given (a work-queue Job, done when
// any pod succeeds). The selector is left alone: without manualSelector the
// Job controller generates it from the Job's uid.
func setJobSpecDefaults(s *JobSpec) {
	if s.Completions == nil && s.Parallelism == nil {
		setDefault32(&s.Completions, defaultJobParallelismAndCompletions)
	}
	setDefault32(&s.Parallelism, defaultJobParallelismAndCompletions)
	setDefault32(&s.BackoffLimit, DefaultBackoffLimit)
	if s.Suspend == nil {
		f := false
		s.Suspend = &f
	}
	// No restartPolicy default: a Job's pods must say OnFailure or Never.
	setTemplateDefaults(&s.Template, "")
}

func setCronJobDefaults(cj *CronJob) {
	s := &cj.Spec
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = AllowConcurrent
	}
	if s.Suspend == nil {
		f := false
		s.Suspend = &f
	}
	setDefault32(&s.SuccessfulJobsHistoryLimit, DefaultSuccessfulJobsHistoryLimit)
	setDefault32(&s.FailedJobsHistoryLimit, DefaultFailedJobsHistoryLimit)
	// The Job template gets its Job defaults when each Job is made (and
	// defaulted) from it; only its pod template is defaulted here.
	setTemplateDefaults(&s.JobTemplate.Spec.Template, "")
}

// setTemplateDefaults gives a pod template the pod defaults: restartPolicy
// (when restart is not empty) and the termination grace period.
func setTemplateDefaults(t *PodTemplateSpec, restart RestartPolicy) {
	if t.Spec.RestartPolicy == "" && restart != "" {
		t.Spec.RestartPolicy = restart
	}
	if t.Spec.TerminationGracePeriodSeconds == nil {
		g := DefaultTerminationGracePeriodSeconds
		t.Spec.TerminationGracePeriodSeconds = &g
	}
	setPodSpecKubeletDefaults(&t.Spec)
}

func setDefault32(p **int32, v int32) {
	if *p == nil {
		*p = &v
	}
}
