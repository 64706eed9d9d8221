package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Validation of the workload kinds (Deployment, ReplicaSet, DaemonSet, Job,
// CronJob), Namespace, ResourceQuota, owner references and the scheduling
// parts of a pod spec (tolerations, affinity, topology spread), with
// Kubernetes' rules. Every function returns every problem it finds.

// ValidateDeployment checks a Deployment and returns every problem.
func ValidateDeployment(d *Deployment) FieldErrors {
	errs := validateMeta(&d.ObjectMeta, true)
	errs = append(errs, validateOwnerReferences(&d.ObjectMeta)...)
	s := &d.Spec
	errs = append(errs, nonNegative32(s.Replicas, "spec.replicas")...)
	errs = append(errs, validateWorkloadSelector(s.Selector, "spec.selector", "Deployment", s.Template.Labels, "spec.template.metadata.labels")...)
	errs = append(errs, validateReplicatedTemplate(&s.Template, "spec.template", "Deployment")...)
	errs = append(errs, validateDeploymentStrategy(&s.Strategy, "spec.strategy")...)
	errs = append(errs, nonNegative32(&s.MinReadySeconds, "spec.minReadySeconds")...)
	errs = append(errs, nonNegative32(s.RevisionHistoryLimit, "spec.revisionHistoryLimit")...)
	if p := s.ProgressDeadlineSeconds; p != nil {
		if *p < 0 {
			errs = append(errs, invalid("spec.progressDeadlineSeconds", "must be greater than or equal to 0"))
		} else if *p <= s.MinReadySeconds {
			errs = append(errs, invalid("spec.progressDeadlineSeconds", "%d must be greater than minReadySeconds (%d)", *p, s.MinReadySeconds))
		}
	}
	return errs
}

func validateDeploymentStrategy(st *DeploymentStrategy, path string) FieldErrors {
	var errs FieldErrors
	switch st.Type {
	case RecreateDeploymentStrategyType:
		if st.RollingUpdate != nil {
			errs = append(errs, invalid(path+".rollingUpdate", "must not be set when %s.type is Recreate", path))
		}
	case RollingUpdateDeploymentStrategyType:
		if st.RollingUpdate == nil {
			errs = append(errs, required(path+".rollingUpdate"))
			break
		}
		errs = append(errs, validateRollingBounds(st.RollingUpdate.MaxSurge, st.RollingUpdate.MaxUnavailable, path+".rollingUpdate", false)...)
	case "":
		errs = append(errs, required(path+".type"))
	default:
		errs = append(errs, notSupported(path+".type", st.Type, RecreateDeploymentStrategyType, RollingUpdateDeploymentStrategyType))
	}
	return errs
}

// validateRollingBounds checks maxSurge and maxUnavailable: integers ≥ 0
// or percentages "N%"; maxUnavailable at most 100% (maxSurge too when
// capSurge, as for DaemonSets); not both zero.
func validateRollingBounds(surge, unavailable *IntOrString, path string, capSurge bool) FieldErrors {
	var errs FieldErrors
	check := func(v *IntOrString, p string, capped bool) (int, bool) {
		if v == nil {
			return 0, false
		}
		if !v.IsString {
			if v.IntVal < 0 {
				errs = append(errs, invalid(p, "%d must be greater than or equal to 0", v.IntVal))
				return 0, false
			}
			return int(v.IntVal), true
		}
		num, isPercent := strings.CutSuffix(v.StrVal, "%")
		n, err := strconv.Atoi(num)
		if !isPercent || !isDigits(num) || err != nil {
			errs = append(errs, invalid(p, "%q must be an integer or a percentage like \"25%%\"", v.StrVal))
			return 0, false
		}
		if capped && n > 100 {
			errs = append(errs, invalid(p, "%q must not be greater than 100%%", v.StrVal))
			return 0, false
		}
		return n, true
	}
	s, sOK := check(surge, path+".maxSurge", capSurge)
	u, uOK := check(unavailable, path+".maxUnavailable", true)
	if sOK && uOK && s == 0 && u == 0 {
		errs = append(errs, invalid(path+".maxUnavailable", "may not be 0 when maxSurge is 0: the rollout could never make progress"))
	}
	return errs
}

// ValidateReplicaSet checks a ReplicaSet and returns every problem.
func ValidateReplicaSet(rs *ReplicaSet) FieldErrors {
	errs := validateMeta(&rs.ObjectMeta, true)
	errs = append(errs, validateOwnerReferences(&rs.ObjectMeta)...)
	s := &rs.Spec
	errs = append(errs, nonNegative32(s.Replicas, "spec.replicas")...)
	errs = append(errs, nonNegative32(&s.MinReadySeconds, "spec.minReadySeconds")...)
	errs = append(errs, validateWorkloadSelector(s.Selector, "spec.selector", "ReplicaSet", s.Template.Labels, "spec.template.metadata.labels")...)
	errs = append(errs, validateReplicatedTemplate(&s.Template, "spec.template", "ReplicaSet")...)
	return errs
}

// ValidateDaemonSet checks a DaemonSet and returns every problem.
func ValidateDaemonSet(ds *DaemonSet) FieldErrors {
	errs := validateMeta(&ds.ObjectMeta, true)
	errs = append(errs, validateOwnerReferences(&ds.ObjectMeta)...)
	s := &ds.Spec
	errs = append(errs, validateWorkloadSelector(s.Selector, "spec.selector", "DaemonSet", s.Template.Labels, "spec.template.metadata.labels")...)
	errs = append(errs, validateReplicatedTemplate(&s.Template, "spec.template", "DaemonSet")...)
	errs = append(errs, nonNegative32(&s.MinReadySeconds, "spec.minReadySeconds")...)
	errs = append(errs, nonNegative32(s.RevisionHistoryLimit, "spec.revisionHistoryLimit")...)
	us := &s.UpdateStrategy
	switch us.Type {
	case OnDeleteDaemonSetStrategyType:
		if us.RollingUpdate != nil {
			errs = append(errs, invalid("spec.updateStrategy.rollingUpdate", "must not be set when spec.updateStrategy.type is OnDelete"))
		}
	case RollingUpdateDaemonSetStrategyType:
		if us.RollingUpdate == nil {
			errs = append(errs, required("spec.updateStrategy.rollingUpdate"))
			break
		}
		errs = append(errs, validateRollingBounds(us.RollingUpdate.MaxSurge, us.RollingUpdate.MaxUnavailable, "spec.updateStrategy.rollingUpdate", true)...)
	case "":
		errs = append(errs, required("spec.updateStrategy.type"))
	default:
		errs = append(errs, notSupported("spec.updateStrategy.type", us.Type, RollingUpdateDaemonSetStrategyType, OnDeleteDaemonSetStrategyType))
	}
	return errs
}

// ValidateJob checks a Job and returns every problem. A Job without
// manualSelector may leave spec.selector empty: the Job controller
// generates it from the Job's uid.
func ValidateJob(j *Job) FieldErrors {
	errs := validateMeta(&j.ObjectMeta, true)
	errs = append(errs, validateOwnerReferences(&j.ObjectMeta)...)
	return append(errs, validateJobSpec(&j.Spec, "spec")...)
}

func validateJobSpec(s *JobSpec, path string) FieldErrors {
	var errs FieldErrors
	errs = append(errs, nonNegative32(s.Parallelism, path+".parallelism")...)
	errs = append(errs, nonNegative32(s.Completions, path+".completions")...)
	errs = append(errs, nonNegative32(s.BackoffLimit, path+".backoffLimit")...)
	errs = append(errs, nonNegative32(s.TTLSecondsAfterFinished, path+".ttlSecondsAfterFinished")...)
	errs = append(errs, nonNegative64(s.ActiveDeadlineSeconds, path+".activeDeadlineSeconds")...)
	manual := s.ManualSelector != nil && *s.ManualSelector
	if s.Selector != nil || manual {
		errs = append(errs, validateWorkloadSelector(s.Selector, path+".selector", "Job", s.Template.Labels, path+".template.metadata.labels")...)
	}
	errs = append(errs, validatePodTemplate(&s.Template, path+".template")...)
	errs = restrictRestartPolicy(errs, s.Template.Spec.RestartPolicy, path+".template.spec.restartPolicy", "a Job", RestartPolicyOnFailure, RestartPolicyNever)
	return errs
}

// cronJobNameMax leaves room for the 11 characters a CronJob appends to
// its name to name each Job ("-" and the scheduled time), as in Kubernetes.
const cronJobNameMax = 52

// ValidateCronJob checks a CronJob and returns every problem.
func ValidateCronJob(cj *CronJob) FieldErrors {
	errs := validateMeta(&cj.ObjectMeta, true)
	if len(cj.Name) > cronJobNameMax && ValidateName(cj.Name) == nil {
		errs = append(errs, invalid("metadata.name", "%q must be at most %d characters: each Job is named after the CronJob plus 11 characters", cj.Name, cronJobNameMax))
	}
	errs = append(errs, validateOwnerReferences(&cj.ObjectMeta)...)
	s := &cj.Spec
	if strings.TrimSpace(s.Schedule) == "" {
		errs = append(errs, required("spec.schedule"))
	} else if _, err := ParseCron(s.Schedule); err != nil {
		errs = append(errs, invalid("spec.schedule", "%q: %v", s.Schedule, err))
	}
	if tz := s.TimeZone; tz != nil {
		switch {
		case *tz == "":
			errs = append(errs, invalid("spec.timeZone", "must be a time zone name like \"Europe/Berlin\" or left out (for the control plane's zone), not empty"))
		case strings.EqualFold(*tz, "Local"):
			errs = append(errs, invalid("spec.timeZone", "%q is not allowed: name an explicit IANA time zone like \"Europe/Berlin\"", *tz))
		default:
			if _, err := time.LoadLocation(*tz); err != nil {
				errs = append(errs, invalid("spec.timeZone", "%q is not a known time zone: %v", *tz, err))
			}
		}
	}
	errs = append(errs, nonNegative64(s.StartingDeadlineSeconds, "spec.startingDeadlineSeconds")...)
	switch s.ConcurrencyPolicy {
	case AllowConcurrent, ForbidConcurrent, ReplaceConcurrent:
	case "":
		errs = append(errs, required("spec.concurrencyPolicy"))
	default:
		errs = append(errs, notSupported("spec.concurrencyPolicy", s.ConcurrencyPolicy, AllowConcurrent, ForbidConcurrent, ReplaceConcurrent))
	}
	errs = append(errs, nonNegative32(s.SuccessfulJobsHistoryLimit, "spec.successfulJobsHistoryLimit")...)
	errs = append(errs, nonNegative32(s.FailedJobsHistoryLimit, "spec.failedJobsHistoryLimit")...)
	jt := &s.JobTemplate
	errs = append(errs, validateLabels(jt.Labels, "spec.jobTemplate.metadata.labels")...)
	errs = append(errs, validateAnnotationKeys(jt.Annotations, "spec.jobTemplate.metadata.annotations")...)
	if jt.Spec.Selector != nil {
		errs = append(errs, invalid("spec.jobTemplate.spec.selector", "must not be set: each Job's selector is generated"))
	}
	if jt.Spec.ManualSelector != nil && *jt.Spec.ManualSelector {
		errs = append(errs, FieldError{Field: "spec.jobTemplate.spec.manualSelector", Type: ErrTypeNotSupported, Detail: "must be false or left out: each Job's selector is generated"})
	}
	js := jt.Spec
	js.Selector, js.ManualSelector = nil, nil // reported above
	errs = append(errs, validateJobSpec(&js, "spec.jobTemplate.spec")...)
	return errs
}

// ValidateNamespace checks a Namespace and returns every problem.
func ValidateNamespace(ns *Namespace) FieldErrors {
	errs := validateMeta(&ns.ObjectMeta, false)
	errs = append(errs, validateOwnerReferences(&ns.ObjectMeta)...)
	for i, f := range ns.Spec.Finalizers {
		if err := validateLabelKey(f); err != nil {
			errs = append(errs, invalid(fmt.Sprintf("spec.finalizers[%d]", i), "%q is not a qualified name: %v", f, err))
		}
	}
	return errs
}

// quotaResources are the names a ResourceQuota may limit.
func quotaResources() []ResourceName {
	return []ResourceName{ResourcePods, ResourceCPU, ResourceMemory, ResourceRequestsCPU, ResourceRequestsMemory, ResourceLimitsCPU, ResourceLimitsMemory}
}

// ValidateResourceQuota checks a ResourceQuota and returns every problem.
func ValidateResourceQuota(q *ResourceQuota) FieldErrors {
	errs := validateMeta(&q.ObjectMeta, true)
	errs = append(errs, validateOwnerReferences(&q.ObjectMeta)...)
	allowed := quotaResources()
	for _, name := range sortedKeys(q.Spec.Hard) {
		p := fmt.Sprintf("spec.hard[%s]", name)
		if !containsName(allowed, name) {
			errs = append(errs, FieldError{Field: p, Type: ErrTypeNotSupported, Detail: fmt.Sprintf("%q is not a resource Skiff limits: use pods, cpu, memory, requests.cpu, requests.memory, limits.cpu or limits.memory", name)})
			continue
		}
		qty := q.Spec.Hard[name]
		r, err := qty.Parse()
		switch {
		case err != nil:
			errs = append(errs, invalid(p, "%v", err))
		case name == ResourcePods && !r.IsInt():
			errs = append(errs, invalid(p, "%q must be a whole number of pods", string(qty)))
		}
	}
	return errs
}

func containsName(list []ResourceName, n ResourceName) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

// validateOwnerReferences checks metadata.ownerReferences: every entry
// names its owner fully, at most one is the controller, none is the
// object itself.
func validateOwnerReferences(m *ObjectMeta) FieldErrors {
	var errs FieldErrors
	var controllers []string
	for i, r := range m.OwnerReferences {
		p := fmt.Sprintf("metadata.ownerReferences[%d]", i)
		if r.APIVersion == "" {
			errs = append(errs, required(p+".apiVersion"))
		}
		if r.Kind == "" {
			errs = append(errs, required(p+".kind"))
		}
		if r.Name == "" {
			errs = append(errs, required(p+".name"))
		}
		if r.UID == "" {
			errs = append(errs, required(p+".uid"))
		} else if m.UID != "" && r.UID == m.UID {
			errs = append(errs, invalid(p+".uid", "%q is this object's own uid: an object cannot own itself", r.UID))
		}
		if r.Controller != nil && *r.Controller {
			controllers = append(controllers, r.Kind+"/"+r.Name)
		}
	}
	if len(controllers) > 1 {
		errs = append(errs, invalid("metadata.ownerReferences", "only one reference may have controller: true, found %s", strings.Join(controllers, ", ")))
	}
	return errs
}

// validateWorkloadSelector checks a controller's selector: present, not
// empty, well formed, and matching the template's labels.
func validateWorkloadSelector(sel *LabelSelector, path, kind string, templateLabels map[string]string, labelsPath string) FieldErrors {
	if sel == nil {
		return FieldErrors{required(path)}
	}
	errs := validateLabelSelector(sel, path)
	switch {
	case len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0:
		errs = append(errs, invalid(path, "empty selector is invalid for a %s: it would select every pod in the namespace", kind))
	case len(errs) == 0 && !sel.Matches(templateLabels):
		errs = append(errs, invalid(labelsPath, "Invalid value: %s: selector does not match template labels", labelsText(templateLabels)))
	}
	return errs
}

func labelsText(labels map[string]string) string {
	if len(labels) == 0 {
		return "{}"
	}
	b, err := json.Marshal(labels) // sorted keys
	if err != nil {
		return fmt.Sprint(labels)
	}
	return string(b)
}

// validateLabelSelector checks matchLabels and matchExpressions.
func validateLabelSelector(sel *LabelSelector, path string) FieldErrors {
	if sel == nil {
		return nil
	}
	errs := validateLabels(sel.MatchLabels, path+".matchLabels")
	for i, r := range sel.MatchExpressions {
		p := fmt.Sprintf("%s.matchExpressions[%d]", path, i)
		if r.Key == "" {
			errs = append(errs, required(p+".key"))
		} else if err := validateLabelKey(r.Key); err != nil {
			errs = append(errs, invalid(p+".key", "invalid label key: %v", err))
		}
		switch r.Operator {
		case LabelSelectorOpIn, LabelSelectorOpNotIn:
			if len(r.Values) == 0 {
				errs = append(errs, required(p+".values"))
			}
		case LabelSelectorOpExists, LabelSelectorOpDoesNotExist:
			if len(r.Values) > 0 {
				errs = append(errs, invalid(p+".values", "must be empty when operator is %s", r.Operator))
			}
		case "":
			errs = append(errs, required(p+".operator"))
		default:
			errs = append(errs, notSupported(p+".operator", r.Operator, LabelSelectorOpIn, LabelSelectorOpNotIn, LabelSelectorOpExists, LabelSelectorOpDoesNotExist))
		}
		for j, v := range r.Values {
			if len(v) > 63 || !labelValue.MatchString(v) {
				errs = append(errs, invalid(fmt.Sprintf("%s.values[%d]", p, j), "invalid label value %q: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", v))
			}
		}
	}
	return errs
}

// validatePodTemplate checks a pod template's labels, annotations and spec.
func validatePodTemplate(t *PodTemplateSpec, path string) FieldErrors {
	errs := validateLabels(t.Labels, path+".metadata.labels")
	errs = append(errs, validateAnnotationKeys(t.Annotations, path+".metadata.annotations")...)
	return append(errs, validatePodSpec(&t.Spec, path+".spec")...)
}

// validateReplicatedTemplate checks the template of a controller whose pods
// run forever (Deployment, ReplicaSet, DaemonSet): restartPolicy Always, no
// activeDeadlineSeconds.
func validateReplicatedTemplate(t *PodTemplateSpec, path, kind string) FieldErrors {
	errs := validatePodTemplate(t, path)
	errs = restrictRestartPolicy(errs, t.Spec.RestartPolicy, path+".spec.restartPolicy", "a "+kind, RestartPolicyAlways)
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, invalid(path+".spec.activeDeadlineSeconds", "must not be set in a %s's pod template: its pods are meant to run until replaced", kind))
	}
	return errs
}

// restrictRestartPolicy replaces the pod spec's restartPolicy error (if
// any) with one that names what this kind of template allows.
func restrictRestartPolicy(errs FieldErrors, got RestartPolicy, path, owner string, allowed ...RestartPolicy) FieldErrors {
	for _, a := range allowed {
		if got == a {
			return errs
		}
	}
	kept := errs[:0]
	for _, e := range errs {
		if e.Field != path {
			kept = append(kept, e)
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	want := strings.Join(names, " or ")
	if got == "" {
		return append(kept, FieldError{Field: path, Type: ErrTypeRequired, Detail: fmt.Sprintf("required: the pods of %s must use %s", owner, want)})
	}
	return append(kept, FieldError{Field: path, Type: ErrTypeNotSupported, Detail: fmt.Sprintf("%q is not supported: the pods of %s must use %s", got, owner, want)})
}

func validateAnnotationKeys(annotations map[string]string, path string) FieldErrors {
	var errs FieldErrors
	for _, k := range sortedKeys(annotations) {
		if err := validateLabelKey(k); err != nil {
			errs = append(errs, invalid(fmt.Sprintf("%s[%s]", path, k), "invalid annotation key: %v", err))
		}
	}
	return errs
}

// validateTolerations checks a pod's tolerations.
func validateTolerations(ts []Toleration, path string) FieldErrors {
	var errs FieldErrors
	for i, t := range ts {
		p := fmt.Sprintf("%s[%d]", path, i)
		if t.Key != "" {
			if err := validateLabelKey(t.Key); err != nil {
				errs = append(errs, invalid(p+".key", "invalid key: %v", err))
			}
		}
		switch t.Operator {
		case "Exists":
			if t.Value != "" {
				errs = append(errs, invalid(p+".value", "must be empty when operator is Exists"))
			}
		case "Equal", "":
			if t.Key == "" {
				errs = append(errs, invalid(p+".operator", "must be Exists when key is empty (which tolerates every taint)"))
			}
			if len(t.Value) > 63 || !labelValue.MatchString(t.Value) {
				errs = append(errs, invalid(p+".value", "invalid value %q: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", t.Value))
			}
		default:
			errs = append(errs, notSupported(p+".operator", t.Operator, "Exists", "Equal"))
		}
		switch t.Effect {
		case "", "NoSchedule", "PreferNoSchedule", "NoExecute":
		default:
			errs = append(errs, notSupported(p+".effect", t.Effect, "NoSchedule", "PreferNoSchedule", "NoExecute"))
		}
		if t.TolerationSeconds != nil && t.Effect != "NoExecute" {
			errs = append(errs, invalid(p+".tolerationSeconds", "may be set only when effect is NoExecute"))
		}
	}
	return errs
}

// validateAffinity checks node affinity and pod anti-affinity.
func validateAffinity(a *Affinity, path string) FieldErrors {
	if a == nil {
		return nil
	}
	var errs FieldErrors
	if na := a.NodeAffinity; na != nil {
		np := path + ".nodeAffinity"
		if req := na.RequiredDuringSchedulingIgnoredDuringExecution; req != nil {
			rp := np + ".requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
			if len(req.NodeSelectorTerms) == 0 {
				errs = append(errs, required(rp))
			}
			for i := range req.NodeSelectorTerms {
				errs = append(errs, validateNodeSelectorTerm(&req.NodeSelectorTerms[i], fmt.Sprintf("%s[%d]", rp, i))...)
			}
		}
		for i, pt := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			p := fmt.Sprintf("%s.preferredDuringSchedulingIgnoredDuringExecution[%d]", np, i)
			errs = append(errs, validateWeight(pt.Weight, p+".weight")...)
			errs = append(errs, validateNodeSelectorTerm(&pt.Preference, p+".preference")...)
		}
	}
	if pa := a.PodAntiAffinity; pa != nil {
		pp := path + ".podAntiAffinity"
		for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
			errs = append(errs, validatePodAffinityTerm(&pa.RequiredDuringSchedulingIgnoredDuringExecution[i], fmt.Sprintf("%s.requiredDuringSchedulingIgnoredDuringExecution[%d]", pp, i))...)
		}
		for i, wt := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
			p := fmt.Sprintf("%s.preferredDuringSchedulingIgnoredDuringExecution[%d]", pp, i)
			errs = append(errs, validateWeight(wt.Weight, p+".weight")...)
			errs = append(errs, validatePodAffinityTerm(&wt.PodAffinityTerm, p+".podAffinityTerm")...)
		}
	}
	return errs
}

func validateWeight(w int32, path string) FieldErrors {
	if w < 1 || w > 100 {
		return FieldErrors{invalid(path, "%d must be in the range 1-100", w)}
	}
	return nil
}

func validateNodeSelectorTerm(t *NodeSelectorTerm, path string) FieldErrors {
	var errs FieldErrors
	for i, r := range t.MatchExpressions {
		p := fmt.Sprintf("%s.matchExpressions[%d]", path, i)
		if r.Key == "" {
			errs = append(errs, required(p+".key"))
		} else if err := validateLabelKey(r.Key); err != nil {
			errs = append(errs, invalid(p+".key", "invalid label key: %v", err))
		}
		switch r.Operator {
		case LabelSelectorOpIn, LabelSelectorOpNotIn:
			if len(r.Values) == 0 {
				errs = append(errs, required(p+".values"))
			}
		case LabelSelectorOpExists, LabelSelectorOpDoesNotExist:
			if len(r.Values) > 0 {
				errs = append(errs, invalid(p+".values", "must be empty when operator is %s", r.Operator))
			}
		case NodeSelectorOpGt, NodeSelectorOpLt:
			if len(r.Values) != 1 {
				errs = append(errs, invalid(p+".values", "must hold exactly one integer when operator is %s, found %d values", r.Operator, len(r.Values)))
			} else if _, err := strconv.ParseInt(r.Values[0], 10, 64); err != nil {
				errs = append(errs, invalid(p+".values[0]", "%q must be an integer when operator is %s", r.Values[0], r.Operator))
			}
		case "":
			errs = append(errs, required(p+".operator"))
		default:
			errs = append(errs, notSupported(p+".operator", r.Operator, LabelSelectorOpIn, LabelSelectorOpNotIn, LabelSelectorOpExists, LabelSelectorOpDoesNotExist, NodeSelectorOpGt, NodeSelectorOpLt))
		}
	}
	for i, r := range t.MatchFields {
		p := fmt.Sprintf("%s.matchFields[%d]", path, i)
		if r.Key != "metadata.name" {
			errs = append(errs, notSupported(p+".key", r.Key, "metadata.name"))
		}
		switch r.Operator {
		case LabelSelectorOpIn, LabelSelectorOpNotIn:
			if len(r.Values) != 1 {
				errs = append(errs, invalid(p+".values", "must hold exactly one node name, found %d values", len(r.Values)))
			}
		default:
			errs = append(errs, notSupported(p+".operator", r.Operator, LabelSelectorOpIn, LabelSelectorOpNotIn))
		}
	}
	return errs
}

func validatePodAffinityTerm(t *PodAffinityTerm, path string) FieldErrors {
	errs := validateLabelSelector(t.LabelSelector, path+".labelSelector")
	for i, ns := range t.Namespaces {
		if err := ValidateName(ns); err != nil {
			errs = append(errs, invalid(fmt.Sprintf("%s.namespaces[%d]", path, i), "%v", err))
		}
	}
	if t.TopologyKey == "" {
		errs = append(errs, required(path+".topologyKey"))
	} else if err := validateLabelKey(t.TopologyKey); err != nil {
		errs = append(errs, invalid(path+".topologyKey", "invalid label key: %v", err))
	}
	return errs
}

// validateTopologySpread checks topologySpreadConstraints; two constraints
// may not share both topologyKey and whenUnsatisfiable.
func validateTopologySpread(cs []TopologySpreadConstraint, path string) FieldErrors {
	var errs FieldErrors
	seen := map[[2]string]bool{}
	for i, c := range cs {
		p := fmt.Sprintf("%s[%d]", path, i)
		if c.MaxSkew < 1 {
			errs = append(errs, invalid(p+".maxSkew", "%d must be greater than 0", c.MaxSkew))
		}
		if c.TopologyKey == "" {
			errs = append(errs, required(p+".topologyKey"))
		} else if err := validateLabelKey(c.TopologyKey); err != nil {
			errs = append(errs, invalid(p+".topologyKey", "invalid label key: %v", err))
		}
		switch c.WhenUnsatisfiable {
		case DoNotSchedule, ScheduleAnyway:
			k := [2]string{c.TopologyKey, c.WhenUnsatisfiable}
			if seen[k] && c.TopologyKey != "" {
				errs = append(errs, FieldError{Field: p, Type: ErrTypeDuplicate, Detail: fmt.Sprintf("another constraint has topologyKey %q and whenUnsatisfiable %s", c.TopologyKey, c.WhenUnsatisfiable)})
			}
			seen[k] = true
		case "":
			errs = append(errs, required(p+".whenUnsatisfiable"))
		default:
			errs = append(errs, notSupported(p+".whenUnsatisfiable", c.WhenUnsatisfiable, DoNotSchedule, ScheduleAnyway))
		}
		errs = append(errs, validateLabelSelector(c.LabelSelector, p+".labelSelector")...)
	}
	return errs
}

func nonNegative32(v *int32, path string) FieldErrors {
	if v != nil && *v < 0 {
		return FieldErrors{invalid(path, "must be greater than or equal to 0")}
	}
	return nil
}

func nonNegative64(v *int64, path string) FieldErrors {
	if v != nil && *v < 0 {
		return FieldErrors{invalid(path, "must be greater than or equal to 0")}
	}
	return nil
}

func notSupported(path, got string, allowed ...string) FieldError {
	return FieldError{Field: path, Type: ErrTypeNotSupported, Detail: fmt.Sprintf("%q is not one of %s", got, strings.Join(allowed, ", "))}
}
