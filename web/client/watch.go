package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/skiff-sh/skiff/api"
)

// WatchOptions narrow a watch.
type WatchOptions struct {
	// LabelSelector and FieldSelector filter as in ListOptions. An object
	// that comes to match is Added, one that stops matching is Deleted.
	LabelSelector string
	FieldSelector string
	// ResourceVersion starts the watch after this version, usually a
	// List's. Empty: every existing object is first sent as Added, then a
	// Bookmark marks the end of the initial events.
	ResourceVersion string
}

// WatchEvent is one event of a watch.
type WatchEvent struct {
	Type api.WatchEventType
	// Object is the object's new state (Added, Modified), its last known
	// state (Deleted), or for a Bookmark an empty object of the kind with
	// only its resourceVersion. Nil for an Error.
	Object api.Object
	// ResourceVersion is the event's: a watch started from it sees every
	// later change.
	ResourceVersion string
	// Err says why the watch ended, for an Error event (IsExpired: the
	// resourceVersion is too old; list again and watch from the list's).
	Err error
}

// Watch backoff when the server cannot be reached.
const (
	watchRetryMin = 100 * time.Millisecond
	watchRetryMax = 5 * time.Second
)

// Watch streams changes to a kind's objects in namespace ("" for all, or
// for cluster-scoped kinds) until ctx ends; the channel is then closed.
// Errors of the first request (a bad selector, an expired resourceVersion,
// no server) are returned. Afterwards, when the stream breaks or the server
// ends it, Watch reconnects from the resourceVersion of the last event it
// passed on (bookmarks included), with a backoff while the server is away,
// so no change is missed or repeated; if the server refuses to continue
// (too old a resourceVersion, IsExpired), a final Error event says why and
// the channel is closed.
//
// After a reconnect the server may send a Deleted for an object the caller
// never had (it cannot always know what the watcher had); treat a delete of
// an unknown object as a no-op. The Client's http.Client must have no
// overall Timeout, which would cut the stream.
func (c *Client) Watch(ctx context.Context, info api.KindInfo, namespace string, opts WatchOptions) (<-chan WatchEvent, error) {
	w := &watchRun{c: c, info: info, path: api.ResourcePath(info, namespace, ""), opts: opts, rv: opts.ResourceVersion}
	res, err := w.open(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan WatchEvent, 64)
	go w.run(ctx, res, out)
	return out, nil
}

// watchRun is one Watch call across its reconnections.
type watchRun struct {
	c    *Client
	info api.KindInfo
	path string
	opts WatchOptions
	rv   string // resume point: the last event's resourceVersion
}

func (w *watchRun) open(ctx context.Context) (*http.Response, error) {
	q := url.Values{}
	q.Set(api.ParamWatch, "true")
	q.Set(api.ParamAllowWatchBookmarks, "true")
	if w.opts.LabelSelector != "" {
		q.Set(api.ParamLabelSelector, w.opts.LabelSelector)
	}
	if w.opts.FieldSelector != "" {
		q.Set(api.ParamFieldSelector, w.opts.FieldSelector)
	}
	if w.rv != "" {
		q.Set(api.ParamResourceVersion, w.rv)
	}
	return w.c.send(ctx, http.MethodGet, w.path, q, "", nil)
}

// errWatchEnded means the watch must not reconnect: an Error event has
// been passed on.
var errWatchEnded = errors.New("watch ended")

func (w *watchRun) run(ctx context.Context, res *http.Response, out chan<- WatchEvent) {
	defer close(out)
	for {
		err := w.read(ctx, res.Body, out)
		_ = res.Body.Close()
		if ctx.Err() != nil || errors.Is(err, errWatchEnded) {
			return
		}
		if res = w.reopen(ctx, out); res == nil {
			return
		}
	}
}

// reopen reconnects from the last resourceVersion, waiting between tries
// while the server cannot be reached or is unavailable. It returns nil when
// ctx ends or the server refuses the watch (the Error event is then sent).
func (w *watchRun) reopen(ctx context.Context, out chan<- WatchEvent) *http.Response {
	wait := watchRetryMin
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		res, err := w.open(ctx)
		if err == nil {
			return res
		}
		if ctx.Err() != nil {
			return nil
		}
		var se *StatusError
		if errors.As(err, &se) && se.Status.Code < http.StatusInternalServerError {
			sendEvent(ctx, out, WatchEvent{Type: api.WatchError, Err: err})
			return nil
		}
		wait = min(2*wait, watchRetryMax)
	}
}

// read passes on the events of one response until it ends.
func (w *watchRun) read(ctx context.Context, body io.Reader, out chan<- WatchEvent) error {
	r := bufio.NewReader(body)
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			ev, derr := w.decode(line)
			if derr != nil {
				sendEvent(ctx, out, WatchEvent{Type: api.WatchError, Err: derr})
				return errWatchEnded
			}
			if !sendEvent(ctx, out, ev) {
				return ctx.Err()
			}
			if ev.Type == api.WatchError {
				return errWatchEnded
			}
			if ev.ResourceVersion != "" {
				w.rv = ev.ResourceVersion
			}
		}
		if err != nil {
			return err // io.EOF when the server ended the stream
		}
	}
}

func (w *watchRun) decode(line []byte) (WatchEvent, error) {
	var raw api.WatchEvent
	if err := json.Unmarshal(line, &raw); err != nil {
		return WatchEvent{}, fmt.Errorf("decode %s watch event: %w", w.info.Resource, err)
	}
	if raw.Type == api.WatchError {
		var st api.Status
		if err := json.Unmarshal(raw.Object, &st); err != nil {
			return WatchEvent{}, fmt.Errorf("decode %s watch error: %w", w.info.Resource, err)
		}
		return WatchEvent{Type: api.WatchError, Err: &StatusError{Status: st}}, nil
	}
	obj := w.info.New()
	if err := json.Unmarshal(raw.Object, obj); err != nil {
		return WatchEvent{}, fmt.Errorf("decode %s %s watch event: %w", w.info.Resource, raw.Type, err)
	}
	return WatchEvent{Type: raw.Type, Object: obj, ResourceVersion: obj.GetObjectMeta().ResourceVersion}, nil
}

func sendEvent(ctx context.Context, out chan<- WatchEvent, ev WatchEvent) bool {
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}
