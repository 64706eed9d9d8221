// Package admission decides, before anything is written, whether a create
// or a delete may happen, as Kubernetes' admission plugins and delete
// options do. It is called by every path that writes: the REST API's
// create and delete handlers (package web) and the controllers that create
// pods (package controllers), so that one rule holds whoever writes.
//
//   - Namespaces: an object may only be created in a namespace that exists
//     and is not Terminating; the system namespaces ("default" and
//     "skiff-system") always exist and may not be deleted.
//   - Owner references: every owner names a kind Skiff serves, and no
//     ownerReference may close a cycle (A owns B owns A), found by following
//     uids through the store.
//   - ResourceQuota: a pod is refused when it would take its namespace over
//     a quota (pods, requests and limits of cpu and memory). Admission
//     reserves what it admits by a compare-and-swap on each quota's
//     status.used, so concurrent creates cannot overshoot; the controllers'
//     QuotaController recomputes status.used from the pods.
//   - Delete: background, foreground and orphan propagation (Delete). A
//     foreground or orphan delete only marks the object (deletionTimestamp
//     and a finalizer); the garbage collector in package controllers
//     finishes it.
//
// The package is stateless: functions over a *store.Store, so it needs no
// fx module. Refusals wrap ErrForbidden (HTTP 403), store.ErrNotFound
// (404) or are api.FieldErrors (422).
//
// Package admission imports api and controlplane/store only; it must never
// import controllers, informer, web, edge or runtimes.
package admission
