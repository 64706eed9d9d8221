package api

import "time"

// Pod is the smallest deployable unit: one or more containers, all run by the
// same runtime on the same node.
type Pod struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       PodSpec   `json:"spec,omitzero"`
	Status     PodStatus `json:"status,omitzero"`
}

// RuntimeClassWasm is the spec.runtimeClassName that runs a pod's containers
// as WebAssembly modules (wazero) instead of OCI containers (containerd).
const RuntimeClassWasm = "wasm"

// PodSpec is the desired state of a pod.
type PodSpec struct {
	// InitContainers run one after the other, each to completion, before
	// the containers start.
	InitContainers []Container `json:"initContainers,omitempty"`
	Containers     []Container `json:"containers"`
	// Volumes the containers may mount.
	Volumes                       []Volume          `json:"volumes,omitempty"`
	RestartPolicy                 RestartPolicy     `json:"restartPolicy,omitempty"`
	NodeName                      string            `json:"nodeName,omitempty"`
	NodeSelector                  map[string]string `json:"nodeSelector,omitempty"`
	RuntimeClassName              string            `json:"runtimeClassName,omitempty"`
	TerminationGracePeriodSeconds *int64            `json:"terminationGracePeriodSeconds,omitempty"`
	ActiveDeadlineSeconds         *int64            `json:"activeDeadlineSeconds,omitempty"`
	Tolerations                   []Toleration      `json:"tolerations,omitempty"`
	Affinity                      *Affinity         `json:"affinity,omitempty"`
	// TopologySpreadConstraints spread a workload's pods over the values of
	// a node label.
	TopologySpreadConstraints []TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
}

// IsWasm reports whether the pod's containers are Wasm modules.
func (s *PodSpec) IsWasm() bool { return s.RuntimeClassName == RuntimeClassWasm }

// RestartPolicy says when the agent restarts a pod's containers.
type RestartPolicy string

// Restart policies, as in Kubernetes.
const (
	RestartPolicyAlways    RestartPolicy = "Always"
	RestartPolicyOnFailure RestartPolicy = "OnFailure"
	RestartPolicyNever     RestartPolicy = "Never"
)

// Container is one process of a pod: an OCI image, or a Wasm module when the
// pod's runtimeClassName is "wasm".
type Container struct {
	Name       string               `json:"name"`
	Image      string               `json:"image"`
	Command    []string             `json:"command,omitempty"`
	Args       []string             `json:"args,omitempty"`
	WorkingDir string               `json:"workingDir,omitempty"`
	Env        []EnvVar             `json:"env,omitempty"`
	Resources  ResourceRequirements `json:"resources,omitzero"`
	// Ports the container listens on, on the node's network.
	Ports []ContainerPort `json:"ports,omitempty"`
	// EnvFrom adds the keys of ConfigMaps and Secrets to the environment;
	// Env wins over it.
	EnvFrom      []EnvFromSource `json:"envFrom,omitempty"`
	VolumeMounts []VolumeMount   `json:"volumeMounts,omitempty"`
	// Probes; not allowed on init containers.
	LivenessProbe  *Probe `json:"livenessProbe,omitempty"`
	ReadinessProbe *Probe `json:"readinessProbe,omitempty"`
	StartupProbe   *Probe `json:"startupProbe,omitempty"`
	// ImagePullPolicy is accepted for compatibility with Kubernetes manifests.
	ImagePullPolicy string `json:"imagePullPolicy,omitempty"`
}

// EnvVar is one environment variable of a container.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	// ValueFrom takes the value from a ConfigMap, a Secret or the pod;
	// not together with Value.
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

// ResourceName names a resource: cpu or memory.
type ResourceName string

// Resource names.
const (
	ResourceCPU    ResourceName = "cpu"
	ResourceMemory ResourceName = "memory"
	ResourcePods   ResourceName = "pods"
)

// ResourceList maps resource names to quantities.
type ResourceList map[ResourceName]Quantity

// ResourceRequirements are a container's requests and limits.
type ResourceRequirements struct {
	Limits   ResourceList `json:"limits,omitempty"`
	Requests ResourceList `json:"requests,omitempty"`
}

// Toleration lets a pod run on a node with a matching taint.
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// PodPhase is the coarse lifecycle state of a pod.
type PodPhase string

// Pod phases, as in Kubernetes.
const (
	PodPending   PodPhase = "Pending"
	PodRunning   PodPhase = "Running"
	PodSucceeded PodPhase = "Succeeded"
	PodFailed    PodPhase = "Failed"
	PodUnknown   PodPhase = "Unknown"
)

// Terminal reports whether a pod in this phase will never run again.
func (p PodPhase) Terminal() bool { return p == PodSucceeded || p == PodFailed }

// PodConditionType names a pod condition.
type PodConditionType string

// Pod condition types.
const (
	PodScheduled    PodConditionType = "PodScheduled"
	PodInitialized  PodConditionType = "Initialized"
	ContainersReady PodConditionType = "ContainersReady"
	PodReady        PodConditionType = "Ready"
)

// PodCondition is one observation of a pod's state.
type PodCondition struct {
	Type               PodConditionType `json:"type"`
	Status             ConditionStatus  `json:"status"`
	LastTransitionTime time.Time        `json:"lastTransitionTime,omitzero"`
	Reason             string           `json:"reason,omitempty"`
	Message            string           `json:"message,omitempty"`
}

// PodStatus is the observed state of a pod, written by the scheduler and the
// pod's agent.
type PodStatus struct {
	Phase             PodPhase          `json:"phase,omitempty"`
	Conditions        []PodCondition    `json:"conditions,omitempty"`
	Message           string            `json:"message,omitempty"`
	Reason            string            `json:"reason,omitempty"`
	HostIP            string            `json:"hostIP,omitempty"`
	StartTime         *time.Time        `json:"startTime,omitempty"`
	ContainerStatuses []ContainerStatus `json:"containerStatuses,omitempty"`
	// InitContainerStatuses are the init containers' states, in order.
	InitContainerStatuses []ContainerStatus `json:"initContainerStatuses,omitempty"`
}

// Condition returns the condition of the given type, or nil.
func (s *PodStatus) Condition(t PodConditionType) *PodCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// SetCondition adds or replaces the condition of c's type, keeping
// LastTransitionTime when the status did not change.
func (s *PodStatus) SetCondition(c PodCondition) {
	if old := s.Condition(c.Type); old != nil {
		if old.Status == c.Status && !old.LastTransitionTime.IsZero() {
			c.LastTransitionTime = old.LastTransitionTime
		}
		*old = c
		return
	}
	s.Conditions = append(s.Conditions, c)
}

// ContainerStatus is the observed state of one container.
type ContainerStatus struct {
	Name         string         `json:"name"`
	State        ContainerState `json:"state,omitzero"`
	LastState    ContainerState `json:"lastTerminationState,omitzero"`
	Ready        bool           `json:"ready"`
	RestartCount int32          `json:"restartCount"`
	Image        string         `json:"image"`
	ImageID      string         `json:"imageID,omitempty"`
	ContainerID  string         `json:"containerID,omitempty"`
	Started      *bool          `json:"started,omitempty"`
}

// ContainerState holds exactly one of its fields.
type ContainerState struct {
	Waiting    *ContainerStateWaiting    `json:"waiting,omitempty"`
	Running    *ContainerStateRunning    `json:"running,omitempty"`
	Terminated *ContainerStateTerminated `json:"terminated,omitempty"`
}

// ContainerStateWaiting is a container that has not started yet.
type ContainerStateWaiting struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ContainerStateRunning is a running container.
type ContainerStateRunning struct {
	StartedAt time.Time `json:"startedAt,omitzero"`
}

// ContainerStateTerminated is a container that has exited.
type ContainerStateTerminated struct {
	ExitCode   int32     `json:"exitCode"`
	Signal     int32     `json:"signal,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Message    string    `json:"message,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
}
