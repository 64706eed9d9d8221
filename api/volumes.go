package api

// Volumes, volume mounts and the environment a container takes from
// ConfigMaps, Secrets and its pod, with Kubernetes' field names.

// Volume is a directory the pod's containers may mount. Exactly one
// source is set.
type Volume struct {
	Name         string `json:"name"`
	VolumeSource `json:",inline"`
}

// VolumeSource is where a volume's files come from.
type VolumeSource struct {
	// EmptyDir is a directory that starts empty, lives as long as the pod
	// on its node, and is shared by its containers.
	EmptyDir *EmptyDirVolumeSource `json:"emptyDir,omitempty"`
	// HostPath is a file or directory of the node.
	HostPath *HostPathVolumeSource `json:"hostPath,omitempty"`
	// ConfigMap puts a ConfigMap's keys into files.
	ConfigMap *ConfigMapVolumeSource `json:"configMap,omitempty"`
	// Secret puts a Secret's keys into files.
	Secret *SecretVolumeSource `json:"secret,omitempty"`
}

// EmptyDirVolumeSource is an empty directory under the pod's state on the
// node, removed with the pod. Medium "Memory" is accepted for manifests
// written for Kubernetes, but the directory is on the node's disk all the
// same; SizeLimit is recorded, not enforced.
type EmptyDirVolumeSource struct {
	Medium    string    `json:"medium,omitempty"`
	SizeLimit *Quantity `json:"sizeLimit,omitempty"`
}

// HostPathType says what must be at a hostPath volume's path.
type HostPathType string

// Host path types, as in Kubernetes.
const (
	HostPathUnset             HostPathType = ""
	HostPathDirectoryOrCreate HostPathType = "DirectoryOrCreate"
	HostPathDirectory         HostPathType = "Directory"
	HostPathFileOrCreate      HostPathType = "FileOrCreate"
	HostPathFile              HostPathType = "File"
	HostPathSocket            HostPathType = "Socket"
	HostPathCharDevice        HostPathType = "CharDevice"
	HostPathBlockDevice       HostPathType = "BlockDevice"
)

// HostPathVolumeSource is a path on the node.
type HostPathVolumeSource struct {
	Path string       `json:"path"`
	Type HostPathType `json:"type,omitempty"`
}

// KeyToPath puts one key into the file at Path (relative to the volume).
type KeyToPath struct {
	Key  string `json:"key"`
	Path string `json:"path"`
	// Mode is the file's permission bits (0 to 0777); default the
	// volume's defaultMode.
	Mode *int32 `json:"mode,omitempty"`
}

// ConfigMapVolumeSource names the ConfigMap (in the pod's namespace) whose
// keys become files: every key, or only Items.
type ConfigMapVolumeSource struct {
	Name        string      `json:"name"`
	Items       []KeyToPath `json:"items,omitempty"`
	DefaultMode *int32      `json:"defaultMode,omitempty"`
	// Optional lets the pod start without the ConfigMap (an empty
	// directory) or without a key that Items names.
	Optional *bool `json:"optional,omitempty"`
}

// SecretVolumeSource names the Secret (in the pod's namespace) whose keys
// become files: every key, or only Items.
type SecretVolumeSource struct {
	SecretName  string      `json:"secretName"`
	Items       []KeyToPath `json:"items,omitempty"`
	DefaultMode *int32      `json:"defaultMode,omitempty"`
	Optional    *bool       `json:"optional,omitempty"`
}

// DefaultVolumeMode is the permission bits of files made from ConfigMap
// and Secret keys when the volume sets no defaultMode (0644).
const DefaultVolumeMode int32 = 0o644

// VolumeMount mounts one of the pod's volumes into a container.
type VolumeMount struct {
	// Name is the volume's name in spec.volumes.
	Name string `json:"name"`
	// MountPath is where the container sees it: an absolute path.
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	// SubPath mounts a path inside the volume instead of its root.
	SubPath string `json:"subPath,omitempty"`
}

// EnvVarSource is where an environment variable's value comes from.
// Exactly one field is set.
type EnvVarSource struct {
	// FieldRef takes a field of the pod: metadata.name,
	// metadata.namespace, metadata.uid, metadata.labels['KEY'],
	// metadata.annotations['KEY'], spec.nodeName, spec.serviceAccountName
	// (always empty here), status.hostIP, status.podIP (the node's
	// address: pods share the host network).
	FieldRef        *ObjectFieldSelector  `json:"fieldRef,omitempty"`
	ConfigMapKeyRef *ConfigMapKeySelector `json:"configMapKeyRef,omitempty"`
	SecretKeyRef    *SecretKeySelector    `json:"secretKeyRef,omitempty"`
}

// ObjectFieldSelector selects a field of the pod.
type ObjectFieldSelector struct {
	APIVersion string `json:"apiVersion,omitempty"`
	FieldPath  string `json:"fieldPath"`
}

// ConfigMapKeySelector selects one key of a ConfigMap in the pod's
// namespace.
type ConfigMapKeySelector struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional,omitempty"`
}

// SecretKeySelector selects one key of a Secret in the pod's namespace.
type SecretKeySelector struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional,omitempty"`
}

// EnvFromSource adds every key of a ConfigMap or Secret as an environment
// variable, each name prefixed with Prefix. Keys that are not valid
// variable names are left out.
type EnvFromSource struct {
	Prefix       string              `json:"prefix,omitempty"`
	ConfigMapRef *ConfigMapEnvSource `json:"configMapRef,omitempty"`
	SecretRef    *SecretEnvSource    `json:"secretRef,omitempty"`
}

// ConfigMapEnvSource names a ConfigMap for envFrom.
type ConfigMapEnvSource struct {
	Name     string `json:"name"`
	Optional *bool  `json:"optional,omitempty"`
}

// SecretEnvSource names a Secret for envFrom.
type SecretEnvSource struct {
	Name     string `json:"name"`
	Optional *bool  `json:"optional,omitempty"`
}

// IsOptional reads an optional flag: unset means false.
func IsOptional(b *bool) bool { return b != nil && *b }

// ConfigRefs are the ConfigMaps and Secrets (by name, in the pod's
// namespace) a pod spec needs: volumes, env and envFrom of every
// container, init containers included.
type ConfigRefs struct {
	ConfigMaps []string
	Secrets    []string
}

// Refs lists the ConfigMaps and Secrets the spec references, each once,
// in the order they first appear.
func (s *PodSpec) Refs() ConfigRefs {
	var out ConfigRefs
	seenCM, seenS := map[string]bool{}, map[string]bool{}
	cm := func(n string) {
		if n != "" && !seenCM[n] {
			seenCM[n] = true
			out.ConfigMaps = append(out.ConfigMaps, n)
		}
	}
	sec := func(n string) {
		if n != "" && !seenS[n] {
			seenS[n] = true
			out.Secrets = append(out.Secrets, n)
		}
	}
	for _, v := range s.Volumes {
		if v.ConfigMap != nil {
			cm(v.ConfigMap.Name)
		}
		if v.Secret != nil {
			sec(v.Secret.SecretName)
		}
	}
	for _, list := range [][]Container{s.InitContainers, s.Containers} {
		for _, c := range list {
			for _, e := range c.EnvFrom {
				if e.ConfigMapRef != nil {
					cm(e.ConfigMapRef.Name)
				}
				if e.SecretRef != nil {
					sec(e.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
					cm(r.Name)
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil {
					sec(r.Name)
				}
			}
		}
	}
	return out
}
