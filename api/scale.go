package api

// The status and scale subresources and JSON merge patch, part of the REST
// contract (rest.go).

// StatusSubresource is appended to an object's path to read or write only
// its status.
const StatusSubresource = "status"

// ScaleSubresource is appended to a Deployment's or ReplicaSet's path to
// read or write only its replica count, as a Scale.
const ScaleSubresource = "scale"

// MediaMergePatch is the Content-Type of a JSON merge patch (RFC 7386), the
// one patch format the API accepts.
const MediaMergePatch = "application/merge-patch+json"

// Scale's apiVersion and kind, as in Kubernetes.
const (
	ScaleAPIVersion = "autoscaling/v1"
	ScaleKind       = "Scale"
)

// Scale is the scale subresource of a Deployment or ReplicaSet
// (Kubernetes' autoscaling/v1 Scale): metadata names the object and carries
// its resourceVersion; writing a Scale changes only the object's
// spec.replicas.
type Scale struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ScaleSpec   `json:"spec"`
	Status     ScaleStatus `json:"status"`
}

// ScaleSpec is the replica count wanted.
type ScaleSpec struct {
	Replicas int32 `json:"replicas"`
}

// ScaleStatus is the replica count observed and the object's pod selector
// in label selector syntax ("app=web,tier in (a,b)").
type ScaleStatus struct {
	Replicas int32  `json:"replicas"`
	Selector string `json:"selector,omitempty"`
}

// DecodeScale reads a Scale from JSON or YAML strictly: unknown fields and
// wrongly typed values are FieldErrors naming their paths; apiVersion and
// kind may be omitted but must be autoscaling/v1 and Scale if given.
func DecodeScale(doc []byte) (*Scale, error) {
	js, err := toJSON(doc)
	if err != nil {
		return nil, err
	}
	s := &Scale{}
	if err := decodeStrictJSON(js, s); err != nil {
		return nil, err
	}
	var errs FieldErrors
	if s.Kind != "" && s.Kind != ScaleKind {
		errs = append(errs, invalid("kind", "%q is not %s", s.Kind, ScaleKind))
	}
	if s.APIVersion != "" && s.APIVersion != ScaleAPIVersion {
		errs = append(errs, FieldError{Field: "apiVersion", Type: ErrTypeNotSupported, Detail: "\"" + s.APIVersion + "\" is not supported for kind Scale (use \"" + ScaleAPIVersion + "\")"})
	}
	if s.Spec.Replicas < 0 {
		errs = append(errs, invalid("spec.replicas", "%d must be 0 or more", s.Spec.Replicas))
	}
	if err := errs.OrNil(); err != nil {
		return nil, err
	}
	return s, nil
}
