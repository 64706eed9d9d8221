package web

import (
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/web/ui"
)

// requestInfo is what a request does, read from its method and path the
// way Kubernetes' RequestInfoResolver reads them, so that authorization
// and metrics cover every route, those other packages add included:
//
//	/api/v1/namespaces/<ns>/<resource>[/<name>[/<subresource>]]
//	/api/v1/<resource>[/<name>[/<subresource>]]      (cluster-scoped or all namespaces)
//	/apis/<group>/<version>/…                        (the same below)
type requestInfo struct {
	auth.Attributes
	// public paths need no token: health, metrics and the dashboard's
	// page and assets (GET and HEAD).
	public bool
	// longRunning requests (watches) are not timed by the latency
	// histogram: their duration is the client's choice.
	longRunning bool
	// kind names the resource for metrics: the Kind ("Pod", "Token",
	// "Artifact") or "" for what is not a resource.
	kind string
}

// metricsPath is where Prometheus scrapes.
const metricsPath = "/metrics"

// OpenAPI document paths.
const (
	openAPIV3Path = "/openapi/v3"
	openAPIV2Path = "/openapi/v2"
)

const requestInfoKey = "skiff.requestInfo"

// requestInfoOf returns the request's info, computing it once.
func requestInfoOf(c echo.Context) requestInfo {
	if ri, ok := c.Get(requestInfoKey).(requestInfo); ok {
		return ri
	}
	ri := resolveRequest(c.Request())
	c.Set(requestInfoKey, ri)
	return ri
}

// resolveRequest reads a request's verb, resource, namespace and name from
// the path exactly as the router sees it (echo.GetPath: not cleaned, not
// unescaped), so that what is authorized is what is routed: a path with
// "..", "." or escapes either routes nowhere (404) or has segments that are
// not DNS labels, which no scoped token matches and every handler refuses.
func resolveRequest(req *http.Request) requestInfo {
	p := echo.GetPath(req)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	read := req.Method == http.MethodGet || req.Method == http.MethodHead
	ri := requestInfo{Attributes: auth.Attributes{Path: p, Method: req.Method}}
	ri.Verb = nonResourceVerb(req.Method)
	var group string
	var rest []string
	switch {
	case p == api.HealthzPath || p == metricsPath:
		ri.public = true
		return ri
	case p == api.WhoAmIPath:
		return ri
	case strings.HasPrefix(p, "/api/"):
		segs := strings.Split(strings.TrimPrefix(p, "/api/"), "/")
		rest = segs[1:] // after the version
	case strings.HasPrefix(p, "/apis/"):
		segs := strings.Split(strings.TrimPrefix(p, "/apis/"), "/")
		if len(segs) < 2 {
			return ri
		}
		group, rest = segs[0], segs[2:]
	default:
		// Not the API: the dashboard's own paths are public; anything
		// else (the OpenAPI document, unknown paths) needs a token.
		ri.public = read && ui.PublicPath(p)
		return ri
	}
	if len(rest) == 0 || rest[0] == "" {
		return ri // discovery, which Skiff does not serve: a 404 for token holders
	}
	var ns, resource, name, sub string
	switch {
	case rest[0] == namespacesResource() && len(rest) >= 3:
		ns, resource = rest[1], rest[2]
		rest = rest[3:]
	case rest[0] == namespacesResource() && len(rest) == 2:
		// The Namespace object itself: its namespace is itself.
		ns, resource, rest = rest[1], rest[0], rest[1:]
	default:
		resource, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		name = rest[0]
	}
	if len(rest) > 1 {
		sub = strings.Join(rest[1:], "/")
	}
	ri.Resource, ri.Subresource, ri.Namespace, ri.Name = resource, sub, ns, name
	ri.Namespaced = true // unknown resources count as namespaced
	if info, ok := kindByResource(group, resource); ok {
		ri.Namespaced, ri.kind = info.Namespaced, info.Kind
	} else if group == "" {
		switch resource {
		case api.TokensResource:
			ri.Namespaced, ri.kind = false, "Token"
		case api.JoinTokensResource:
			ri.Namespaced, ri.kind = false, "JoinToken"
		case api.NATSCredentialsResource:
			ri.Namespaced, ri.kind = false, "NATSCredential"
		case api.SecretsEncryptionResource:
			ri.Namespaced, ri.kind = false, "SecretsEncryption"
		case path.Base(api.ArtifactsPath):
			ri.Namespaced, ri.kind = false, "Artifact"
		case api.EventKind().Resource:
			ri.Namespaced, ri.kind = true, api.EventKind().Kind
		}
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case sub == api.LogSubresource:
			ri.Verb, ri.Subresource = auth.VerbLog, ""
		case name != "":
			ri.Verb = auth.VerbGet
		case isTrue(req.URL.Query().Get(api.ParamWatch)):
			ri.Verb, ri.longRunning = auth.VerbWatch, true
		default:
			ri.Verb = auth.VerbList
		}
	case http.MethodPost:
		ri.Verb = auth.VerbCreate
	case http.MethodPut:
		ri.Verb = auth.VerbUpdate
	case http.MethodPatch:
		ri.Verb = auth.VerbPatch
	case http.MethodDelete:
		ri.Verb = auth.VerbDelete
	}
	if ri.Verb == auth.VerbLog && isTrue(req.URL.Query().Get("follow")) {
		ri.longRunning = true
	}
	return ri
}

// nonResourceVerb is the verb of a request that is not about a resource:
// get for reads, the method's name otherwise.
func nonResourceVerb(method string) auth.Verb {
	switch method {
	case http.MethodGet, http.MethodHead:
		return auth.VerbGet
	case http.MethodPost:
		return auth.VerbCreate
	case http.MethodPut:
		return auth.VerbUpdate
	case http.MethodPatch:
		return auth.VerbPatch
	case http.MethodDelete:
		return auth.VerbDelete
	}
	return auth.Verb(strings.ToLower(method))
}

// namespacesResource is "namespaces", from the kinds table.
func namespacesResource() string {
	k, _ := api.LookupKind("Namespace")
	return k.Resource
}

func kindByResource(group, resource string) (api.KindInfo, bool) {
	for _, k := range api.Kinds() {
		if k.Group == group && k.Resource == resource {
			return k, true
		}
	}
	return api.KindInfo{}, false
}

func isTrue(v string) bool {
	v = strings.ToLower(v)
	return v == "true" || v == "1"
}
