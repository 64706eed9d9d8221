package edge

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/runtimes"
)

// envNameRE is Kubernetes' rule for environment variable names; keys of an
// envFrom source that break it are left out, as the kubelet does.
var envNameRE = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)

// containerEnv resolves the container's environment: envFrom first (in
// order, each source's keys sorted), then env, a later name replacing an
// earlier one in place. $(NAME) in env values refers to variables defined
// before it; $$ is a literal $. A ConfigMap, Secret or key that the node
// does not have and that is not optional is a *waitError with
// CreateContainerConfigError.
func (a *Agent) containerEnv(pod *api.Pod, c *api.Container) ([]runtimes.EnvVar, error) {
	var out []runtimes.EnvVar
	index := map[string]int{}
	set := func(name, value string) {
		if i, ok := index[name]; ok {
			out[i].Value = value
			return
		}
		index[name] = len(out)
		out = append(out, runtimes.EnvVar{Name: name, Value: value})
	}
	missing := func(format string, args ...any) error {
		return &waitError{Reason: ReasonCreateContainerConfigErr, Msg: fmt.Sprintf(format, args...)}
	}
	for _, src := range c.EnvFrom {
		var values map[string][]byte
		switch {
		case src.ConfigMapRef != nil:
			cm, ok := a.configs.ConfigMap(pod.Namespace, src.ConfigMapRef.Name)
			if !ok {
				if api.IsOptional(src.ConfigMapRef.Optional) {
					continue
				}
				return nil, missing("configmap %q not found", src.ConfigMapRef.Name)
			}
			values = cm.ConfigMapValues()
		case src.SecretRef != nil:
			sec, ok := a.configs.Secret(pod.Namespace, src.SecretRef.Name)
			if !ok {
				if api.IsOptional(src.SecretRef.Optional) {
					continue
				}
				return nil, missing("secret %q not found", src.SecretRef.Name)
			}
			values = sec.SecretValues()
		}
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if name := src.Prefix + k; envNameRE.MatchString(name) {
				set(name, string(values[k]))
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expandVars(e.Value, lookupIn(out, index)))
			continue
		}
		switch f := e.ValueFrom; {
		case f.FieldRef != nil:
			v, ok := api.FieldRefValue(pod, f.FieldRef.FieldPath, a.HostIP())
			if !ok {
				return nil, fmt.Errorf("env %s: fieldRef %q is not a field the agent offers", e.Name, f.FieldRef.FieldPath)
			}
			set(e.Name, v)
		case f.ConfigMapKeyRef != nil:
			r := f.ConfigMapKeyRef
			cm, ok := a.configs.ConfigMap(pod.Namespace, r.Name)
			if !ok {
				if api.IsOptional(r.Optional) {
					continue
				}
				return nil, missing("configmap %q not found", r.Name)
			}
			v, ok := cm.ConfigMapValues()[r.Key]
			if !ok {
				if api.IsOptional(r.Optional) {
					continue
				}
				return nil, missing("couldn't find key %s in ConfigMap %s/%s", r.Key, pod.Namespace, r.Name)
			}
			set(e.Name, string(v))
		case f.SecretKeyRef != nil:
			r := f.SecretKeyRef
			sec, ok := a.configs.Secret(pod.Namespace, r.Name)
			if !ok {
				if api.IsOptional(r.Optional) {
					continue
				}
				return nil, missing("secret %q not found", r.Name)
			}
			v, ok := sec.SecretValues()[r.Key]
			if !ok {
				if api.IsOptional(r.Optional) {
					continue
				}
				return nil, missing("couldn't find key %s in Secret %s/%s", r.Key, pod.Namespace, r.Name)
			}
			set(e.Name, string(v))
		}
	}
	return out, nil
}

func lookupIn(env []runtimes.EnvVar, index map[string]int) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if i, ok := index[name]; ok {
			return env[i].Value, true
		}
		return "", false
	}
}

// envLookup looks names up in a resolved environment.
func envLookup(env []runtimes.EnvVar) func(string) (string, bool) {
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// expandVars replaces $(NAME) with the variable's value, as Kubernetes
// does in env values, command and args: an unknown $(NAME) stays as it is,
// $$ is a literal $.
func expandVars(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
