package admission

import (
	"errors"
	"fmt"
)

// ErrForbidden is wrapped by every refusal that is about policy rather
// than the object's shape: a quota overrun, a create in a namespace being
// deleted, deleting a system namespace. The REST API answers 403.
var ErrForbidden = errors.New("forbidden")

// ForbiddenError is a refusal worded as Kubernetes words it:
//
//	pods "web-1" is forbidden: exceeded quota: team-a-quota, requested: …
//
// errors.Is(err, ErrForbidden) holds for it.
type ForbiddenError struct {
	Resource string // "pods"
	Name     string // the object's name (or generateName when it has none yet)
	Reason   string // what follows "is forbidden: "
	// Fields are the fields that are refused, if the refusal is about
	// fields; the REST API lists them as the Status' causes.
	Fields []string
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("%s %q is forbidden: %s", e.Resource, e.Name, e.Reason)
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }
