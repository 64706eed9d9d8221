package api

// Probes and container ports, with Kubernetes' field names and defaults.

// Probe is a check the agent runs against a container: liveness (restart
// the container when it fails), readiness (whether the container, and so
// the pod, is Ready) or startup (holds the other two back until it
// succeeds once).
type Probe struct {
	ProbeHandler `json:",inline"`
	// InitialDelaySeconds after the container started before the first
	// check.
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	// TimeoutSeconds bounds one check. Default 1.
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
	// PeriodSeconds between checks. Default 10.
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`
	// SuccessThreshold is how many successes in a row count after a
	// failure. Default 1, and must be 1 for liveness and startup.
	SuccessThreshold int32 `json:"successThreshold,omitempty"`
	// FailureThreshold is how many failures in a row count. Default 3.
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
	// TerminationGracePeriodSeconds overrides the pod's grace period when
	// a failed liveness or startup probe stops the container.
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
}

// ProbeHandler is what a probe does; exactly one field is set.
type ProbeHandler struct {
	// Exec runs a command in the container; exit code 0 is success. For
	// Wasm pods the command runs as a new instance of the container's
	// module, with command as its argv (see docs/architecture.md,
	// "Probes").
	Exec *ExecAction `json:"exec,omitempty"`
	// HTTPGet succeeds on a status from 200 to 399. Containers only.
	HTTPGet *HTTPGetAction `json:"httpGet,omitempty"`
	// TCPSocket succeeds when a connection opens. Containers only.
	TCPSocket *TCPSocketAction `json:"tcpSocket,omitempty"`
	// GRPC is accepted by Kubernetes; Skiff does not run gRPC probes and
	// refuses it with a reason.
	GRPC *GRPCAction `json:"grpc,omitempty"`
}

// ExecAction is a command run in the container.
type ExecAction struct {
	Command []string `json:"command,omitempty"`
}

// HTTPGetAction is an HTTP GET against the container. Containers share
// the node's network, so Host defaults to the node's address.
type HTTPGetAction struct {
	Path        string       `json:"path,omitempty"`
	Port        IntOrString  `json:"port"`
	Host        string       `json:"host,omitempty"`
	Scheme      string       `json:"scheme,omitempty"` // HTTP (default) or HTTPS
	HTTPHeaders []HTTPHeader `json:"httpHeaders,omitempty"`
}

// HTTPHeader is one header of an httpGet probe.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TCPSocketAction opens a TCP connection to the container.
type TCPSocketAction struct {
	Port IntOrString `json:"port"`
	Host string      `json:"host,omitempty"`
}

// GRPCAction is Kubernetes' gRPC health check; not supported by Skiff.
type GRPCAction struct {
	Port    int32   `json:"port"`
	Service *string `json:"service,omitempty"`
}

// Probe defaults, as in Kubernetes.
const (
	DefaultProbeTimeoutSeconds   int32 = 1
	DefaultProbePeriodSeconds    int32 = 10
	DefaultProbeSuccessThreshold int32 = 1
	DefaultProbeFailureThreshold int32 = 3
)

// ContainerPort is a port a container listens on. Pods share the node's
// network, so containerPort is the node's port; the list is informational
// and names ports for probes.
type ContainerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	HostPort      int32  `json:"hostPort,omitempty"`
	HostIP        string `json:"hostIP,omitempty"`
	// Protocol is TCP (default), UDP or SCTP.
	Protocol string `json:"protocol,omitempty"`
}

// setProbeDefaults fills a probe's unset numbers.
func setProbeDefaults(p *Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = DefaultProbeTimeoutSeconds
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = DefaultProbePeriodSeconds
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = DefaultProbeSuccessThreshold
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = DefaultProbeFailureThreshold
	}
	if g := p.HTTPGet; g != nil && g.Scheme == "" {
		g.Scheme = "HTTP"
	}
}

// setPodSpecKubeletDefaults fills the defaults of probes, ports and
// volumes of a pod spec (a pod's or a template's).
func setPodSpecKubeletDefaults(s *PodSpec) {
	for _, list := range [][]Container{s.InitContainers, s.Containers} {
		for i := range list {
			c := &list[i]
			setProbeDefaults(c.LivenessProbe)
			setProbeDefaults(c.ReadinessProbe)
			setProbeDefaults(c.StartupProbe)
			for j := range c.Ports {
				if c.Ports[j].Protocol == "" {
					c.Ports[j].Protocol = "TCP"
				}
			}
			for j := range c.Env {
				if f := c.Env[j].ValueFrom; f != nil && f.FieldRef != nil && f.FieldRef.APIVersion == "" {
					f.FieldRef.APIVersion = "v1"
				}
			}
		}
	}
	for i := range s.Volumes {
		v := &s.Volumes[i].VolumeSource
		if v.ConfigMap != nil && v.ConfigMap.DefaultMode == nil {
			m := DefaultVolumeMode
			v.ConfigMap.DefaultMode = &m
		}
		if v.Secret != nil && v.Secret.DefaultMode == nil {
			m := DefaultVolumeMode
			v.Secret.DefaultMode = &m
		}
	}
}
