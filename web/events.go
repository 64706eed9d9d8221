package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/events"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// core/v1 Events (GET /api/v1/events, /api/v1/namespaces/<ns>/events).
//
// Events are not objects in the store: they are the CloudEvents of the
// JetStream stream api.EventsStream, which the API server reads (it runs in
// the control plane) and serves as Kubernetes Events (api.EventFromCloudEvent),
// so that clients need an API token and no NATS credentials. An event's
// resourceVersion is its stream sequence.
//
// One event is GET .../namespaces/<ns>/events/<name>, read by the
// sequence its name ends in. A list returns the newest limit events
// (api.DefaultEventsLimit unless asked, at most api.MaxEventsLimit),
// oldest first, that pass the selectors; there are no continue tokens. The fieldSelector takes
// involvedObject.kind, .name, .namespace, .uid, .apiVersion and
// .resourceVersion, reason, type, source and reportingComponent besides
// metadata.name and metadata.namespace, as kubectl describe sends them;
// equality on involvedObject.kind, .name and .namespace narrows the
// subjects the stream is read on, so one object's events cost a read of
// those alone. Events about cluster-scoped objects (nodes) are in the
// namespace "default", as in Kubernetes.
//
// A watch sends the list's events as ADDED, then the initial-events-end
// BOOKMARK, then each new event as ADDED; from a resourceVersion (or an
// SSE Last-Event-ID) it sends the events stored after it, or 410 when the
// stream no longer keeps them. Events are never MODIFIED or DELETED: the
// stream drops old ones by age and size without telling.

// EventSource reads the events stream; *events.Reader is one.
type EventSource interface {
	Open(ctx context.Context, o events.ReadOptions) (*events.Cursor, error)
	// Get returns the event at a sequence, or an error wrapping
	// store.ErrNotFound.
	Get(ctx context.Context, seq uint64) (events.Record, error)
}

// getEvent answers GET on one event: its name is <object>.<sequence in
// hex> (api.EventFromCloudEvent), so it is read by sequence.
func (s *Server) getEvent(c echo.Context) error {
	info := api.EventKind()
	ns, err := pathNamespace(c)
	if err != nil {
		return err
	}
	name := c.Param(paramName)
	notFound := aboutObject(fmt.Errorf("event %s/%s: %w", ns, name, store.ErrNotFound), info, name)
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return notFound
	}
	seq, err := strconv.ParseUint(name[i+1:], 16, 64)
	if err != nil || seq == 0 {
		return notFound
	}
	if s.events == nil {
		return serviceUnavailable("this server cannot read events (no events stream is configured)")
	}
	r, err := s.events.Get(c.Request().Context(), seq)
	if err != nil {
		return aboutObject(err, info, name)
	}
	ev := api.EventFromCloudEvent(r.Seq, r.Event)
	if ev.Namespace != ns || ev.Name != name {
		return notFound
	}
	return c.JSON(http.StatusOK, ev)
}

// WithEvents serves the events endpoints from src; without it they answer
// 503.
func WithEvents(src EventSource) ServerOption {
	return func(s *Server) { s.events = src }
}

// eventsListTimeout bounds how long a list reads the stream.
const eventsListTimeout = 30 * time.Second

// listEvents answers GET on the events collections.
func (s *Server) listEvents(c echo.Context) error {
	info := api.EventKind()
	ns, err := pathNamespace(c)
	if err != nil {
		return err
	}
	q, err := kindHandlers{s: s, info: info}.parseListQuery(c, ns)
	if err != nil {
		return err
	}
	if q.cont != nil {
		return badField(api.ParamContinue, "event lists have no further pages: ask for the newest events with limit (at most %d)", api.MaxEventsLimit)
	}
	switch {
	case q.limit == 0:
		q.limit = api.DefaultEventsLimit
	case q.limit > api.MaxEventsLimit:
		return badField(api.ParamLimit, "%d is more than the %d events a list may return", q.limit, api.MaxEventsLimit)
	}
	if s.events == nil {
		return serviceUnavailable("this server cannot read events (no events stream is configured)")
	}
	subjects := eventSubjects(ns, q.fields)
	if q.watch {
		return s.watchEvents(c, q, subjects)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), eventsListTimeout)
	defer cancel()
	// A list reads up to every event of its subjects: it takes one of the
	// MaxListsInFlight slots, as a list of objects does.
	select {
	case s.lists <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.lists }()
	var items []api.Object
	var rev uint64
	if subjects != nil {
		cur, err := s.events.Open(ctx, events.ReadOptions{Subjects: subjects, Tail: tailOf(q)})
		if err != nil {
			return err
		}
		defer cur.Stop()
		if items, err = readPastEvents(ctx, cur, q); err != nil {
			return err
		}
		rev = cur.Head()
	}
	body := pagedListBody{APIVersion: info.APIVersion(), Kind: api.ListKind(info), Items: items}
	if body.Items == nil {
		body.Items = []api.Object{}
	}
	if rev > 0 {
		body.Metadata.ResourceVersion = strconv.FormatUint(rev, 10)
	}
	return c.JSON(http.StatusOK, body)
}

// tailOf is how many events before the end a read may start at: the
// limit when no selector filters what is read (every event read is kept),
// else 0 (from the oldest, since the newest matching ones may be older).
func tailOf(q listQuery) int {
	if q.labels.Empty() && q.fields.Empty() {
		return int(q.limit)
	}
	return 0
}

// readPastEvents reads a cursor up to the events stored when it was opened
// and keeps the newest q.limit that pass q's selectors, oldest first.
func readPastEvents(ctx context.Context, cur *events.Cursor, q listQuery) ([]api.Object, error) {
	var kept []api.Object
	for !cur.CaughtUp() {
		r, err := cur.Next(ctx)
		if err != nil {
			return nil, err
		}
		ev := api.EventFromCloudEvent(r.Seq, r.Event)
		if !q.matches(ev) {
			continue
		}
		kept = append(kept, ev)
		if int64(len(kept)) > 2*q.limit {
			kept = append(kept[:0], kept[int64(len(kept))-q.limit:]...)
		}
	}
	if int64(len(kept)) > q.limit {
		kept = kept[int64(len(kept))-q.limit:]
	}
	return kept, nil
}

// eventSubjects are the stream subjects a request's events can be on: the
// path's namespace ("default" also holds cluster-scoped objects' events),
// narrowed by the field selector's equalities on involvedObject.kind,
// .name and .namespace. nil means no subject can hold a matching event.
// The selector is still applied to every event read: narrowing is only
// to read less.
func eventSubjects(ns string, fields api.FieldMatcher) []string {
	kind, name := "*", "*"
	scopes := []string{"*"} // namespace tokens; "" is cluster-scoped
	if ns != "" {
		scopes = []string{ns}
		if ns == api.DefaultNamespace {
			scopes = append(scopes, "")
		}
	}
	for _, r := range fields.Requirements {
		if r.Operator != api.FieldEquals {
			continue
		}
		switch r.Field {
		case "involvedObject.kind":
			info, ok := api.LookupKind(r.Value)
			if !ok {
				return nil // no kind of that name has events
			}
			kind = info.Singular
		case "involvedObject.name":
			if api.ValidateName(r.Value) != nil {
				return nil // not a name any object has
			}
			name = r.Value
		case "involvedObject.namespace":
			if r.Value != "" && api.ValidateName(r.Value) != nil {
				return nil
			}
			switch {
			case len(scopes) == 1 && scopes[0] == "*":
				scopes = []string{r.Value}
			case slices.Contains(scopes, r.Value):
				scopes = []string{r.Value}
			default:
				return nil // another namespace than the path's
			}
		}
	}
	if kind == "*" && name == "*" && len(scopes) == 1 && scopes[0] == "*" {
		return []string{api.EventsSubjects}
	}
	out := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		out = append(out, api.EventSubject(api.KindInfo{Singular: kind}, sc, name))
	}
	return out
}

// watchEvents streams events (see the top of this file).
func (s *Server) watchEvents(c echo.Context, q listQuery, subjects []string) error {
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
	stop := context.AfterFunc(s.watchCtx, cancel)
	defer stop()
	if q.timeoutSeconds > 0 {
		var cancelTimeout context.CancelFunc
		ctx, cancelTimeout = context.WithTimeout(ctx, time.Duration(q.timeoutSeconds)*time.Second)
		defer cancelTimeout()
	}
	var cur *events.Cursor
	if subjects != nil {
		o := events.ReadOptions{Subjects: subjects, After: q.resourceVersion}
		if q.resourceVersion == 0 {
			o.Tail = tailOf(q)
		}
		if cur, err = s.events.Open(ctx, o); err != nil {
			return err
		}
		defer cur.Stop()
	}
	var initial []api.Object
	if cur != nil && q.resourceVersion == 0 {
		if initial, err = readPastEvents(ctx, cur, q); err != nil {
			return err
		}
	}
	w := &eventWriter{c: c, sse: sse, rc: http.NewResponseController(c.Response().Writer)}
	if err := w.start(); err != nil {
		return nil // the client went away
	}
	k := kindHandlers{s: s, info: api.EventKind()}
	st := &watchState{k: k, q: q}
	head := q.resourceVersion
	if cur != nil {
		head = max(head, cur.Head())
	}
	if q.resourceVersion == 0 {
		for _, ev := range initial {
			if err := w.write(watchEvent{typ: api.WatchAdded, obj: ev, rev: store.RevisionOf(ev)}); err != nil {
				return nil
			}
		}
		if err := w.write(st.bookmark(head, true)); err != nil {
			return nil
		}
	}
	sent := head

	// Read the cursor in its own goroutine, so that the loop below can
	// also send bookmarks and keep-alives.
	records := make(chan events.Record)
	if cur != nil {
		go func() {
			for {
				r, err := cur.Next(ctx)
				if err != nil {
					if ctx.Err() == nil {
						s.log.Debug("events watch ended", "err", err)
						cancel()
					}
					return
				}
				select {
				case records <- r:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var bookmarks, keepAlive <-chan time.Time
	if q.bookmarks {
		t := time.NewTicker(s.opts.WatchBookmarkInterval)
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
		case r := <-records:
			head = max(head, r.Seq)
			e := api.EventFromCloudEvent(r.Seq, r.Event)
			if !q.matches(e) {
				continue
			}
			ev = watchEvent{typ: api.WatchAdded, obj: e, rev: r.Seq}
		case <-bookmarks:
			if head <= sent {
				continue
			}
			ev = st.bookmark(head, false)
		case <-keepAlive:
			if err := w.comment("keep-alive"); err != nil {
				return nil
			}
			continue
		}
		if err := w.write(ev); err != nil {
			return nil
		}
		sent = max(sent, ev.rev)
	}
}
