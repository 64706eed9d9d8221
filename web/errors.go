package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/admission"
	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/controlplane/natsauth"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// This file is the one place where errors become HTTP responses: every
// handler returns a plain error (a store or api sentinel, api.FieldErrors,
// *api.DecodeError, or a *requestError built here) and handleError turns it
// into a Kubernetes-style Status body.

// requestError is a problem with the request itself that no lower layer
// has a sentinel for: a bad path parameter, an unsupported content type, a
// namespace that does not match the path.
type requestError struct {
	code    int
	reason  api.StatusReason
	message string
	causes  []api.StatusCause
}

func (e *requestError) Error() string { return e.message }

func badRequest(format string, args ...any) *requestError {
	return &requestError{code: http.StatusBadRequest, reason: api.StatusReasonBadRequest, message: fmt.Sprintf(format, args...)}
}

// badField is a 400 about one field of the request (a query parameter or
// a field of the body that contradicts the path).
func badField(field, format string, args ...any) *requestError {
	msg := fmt.Sprintf(format, args...)
	return &requestError{
		code: http.StatusBadRequest, reason: api.StatusReasonBadRequest,
		message: field + ": " + msg,
		causes:  []api.StatusCause{{Type: api.ErrTypeInvalid, Field: field, Message: msg}},
	}
}

func unsupportedMediaType(format string, args ...any) *requestError {
	return &requestError{code: http.StatusUnsupportedMediaType, reason: api.StatusReasonUnsupportedMediaType, message: fmt.Sprintf(format, args...)}
}

func serviceUnavailable(format string, args ...any) *requestError {
	return &requestError{code: http.StatusServiceUnavailable, reason: api.StatusReasonServiceUnavailable, message: fmt.Sprintf(format, args...)}
}

// statusClientClosed is logged (never sent) when the client closed the
// connection before the answer was ready, as nginx's 499.
const statusClientClosed = 499

// objectError names the object an error concerns, for Status.details.
type objectError struct {
	err  error
	kind string
	name string
}

func (e *objectError) Error() string { return e.err.Error() }
func (e *objectError) Unwrap() error { return e.err }

// aboutObject attaches the kind and name of the object a request concerns.
func aboutObject(err error, info api.KindInfo, name string) error {
	if err == nil {
		return nil
	}
	return &objectError{err: err, kind: info.Kind, name: name}
}

// statusOf maps an error to the Status the client sees. The second result
// says whether the error is the server's fault (it is then logged).
func statusOf(err error, maxBody int64) (api.Status, bool) {
	st := api.Status{
		TypeMeta: api.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   api.StatusFailure,
		Message:  err.Error(),
	}
	var details api.StatusDetails
	if oe := (*objectError)(nil); errors.As(err, &oe) {
		details.Kind, details.Name = oe.kind, oe.name
	}
	internal := false

	var (
		fieldErrs api.FieldErrors
		decodeErr *api.DecodeError
		reqErr    *requestError
		tooLarge  *http.MaxBytesError
		httpErr   *echo.HTTPError
	)
	switch {
	case errors.As(err, &reqErr):
		st.Code, st.Reason, st.Message = int32(reqErr.code), reqErr.reason, reqErr.message
		details.Causes = reqErr.causes
	case errors.As(err, &tooLarge):
		st.Code, st.Reason = http.StatusRequestEntityTooLarge, api.StatusReasonRequestEntityTooLarge
		st.Message = fmt.Sprintf("the request body is larger than the server accepts (%d bytes)", maxBody)
	case errors.As(err, &fieldErrs):
		st.Code, st.Reason = http.StatusUnprocessableEntity, api.StatusReasonInvalid
		for _, fe := range fieldErrs {
			details.Causes = append(details.Causes, api.StatusCause{Type: fe.Type, Field: fe.Field, Message: fe.Detail})
		}
		switch {
		case details.Kind != "" && details.Name != "":
			st.Message = fmt.Sprintf("%s %q is invalid: %s", details.Kind, details.Name, fieldErrs.Error())
		case details.Kind != "":
			st.Message = fmt.Sprintf("%s is invalid: %s", details.Kind, fieldErrs.Error())
		}
	case errors.As(err, &decodeErr):
		st.Code, st.Reason = http.StatusBadRequest, api.StatusReasonBadRequest
	case errors.Is(err, auth.ErrUnauthenticated):
		st.Code, st.Reason = http.StatusUnauthorized, api.StatusReasonUnauthorized
	case errors.Is(err, admission.ErrForbidden), errors.Is(err, auth.ErrForbidden):
		st.Code, st.Reason = http.StatusForbidden, api.StatusReasonForbidden
		if fe := (*admission.ForbiddenError)(nil); errors.As(err, &fe) {
			for _, f := range fe.Fields {
				details.Causes = append(details.Causes, api.StatusCause{Type: api.ErrTypeForbidden, Field: f, Message: "forbidden"})
			}
		}
	case errors.Is(err, natsauth.ErrNotFound):
		st.Code, st.Reason = http.StatusNotFound, api.StatusReasonNotFound
	case errors.Is(err, natsauth.ErrAlreadyExists):
		st.Code, st.Reason = http.StatusConflict, api.StatusReasonAlreadyExists
	case errors.Is(err, auth.ErrNotFound):
		st.Code, st.Reason = http.StatusNotFound, api.StatusReasonNotFound
	case errors.Is(err, auth.ErrAlreadyExists):
		st.Code, st.Reason = http.StatusConflict, api.StatusReasonAlreadyExists
	case errors.Is(err, store.ErrNotFound):
		st.Code, st.Reason = http.StatusNotFound, api.StatusReasonNotFound
	case errors.Is(err, store.ErrAlreadyExists):
		st.Code, st.Reason = http.StatusConflict, api.StatusReasonAlreadyExists
	case errors.Is(err, store.ErrConflict):
		st.Code, st.Reason = http.StatusConflict, api.StatusReasonConflict
	case errors.Is(err, store.ErrRotationInProgress):
		st.Code, st.Reason = http.StatusConflict, api.StatusReasonConflict
	case errors.Is(err, store.ErrNoKeyring):
		st.Code, st.Reason = http.StatusServiceUnavailable, api.StatusReasonServiceUnavailable
	case errors.Is(err, store.ErrExpired):
		st.Code, st.Reason = http.StatusGone, api.StatusReasonExpired
	case errors.Is(err, api.ErrInvalidArtifact):
		st.Code, st.Reason = http.StatusBadRequest, api.StatusReasonBadRequest
	case errors.Is(err, api.ErrNodeUnreachable):
		st.Code, st.Reason = http.StatusServiceUnavailable, api.StatusReasonServiceUnavailable
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		st.Code, st.Reason = statusClientClosed, api.StatusReasonUnknown
	case errors.Is(err, context.DeadlineExceeded):
		// The store did not answer in time: overload, or NATS away.
		st.Code, st.Reason = http.StatusGatewayTimeout, api.StatusReasonTimeout
		st.Message = "the control plane's store did not answer in time; try again: " + err.Error()
		internal = true
	case errors.As(err, &httpErr):
		st.Code = int32(httpErr.Code)
		st.Reason = reasonForCode(httpErr.Code)
		st.Message = fmt.Sprint(httpErr.Message)
		internal = httpErr.Code >= 500
	default:
		st.Code, st.Reason = http.StatusInternalServerError, api.StatusReasonInternalError
		st.Message = "internal error: " + err.Error()
		internal = true
	}
	if details.Kind != "" || details.Name != "" || len(details.Causes) > 0 {
		st.Details = &details
	}
	return st, internal
}

func reasonForCode(code int) api.StatusReason {
	switch code {
	case http.StatusBadRequest:
		return api.StatusReasonBadRequest
	case http.StatusUnauthorized:
		return api.StatusReasonUnauthorized
	case http.StatusForbidden:
		return api.StatusReasonForbidden
	case http.StatusNotFound:
		return api.StatusReasonNotFound
	case http.StatusMethodNotAllowed:
		return api.StatusReasonMethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		return api.StatusReasonRequestEntityTooLarge
	case http.StatusUnsupportedMediaType:
		return api.StatusReasonUnsupportedMediaType
	case http.StatusConflict:
		return api.StatusReasonConflict
	case http.StatusGone:
		return api.StatusReasonExpired
	case http.StatusServiceUnavailable:
		return api.StatusReasonServiceUnavailable
	case http.StatusGatewayTimeout:
		return api.StatusReasonTimeout
	case http.StatusUnprocessableEntity:
		return api.StatusReasonInvalid
	}
	if code >= 500 {
		return api.StatusReasonInternalError
	}
	return api.StatusReasonUnknown
}

// handleError is the Echo HTTPErrorHandler: it writes the Status for err.
func (s *Server) handleError(err error, c echo.Context) {
	st, internal := statusOf(err, s.opts.MaxBodyBytes)
	req := c.Request()
	switch st.Code {
	case http.StatusNotFound:
		if he := (*echo.HTTPError)(nil); errors.As(err, &he) {
			st.Message = fmt.Sprintf("the server has no %s", req.URL.Path)
		}
	case http.StatusMethodNotAllowed:
		st.Message = fmt.Sprintf("%s is not allowed on %s", req.Method, req.URL.Path)
	}
	if internal {
		s.log.Error("api request failed", "method", req.Method, "path", req.URL.Path, "code", st.Code, "err", err)
	} else {
		s.log.Debug("api request rejected", "method", req.Method, "path", req.URL.Path, "code", st.Code, "reason", st.Reason, "err", err)
	}
	if c.Response().Committed {
		return
	}
	if st.Code == http.StatusUnauthorized {
		// RFC 6750: the scheme, and whether a token was sent but refused.
		challenge := `Bearer realm="skiff"`
		if req.Header.Get(api.AuthorizationHeader) != "" || req.URL.Query().Has(api.AccessTokenParam) {
			challenge += `, error="invalid_token"`
		}
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge)
	}
	if req.Method == http.MethodHead {
		err = c.NoContent(int(st.Code))
	} else {
		err = c.JSON(int(st.Code), st)
	}
	if err != nil {
		s.log.Debug("write error response", "path", req.URL.Path, "err", err)
	}
}

// recovered logs a handler panic; the panic becomes a 500. It is a
// backstop: bad input must be rejected before anything can panic.
func (s *Server) recovered(c echo.Context, err error, stack []byte) error {
	s.log.Error("api handler panicked", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err, "stack", string(stack))
	return fmt.Errorf("handler panicked: %w", err)
}

// logLevelFor is how loudly a finished request is logged.
func logLevelFor(code int) slog.Level {
	if code >= 500 {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}
