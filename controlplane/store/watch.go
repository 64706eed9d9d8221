package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
)

// EventType says what happened to an object.
type EventType string

// Watch event types. Synced is sent once, after the objects that existed
// when the watch began have all been delivered as Added.
const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	Synced   EventType = "SYNCED"
)

// Event is one change seen by a watch. For Deleted, Object is nil and
// Namespace/Name say which object went away.
type Event[T api.Object] struct {
	Type      EventType
	Object    T
	Namespace string
	Name      string
	Revision  uint64
}

// WatchOptions narrow a watch.
type WatchOptions struct {
	// Namespace limits the watch to one namespace ("" for all).
	Namespace string
	// AfterRevision starts the watch after this revision: only changes
	// made later are delivered (no initial Added events, no Synced).
	AfterRevision uint64
}

// Watch streams changes to objects of the kind until ctx ends, when the
// channel is closed. Without AfterRevision it first delivers every existing
// object as Added, then Synced.
func (r *Resource[T]) Watch(ctx context.Context, opts WatchOptions) (<-chan Event[T], error) {
	ns := opts.Namespace
	if !r.info.Namespaced {
		ns = ""
	}
	var wopts []jetstream.WatchOpt
	if opts.AfterRevision > 0 {
		wopts = append(wopts, jetstream.ResumeFromRevision(opts.AfterRevision+1))
	}
	w, err := r.s.kv.Watch(ctx, api.ObjectKeyPrefix(r.info.Resource, ns), wopts...)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", r.info.Resource, err)
	}
	out := make(chan Event[T], 64)
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }()
		seen := map[string]bool{}
		synced := opts.AfterRevision > 0
		send := func(ev Event[T]) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					if !synced {
						synced = true
						if !send(Event[T]{Type: Synced}) {
							return
						}
					}
					continue
				}
				ev, ok := r.toEvent(e, seen, opts.AfterRevision > 0)
				if !ok {
					continue
				}
				if !send(ev) {
					return
				}
			}
		}
	}()
	return out, nil
}

func (r *Resource[T]) toEvent(e jetstream.KeyValueEntry, seen map[string]bool, resumed bool) (Event[T], bool) {
	parts := strings.SplitN(e.Key(), ".", 3)
	if len(parts) != 3 {
		return Event[T]{}, false
	}
	ns := parts[1]
	if ns == api.ClusterScope {
		ns = ""
	}
	ev := Event[T]{Namespace: ns, Name: parts[2], Revision: e.Revision()}
	switch e.Operation() {
	case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
		if !seen[e.Key()] && !resumed {
			return ev, false // deleted before the watch began
		}
		delete(seen, e.Key())
		ev.Type = Deleted
		return ev, true
	}
	obj, err := r.s.decodeEntry(r.info, e)
	if err != nil {
		return ev, false
	}
	ev.Object = obj.(T)
	ev.Type = Added
	// A key first seen by this watch is Added. A resumed watch cannot tell
	// a first write from an update (the bucket keeps one revision per key),
	// so it reports every write as Modified.
	if seen[e.Key()] || resumed {
		ev.Type = Modified
	}
	seen[e.Key()] = true
	return ev, true
}

// RevisionOf returns an object's resourceVersion as a KV revision (0 if unset).
func RevisionOf(obj api.Object) uint64 {
	n, _ := strconv.ParseUint(obj.GetObjectMeta().ResourceVersion, 10, 64)
	return n
}
