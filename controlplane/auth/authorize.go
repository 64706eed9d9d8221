package auth

import (
	"fmt"
	"path"
	"strings"

	"github.com/skiff-sh/skiff/api"
)

// Identity is who a request comes from: the token's name, role and
// namespace scope ("" for all namespaces).
type Identity struct {
	Name      string
	Role      api.Role
	Namespace string
}

func (id Identity) String() string {
	scope := "all namespaces"
	if id.Namespace != "" {
		scope = "namespace " + id.Namespace
	}
	return fmt.Sprintf("token %q (%s, %s)", id.Name, id.Role, scope)
}

// Verb is what a request does, in Kubernetes' words.
type Verb string

// Verbs.
const (
	VerbGet    Verb = "get"
	VerbList   Verb = "list"
	VerbWatch  Verb = "watch"
	VerbLog    Verb = "log" // read a pod's log
	VerbCreate Verb = "create"
	VerbUpdate Verb = "update"
	VerbPatch  Verb = "patch"
	VerbDelete Verb = "delete"
)

// Reads reports whether v only reads.
func (v Verb) Reads() bool {
	return v == VerbGet || v == VerbList || v == VerbWatch || v == VerbLog
}

func (v Verb) writes() bool {
	return v == VerbCreate || v == VerbUpdate || v == VerbPatch || v == VerbDelete
}

// Attributes describe a request for Authorize.
type Attributes struct {
	Verb Verb
	// Resource is the plural resource ("pods", "tokens", "artifacts"), or
	// "" for a path that is not a resource (Path then says which).
	Resource    string
	Subresource string // "log", "scale", "status"; "" for the object
	// Namespaced says the resource lives in namespaces (unknown resources
	// count as namespaced).
	Namespaced bool
	// Namespace of the request: "" for all namespaces, or for a
	// cluster-scoped resource.
	Namespace string
	Name      string
	Path      string // for a non-resource request
	Method    string // for a non-resource request
}

// what names the request's target for messages: "pods in namespace
// \"team-b\"", "nodes \"edge-1\" (cluster-scoped)".
func (a Attributes) what() string {
	if a.Resource == "" {
		return a.Path
	}
	r := a.Resource
	if a.Subresource != "" {
		r += "/" + a.Subresource
	}
	if a.Name != "" {
		r += fmt.Sprintf(" %q", a.Name)
	}
	switch {
	case a.Resource == namespacesResource && a.Name != "":
		return fmt.Sprintf("namespace %q", a.Name)
	case !a.Namespaced:
		return r + " (cluster-scoped)"
	case a.Namespace == "":
		return r + " in all namespaces"
	}
	return fmt.Sprintf("%s in namespace %q", r, a.Namespace)
}

// ForbiddenError says who may not do what, and why. errors.Is(err,
// ErrForbidden) holds for it.
type ForbiddenError struct {
	Identity   Identity
	Attributes Attributes
	Why        string
}

func (e *ForbiddenError) Error() string {
	verb := string(e.Attributes.Verb)
	switch {
	case e.Attributes.Resource == "":
		verb = e.Attributes.Method
	case e.Attributes.Verb == VerbLog:
		verb = "read the log of"
	}
	msg := fmt.Sprintf("%s cannot %s %s", e.Identity, verb, e.Attributes.what())
	if e.Why != "" {
		msg += ": " + e.Why
	}
	return msg
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// Resource names with rules of their own.
var (
	namespacesResource     = resourceOf("Namespace")
	secretsResource        = resourceOf("Secret")
	resourceQuotasResource = resourceOf("ResourceQuota")
	artifactsResource      = path.Base(api.ArtifactsPath)
)

func resourceOf(kind string) string {
	k, ok := api.LookupKind(kind)
	if !ok {
		panic("auth: api has no kind " + kind) // the kinds table is fixed at build time
	}
	return k.Resource
}

// Authorize decides whether id may do a; a refusal is a *ForbiddenError.
//
//   - admin of all namespaces: everything.
//   - Scope: a token of one namespace reaches only namespaced resources in
//     that namespace (no list across namespaces, no nodes), and may get its
//     own Namespace object.
//   - view: get, list, watch, and pod logs; not Secrets.
//   - edit: what view may, Secrets included, and create, update, patch and
//     delete of namespaced objects other than ResourceQuotas; uploading
//     Wasm artifacts.
//   - admin of one namespace: every verb on namespaced objects of its
//     namespace.
//   - Cluster-scoped objects (nodes, namespaces) are read by tokens of all
//     namespaces and written by admins of all namespaces; tokens are
//     managed by admins of all namespaces only, and so is secrets
//     encryption (status and key rotation).
//   - Paths that are not resources (the OpenAPI document): any valid token
//     may GET them.
func Authorize(id Identity, a Attributes) error {
	deny := func(why string) error { return &ForbiddenError{Identity: id, Attributes: a, Why: why} }
	if !id.Role.Valid() {
		return deny(fmt.Sprintf("its role %q is not one of %s, %s, %s", id.Role, api.RoleAdmin, api.RoleEdit, api.RoleView))
	}
	if id.Role == api.RoleAdmin && id.Namespace == "" {
		return nil
	}
	if a.Resource == "" {
		if a.Verb == VerbGet {
			return nil
		}
		return deny("only admins of all namespaces may")
	}
	switch a.Resource {
	case api.TokensResource, api.JoinTokensResource:
		return deny(a.Resource + " are managed by admins of all namespaces only")
	case api.NATSCredentialsResource:
		if a.Verb == VerbCreate && id.Namespace == "" {
			return nil // a read-only events credential: every namespace's events
		}
		return deny("an events credential shows every namespace's events: it takes a token of all namespaces")
	case api.SecretsEncryptionResource:
		return deny("secrets encryption is managed by admins of all namespaces only")
	case artifactsResource:
		if a.Verb == VerbCreate && id.Role != api.RoleView {
			return nil
		}
		return deny("uploading artifacts takes an edit or admin token")
	}
	if !a.Verb.Reads() && !a.Verb.writes() {
		return deny(fmt.Sprintf("%q is not a verb Skiff knows", a.Verb))
	}
	// Scope.
	if id.Namespace != "" {
		switch {
		case a.Resource == namespacesResource && a.Name == id.Namespace && a.Verb == VerbGet:
			return nil // its own namespace
		case !a.Namespaced:
			return deny(fmt.Sprintf("the token is limited to namespace %q; cluster-scoped %s take a token of all namespaces", id.Namespace, a.Resource))
		case a.Namespace == "":
			return deny(fmt.Sprintf("the token is limited to namespace %q; ask for that namespace", id.Namespace))
		case a.Namespace != id.Namespace:
			return deny(fmt.Sprintf("the token is limited to namespace %q", id.Namespace))
		}
	}
	// Role.
	if a.Verb.Reads() {
		if id.Role == api.RoleView && a.Resource == secretsResource {
			return deny("view tokens do not read Secrets; use an edit or admin token")
		}
		return nil
	}
	switch {
	case id.Role == api.RoleView:
		return deny(fmt.Sprintf("view tokens may only %s", joinVerbs(VerbGet, VerbList, VerbWatch, VerbLog)))
	case !a.Namespaced:
		return deny(fmt.Sprintf("cluster-scoped %s are written by admins of all namespaces only", a.Resource))
	case id.Role == api.RoleEdit && a.Resource == resourceQuotasResource:
		return deny("edit tokens may read ResourceQuotas but not change them; use an admin token")
	}
	return nil
}

func joinVerbs(vs ...Verb) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// AllVerbs lists the verbs, reads first.
func AllVerbs() []Verb {
	return []Verb{VerbGet, VerbList, VerbWatch, VerbLog, VerbCreate, VerbUpdate, VerbPatch, VerbDelete}
}
