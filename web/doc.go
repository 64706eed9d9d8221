// Package web is Skiff's REST API server (Echo): Kubernetes-shaped
// endpoints for pods and nodes under /api/v1, Wasm module uploads, health.
// It validates and defaults what users send (package api), writes it to the
// store, and maps every error to a Kubernetes Status body in one place
// (errors.go). Pod logs and artifact storage come through the LogSource and
// ArtifactStore interfaces, implemented by the control plane.
//
// Lists take label and field selectors and limit/continue paging
// (list.go); watch=true turns a list into a stream of ADDED, MODIFIED,
// DELETED and BOOKMARK events, as JSON lines or Server-Sent Events, that a
// client resumes from the last resourceVersion it saw (watch.go).
//
// Every request but /healthz, /metrics and the dashboard's page and
// assets needs a bearer token (auth.go): no token or a bad one is 401, a
// token whose role or namespace does not allow the request is 403. What a
// request does (verb, resource, namespace, name) is read from its method
// and path (requestinfo.go), for authorization and for the metrics, so that
// routes other packages add are covered too. /api/v1/tokens creates, lists
// and revokes tokens; /metrics serves the process's Prometheus registry
// (metrics.go); /openapi/v3 is an OpenAPI 3.0.3 document built from the Go
// types and the registered routes (openapi.go).
//
// Package web imports api, config, controlplane/store, controlplane/auth
// (tokens and the authorization rules) and controlplane/admission; it must
// never import the rest of controlplane, edge or runtimes: it meets the
// other components in the store.
package web
