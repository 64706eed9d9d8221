package api

import (
	"fmt"
	"regexp"
	"strings"
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

const dnsLabelHelp = "must be a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"

// ValidateName checks that name is a DNS label (RFC 1123), as Skiff requires
// for every object name so that it fits in a NATS subject token.
func ValidateName(name string) error {
	if len(name) > 63 || !dnsLabel.MatchString(name) {
		return fmt.Errorf("%q %s", name, dnsLabelHelp)
	}
	return nil
}

var (
	labelValue = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	labelName  = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	dnsSubdom  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	envName    = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
)

func validateLabelKey(k string) error {
	prefix, name, hasPrefix := strings.Cut(k, "/")
	if !hasPrefix {
		name, prefix = prefix, ""
	}
	if hasPrefix && (len(prefix) > 253 || !dnsSubdom.MatchString(prefix)) {
		return fmt.Errorf("prefix %q must be a DNS subdomain", prefix)
	}
	if len(name) > 63 || !labelName.MatchString(name) {
		return fmt.Errorf("name part %q must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", name)
	}
	return nil
}

func validateLabels(labels map[string]string, path string) FieldErrors {
	var errs FieldErrors
	for _, k := range sortedKeys(labels) {
		if err := validateLabelKey(k); err != nil {
			errs = append(errs, invalid(fmt.Sprintf("%s[%s]", path, k), "invalid label key: %v", err))
		}
		if v := labels[k]; len(v) > 63 || !labelValue.MatchString(v) {
			errs = append(errs, invalid(fmt.Sprintf("%s[%s]", path, k), "invalid label value %q: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", v))
		}
	}
	return errs
}

func validateMeta(m *ObjectMeta, namespaced bool) FieldErrors {
	var errs FieldErrors
	if m.Name == "" {
		errs = append(errs, required("metadata.name"))
	} else if err := ValidateName(m.Name); err != nil {
		errs = append(errs, invalid("metadata.name", "%v", err))
	}
	if namespaced {
		if m.Namespace == "" {
			errs = append(errs, required("metadata.namespace"))
		} else if err := ValidateName(m.Namespace); err != nil {
			errs = append(errs, invalid("metadata.namespace", "%v", err))
		}
	} else if m.Namespace != "" {
		errs = append(errs, invalid("metadata.namespace", "must be empty: this kind is not namespaced"))
	}
	errs = append(errs, validateLabels(m.Labels, "metadata.labels")...)
	for k := range m.Annotations {
		if err := validateLabelKey(k); err != nil {
			errs = append(errs, invalid(fmt.Sprintf("metadata.annotations[%s]", k), "invalid annotation key: %v", err))
		}
	}
	return errs
}

// Validate checks an object of any kind, after defaulting, and returns every
// problem as FieldErrors (nil when the object is valid).
func Validate(obj Object) error {
	switch o := obj.(type) {
	case *Pod:
		return ValidatePod(o).OrNil()
	case *Node:
		return ValidateNode(o).OrNil()
	case *Namespace:
		return ValidateNamespace(o).OrNil()
	case *ResourceQuota:
		return ValidateResourceQuota(o).OrNil()
	case *Deployment:
		return ValidateDeployment(o).OrNil()
	case *ReplicaSet:
		return ValidateReplicaSet(o).OrNil()
	case *DaemonSet:
		return ValidateDaemonSet(o).OrNil()
	case *Job:
		return ValidateJob(o).OrNil()
	case *CronJob:
		return ValidateCronJob(o).OrNil()
	case *ConfigMap:
		return ValidateConfigMap(o).OrNil()
	case *Secret:
		return ValidateSecret(o).OrNil()
	}
	return FieldErrors{invalid("kind", "%T cannot be validated", obj)}
}

// ValidatePod checks a pod and returns every problem.
func ValidatePod(p *Pod) FieldErrors {
	errs := validateMeta(&p.ObjectMeta, true)
	errs = append(errs, validateOwnerReferences(&p.ObjectMeta)...)
	return append(errs, validatePodSpec(&p.Spec, "spec")...)
}

// validatePodSpec checks a pod's spec, or a pod template's, at path
// ("spec", "spec.template.spec").
func validatePodSpec(s *PodSpec, path string) FieldErrors {
	var errs FieldErrors
	if len(s.Containers) == 0 {
		errs = append(errs, required(path+".containers"))
	}
	seen := map[string]bool{}
	for i := range s.InitContainers {
		errs = append(errs, validateContainer(&s.InitContainers[i], fmt.Sprintf("%s.initContainers[%d]", path, i), s.IsWasm(), seen)...)
	}
	for i := range s.Containers {
		errs = append(errs, validateContainer(&s.Containers[i], fmt.Sprintf("%s.containers[%d]", path, i), s.IsWasm(), seen)...)
	}
	errs = append(errs, validatePodSpecKubelet(s, path)...)
	switch s.RestartPolicy {
	case RestartPolicyAlways, RestartPolicyOnFailure, RestartPolicyNever:
	case "":
		errs = append(errs, required(path+".restartPolicy"))
	default:
		errs = append(errs, FieldError{Field: path + ".restartPolicy", Type: ErrTypeNotSupported, Detail: fmt.Sprintf("%q is not one of Always, OnFailure, Never", s.RestartPolicy)})
	}
	switch s.RuntimeClassName {
	case "", RuntimeClassWasm:
	default:
		errs = append(errs, FieldError{Field: path + ".runtimeClassName", Type: ErrTypeNotSupported, Detail: fmt.Sprintf("%q is not a runtime class Skiff offers: use %q for Wasm modules or leave it empty for containers", s.RuntimeClassName, RuntimeClassWasm)})
	}
	if s.NodeName != "" {
		if err := ValidateName(s.NodeName); err != nil {
			errs = append(errs, invalid(path+".nodeName", "%v", err))
		}
	}
	errs = append(errs, validateLabels(s.NodeSelector, path+".nodeSelector")...)
	if g := s.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		errs = append(errs, invalid(path+".terminationGracePeriodSeconds", "must be 0 or more"))
	}
	if d := s.ActiveDeadlineSeconds; d != nil && *d <= 0 {
		errs = append(errs, invalid(path+".activeDeadlineSeconds", "must be more than 0"))
	}
	errs = append(errs, validateTolerations(s.Tolerations, path+".tolerations")...)
	errs = append(errs, validateAffinity(s.Affinity, path+".affinity")...)
	errs = append(errs, validateTopologySpread(s.TopologySpreadConstraints, path+".topologySpreadConstraints")...)
	return errs
}

func validateContainer(c *Container, path string, wasm bool, seen map[string]bool) FieldErrors {
	var errs FieldErrors
	switch {
	case c.Name == "":
		errs = append(errs, required(path+".name"))
	case ValidateName(c.Name) != nil:
		errs = append(errs, invalid(path+".name", "%v", ValidateName(c.Name)))
	case seen[c.Name]:
		errs = append(errs, FieldError{Field: path + ".name", Type: ErrTypeDuplicate, Detail: fmt.Sprintf("%q is used by another container of this pod", c.Name)})
	}
	seen[c.Name] = true
	if strings.TrimSpace(c.Image) == "" {
		errs = append(errs, required(path+".image"))
	} else if wasm {
		src, err := ParseWasmImage(c.Image)
		switch {
		case err != nil:
			errs = append(errs, invalid(path+".image", "%v", err))
		case src.Kind == WasmFromLocalFile:
			errs = append(errs, invalid(path+".image", "%q is a local file: apply the manifest with `skiff apply -f`, which uploads it, or use skiff://artifacts/sha256:<hex>, file:///path/on/node or https://…#sha256=<hex>", c.Image))
		}
	}
	for i, e := range c.Env {
		p := fmt.Sprintf("%s.env[%d].name", path, i)
		if e.Name == "" {
			errs = append(errs, required(p))
		} else if !envName.MatchString(e.Name) {
			errs = append(errs, invalid(p, "%q must consist of letters, digits, '_', '-' or '.', and not start with a digit", e.Name))
		}
	}
	errs = append(errs, validateResources(c.Resources.Limits, path+".resources.limits")...)
	errs = append(errs, validateResources(c.Resources.Requests, path+".resources.requests")...)
	for name, req := range c.Resources.Requests {
		lim, ok := c.Resources.Limits[name]
		if ok && req.MilliValue() > lim.MilliValue() && lim.MilliValue() > 0 {
			errs = append(errs, invalid(fmt.Sprintf("%s.resources.requests[%s]", path, name), "%s must be less than or equal to the limit %s", req, lim))
		}
	}
	return errs
}

func validateResources(rl ResourceList, path string) FieldErrors {
	var errs FieldErrors
	for _, name := range sortedKeys(rl) {
		q := rl[name]
		p := fmt.Sprintf("%s[%s]", path, name)
		if name != ResourceCPU && name != ResourceMemory {
			errs = append(errs, FieldError{Field: p, Type: ErrTypeNotSupported, Detail: "only cpu and memory are supported"})
			continue
		}
		if _, err := q.Parse(); err != nil {
			errs = append(errs, invalid(p, "%v", err))
		}
	}
	return errs
}

// ValidateNode checks a node and returns every problem.
func ValidateNode(n *Node) FieldErrors {
	errs := validateMeta(&n.ObjectMeta, false)
	for i, t := range n.Spec.Taints {
		p := fmt.Sprintf("spec.taints[%d]", i)
		if t.Key == "" {
			errs = append(errs, required(p+".key"))
		}
		switch t.Effect {
		case "NoSchedule", "PreferNoSchedule", "NoExecute":
		default:
			errs = append(errs, FieldError{Field: p + ".effect", Type: ErrTypeNotSupported, Detail: fmt.Sprintf("%q is not one of NoSchedule, PreferNoSchedule, NoExecute", t.Effect)})
		}
	}
	return errs
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// ValidateLabelMap checks label keys and values, naming each bad one under
// path; nil when all are valid.
func ValidateLabelMap(labels map[string]string, path string) error {
	return validateLabels(labels, path).OrNil()
}
