package api

// The REST contract: the paths of the HTTP API and the Status body of its
// errors, shared by the server (web) and its clients (web/client, the
// dashboard). Like wire.go for NATS, every path is built here and nowhere else.

// ArtifactsPath is where Wasm modules are uploaded (POST, application/wasm).
const ArtifactsPath = "/api/v1/artifacts"

// HealthzPath answers 200 while the API server serves.
const HealthzPath = "/healthz"

// LogSubresource is appended to a pod's path to read its log.
const LogSubresource = "log"

// GroupVersionPath is the path prefix of a kind's API group and version:
// /api/v1 for the core group, /apis/<group>/<version> for the others, as in
// Kubernetes.
func GroupVersionPath(k KindInfo) string {
	if k.Group == "" {
		return "/api/" + k.Version
	}
	return "/apis/" + k.Group + "/" + k.Version
}

// ResourcePath is the REST path of a kind's collection or of one object:
// with namespace "" a namespaced kind's path lists all namespaces; with
// name "" it is the collection. Cluster-scoped kinds ignore namespace.
//
//	ResourcePath(pod, "default", "web") = /api/v1/namespaces/default/pods/web
//	ResourcePath(pod, "", "")           = /api/v1/pods
//	ResourcePath(node, "", "edge-1")    = /api/v1/nodes/edge-1
func ResourcePath(k KindInfo, namespace, name string) string {
	p := GroupVersionPath(k)
	if k.Namespaced && namespace != "" {
		p += "/namespaces/" + namespace
	}
	p += "/" + k.Resource
	if name != "" {
		p += "/" + name
	}
	return p
}

// ListKind is the kind of a list of k's objects ("PodList").
func ListKind(k KindInfo) string { return k.Kind + "List" }

// ListMeta is the metadata of a list response.
type ListMeta struct {
	// ResourceVersion is the highest resourceVersion among the items.
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

// ParamDryRun on a create, update, patch or delete asks for a dry run:
// with DryRunAll, the request is decoded, defaulted, validated and
// admitted as a real one and answered with what would be stored, and
// nothing is written. Any other value is refused.
const ParamDryRun = "dryRun"

// DryRunAll is the one value ParamDryRun takes, as in Kubernetes.
const DryRunAll = "All"

// A list of events (GET .../events) returns at most limit events, the
// newest, oldest first: DefaultEventsLimit when the request names none,
// and no more than MaxEventsLimit.
const (
	DefaultEventsLimit = 500
	MaxEventsLimit     = 5000
)

// StatusReason says why a request failed, in Kubernetes' words.
type StatusReason string

// Status reasons the API returns.
const (
	StatusReasonBadRequest            StatusReason = "BadRequest"
	StatusReasonInvalid               StatusReason = "Invalid"
	StatusReasonNotFound              StatusReason = "NotFound"
	StatusReasonForbidden             StatusReason = "Forbidden"
	StatusReasonAlreadyExists         StatusReason = "AlreadyExists"
	StatusReasonConflict              StatusReason = "Conflict"
	StatusReasonMethodNotAllowed      StatusReason = "MethodNotAllowed"
	StatusReasonRequestEntityTooLarge StatusReason = "RequestEntityTooLarge"
	StatusReasonUnsupportedMediaType  StatusReason = "UnsupportedMediaType"
	StatusReasonServiceUnavailable    StatusReason = "ServiceUnavailable"
	StatusReasonTimeout               StatusReason = "Timeout"
	StatusReasonInternalError         StatusReason = "InternalError"
	StatusReasonUnknown               StatusReason = ""
)

// Status values.
const (
	StatusFailure = "Failure"
	StatusSuccess = "Success"
)

// Status is the body of every failed API request (Kubernetes'
// metav1.Status): a message for people, a reason and code for programs, and
// one cause per bad field.
type Status struct {
	TypeMeta `json:",inline"`
	Status   string         `json:"status"`
	Message  string         `json:"message,omitempty"`
	Reason   StatusReason   `json:"reason,omitempty"`
	Code     int32          `json:"code"`
	Details  *StatusDetails `json:"details,omitempty"`
}

// StatusDetails names the object a Status is about and the fields at fault.
type StatusDetails struct {
	Name   string        `json:"name,omitempty"`
	Kind   string        `json:"kind,omitempty"`
	Causes []StatusCause `json:"causes,omitempty"`
}

// StatusCause is one problem with one field: Type is a FieldError type
// ("FieldValueRequired"), Field its path ("spec.containers[0].image").
type StatusCause struct {
	Type    string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	Field   string `json:"field,omitempty"`
}

// Artifact is the answer to an upload at ArtifactsPath: the module's digest,
// the image reference a Wasm pod uses to run it, and its size in bytes.
type Artifact struct {
	Digest string `json:"digest"`
	Image  string `json:"image"`
	Size   int64  `json:"size"`
}
