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
// Package web imports api, config and controlplane/store; it must never
// import the rest of controlplane, edge or runtimes: it meets the other
// components in the store.
package web
