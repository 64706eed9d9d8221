package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Watch streams (GET <collection>?watch=true).
//
// A watch without resourceVersion (or with "0") first sends every existing
// object that passes the selectors as ADDED, then a BOOKMARK annotated
// api.InitialEventsEndAnnotation, then every change. A watch with
// resourceVersion N sends the changes after N (see store.WatchChanges for
// what the store can replay: each object written after N once, in its
// newest state, in revision order), or answers 410 Expired when the store
// no longer keeps them. A client that reconnects with the resourceVersion
// of the last event it got neither misses nor repeats a change.
//
// Selectors apply to transitions, as in Kubernetes: an object that comes
// to match is ADDED, one that stops matching is DELETED (with its last
// matching state and the resourceVersion of the change). To know what a
// watcher was last sent, the handler keeps the last state of every
// matching object of the watch (and the key of every other one). For a
// watch resumed from N it seeds that memory with the objects that have not
// changed since N; an object that changed after N and does not match now is
// sent as DELETED with its current state, since the watcher may have had
// it, and a deletion of an object the handler never saw (one deleted
// between the resume point and the watch's start: the store keeps nothing
// of it) is sent as DELETED with only its namespace, name and
// resourceVersion. The memory costs one decoded object per matching object
// per watch; a shared cache per kind is the next step if many watchers
// watch many objects.
//
// Framing: newline-delimited JSON objects {"type","object"} as
// application/json, or, for "Accept: text/event-stream" or sse=true,
// Server-Sent Events whose id is the event's resourceVersion and whose data
// is the same JSON: a browser's EventSource resumes with Last-Event-ID,
// which the handler reads as resourceVersion.

// sseKeepAlive is how often an idle SSE stream gets a comment line, so
// that proxies and browsers keep it open.
const sseKeepAlive = 15 * time.Second

// sseRetryMillis tells EventSource how long to wait before reconnecting.
const sseRetryMillis = 2000

func (k kindHandlers) watch(c echo.Context, ns string, q listQuery) error {
	req := c.Request()
	sse, err := wantsSSE(c)
	if err != nil {
		return err
	}
	if id := req.Header.Get(api.LastEventIDHeader); id != "" {
		n, err := store.ParseResourceVersion(id)
		if err != nil {
			return badField(api.LastEventIDHeader, "%v", err)
		}
		q.resourceVersion = n
	}
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	stop := context.AfterFunc(k.s.watchCtx, cancel)
	defer stop()
	if q.timeoutSeconds > 0 {
		var cancelTimeout context.CancelFunc
		ctx, cancelTimeout = context.WithTimeout(ctx, time.Duration(q.timeoutSeconds)*time.Second)
		defer cancelTimeout()
	}
	changes, err := k.s.store.WatchChanges(ctx, k.info, store.WatchOptions{Namespace: ns, AfterRevision: q.resourceVersion})
	if err != nil {
		return err
	}
	st := &watchState{k: k, q: q, resumed: q.resourceVersion > 0, objs: map[string]watched{}}
	if st.resumed {
		objs, rev, err := k.s.listSnapshot(ctx, k.info, ns)
		if err != nil {
			return err
		}
		st.seed(objs, rev, q.resourceVersion)
	}

	w := &eventWriter{c: c, sse: sse, rc: http.NewResponseController(c.Response().Writer)}
	if err := w.start(); err != nil {
		return nil // the client went away
	}
	k.s.log.Debug("watch started", "kind", k.info.Kind, "namespace", ns, "resourceVersion", q.resourceVersion, "sse", sse)

	var bookmarks, keepAlive <-chan time.Time
	if q.bookmarks {
		t := time.NewTicker(k.s.opts.WatchBookmarkInterval)
		defer t.Stop()
		bookmarks = t.C
	}
	if sse {
		t := time.NewTicker(sseKeepAlive)
		defer t.Stop()
		keepAlive = t.C
	}
	for {
		var ev watchEvent
		select {
		case <-ctx.Done():
			return nil
		case ch, ok := <-changes:
			if !ok {
				return nil
			}
			var send bool
			if ev, send = st.apply(ch); !send {
				continue
			}
		case <-bookmarks:
			if !st.synced || st.lastRev <= st.sentRev {
				continue
			}
			ev = st.bookmark(st.lastRev, false)
		case <-keepAlive:
			if err := w.comment("keep-alive"); err != nil {
				return nil
			}
			continue
		}
		if err := w.write(ev); err != nil {
			k.s.log.Debug("watch ended", "kind", k.info.Kind, "namespace", ns, "err", err)
			return nil
		}
		st.sentRev = max(st.sentRev, ev.rev)
	}
}

// wantsSSE reports whether the client asked for Server-Sent Events.
func wantsSSE(c echo.Context) (bool, error) {
	sse, err := queryBool(c, api.ParamSSE)
	if err != nil || sse {
		return sse, err
	}
	for _, part := range strings.Split(c.Request().Header.Get(echo.HeaderAccept), ",") {
		mt, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mt), api.MediaEventStream) {
			return true, nil
		}
	}
	return false, nil
}

// watched is what the watch last told its client about one object.
type watched struct {
	visible bool       // the client has it (it passed the selectors)
	obj     api.Object // its last state, when visible
}

// watchEvent is one event to send.
type watchEvent struct {
	typ api.WatchEventType
	obj api.Object
	rev uint64
}

// watchState turns store changes into watch events for one client.
type watchState struct {
	k       kindHandlers
	q       listQuery
	resumed bool
	objs    map[string]watched // by namespace/name
	// For a resumed watch: the revision of the list it seeded itself with,
	// and the keys of that list whose state at the resume point is unknown
	// (they changed after it).
	seedRev  uint64
	unseeded map[string]bool
	synced   bool
	lastRev  uint64 // newest revision processed: a point to resume from
	sentRev  uint64 // newest revision sent
}

func objectKey(ns, name string) string { return ns + "/" + name }

// seed takes the objects listed at listRev: those that have not changed
// since the resume point rev are as the resuming client last had them; the
// others will come as changes, in a state the client may not have had. A
// key that is in neither and is written after listRev is new.
func (st *watchState) seed(objs []api.Object, listRev, rev uint64) {
	st.seedRev, st.unseeded = listRev, map[string]bool{}
	for _, o := range objs {
		m := o.GetObjectMeta()
		if store.RevisionOf(o) > rev {
			st.unseeded[objectKey(m.Namespace, m.Name)] = true
			continue
		}
		w := watched{visible: st.q.matches(o)}
		if w.visible {
			w.obj = o
		}
		st.objs[objectKey(m.Namespace, m.Name)] = w
	}
}

// apply returns the event a change means for this watch, if any.
func (st *watchState) apply(c store.Change) (watchEvent, bool) {
	st.lastRev = max(st.lastRev, c.Revision)
	if c.Synced {
		st.synced = true
		if !st.resumed {
			return st.bookmark(st.lastRev, true), true
		}
		if st.q.bookmarks {
			return st.bookmark(st.lastRev, false), true
		}
		return watchEvent{}, false
	}
	key := objectKey(c.Namespace, c.Name)
	prev, known := st.objs[key]
	wasUnseeded := st.unseeded[key]
	delete(st.unseeded, key)
	if c.Deleted {
		delete(st.objs, key)
		switch {
		case !known:
			return watchEvent{typ: api.WatchDeleted, obj: st.stub(c), rev: c.Revision}, true
		case prev.visible:
			setRevision(prev.obj, c.Revision)
			return watchEvent{typ: api.WatchDeleted, obj: prev.obj, rev: c.Revision}, true
		}
		return watchEvent{}, false
	}
	if !known && (c.Created || st.resumed && !wasUnseeded && c.Revision > st.seedRev) {
		known = true // the object did not exist before: prev is "not visible"
	}
	matches := st.q.matches(c.Object)
	if matches {
		st.objs[key] = watched{visible: true, obj: c.Object}
	} else {
		st.objs[key] = watched{}
	}
	switch {
	case !known && matches:
		return watchEvent{typ: api.WatchModified, obj: c.Object, rev: c.Revision}, true
	case !known:
		// The client may have had it before it changed: tell it to drop it.
		return watchEvent{typ: api.WatchDeleted, obj: c.Object, rev: c.Revision}, true
	case prev.visible && matches:
		return watchEvent{typ: api.WatchModified, obj: c.Object, rev: c.Revision}, true
	case prev.visible:
		setRevision(prev.obj, c.Revision)
		return watchEvent{typ: api.WatchDeleted, obj: prev.obj, rev: c.Revision}, true
	case matches:
		return watchEvent{typ: api.WatchAdded, obj: c.Object, rev: c.Revision}, true
	}
	return watchEvent{}, false
}

// stub stands for a deleted object the watch never saw.
func (st *watchState) stub(c store.Change) api.Object {
	obj := st.k.info.New()
	m := obj.GetObjectMeta()
	m.Namespace, m.Name = c.Namespace, c.Name
	setRevision(obj, c.Revision)
	return obj
}

// bookmark is a BOOKMARK event: an object of the kind with only its
// resourceVersion (and, after the initial events, the annotation saying so).
func (st *watchState) bookmark(rev uint64, initialEnd bool) watchEvent {
	obj := st.k.info.New()
	setRevision(obj, rev)
	if initialEnd {
		obj.GetObjectMeta().Annotations = map[string]string{api.InitialEventsEndAnnotation: "true"}
	}
	return watchEvent{typ: api.WatchBookmark, obj: obj, rev: rev}
}

func setRevision(obj api.Object, rev uint64) {
	obj.GetObjectMeta().ResourceVersion = strconv.FormatUint(rev, 10)
}

// eventWriter frames watch events on the response.
type eventWriter struct {
	c   echo.Context
	sse bool
	rc  *http.ResponseController
}

// start sends the headers.
func (w *eventWriter) start() error {
	h := w.c.Response().Header()
	if w.sse {
		h.Set(echo.HeaderContentType, api.MediaEventStream)
	} else {
		h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.c.Response().WriteHeader(http.StatusOK)
	if w.sse {
		if _, err := fmt.Fprintf(w.c.Response(), "retry: %d\n\n", sseRetryMillis); err != nil {
			return err
		}
	}
	return w.flush()
}

func (w *eventWriter) write(ev watchEvent) error {
	tm := ev.obj.GetTypeMeta()
	info := api.EventKind() // Events are not in api.Kinds(), which KindOf knows
	if _, isEvent := ev.obj.(*api.Event); !isEvent {
		info = api.KindOf(ev.obj)
	}
	tm.Kind, tm.APIVersion = info.Kind, info.APIVersion()
	b, err := json.Marshal(struct {
		Type   api.WatchEventType `json:"type"`
		Object api.Object         `json:"object"`
	}{ev.typ, ev.obj})
	if err != nil {
		return fmt.Errorf("encode %s event: %w", ev.typ, err)
	}
	var frame []byte
	if w.sse {
		frame = fmt.Appendf(nil, "id: %d\ndata: %s\n\n", ev.rev, b)
	} else {
		frame = append(b, '\n')
	}
	if _, err := w.c.Response().Write(frame); err != nil {
		return err
	}
	return w.flush()
}

// comment sends an SSE comment line, which EventSource ignores.
func (w *eventWriter) comment(text string) error {
	if _, err := fmt.Fprintf(w.c.Response(), ": %s\n\n", text); err != nil {
		return err
	}
	return w.flush()
}

func (w *eventWriter) flush() error {
	if err := w.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
