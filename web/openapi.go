package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/auth"
)

// The OpenAPI document (GET /openapi/v3; /openapi/v2 redirects there) is
// built from the code, never written by hand: the schemas by reflection
// over the Go types of package api (properties from the exported fields and
// their json tags, required = no omitempty/omitzero, enums from the
// constants listed in enumValues), the paths from the routes the server
// registered, each read the way authorization reads a request
// (resolveRequest). It is built once, when the server starts (or at the
// first request for it, for a server that was not started), after every
// route is in place. The dashboard's page and assets are not in it.
//
// Unlike Kubernetes, which serves one document per group-version under
// /openapi/v3/apis/..., Skiff serves the whole API as one OpenAPI 3.0.3
// document.

// OpenAPIVersion is the version of the OpenAPI specification the document
// follows.
const OpenAPIVersion = "3.0.3"

// openAPIDoc is the document, built once.
type openAPIDoc struct {
	once sync.Once
	body []byte
	err  error
}

func (s *Server) openAPIDocument() ([]byte, error) {
	s.openAPI.once.Do(func() {
		s.openAPI.body, s.openAPI.err = json.Marshal(buildOpenAPI(s.echo.Routes()))
	})
	return s.openAPI.body, s.openAPI.err
}

func (s *Server) serveOpenAPI(c echo.Context) error {
	body, err := s.openAPIDocument()
	if err != nil {
		return fmt.Errorf("build the OpenAPI document: %w", err)
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
}

func (s *Server) redirectOpenAPI(c echo.Context) error {
	return c.Redirect(http.StatusMovedPermanently, openAPIV3Path)
}

// OpenAPI 3.0 document shapes (the parts Skiff uses).

type oaDocument struct {
	OpenAPI    string                             `json:"openapi"`
	Info       oaInfo                             `json:"info"`
	Paths      map[string]map[string]*oaOperation `json:"paths"`
	Components oaComponents                       `json:"components"`
	Security   []map[string][]string              `json:"security"`
}

type oaInfo struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

type oaComponents struct {
	Schemas         map[string]*oaSchema        `json:"schemas"`
	SecuritySchemes map[string]oaSecurityScheme `json:"securitySchemes"`
}

type oaSecurityScheme struct {
	Type        string `json:"type"`
	Scheme      string `json:"scheme,omitempty"`
	Description string `json:"description,omitempty"`
}

type oaOperation struct {
	OperationID string                `json:"operationId"`
	Summary     string                `json:"summary,omitempty"`
	Tags        []string              `json:"tags,omitempty"`
	Parameters  []oaParameter         `json:"parameters,omitempty"`
	RequestBody *oaRequestBody        `json:"requestBody,omitempty"`
	Responses   map[string]oaResponse `json:"responses"`
	// Security, when set, overrides the document's: an empty list for
	// public paths.
	Security *[]map[string][]string `json:"security,omitempty"`
}

type oaParameter struct {
	Name        string    `json:"name"`
	In          string    `json:"in"`
	Required    bool      `json:"required,omitempty"`
	Description string    `json:"description,omitempty"`
	Schema      *oaSchema `json:"schema"`
}

type oaRequestBody struct {
	Required bool                   `json:"required"`
	Content  map[string]oaMediaType `json:"content"`
}

type oaResponse struct {
	Description string                 `json:"description"`
	Content     map[string]oaMediaType `json:"content,omitempty"`
}

type oaMediaType struct {
	Schema *oaSchema `json:"schema"`
}

// oaSchema is an OpenAPI 3.0 schema object.
type oaSchema struct {
	Ref                  string               `json:"$ref,omitempty"`
	Type                 string               `json:"type,omitempty"`
	Format               string               `json:"format,omitempty"`
	Description          string               `json:"description,omitempty"`
	Properties           map[string]*oaSchema `json:"properties,omitempty"`
	Required             []string             `json:"required,omitempty"`
	Items                *oaSchema            `json:"items,omitempty"`
	AdditionalProperties *oaSchema            `json:"additionalProperties,omitempty"`
	Enum                 []string             `json:"enum,omitempty"`
	AnyOf                []*oaSchema          `json:"anyOf,omitempty"`
	Nullable             bool                 `json:"nullable,omitempty"`
	IntOrString          bool                 `json:"x-kubernetes-int-or-string,omitempty"`
}

func refTo(name string) *oaSchema { return &oaSchema{Ref: "#/components/schemas/" + name} }

// enumValues are the values of the string types whose constants api
// declares, and of string fields named by their struct and JSON name.
func enumValues() map[reflect.Type][]string {
	return map[reflect.Type][]string{
		reflect.TypeFor[api.Role]():            strs(api.Roles()...),
		reflect.TypeFor[api.PodPhase]():        strs(api.PodPending, api.PodRunning, api.PodSucceeded, api.PodFailed, api.PodUnknown),
		reflect.TypeFor[api.RestartPolicy]():   strs(api.RestartPolicyAlways, api.RestartPolicyOnFailure, api.RestartPolicyNever),
		reflect.TypeFor[api.ConditionStatus](): strs(api.ConditionTrue, api.ConditionFalse, api.ConditionUnknown),
		reflect.TypeFor[api.WatchEventType]():  strs(api.WatchAdded, api.WatchModified, api.WatchDeleted, api.WatchBookmark, api.WatchError),
		reflect.TypeFor[api.HostPathType](): strs(api.HostPathUnset, api.HostPathDirectoryOrCreate, api.HostPathDirectory, api.HostPathFileOrCreate,
			api.HostPathFile, api.HostPathSocket, api.HostPathCharDevice, api.HostPathBlockDevice),
	}
}

// fieldEnums are enums of plain string fields: struct type → JSON name.
func fieldEnums() map[reflect.Type]map[string][]string {
	return map[reflect.Type]map[string][]string{
		reflect.TypeFor[api.DeploymentStrategy]():      {"type": {api.RecreateDeploymentStrategyType, api.RollingUpdateDeploymentStrategyType}},
		reflect.TypeFor[api.DaemonSetUpdateStrategy](): {"type": {api.RollingUpdateDaemonSetStrategyType, api.OnDeleteDaemonSetStrategyType}},
		reflect.TypeFor[api.CronJobSpec]():             {"concurrencyPolicy": {api.AllowConcurrent, api.ForbidConcurrent, api.ReplaceConcurrent}},
		reflect.TypeFor[api.LabelSelectorRequirement](): {"operator": {api.LabelSelectorOpIn, api.LabelSelectorOpNotIn,
			api.LabelSelectorOpExists, api.LabelSelectorOpDoesNotExist}},
	}
}

func strs[S ~string](vs ...S) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// schemaGen turns Go types into component schemas.
type schemaGen struct {
	schemas    map[string]*oaSchema
	names      map[reflect.Type]string
	enums      map[reflect.Type][]string
	fieldEnums map[reflect.Type]map[string][]string
}

func newSchemaGen() *schemaGen {
	return &schemaGen{
		schemas: map[string]*oaSchema{}, names: map[reflect.Type]string{},
		enums: enumValues(), fieldEnums: fieldEnums(),
	}
}

// schemaFor returns the schema of t: a $ref for named structs (added to
// the components once), an inline schema for everything else.
func (g *schemaGen) schemaFor(t reflect.Type) *oaSchema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[time.Time](), reflect.TypeFor[api.MicroTime]():
		return &oaSchema{Type: "string", Format: "date-time"}
	case reflect.TypeFor[time.Duration]():
		return &oaSchema{Type: "integer", Format: "int64", Description: "nanoseconds"}
	case reflect.TypeFor[api.IntOrString]():
		return &oaSchema{IntOrString: true, AnyOf: []*oaSchema{{Type: "integer"}, {Type: "string"}}}
	case reflect.TypeFor[api.Bytes]():
		return &oaSchema{Type: "string", Format: "byte"}
	case reflect.TypeFor[api.Object](), reflect.TypeFor[json.RawMessage]():
		return &oaSchema{Type: "object", Description: "any object"}
	}
	switch t.Kind() {
	case reflect.String:
		return &oaSchema{Type: "string", Enum: g.enums[t]}
	case reflect.Bool:
		return &oaSchema{Type: "boolean"}
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return &oaSchema{Type: "integer", Format: "int32"}
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64:
		return &oaSchema{Type: "integer", Format: "int64"}
	case reflect.Float32:
		return &oaSchema{Type: "number", Format: "float"}
	case reflect.Float64:
		return &oaSchema{Type: "number", Format: "double"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return &oaSchema{Type: "string", Format: "byte"}
		}
		return &oaSchema{Type: "array", Items: g.schemaFor(t.Elem())}
	case reflect.Map:
		return &oaSchema{Type: "object", AdditionalProperties: g.schemaFor(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return g.structSchema(t)
		}
		name := g.nameOf(t)
		if _, done := g.schemas[name]; !done {
			g.schemas[name] = &oaSchema{} // placeholder: breaks cycles
			g.schemas[name] = g.structSchema(t)
		}
		return refTo(name)
	}
	// Interfaces, funcs, channels: nothing more precise can be said.
	return &oaSchema{}
}

// nameOf is a struct's component name: its Go name, qualified by its
// package when another package's type took the name first.
func (g *schemaGen) nameOf(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	name := t.Name()
	for other, n := range g.names {
		if n == name && other != t {
			name = strings.ReplaceAll(t.PkgPath(), "/", ".") + "." + name
			break
		}
	}
	g.names[t] = name
	return name
}

// structSchema lists a struct's JSON properties as encoding/json would
// write them: embedded structs without a name are inlined.
func (g *schemaGen) structSchema(t reflect.Type) *oaSchema {
	s := &oaSchema{Type: "object", Properties: map[string]*oaSchema{}}
	g.addFields(s, t)
	sort.Strings(s.Required)
	return s
}

func (g *schemaGen) addFields(s *oaSchema, t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			g.addFields(s, ft) // inlined
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs := g.schemaFor(f.Type)
		if vals := g.fieldEnums[t][name]; len(vals) > 0 && fs.Type == "string" {
			fs.Enum = vals
		}
		s.Properties[name] = fs
		optional := slices.ContainsFunc(strings.Split(opts, ","), func(o string) bool { return o == "omitempty" || o == "omitzero" })
		if !optional && !slices.Contains(s.Required, name) {
			s.Required = append(s.Required, name)
		}
	}
}

// listSchema is the schema of a kind's list answer (pagedListBody).
func (g *schemaGen) listSchema(info api.KindInfo) *oaSchema {
	return &oaSchema{
		Type: "object",
		Properties: map[string]*oaSchema{
			"apiVersion": {Type: "string"},
			"kind":       {Type: "string", Enum: []string{api.ListKind(info)}},
			"metadata":   g.schemaFor(reflect.TypeFor[api.PagedListMeta]()),
			"items":      {Type: "array", Items: refTo(info.Kind)},
		},
		Required: []string{"apiVersion", "items", "kind", "metadata"},
	}
}

// watchEventSchema is one event of a watch stream.
func (g *schemaGen) watchEventSchema() *oaSchema {
	return &oaSchema{
		Type: "object",
		Properties: map[string]*oaSchema{
			"type":   g.schemaFor(reflect.TypeFor[api.WatchEventType]()),
			"object": {Type: "object", Description: "the object (for BOOKMARK an empty object with only metadata.resourceVersion)"},
		},
		Required: []string{"object", "type"},
	}
}

// buildOpenAPI builds the document for the routes.
func buildOpenAPI(routes []*echo.Route) *oaDocument {
	g := newSchemaGen()
	for _, info := range append(api.Kinds(), api.EventKind()) {
		g.schemas[info.Kind] = nil // reserve the Kind's name for its type
		t := reflect.TypeOf(info.New()).Elem()
		g.names[t] = info.Kind
		g.schemas[info.Kind] = g.structSchema(t)
		g.schemas[api.ListKind(info)] = g.listSchema(info)
	}
	for _, t := range []reflect.Type{
		reflect.TypeFor[api.Status](), reflect.TypeFor[api.Token](), reflect.TypeFor[api.TokenList](),
		reflect.TypeFor[api.TokenRequest](), reflect.TypeFor[api.Artifact](), reflect.TypeFor[api.Scale](),
		reflect.TypeFor[api.SecretsEncryptionStatus](), reflect.TypeFor[api.SecretsEncryptionRotation](),
	} {
		g.schemaFor(t)
	}
	g.schemas["WatchEvent"] = g.watchEventSchema()

	doc := &oaDocument{
		OpenAPI: OpenAPIVersion,
		Info: oaInfo{
			Title:   "Skiff API",
			Version: "v1",
			Description: "Kubernetes-shaped REST API of Skiff. Every path but /healthz and /metrics needs " +
				"Authorization: Bearer <token>; watches also accept ?access_token=<token> (for EventSource).",
		},
		Paths:    map[string]map[string]*oaOperation{},
		Security: []map[string][]string{{"bearerAuth": {}}},
		Components: oaComponents{
			SecuritySchemes: map[string]oaSecurityScheme{
				"bearerAuth": {Type: "http", Scheme: "bearer", Description: "a token from `skiff token create` (skiff_<name>_<secret>)"},
			},
		},
	}
	ids := map[string]int{}
	for _, r := range documentedRoutes(routes) {
		op := g.operation(r)
		if op == nil {
			continue
		}
		if n := ids[op.OperationID]; n > 0 {
			ids[op.OperationID]++
			op.OperationID = fmt.Sprintf("%s%d", op.OperationID, n+1)
		} else {
			ids[op.OperationID] = 1
		}
		p := openAPIPath(r.Path)
		if doc.Paths[p] == nil {
			doc.Paths[p] = map[string]*oaOperation{}
		}
		doc.Paths[p][strings.ToLower(r.Method)] = op
	}
	doc.Components.Schemas = g.schemas
	return doc
}

// documentedRoutes are the routes of the API (not the dashboard's),
// sorted, without duplicates.
func documentedRoutes(routes []*echo.Route) []*echo.Route {
	var out []*echo.Route
	seen := map[string]bool{}
	for _, r := range routes {
		if !isDocumentedPath(r.Path) || !isHTTPMethod(r.Method) {
			continue
		}
		k := r.Method + " " + r.Path
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

func isDocumentedPath(p string) bool {
	return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/apis/") || strings.HasPrefix(p, "/openapi/") ||
		p == api.HealthzPath || p == metricsPath
}

func isHTTPMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// openAPIPath turns Echo's ":name" and "*" into OpenAPI's "{name}".
func openAPIPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, ":"):
			segs[i] = "{" + s[1:] + "}"
		case s == "*":
			segs[i] = "{path}"
		}
	}
	return strings.Join(segs, "/")
}

// pathParams are the parameters in an OpenAPI path.
func pathParams(p string) []oaParameter {
	var out []oaParameter
	for _, s := range strings.Split(p, "/") {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			name := s[1 : len(s)-1]
			out = append(out, oaParameter{Name: name, In: "path", Required: true, Schema: &oaSchema{Type: "string"}})
		}
	}
	return out
}

func queryParam(name, typ, desc string) oaParameter {
	return oaParameter{Name: name, In: "query", Description: desc, Schema: &oaSchema{Type: typ}}
}

func jsonContent(s *oaSchema) map[string]oaMediaType {
	return map[string]oaMediaType{echo.MIMEApplicationJSON: {Schema: s}}
}

// objectBody is a request body of one object, as JSON or YAML.
func objectBody(s *oaSchema) *oaRequestBody {
	return &oaRequestBody{Required: true, Content: map[string]oaMediaType{mediaJSON: {Schema: s}, mediaYAML: {Schema: s}}}
}

// operation describes one route; nil for one it cannot read.
func (g *schemaGen) operation(r *echo.Route) *oaOperation {
	p := openAPIPath(r.Path)
	op := &oaOperation{Parameters: pathParams(p), Responses: map[string]oaResponse{}}
	status := refTo("Status")
	op.Responses["default"] = oaResponse{Description: "an error, as a Status", Content: jsonContent(status)}
	public := func() {
		empty := []map[string][]string{}
		op.Security = &empty
		delete(op.Responses, "default")
	}
	switch p {
	case api.HealthzPath:
		op.OperationID, op.Summary = "healthz", "200 while the server serves"
		op.Responses["200"] = oaResponse{Description: "ok", Content: map[string]oaMediaType{"text/plain": {Schema: &oaSchema{Type: "string"}}}}
		public()
		return op
	case metricsPath:
		op.OperationID, op.Summary = "metrics", "Prometheus metrics"
		op.Responses["200"] = oaResponse{Description: "the process's metrics in Prometheus' text format", Content: map[string]oaMediaType{"text/plain": {Schema: &oaSchema{Type: "string"}}}}
		public()
		return op
	case openAPIV3Path:
		op.OperationID, op.Summary = "openAPIV3", "this document"
		op.Responses["200"] = oaResponse{Description: "the OpenAPI " + OpenAPIVersion + " document", Content: jsonContent(&oaSchema{Type: "object"})}
		return op
	case openAPIV2Path:
		op.OperationID, op.Summary = "openAPIV2", "redirects to "+openAPIV3Path
		op.Responses["301"] = oaResponse{Description: "see " + openAPIV3Path}
		return op
	case api.WhoAmIPath:
		op.OperationID, op.Summary, op.Tags = "whoAmI", "the caller's own token (no secret)", []string{"Token"}
		op.Responses["200"] = oaResponse{Description: "the token", Content: jsonContent(refTo("Token"))}
		return op
	case api.SecretsEncryptionPath:
		op.OperationID, op.Summary, op.Tags = "readSecretsEncryptionStatus", "the keys that encrypt Secrets at rest and how many Secrets are under each (admins of all namespaces)", []string{"SecretsEncryption"}
		op.Responses["200"] = oaResponse{Description: "the status", Content: jsonContent(refTo("SecretsEncryptionStatus"))}
		return op
	case api.SecretsEncryptionRotatePath:
		op.OperationID, op.Summary, op.Tags = "rotateSecretsEncryptionKey", "add a new key, re-encrypt every Secret with it and remove the old keys (no body; admins of all namespaces)", []string{"SecretsEncryption"}
		op.Responses["200"] = oaResponse{Description: "the rotation", Content: jsonContent(refTo("SecretsEncryptionRotation"))}
		op.Responses["409"] = oaResponse{Description: "another rotation is running"}
		return op
	}
	// A resource path: read it as authorization does, with the path's
	// parameters as placeholders.
	req := &http.Request{Method: r.Method, URL: &url.URL{Path: r.Path}}
	ri := resolveRequest(req)
	if ri.Resource == "" {
		return nil
	}
	kind := ri.kind
	if kind == "" {
		kind = ri.Resource
	}
	op.Tags = []string{kind}
	scope := ""
	if ri.Namespaced && ri.Namespace == "" {
		scope = "AllNamespaces"
	}
	obj := refTo(kind)
	if _, ok := g.schemas[kind]; !ok {
		obj = &oaSchema{Type: "object"}
	}
	name := func(verb string) string { return verb + kind + scope }
	switch {
	case ri.Resource == api.TokensResource:
		return g.tokenOperation(op, ri)
	case ri.kind == "Artifact":
		op.OperationID, op.Summary = "uploadArtifact", "upload a Wasm module; pods run it by the returned image reference"
		op.RequestBody = &oaRequestBody{Required: true, Content: map[string]oaMediaType{"application/wasm": {Schema: &oaSchema{Type: "string", Format: "binary"}}}}
		op.Responses["201"] = oaResponse{Description: "stored", Content: jsonContent(refTo("Artifact"))}
		return op
	case ri.Verb == auth.VerbLog:
		op.OperationID, op.Summary = "read"+kind+"Log", "a container's log"
		op.Parameters = append(op.Parameters,
			queryParam("container", "string", "the container (needed when the pod has several)"),
			queryParam("tailLines", "integer", "only the last lines"),
			queryParam("limitBytes", "integer", "at most this many bytes"),
			queryParam("previous", "boolean", "the log of the run before the last restart"),
			queryParam("follow", "boolean", "stream the log as it grows, until the container terminates"))
		op.Responses["200"] = oaResponse{Description: "the log", Content: map[string]oaMediaType{"text/plain": {Schema: &oaSchema{Type: "string"}}}}
		return op
	case ri.Subresource != "":
		sub := strings.ToUpper(ri.Subresource[:1]) + ri.Subresource[1:]
		op.OperationID = string(ri.Verb) + kind + sub
		op.Summary = fmt.Sprintf("%s the %s subresource", ri.Verb, ri.Subresource)
		body := &oaSchema{Type: "object"}
		switch ri.Subresource {
		case api.ScaleSubresource:
			body = refTo(api.ScaleKind)
		case api.StatusSubresource:
			body = obj
		}
		switch r.Method {
		case http.MethodGet, http.MethodDelete:
		case http.MethodPatch:
			op.Parameters = append(op.Parameters, dryRunParam())
			op.RequestBody = &oaRequestBody{Required: true, Content: map[string]oaMediaType{api.MediaMergePatch: {Schema: &oaSchema{Type: "object"}}}}
		default:
			op.Parameters = append(op.Parameters, dryRunParam())
			op.RequestBody = objectBody(body)
		}
		op.Responses["200"] = oaResponse{Description: "the " + ri.Subresource, Content: jsonContent(body)}
		return op
	}
	switch ri.Verb {
	case auth.VerbList:
		op.OperationID, op.Summary = name("list"), "list, or with watch=true watch, "+ri.Resource
		op.Parameters = append(op.Parameters, listParams()...)
		listSchema := refTo(kind + "List")
		if _, ok := g.schemas[kind+"List"]; !ok {
			listSchema = &oaSchema{Type: "object"}
		}
		op.Responses["200"] = oaResponse{
			Description: "a list; with watch=true a stream of WatchEvent objects, one JSON object per line, or Server-Sent Events (sse=true or Accept: text/event-stream)",
			Content: map[string]oaMediaType{
				echo.MIMEApplicationJSON: {Schema: &oaSchema{AnyOf: []*oaSchema{listSchema, refTo("WatchEvent")}}},
				api.MediaEventStream:     {Schema: &oaSchema{Type: "string"}},
			},
		}
	case auth.VerbGet:
		op.OperationID, op.Summary = name("read"), "read one "+strings.ToLower(kind)
		op.Responses["200"] = oaResponse{Description: "the object", Content: jsonContent(obj)}
	case auth.VerbCreate:
		op.OperationID, op.Summary = name("create"), "create one "+strings.ToLower(kind)
		op.Parameters = append(op.Parameters, dryRunParam())
		op.RequestBody = objectBody(obj)
		op.Responses["201"] = oaResponse{Description: "created", Content: jsonContent(obj)}
	case auth.VerbUpdate:
		op.OperationID, op.Summary = name("replace"), "replace one "+strings.ToLower(kind)+" (metadata.resourceVersion makes it conditional: 409 when stale)"
		op.Parameters = append(op.Parameters, dryRunParam())
		op.RequestBody = objectBody(obj)
		op.Responses["200"] = oaResponse{Description: "replaced", Content: jsonContent(obj)}
	case auth.VerbPatch:
		op.OperationID, op.Summary = name("patch"), "change one "+strings.ToLower(kind)+" with a JSON merge patch"
		op.Parameters = append(op.Parameters, dryRunParam())
		op.RequestBody = &oaRequestBody{Required: true, Content: map[string]oaMediaType{"application/merge-patch+json": {Schema: &oaSchema{Type: "object"}}}}
		op.Responses["200"] = oaResponse{Description: "patched", Content: jsonContent(obj)}
	case auth.VerbDelete:
		op.OperationID, op.Summary = name("delete"), "delete one "+strings.ToLower(kind)
		op.Parameters = append(op.Parameters,
			queryParam("propagationPolicy", "string", "Background (default), Foreground or Orphan: what becomes of the objects it owns"),
			queryParam("gracePeriodSeconds", "integer", "for pods: seconds to stop; 0 removes at once"),
			dryRunParam())
		op.Responses["200"] = oaResponse{Description: "its last state: gone, or marked for deletion", Content: jsonContent(obj)}
	default:
		op.OperationID = name(string(ri.Verb))
		op.Responses["200"] = oaResponse{Description: "done", Content: jsonContent(&oaSchema{Type: "object"})}
	}
	return op
}

// dryRunParam is the dryRun parameter of every write.
func dryRunParam() oaParameter {
	p := queryParam(api.ParamDryRun, "string", "All: check the write as a real one and answer what would be stored, storing nothing")
	p.Schema.Enum = []string{api.DryRunAll}
	return p
}

func listParams() []oaParameter {
	return []oaParameter{
		queryParam(api.ParamLabelSelector, "string", "label selector: app=web,tier!=db,env in (a,b),!legacy"),
		queryParam(api.ParamFieldSelector, "string", "field selector: spec.nodeName=n1,status.phase=Running"),
		queryParam(api.ParamLimit, "integer", "at most this many items; metadata.continue asks for the rest"),
		queryParam(api.ParamContinue, "string", "the previous page's metadata.continue"),
		queryParam(api.ParamWatch, "boolean", "stream changes instead of listing"),
		queryParam(api.ParamResourceVersion, "string", "watch the changes after this version (410 when too old)"),
		queryParam(api.ParamAllowWatchBookmarks, "boolean", "send BOOKMARK events"),
		queryParam(api.ParamTimeoutSeconds, "integer", "end the watch after this many seconds"),
		queryParam(api.ParamSSE, "boolean", "frame the watch as Server-Sent Events"),
		queryParam(api.AccessTokenParam, "string", "the bearer token, for watches from EventSource (which cannot set headers)"),
	}
}

func (g *schemaGen) tokenOperation(op *oaOperation, ri requestInfo) *oaOperation {
	op.Tags = []string{"Token"}
	switch ri.Verb {
	case auth.VerbCreate:
		op.OperationID, op.Summary = "createToken", "make a token; the answer is the only time its secret is shown"
		op.RequestBody = objectBody(refTo("TokenRequest"))
		op.Responses["201"] = oaResponse{Description: "created, with the secret in token", Content: jsonContent(refTo("Token"))}
	case auth.VerbList:
		op.OperationID, op.Summary = "listTokens", "every token, without secrets"
		op.Responses["200"] = oaResponse{Description: "the tokens", Content: jsonContent(refTo("TokenList"))}
	case auth.VerbGet:
		op.OperationID, op.Summary = "readToken", "one token, without its secret"
		op.Responses["200"] = oaResponse{Description: "the token", Content: jsonContent(refTo("Token"))}
	case auth.VerbDelete:
		op.OperationID, op.Summary = "revokeToken", "revoke a token"
		op.Responses["200"] = oaResponse{Description: "the revoked token", Content: jsonContent(refTo("Token"))}
	default:
		op.OperationID = string(ri.Verb) + "Token"
		op.Responses["200"] = oaResponse{Description: "done"}
	}
	return op
}
