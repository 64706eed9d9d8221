package api

import "encoding/json"

// The REST contract of lists and watches: query parameters, the paging
// metadata of a list, and the events of a watch stream. The server is
// package web, the Go client web/client; the dashboard reads the same shapes.

// Query parameters of list and watch requests, with Kubernetes' names.
const (
	// ParamLabelSelector filters by labels (ParseLabelSelector).
	ParamLabelSelector = "labelSelector"
	// ParamFieldSelector filters by fields (ParseFieldSelector).
	ParamFieldSelector = "fieldSelector"
	// ParamLimit caps the items of one list page.
	ParamLimit = "limit"
	// ParamContinue asks for the page after the one whose
	// metadata.continue it repeats.
	ParamContinue = "continue"
	// ParamWatch ("true") turns a list request into a watch.
	ParamWatch = "watch"
	// ParamResourceVersion starts a watch after this version.
	ParamResourceVersion = "resourceVersion"
	// ParamAllowWatchBookmarks ("true") asks for periodic BOOKMARK events
	// that carry the newest resourceVersion a watch can resume from.
	ParamAllowWatchBookmarks = "allowWatchBookmarks"
	// ParamTimeoutSeconds ends a watch after this many seconds.
	ParamTimeoutSeconds = "timeoutSeconds"
	// ParamSSE ("true") sends a watch as Server-Sent Events, as
	// "Accept: text/event-stream" does.
	ParamSSE = "sse"
)

// LastEventIDHeader is sent by a browser's EventSource when it reconnects:
// the id of the last event it saw, which for a watch is a resourceVersion.
const LastEventIDHeader = "Last-Event-ID"

// MediaEventStream is the media type of Server-Sent Events.
const MediaEventStream = "text/event-stream"

// StatusReasonExpired is the reason of a 410 Gone: the resourceVersion a
// watch or continue token refers to is older than the store keeps. The
// client must list again.
const StatusReasonExpired StatusReason = "Expired"

// PagedListMeta is the metadata of a list response: ListMeta's
// resourceVersion and, when the list was cut by limit, the continue token
// of the next page and how many items remain after this page.
type PagedListMeta struct {
	// ResourceVersion is a version the listed state is exact at: a watch
	// from it sees every later change. All pages of one list carry the
	// first page's.
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// Continue is an opaque token for the next page, empty on the last.
	Continue string `json:"continue,omitempty"`
	// RemainingItemCount is how many matching items follow this page, set
	// only when the list was cut.
	RemainingItemCount *int64 `json:"remainingItemCount,omitempty"`
}

// WatchEventType says what a watch event reports.
type WatchEventType string

// Watch event types, as in Kubernetes.
const (
	// WatchAdded is a new object, or one that came to match the watch's
	// selectors; without a starting resourceVersion every existing object
	// is first sent as Added.
	WatchAdded WatchEventType = "ADDED"
	// WatchModified is a new state of an object the watcher has.
	WatchModified WatchEventType = "MODIFIED"
	// WatchDeleted is an object removed, or one that no longer matches the
	// selectors; the object is its last known state, with the
	// resourceVersion of the deletion.
	WatchDeleted WatchEventType = "DELETED"
	// WatchBookmark carries only metadata.resourceVersion: a version the
	// watch can be resumed from. The first bookmark of a watch without a
	// starting resourceVersion has InitialEventsEndAnnotation: every
	// existing object has been sent.
	WatchBookmark WatchEventType = "BOOKMARK"
	// WatchError carries a Status: the watch ends after it.
	WatchError WatchEventType = "ERROR"
)

// InitialEventsEndAnnotation marks the bookmark sent after a watch's
// initial Added events.
const InitialEventsEndAnnotation = "k8s.io/initial-events-end"

// WatchEvent is one line of a watch stream (newline-delimited JSON), or the
// data of one Server-Sent Event whose id is the event's resourceVersion.
type WatchEvent struct {
	Type   WatchEventType  `json:"type"`
	Object json.RawMessage `json:"object"`
}
