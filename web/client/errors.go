package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/skiff-sh/skiff/api"
)

// Sentinels matched by errors.Is against a *StatusError's reason.
var (
	ErrNotFound      = errors.New("not found")
	ErrConflict      = errors.New("conflict")
	ErrAlreadyExists = errors.New("already exists")
	ErrInvalid       = errors.New("invalid")
	ErrExpired       = errors.New("expired")
	ErrUnauthorized  = errors.New("unauthorized")
	ErrForbidden     = errors.New("forbidden")
)

// StatusError is a request the server refused, with the Status it sent.
type StatusError struct {
	Status api.Status
}

func (e *StatusError) Error() string {
	if e.Status.Message != "" {
		return e.Status.Message
	}
	return fmt.Sprintf("the server answered %d %s", e.Status.Code, e.Status.Reason)
}

// Is makes errors.Is(err, ErrNotFound) and the like work.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status.Reason == api.StatusReasonNotFound
	case ErrConflict:
		return e.Status.Reason == api.StatusReasonConflict
	case ErrAlreadyExists:
		return e.Status.Reason == api.StatusReasonAlreadyExists
	case ErrInvalid:
		return e.Status.Reason == api.StatusReasonInvalid
	case ErrExpired:
		return e.Status.Reason == api.StatusReasonExpired
	case ErrUnauthorized:
		return e.Status.Reason == api.StatusReasonUnauthorized
	case ErrForbidden:
		return e.Status.Reason == api.StatusReasonForbidden
	}
	return false
}

// Causes are the fields the server found at fault, if any.
func (e *StatusError) Causes() []api.StatusCause {
	if e.Status.Details == nil {
		return nil
	}
	return e.Status.Details.Causes
}

// IsNotFound reports whether the server said the object does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConflict reports whether a write lost a race (stale resourceVersion).
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsAlreadyExists reports whether a create found the name taken.
func IsAlreadyExists(err error) bool { return errors.Is(err, ErrAlreadyExists) }

// IsInvalid reports whether the server rejected an object's fields.
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }

// IsExpired reports whether a watch's resourceVersion or a list's continue
// token is older than the server keeps (410 Gone): list again.
func IsExpired(err error) bool { return errors.Is(err, ErrExpired) }

// IsUnauthorized reports whether the server wanted a valid token: none
// was sent, or it is unknown, revoked or expired (401).
func IsUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }

// IsForbidden reports whether the token may not do what was asked (403),
// or a policy (a quota, a namespace being deleted) refused it.
func IsForbidden(err error) bool { return errors.Is(err, ErrForbidden) }

// StatusOf returns the server's Status if err carries one.
func StatusOf(err error) (api.Status, bool) {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status, true
	}
	return api.Status{}, false
}

// ConnectionError means no API server answered at Server.
type ConnectionError struct {
	Server string
	Err    error
}

func (e *ConnectionError) Error() string {
	return fmt.Sprintf(`cannot reach the Skiff API at %s (%s); start one with "skiff up" or set --server/%s`, e.Server, shortCause(e.Err), EnvServer)
}

func (e *ConnectionError) Unwrap() error { return e.Err }

// shortCause says in a few words why a connection failed.
func shortCause(err error) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &dnsErr):
		return "unknown host " + dnsErr.Name
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	// The innermost message, on one line.
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
