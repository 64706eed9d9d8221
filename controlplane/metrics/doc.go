// Package metrics owns the control plane's Prometheus series and the
// process's registry. NewRegistry builds the one registry of a process (Go
// runtime and process collectors included); New registers the series the
// control plane's components feed through their Observer interfaces
// (store.Observer for KV operations, scheduler.Observer for scheduling
// attempts, dispatch.Observer for pushes to nodes), so that those packages
// need no Prometheus import; Cluster keeps pods by phase and nodes by
// readiness from a watch of the store and reports them at each scrape.
// The API server (package web) registers its own request series on the
// same registry and serves it at /metrics.
//
// Nothing here touches Prometheus' global default registry.
//
// Package metrics imports api and controlplane/store, scheduler and
// dispatch (for their Observer interfaces); it must never import web,
// edge or runtimes.
package metrics
