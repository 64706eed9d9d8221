// Package ui is Skiff's web dashboard: plain HTML, CSS and JavaScript
// modules embedded in the binary (go:embed, no npm build step), served by
// the API server's Echo router at "/" (the page) and "/ui/..." (its
// assets). Register mounts it; PublicPath tells an authentication
// middleware which paths it serves, because the page and its assets are
// public while every API call the page makes carries the user's token
// (Authorization: Bearer, or access_token on EventSource watch URLs, which
// cannot set headers).
//
// The page talks only to the REST API (package web): it lists each kind
// once, then follows it over the Server-Sent Events form of the watch,
// resuming with Last-Event-ID and listing again on 410 Expired. The kinds
// and their paths come from package api, written into the page when it is
// built, so the browser and the server share one table.
//
// Package ui imports api and echo only; it must never import web (web
// imports it to mount it), the store or the rest of the control plane.
// It has no fx module: web mounts it while building its routes, and the
// dashboard has no lifecycle of its own.
package ui
