package api

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is one problem with one field of an object.
type FieldError struct {
	Field  string // path, like "spec.containers[0].image"
	Type   string // "FieldValueRequired", "FieldValueInvalid", "FieldValueNotSupported", "FieldValueUnknown"
	Detail string // "required", "must be a DNS label (…)"
}

// Field error types (the reasons Kubernetes uses in Status causes).
const (
	ErrTypeRequired     = "FieldValueRequired"
	ErrTypeInvalid      = "FieldValueInvalid"
	ErrTypeNotSupported = "FieldValueNotSupported"
	ErrTypeUnknown      = "FieldValueUnknown"
	ErrTypeDuplicate    = "FieldValueDuplicate"
	// ErrTypeForbidden marks a field the writer may not set (a 403 cause).
	ErrTypeForbidden = "FieldValueForbidden"
)

func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Detail
	}
	return e.Field + ": " + e.Detail
}

// FieldErrors is every problem found in one object. It is returned as an
// error by Decode and Validate; callers use errors.As to reach the fields.
type FieldErrors []FieldError

func (l FieldErrors) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// OrNil returns nil when the list is empty, so it can be returned as error.
func (l FieldErrors) OrNil() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

func required(path string) FieldError {
	return FieldError{Field: path, Type: ErrTypeRequired, Detail: "required"}
}

func invalid(path, format string, args ...any) FieldError {
	return FieldError{Field: path, Type: ErrTypeInvalid, Detail: fmt.Sprintf(format, args...)}
}

// DecodeError is a document that could not be read at all (bad YAML or JSON,
// no kind, an unknown kind). Field problems are FieldErrors instead.
type DecodeError struct {
	Reason string // "BadRequest" style: "InvalidYAML", "MissingKind", "UnknownKind"
	Msg    string
}

func (e *DecodeError) Error() string { return e.Msg }

// Sentinel errors that cross the REST API boundary; web maps them to HTTP
// status codes.
var (
	// ErrNodeUnreachable means the node a request must reach (for a pod's
	// log, say) did not answer.
	ErrNodeUnreachable = errors.New("node unreachable")
	// ErrInvalidArtifact means an uploaded artifact is not a Wasm module.
	ErrInvalidArtifact = errors.New("invalid artifact")
)
