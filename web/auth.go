package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"sigs.k8s.io/yaml"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/auth"
)

// Authentication and authorization.
//
// Every request but /healthz, /metrics and the dashboard's page and assets
// needs a bearer token: "Authorization: Bearer <token>". A watch may carry
// it as ?access_token=<token> instead, because a browser's EventSource
// cannot set headers; any other request with access_token is refused, so
// that tokens do not end up in URLs (and logs, and browser history) where
// they need not. Requests are logged by path, never by query.
//
// No token, or one that is unknown, forged, revoked or expired: 401
// Unauthorized with "WWW-Authenticate: Bearer". A valid token that may not
// do what it asks (auth.Authorize): 403 Forbidden naming the token, the
// verb, the resource and the namespace.

const identityKey = "skiff.identity"

// identityOf returns the identity authenticate found; ok is false when
// the server runs without authentication or the path is public.
func identityOf(c echo.Context) (auth.Identity, bool) {
	id, ok := c.Get(identityKey).(auth.Identity)
	return id, ok
}

// authenticate checks the token and authorizes the request.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ri := requestInfoOf(c)
		if s.tokens == nil || ri.public {
			return next(c)
		}
		req := c.Request()
		token, err := bearerToken(req, ri)
		if err != nil {
			return err
		}
		id, err := s.tokens.Authenticate(req.Context(), token)
		if err != nil {
			return err
		}
		if err := auth.Authorize(id, ri.Attributes); err != nil {
			return &objectError{err: err, kind: ri.kind, name: ri.Name}
		}
		c.Set(identityKey, id)
		return next(c)
	}
}

// mayUseHostPath says whether the request may write hostPath volumes
// (admission.AdmitHostPath): an admin token of all namespaces may, and so
// may every request when the server runs without authentication. An admin
// of one namespace may not: a hostPath reaches the node, and through it
// every namespace's pods.
func (s *Server) mayUseHostPath(c echo.Context) bool {
	if s.tokens == nil {
		return true
	}
	id, ok := identityOf(c)
	return ok && id.Role == api.RoleAdmin && id.Namespace == ""
}

// unauthenticated is a 401 for a request without a usable token.
func unauthenticated(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, auth.ErrUnauthenticated)...)
}

// bearerToken reads the request's token: the Authorization header, or for
// a watch the access_token parameter.
func bearerToken(req *http.Request, ri requestInfo) (string, error) {
	query := req.URL.Query().Get(api.AccessTokenParam)
	h := req.Header.Get(api.AuthorizationHeader)
	switch {
	case h != "":
		scheme, token, _ := strings.Cut(strings.TrimSpace(h), " ")
		if !strings.EqualFold(scheme, strings.TrimSpace(api.BearerPrefix)) || strings.TrimSpace(token) == "" {
			return "", unauthenticated("the Authorization header must be %q", api.BearerPrefix+"<token>")
		}
		return strings.TrimSpace(token), nil
	case query != "" && ri.Verb != auth.VerbWatch:
		return "", unauthenticated("%s is accepted only on watch requests (for EventSource); send the token as %s: %s<token>",
			api.AccessTokenParam, api.AuthorizationHeader, api.BearerPrefix)
	case query != "":
		return query, nil
	}
	return "", unauthenticated("this request needs a bearer token (%s: %s<token>); `skiff up` and `skiff server` write an admin token into the client config, and `skiff token create` makes more",
		api.AuthorizationHeader, api.BearerPrefix)
}

// Token endpoints (admin tokens of all namespaces; see auth.Authorize).

func (s *Server) requireTokens() error {
	if s.tokens == nil {
		return serviceUnavailable("this server has no token store: authentication is off")
	}
	return nil
}

func (s *Server) createToken(c echo.Context) error {
	if err := s.requireTokens(); err != nil {
		return err
	}
	if err := noDryRun(c); err != nil {
		return err
	}
	req, err := readTokenRequest(c)
	if err != nil {
		return err
	}
	tok, err := s.tokens.Create(c.Request().Context(), req)
	if err != nil {
		return &objectError{err: err, kind: "Token", name: req.Name}
	}
	by, _ := identityOf(c)
	s.log.Info("token created", "name", tok.Name, "role", tok.Role, "namespace", tok.Namespace, "by", by.Name)
	return c.JSON(http.StatusCreated, tok)
}

// readTokenRequest decodes a TokenRequest strictly, as JSON or YAML.
func readTokenRequest(c echo.Context) (api.TokenRequest, error) {
	var req api.TokenRequest
	return req, decodeStrict(c, &req, "TokenRequest")
}

// decodeStrict decodes the body into v, as JSON or YAML: unknown fields
// and trailing values are errors that name what was sent (what).
func decodeStrict(c echo.Context, v any, what string) error {
	mt := mediaType(c)
	switch mt {
	case mediaJSON, mediaYAML, "application/x-yaml", "text/yaml", "text/x-yaml":
	default:
		return unsupportedMediaType("Content-Type %q is not supported: send the %s as %s or %s", mt, what, mediaJSON, mediaYAML)
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return badRequest("read the request body: %v", err)
	}
	if mt == mediaJSON {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return &api.DecodeError{Reason: "InvalidJSON", Msg: "invalid " + what + ": " + err.Error()}
		}
		if dec.More() {
			return &api.DecodeError{Reason: "InvalidJSON", Msg: "invalid " + what + ": more than one JSON value"}
		}
		return nil
	}
	if err := yaml.UnmarshalStrict(body, v); err != nil {
		return &api.DecodeError{Reason: "InvalidYAML", Msg: "invalid " + what + ": " + err.Error()}
	}
	return nil
}

func (s *Server) listTokens(c echo.Context) error {
	if err := s.requireTokens(); err != nil {
		return err
	}
	items, err := s.tokens.List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.TokenList{TypeMeta: api.TypeMeta{Kind: "TokenList", APIVersion: "v1"}, Items: items})
}

func (s *Server) getToken(c echo.Context) error {
	if err := s.requireTokens(); err != nil {
		return err
	}
	name, err := pathName(c)
	if err != nil {
		return err
	}
	tok, err := s.tokens.Get(c.Request().Context(), name)
	if err != nil {
		return &objectError{err: err, kind: "Token", name: name}
	}
	return c.JSON(http.StatusOK, tok)
}

func (s *Server) revokeToken(c echo.Context) error {
	if err := s.requireTokens(); err != nil {
		return err
	}
	if err := noDryRun(c); err != nil {
		return err
	}
	name, err := pathName(c)
	if err != nil {
		return err
	}
	tok, err := s.tokens.Revoke(c.Request().Context(), name)
	if err != nil {
		return &objectError{err: err, kind: "Token", name: name}
	}
	by, _ := identityOf(c)
	s.log.Info("token revoked", "name", name, "by", by.Name)
	return c.JSON(http.StatusOK, tok)
}

// whoAmI answers with the caller's own token (no secret).
func (s *Server) whoAmI(c echo.Context) error {
	if err := s.requireTokens(); err != nil {
		return err
	}
	id, ok := identityOf(c)
	if !ok {
		return unauthenticated("this request needs a bearer token")
	}
	tok, err := s.tokens.Get(c.Request().Context(), id.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, tok)
}
