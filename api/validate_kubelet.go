package api

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Validation of what the agent runs besides the containers' images and
// commands: volumes and mounts, environment from ConfigMaps, Secrets and
// the pod, ports and probes, with Kubernetes' rules where Skiff follows
// them and a reason where it cannot (Wasm modules have no sockets).

// validatePodSpecKubelet checks the volumes of a pod spec and the mounts,
// env, ports and probes of its containers (init containers included).
func validatePodSpecKubelet(s *PodSpec, p string) FieldErrors {
	errs, vols := validateVolumes(s.Volumes, p+".volumes", s.IsWasm())
	for i := range s.InitContainers {
		c := &s.InitContainers[i]
		cp := fmt.Sprintf("%s.initContainers[%d]", p, i)
		errs = append(errs, validateContainerKubelet(c, cp, vols, s.IsWasm())...)
		for _, pr := range []struct {
			name  string
			probe *Probe
		}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
			if pr.probe != nil {
				errs = append(errs, invalid(cp+"."+pr.name, "must not be set on an init container: it runs to completion before any probe would"))
			}
		}
	}
	for i := range s.Containers {
		c := &s.Containers[i]
		cp := fmt.Sprintf("%s.containers[%d]", p, i)
		errs = append(errs, validateContainerKubelet(c, cp, vols, s.IsWasm())...)
		errs = append(errs, validateProbe(c.LivenessProbe, cp+".livenessProbe", c, s.IsWasm(), true)...)
		errs = append(errs, validateProbe(c.ReadinessProbe, cp+".readinessProbe", c, s.IsWasm(), false)...)
		errs = append(errs, validateProbe(c.StartupProbe, cp+".startupProbe", c, s.IsWasm(), true)...)
	}
	return errs
}

// validateVolumes checks the pod's volumes and returns them by name.
func validateVolumes(vols []Volume, p string, wasm bool) (FieldErrors, map[string]*Volume) {
	var errs FieldErrors
	byName := map[string]*Volume{}
	for i := range vols {
		v := &vols[i]
		vp := fmt.Sprintf("%s[%d]", p, i)
		switch {
		case v.Name == "":
			errs = append(errs, required(vp+".name"))
		case ValidateName(v.Name) != nil:
			errs = append(errs, invalid(vp+".name", "%v", ValidateName(v.Name)))
		case byName[v.Name] != nil:
			errs = append(errs, FieldError{Field: vp + ".name", Type: ErrTypeDuplicate, Detail: fmt.Sprintf("%q is the name of another volume", v.Name)})
		default:
			byName[v.Name] = v
		}
		n := 0
		if v.EmptyDir != nil {
			n++
			switch v.EmptyDir.Medium {
			case "", "Memory":
			default:
				errs = append(errs, notSupported(vp+".emptyDir.medium", v.EmptyDir.Medium, `""`, "Memory"))
			}
			if q := v.EmptyDir.SizeLimit; q != nil {
				if _, err := q.Parse(); err != nil {
					errs = append(errs, invalid(vp+".emptyDir.sizeLimit", "%v", err))
				}
			}
		}
		if h := v.HostPath; h != nil {
			n++
			errs = append(errs, validateHostPath(h, vp+".hostPath", wasm)...)
		}
		if c := v.ConfigMap; c != nil {
			n++
			errs = append(errs, validateObjectRef(c.Name, vp+".configMap.name")...)
			errs = append(errs, validateKeyPaths(c.Items, c.DefaultMode, vp+".configMap")...)
		}
		if s := v.Secret; s != nil {
			n++
			errs = append(errs, validateObjectRef(s.SecretName, vp+".secret.secretName")...)
			errs = append(errs, validateKeyPaths(s.Items, s.DefaultMode, vp+".secret")...)
		}
		switch {
		case n == 0:
			errs = append(errs, required(vp+": one of emptyDir, hostPath, configMap, secret"))
		case n > 1:
			errs = append(errs, invalid(vp, "may have only one of emptyDir, hostPath, configMap, secret"))
		}
	}
	return errs, byName
}

func validateHostPath(h *HostPathVolumeSource, p string, wasm bool) FieldErrors {
	var errs FieldErrors
	switch {
	case h.Path == "":
		errs = append(errs, required(p+".path"))
	case !path.IsAbs(h.Path):
		errs = append(errs, invalid(p+".path", "%q must be an absolute path", h.Path))
	case hasDotDot(h.Path):
		errs = append(errs, invalid(p+".path", "%q must not contain '..'", h.Path))
	}
	switch h.Type {
	case HostPathUnset, HostPathDirectory, HostPathDirectoryOrCreate:
	case HostPathFile, HostPathFileOrCreate, HostPathSocket, HostPathCharDevice, HostPathBlockDevice:
		if wasm {
			errs = append(errs, FieldError{Field: p + ".type", Type: ErrTypeNotSupported,
				Detail: fmt.Sprintf("%q is not supported for Wasm pods: a module sees volumes as preopened directories, so only Directory, DirectoryOrCreate or unset", h.Type)})
		}
	default:
		errs = append(errs, notSupported(p+".type", string(h.Type), `""`, "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"))
	}
	return errs
}

func validateObjectRef(name, p string) FieldErrors {
	if name == "" {
		return FieldErrors{required(p)}
	}
	if err := ValidateName(name); err != nil {
		return FieldErrors{invalid(p, "%v", err)}
	}
	return nil
}

func validateMode(m *int32, p string) FieldErrors {
	if m != nil && (*m < 0 || *m > 0o777) {
		return FieldErrors{invalid(p, "%d must be a file mode from 0 to 0777 (511)", *m)}
	}
	return nil
}

func validateKeyPaths(items []KeyToPath, defaultMode *int32, p string) FieldErrors {
	errs := validateMode(defaultMode, p+".defaultMode")
	seen := map[string]bool{}
	for i, it := range items {
		ip := fmt.Sprintf("%s.items[%d]", p, i)
		if err := validateConfigKey(it.Key); err != nil {
			errs = append(errs, invalid(ip+".key", "%v", err))
		}
		switch {
		case it.Path == "":
			errs = append(errs, required(ip+".path"))
		case path.IsAbs(it.Path) || hasDotDot(it.Path):
			errs = append(errs, invalid(ip+".path", "%q must be a relative path without '..'", it.Path))
		case seen[path.Clean(it.Path)]:
			errs = append(errs, FieldError{Field: ip + ".path", Type: ErrTypeDuplicate, Detail: fmt.Sprintf("%q is the path of another item", it.Path)})
		}
		seen[path.Clean(it.Path)] = true
		errs = append(errs, validateMode(it.Mode, ip+".mode")...)
	}
	return errs
}

func hasDotDot(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

// fieldRefPaths are the pod fields env may take (fieldRef.fieldPath).
func fieldRefPaths() []string {
	return []string{"metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels['KEY']", "metadata.annotations['KEY']",
		"spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.podIP"}
}

var fieldRefMapPath = regexp.MustCompile(`^metadata\.(labels|annotations)\['([^']+)'\]$`)

// FieldRefValue returns the value of a fieldRef.fieldPath for pod, with
// hostIP as both status.hostIP and status.podIP (pods share the node's
// network). ok is false for a path Skiff does not offer.
func FieldRefValue(pod *Pod, fieldPath, hostIP string) (value string, ok bool) {
	switch fieldPath {
	case "metadata.name":
		return pod.Name, true
	case "metadata.namespace":
		return pod.Namespace, true
	case "metadata.uid":
		return pod.UID, true
	case "spec.nodeName":
		return pod.Spec.NodeName, true
	case "spec.serviceAccountName":
		return "", true
	case "status.hostIP", "status.podIP":
		return hostIP, true
	}
	if m := fieldRefMapPath.FindStringSubmatch(fieldPath); m != nil {
		if m[1] == "labels" {
			return pod.Labels[m[2]], true
		}
		return pod.Annotations[m[2]], true
	}
	return "", false
}

var ianaSvcName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// validatePortName follows Kubernetes' IANA_SVC_NAME rule.
func validatePortName(n string) error {
	switch {
	case len(n) > 15:
		return fmt.Errorf("%q must be at most 15 characters", n)
	case !ianaSvcName.MatchString(n):
		return fmt.Errorf("%q must consist of lowercase letters, digits and '-', starting and ending with a letter or digit", n)
	case strings.Contains(n, "--"):
		return fmt.Errorf("%q must not contain '--'", n)
	case strings.IndexFunc(n, func(r rune) bool { return r >= 'a' && r <= 'z' }) < 0:
		return fmt.Errorf("%q must contain at least one letter", n)
	}
	return nil
}

// validateContainerKubelet checks one container's mounts, env, envFrom and
// ports.
func validateContainerKubelet(c *Container, p string, vols map[string]*Volume, wasm bool) FieldErrors {
	var errs FieldErrors
	mounted := map[string]bool{}
	for i, m := range c.VolumeMounts {
		mp := fmt.Sprintf("%s.volumeMounts[%d]", p, i)
		switch {
		case m.Name == "":
			errs = append(errs, required(mp+".name"))
		case vols[m.Name] == nil:
			errs = append(errs, invalid(mp+".name", "%q is not the name of a volume in spec.volumes", m.Name))
		}
		switch {
		case m.MountPath == "":
			errs = append(errs, required(mp+".mountPath"))
		case !path.IsAbs(m.MountPath):
			errs = append(errs, invalid(mp+".mountPath", "%q must be an absolute path", m.MountPath))
		case hasDotDot(m.MountPath):
			errs = append(errs, invalid(mp+".mountPath", "%q must not contain '..'", m.MountPath))
		case mounted[path.Clean(m.MountPath)]:
			errs = append(errs, FieldError{Field: mp + ".mountPath", Type: ErrTypeDuplicate, Detail: fmt.Sprintf("%q is the mount path of another volume mount", m.MountPath)})
		case wasm && path.Clean(m.MountPath) == "/":
			errs = append(errs, invalid(mp+".mountPath", "a Wasm module cannot mount a volume at /"))
		}
		mounted[path.Clean(m.MountPath)] = true
		if m.SubPath != "" && (path.IsAbs(m.SubPath) || hasDotDot(m.SubPath)) {
			errs = append(errs, invalid(mp+".subPath", "%q must be a relative path without '..'", m.SubPath))
		}
	}
	for i, e := range c.Env {
		ep := fmt.Sprintf("%s.env[%d]", p, i)
		if e.ValueFrom == nil {
			continue
		}
		if e.Value != "" {
			errs = append(errs, invalid(ep+".valueFrom", "may not be set when value is set"))
		}
		errs = append(errs, validateEnvSource(e.ValueFrom, ep+".valueFrom")...)
	}
	for i, e := range c.EnvFrom {
		ep := fmt.Sprintf("%s.envFrom[%d]", p, i)
		if e.Prefix != "" && !envName.MatchString(e.Prefix) {
			errs = append(errs, invalid(ep+".prefix", "%q must consist of letters, digits, '_', '-' or '.', and not start with a digit", e.Prefix))
		}
		switch {
		case e.ConfigMapRef != nil && e.SecretRef != nil:
			errs = append(errs, invalid(ep, "may have only one of configMapRef, secretRef"))
		case e.ConfigMapRef != nil:
			errs = append(errs, validateObjectRef(e.ConfigMapRef.Name, ep+".configMapRef.name")...)
		case e.SecretRef != nil:
			errs = append(errs, validateObjectRef(e.SecretRef.Name, ep+".secretRef.name")...)
		default:
			errs = append(errs, required(ep+": one of configMapRef, secretRef"))
		}
	}
	names := map[string]bool{}
	for i, port := range c.Ports {
		pp := fmt.Sprintf("%s.ports[%d]", p, i)
		if port.Name != "" {
			if err := validatePortName(port.Name); err != nil {
				errs = append(errs, invalid(pp+".name", "%v", err))
			} else if names[port.Name] {
				errs = append(errs, FieldError{Field: pp + ".name", Type: ErrTypeDuplicate, Detail: fmt.Sprintf("%q is the name of another port of this container", port.Name)})
			}
			names[port.Name] = true
		}
		if port.ContainerPort < 1 || port.ContainerPort > 65535 {
			errs = append(errs, invalid(pp+".containerPort", "%d must be from 1 to 65535", port.ContainerPort))
		}
		switch {
		case port.HostPort < 0 || port.HostPort > 65535:
			errs = append(errs, invalid(pp+".hostPort", "%d must be from 1 to 65535", port.HostPort))
		case port.HostPort != 0 && port.HostPort != port.ContainerPort:
			errs = append(errs, invalid(pp+".hostPort", "%d must equal containerPort (%d): pods share the node's network", port.HostPort, port.ContainerPort))
		}
		switch port.Protocol {
		case "", "TCP", "UDP", "SCTP":
		default:
			errs = append(errs, notSupported(pp+".protocol", port.Protocol, "TCP", "UDP", "SCTP"))
		}
	}
	return errs
}

func validateEnvSource(s *EnvVarSource, p string) FieldErrors {
	var errs FieldErrors
	n := 0
	if f := s.FieldRef; f != nil {
		n++
		if f.APIVersion != "" && f.APIVersion != "v1" {
			errs = append(errs, notSupported(p+".fieldRef.apiVersion", f.APIVersion, "v1"))
		}
		if _, ok := FieldRefValue(&Pod{}, f.FieldPath, ""); !ok {
			if f.FieldPath == "" {
				errs = append(errs, required(p+".fieldRef.fieldPath"))
			} else {
				errs = append(errs, notSupported(p+".fieldRef.fieldPath", f.FieldPath, fieldRefPaths()...))
			}
		}
	}
	if r := s.ConfigMapKeyRef; r != nil {
		n++
		errs = append(errs, validateObjectRef(r.Name, p+".configMapKeyRef.name")...)
		if err := validateConfigKey(r.Key); err != nil {
			errs = append(errs, invalid(p+".configMapKeyRef.key", "%v", err))
		}
	}
	if r := s.SecretKeyRef; r != nil {
		n++
		errs = append(errs, validateObjectRef(r.Name, p+".secretKeyRef.name")...)
		if err := validateConfigKey(r.Key); err != nil {
			errs = append(errs, invalid(p+".secretKeyRef.key", "%v", err))
		}
	}
	switch {
	case n == 0:
		errs = append(errs, required(p+": one of fieldRef, configMapKeyRef, secretKeyRef"))
	case n > 1:
		errs = append(errs, invalid(p, "may have only one of fieldRef, configMapKeyRef, secretKeyRef"))
	}
	return errs
}

// WasmProbeNote is why Wasm pods cannot have httpGet or tcpSocket probes.
const WasmProbeNote = "Wasm modules run under WASI preview1, which gives them no sockets to listen on (Skiff pre-opens none), so nothing would answer the probe. Use an exec probe: it runs the module again with the probe's command as argv"

// validateProbe checks a probe of an app container. Zero numbers are
// unset (defaulted); once is true for liveness and startup probes, whose
// successThreshold must be 1.
func validateProbe(pr *Probe, p string, c *Container, wasm, once bool) FieldErrors {
	if pr == nil {
		return nil
	}
	var errs FieldErrors
	n := 0
	if e := pr.Exec; e != nil {
		n++
		if len(e.Command) == 0 {
			errs = append(errs, required(p+".exec.command"))
		}
	}
	if g := pr.HTTPGet; g != nil {
		n++
		if wasm {
			errs = append(errs, FieldError{Field: p + ".httpGet", Type: ErrTypeNotSupported, Detail: WasmProbeNote})
		}
		errs = append(errs, validateProbePort(g.Port, p+".httpGet.port", c)...)
		switch g.Scheme {
		case "", "HTTP", "HTTPS":
		default:
			errs = append(errs, notSupported(p+".httpGet.scheme", g.Scheme, "HTTP", "HTTPS"))
		}
		if g.Path != "" && !strings.HasPrefix(g.Path, "/") {
			errs = append(errs, invalid(p+".httpGet.path", "%q must start with '/'", g.Path))
		}
		for i, h := range g.HTTPHeaders {
			if h.Name == "" || strings.ContainsAny(h.Name, " \t\r\n:") {
				errs = append(errs, invalid(fmt.Sprintf("%s.httpGet.httpHeaders[%d].name", p, i), "%q is not an HTTP header name", h.Name))
			}
		}
	}
	if s := pr.TCPSocket; s != nil {
		n++
		if wasm {
			errs = append(errs, FieldError{Field: p + ".tcpSocket", Type: ErrTypeNotSupported, Detail: WasmProbeNote})
		}
		errs = append(errs, validateProbePort(s.Port, p+".tcpSocket.port", c)...)
	}
	if pr.GRPC != nil {
		n++
		errs = append(errs, FieldError{Field: p + ".grpc", Type: ErrTypeNotSupported, Detail: "gRPC probes are not supported: use exec, httpGet or tcpSocket"})
	}
	switch {
	case n == 0:
		errs = append(errs, required(p+": one of exec, httpGet, tcpSocket"))
	case n > 1:
		errs = append(errs, invalid(p, "may have only one of exec, httpGet, tcpSocket, grpc"))
	}
	for _, f := range []struct {
		name string
		v    int32
	}{{"initialDelaySeconds", pr.InitialDelaySeconds}, {"timeoutSeconds", pr.TimeoutSeconds}, {"periodSeconds", pr.PeriodSeconds}, {"successThreshold", pr.SuccessThreshold}, {"failureThreshold", pr.FailureThreshold}} {
		if f.v < 0 {
			errs = append(errs, invalid(p+"."+f.name, "must be greater than or equal to 0"))
		}
	}
	if once && pr.SuccessThreshold > 1 {
		errs = append(errs, invalid(p+".successThreshold", "must be 1 for liveness and startup probes"))
	}
	if g := pr.TerminationGracePeriodSeconds; g != nil && *g <= 0 {
		errs = append(errs, invalid(p+".terminationGracePeriodSeconds", "must be more than 0"))
	}
	return errs
}

// validateProbePort accepts 1 to 65535 or the name of a port of the
// container.
func validateProbePort(port IntOrString, p string, c *Container) FieldErrors {
	if !port.IsString {
		if port.IntVal < 1 || port.IntVal > 65535 {
			return FieldErrors{invalid(p, "%d must be from 1 to 65535", port.IntVal)}
		}
		return nil
	}
	if _, ok := ContainerPortByName(c, port.StrVal); !ok {
		return FieldErrors{invalid(p, "%q is not the name of a port in this container's ports", port.StrVal)}
	}
	return nil
}

// ContainerPortByName finds the number of a named container port.
func ContainerPortByName(c *Container, name string) (int32, bool) {
	for _, p := range c.Ports {
		if p.Name == name && name != "" {
			return p.ContainerPort, true
		}
	}
	return 0, false
}
