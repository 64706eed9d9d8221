package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/web/ui"
)

// Echo path parameters.
const (
	paramNamespace = "namespace"
	paramName      = "name"
)

// verbs says which REST verbs a kind's routes serve.
type verbs struct {
	get, list, create, replace, delete bool
}

// routes registers every endpoint.
func (s *Server) routes() {
	e := s.echo
	e.GET(api.HealthzPath, s.healthz)
	e.POST(api.ArtifactsPath, s.uploadArtifact)
	if s.registry != nil {
		e.GET(metricsPath, serveMetrics(s.registry))
	}
	e.GET(openAPIV3Path, s.serveOpenAPI)
	e.GET(openAPIV2Path, s.redirectOpenAPI)
	e.POST(api.TokensPath, s.createToken)
	e.GET(api.TokensPath, s.listTokens)
	e.GET(api.TokensPath+"/:"+paramName, s.getToken)
	e.DELETE(api.TokensPath+"/:"+paramName, s.revokeToken)
	e.GET(api.WhoAmIPath, s.whoAmI)
	s.identityRoutes()
	e.GET(api.SecretsEncryptionPath, s.secretsEncryptionStatus)
	e.POST(api.SecretsEncryptionRotatePath, s.rotateSecretsEncryptionKey)
	ui.Register(e) // the dashboard at / and /ui/ (public; its API calls carry the token)

	pods, _ := api.LookupKind("Pod")
	pk := s.kind(pods)
	s.register(pods, verbs{get: true, list: true, create: true, replace: true}, pk)
	item := api.ResourcePath(pods, ":"+paramNamespace, ":"+paramName)
	e.DELETE(item, s.deletePod)
	e.GET(item+"/"+api.LogSubresource, s.podLog)

	// Events are read from the events stream, not the store (events.go).
	e.GET(api.ResourcePath(api.EventKind(), "", ""), s.listEvents)
	e.GET(api.ResourcePath(api.EventKind(), ":"+paramNamespace, ""), s.listEvents)
	e.GET(api.ResourcePath(api.EventKind(), ":"+paramNamespace, ":"+paramName), s.getEvent)

	nodes, _ := api.LookupKind("Node")
	// Nodes are updated through the API (labels, taints, unschedulable),
	// never created: an agent registers its node.
	s.register(nodes, verbs{get: true, list: true, replace: true}, s.kind(nodes))

	// Every other kind gets the full set of verbs.
	for _, info := range api.Kinds() {
		if info.Kind == "Pod" || info.Kind == "Node" {
			continue
		}
		s.register(info, verbs{get: true, list: true, create: true, replace: true, delete: true}, s.kind(info))
	}
	// Unknown paths (404) and methods (405) end in Echo's errors, which
	// handleError turns into the same Status body as every other error.
}

// register adds the generic routes of a kind: collection and item paths,
// and for namespaced kinds the all-namespaces list.
func (s *Server) register(info api.KindInfo, v verbs, k kindHandlers) {
	e := s.echo
	ns := ""
	if info.Namespaced {
		ns = ":" + paramNamespace
	}
	collection := api.ResourcePath(info, ns, "")
	item := api.ResourcePath(info, ns, ":"+paramName)
	if v.list {
		e.GET(collection, k.list)
		if info.Namespaced {
			e.GET(api.ResourcePath(info, "", ""), k.list)
		}
	}
	if v.create {
		e.POST(collection, k.create)
	}
	if v.get {
		e.GET(item, k.get)
	}
	if v.replace {
		e.PUT(item, k.replace)
		e.PATCH(item, k.patch)                // patch.go
		s.registerSubresources(info, item, k) // status and scale: subresources.go
	}
	if v.delete {
		e.DELETE(item, k.deleteNow)
	}
}

func (s *Server) healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

// pathNamespace returns the namespace in the path ("" on the
// all-namespaces and cluster-scoped paths), checked to be a DNS label so
// that it cannot widen a store key.
func pathNamespace(c echo.Context) (string, error) {
	ns := c.Param(paramNamespace)
	if ns == "" {
		return "", nil
	}
	if err := api.ValidateName(ns); err != nil {
		return "", badField("namespace", "the path's namespace %v", err)
	}
	return ns, nil
}

// pathName returns the object name in the path, checked to be a DNS label.
func pathName(c echo.Context) (string, error) {
	name := c.Param(paramName)
	if err := api.ValidateName(name); err != nil {
		return "", badField("name", "the path's name %v", err)
	}
	return name, nil
}

// mediaType is the request's Content-Type without parameters.
func mediaType(c echo.Context) string {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}
