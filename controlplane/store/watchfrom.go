package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
)

// This file serves the REST API's list and watch: untyped, with the
// revisions a client needs to resume. It adds to store.go and watch.go and
// changes nothing there.
//
// What a revision means here. The bucket keeps one revision per key
// (History 1): writing a key removes its previous message from the stream.
// So the stream holds, for every key, its newest write (or delete marker),
// and nothing older. Two consequences shape the API:
//
//   - A watch resumed after revision N delivers every key written after N
//     once, in its newest state, in revision order. An object written
//     several times while the watcher was away is delivered once, in its
//     newest state: intermediate states are not replayed. A live watch
//     sees them all unless it is behind, even by one write: a write that
//     replaces a key removes the previous message at once, and a consumer
//     that had not read it yet never will. Nothing is delivered twice and
//     no object's newest change is missed; a key that now holds another
//     object (another uid) than the watch last delivered is told as that
//     object's deletion, then a creation, whether or not the deletion
//     marker was read. A revision is expired (ErrExpired) only when messages
//     right after it are gone from the start of the stream (N+1 < the
//     stream's first sequence), or when N is newer than the stream.
//   - Whether an object already existed at N cannot be read back after its
//     earlier revisions are gone; see Change.Created for how a resumed watch
//     decides.

// ErrExpired means a revision is older than the bucket still holds (or
// newer than it has ever reached, as after the store was wiped): a watch or
// a list page cannot continue from it, and the client must list again.
var ErrExpired = errors.New("resource version expired")

// Revisions reports the oldest revision the bucket still holds and the
// newest it has written (0 for a bucket never written).
func (s *Store) Revisions(ctx context.Context) (oldest, newest uint64, err error) {
	st, err := s.kv.Status(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("bucket %s status: %w", api.ObjectsBucket, err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil {
		return 0, 0, fmt.Errorf("bucket %s status: no stream information", api.ObjectsBucket)
	}
	state := bs.StreamInfo().State
	return state.FirstSeq, state.LastSeq, nil
}

// CheckRevision returns an error wrapping ErrExpired unless changes after
// rev can still all be read: rev+1 must not be below the bucket's oldest
// revision, and rev must not be beyond its newest.
func (s *Store) CheckRevision(ctx context.Context, rev uint64) error {
	oldest, newest, err := s.Revisions(ctx)
	if err != nil {
		return err
	}
	switch {
	case rev > newest:
		return fmt.Errorf("resourceVersion %d is newer than the newest this store has written (%d); the store may have been reset: %w", rev, newest, ErrExpired)
	case rev+1 < oldest:
		return fmt.Errorf("too old resourceVersion: %d (the oldest change this store keeps is %d): %w", rev, oldest, ErrExpired)
	}
	return nil
}

// RevisionTime returns when revision rev was written or, when that message
// is gone, when the first message the bucket keeps after it was written (a
// later time). ok is false when the bucket holds nothing from rev on.
func (s *Store) RevisionTime(ctx context.Context, rev uint64) (t time.Time, ok bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.kv.WatchAll(ctx, jetstream.ResumeFromRevision(rev), jetstream.MetaOnly())
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read revision %d: %w", rev, err)
	}
	defer stopWatcher(w)
	select {
	case <-ctx.Done():
		return time.Time{}, false, ctx.Err()
	case e, open := <-w.Updates():
		if !open || e == nil {
			return time.Time{}, false, nil
		}
		return e.Created(), true, nil
	}
}

// stopWatcher stops a KV watcher and drains it until it closes, so that
// the NATS callback blocked on a full channel can return and the
// subscription's goroutine ends.
func stopWatcher(w jetstream.KeyWatcher) {
	_ = w.Stop()
	for range w.Updates() {
	}
}

// ListSnapshot reads every object of a kind in ns ("" for all namespaces),
// sorted by namespace and name, and a revision the result is exact at: a
// watch resumed after it (WatchOptions.AfterRevision) sees every change the
// list does not show. Unlike ListObjects, writes and deletes that land
// while the list is read are applied to it, so the result is one state.
func (s *Store) ListSnapshot(ctx context.Context, info api.KindInfo, ns string) ([]api.Object, uint64, error) {
	if !info.Namespaced {
		ns = ""
	}
	_, rev, err := s.Revisions(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", info.Resource, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.kv.Watch(ctx, api.ObjectKeyPrefix(info.Resource, ns))
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", info.Resource, err)
	}
	defer stopWatcher(w)
	byKey := map[string]api.Object{}
	for {
		select {
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("list %s: %w", info.Resource, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, 0, fmt.Errorf("list %s: watcher closed", info.Resource)
			}
			if e == nil {
				out := make([]api.Object, 0, len(byKey))
				for _, o := range byKey {
					out = append(out, o)
				}
				SortObjects(out)
				return out, rev, nil
			}
			rev = max(rev, e.Revision())
			if e.Operation() != jetstream.KeyValuePut {
				delete(byKey, e.Key())
				continue
			}
			obj, err := s.decodeEntry(info, e)
			if err != nil {
				return nil, 0, err
			}
			byKey[e.Key()] = obj
		}
	}
}

// SortObjects sorts objects by namespace, then name: the order of lists
// and of list pages.
func SortObjects(objs []api.Object) {
	sort.Slice(objs, func(i, j int) bool {
		a, b := objs[i].GetObjectMeta(), objs[j].GetObjectMeta()
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}

// Change is one write seen by WatchChanges.
type Change struct {
	// Synced marks the moment the watch has delivered the state it started
	// from: every existing object (without AfterRevision) or every change
	// after AfterRevision made before the watch began. Only Revision is
	// set: a revision the watch can be resumed from.
	Synced bool
	// Namespace and Name say which object changed ("" namespace for
	// cluster-scoped kinds).
	Namespace, Name string
	// Revision is the write's revision: the object's new resourceVersion,
	// or the revision of its deletion.
	Revision uint64
	// Time is when the write was stored.
	Time time.Time
	// Deleted says the object was removed; Object is then nil.
	Deleted bool
	// Object is the new state.
	Object api.Object
	// Created says the object did not exist before this write, as far as
	// the watch can tell. It is exact for objects the watch has seen (the
	// initial objects of a watch without AfterRevision, and every key after
	// its first change). For the first change of a key in a watch resumed
	// after revision N, the bucket no longer says whether the key existed
	// at N; the watch then reports Created when the object's
	// creationTimestamp is later than the time revision N was written
	// (RevisionTime). It errs on the side of "not created": the timestamp
	// has whole seconds, so an object created within the second of N is not
	// reported as created, and when N's own message is gone (its key was
	// written again) the time of the next kept message stands in for it.
	// Control plane and NATS clocks are assumed to agree.
	Created bool
}

// WatchChanges streams the writes to objects of a kind until ctx ends,
// when the channel is closed (it is also closed if the NATS connection
// fails; watch again from the last revision seen). Without AfterRevision
// it first delivers every existing object (Created), then a Synced change.
// With AfterRevision it delivers every key written after it (see the
// comment at the top of this file), then Synced once caught up, and
// returns an error wrapping ErrExpired if changes after it are no longer
// kept. Deletions of keys the watch never saw are delivered too (with
// Created false): a resumed watcher may have had them.
func (s *Store) WatchChanges(ctx context.Context, info api.KindInfo, opts WatchOptions) (<-chan Change, error) {
	ns := opts.Namespace
	if !info.Namespaced {
		ns = ""
	}
	_, startRev, err := s.Revisions(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", info.Resource, err)
	}
	after := opts.AfterRevision
	var wopts []jetstream.WatchOpt
	var resumedAt time.Time
	if after > 0 {
		if err := s.CheckRevision(ctx, after); err != nil {
			return nil, fmt.Errorf("watch %s: %w", info.Resource, err)
		}
		t, ok, err := s.RevisionTime(ctx, after)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", info.Resource, err)
		}
		if !ok {
			t = s.now()
		}
		resumedAt = t
		wopts = append(wopts, jetstream.ResumeFromRevision(after+1))
		startRev = max(startRev, after)
	}
	w, err := s.kv.Watch(ctx, api.ObjectKeyPrefix(info.Resource, ns), wopts...)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", info.Resource, err)
	}
	out := make(chan Change, 64)
	go func() {
		defer close(out)
		defer stopWatcher(w)
		cw := changeWatch{s: s, info: info, resumed: after > 0, resumedAt: resumedAt, seen: map[string]string{}, last: startRev}
		send := func(c Change) bool {
			select {
			case out <- c:
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
				for _, c := range cw.changes(e) {
					if !send(c) {
						return
					}
				}
			}
		}
	}()
	return out, nil
}

// changeWatch turns KV entries into Changes for one watch.
type changeWatch struct {
	s         *Store
	info      api.KindInfo
	resumed   bool
	resumedAt time.Time
	seen      map[string]string // uid by key, of keys delivered and not deleted since
	synced    bool
	last      uint64 // the newest revision delivered (or the start)
}

// changes turns one entry into what the watcher is told: nothing, one
// change, or, when the key now holds another object than the one the
// watcher was last told of (deleted and created again, and the deletion
// was written over before this watch read it: the bucket keeps one
// revision per key), the old object's deletion and then the new one's
// creation, both at the entry's revision.
func (cw *changeWatch) changes(e jetstream.KeyValueEntry) []Change {
	if e == nil {
		if cw.synced {
			return nil
		}
		cw.synced = true
		return []Change{{Synced: true, Revision: cw.last}}
	}
	cw.last = max(cw.last, e.Revision())
	parts := strings.SplitN(e.Key(), ".", 3)
	if len(parts) != 3 {
		return nil
	}
	ns := parts[1]
	if ns == api.ClusterScope {
		ns = ""
	}
	c := Change{Namespace: ns, Name: parts[2], Revision: e.Revision(), Time: e.Created()}
	uid, known := cw.seen[e.Key()]
	if e.Operation() != jetstream.KeyValuePut {
		if !known && !cw.resumed {
			return nil // deleted before the watch began
		}
		delete(cw.seen, e.Key())
		c.Deleted = true
		return []Change{c}
	}
	obj, err := cw.s.decodeEntry(cw.info, e)
	if err != nil {
		return nil
	}
	c.Object = obj
	newUID := obj.GetObjectMeta().UID
	cw.seen[e.Key()] = newUID
	switch {
	case known && uid != newUID:
		gone := Change{Namespace: ns, Name: parts[2], Revision: e.Revision(), Time: e.Created(), Deleted: true}
		c.Created = true
		return []Change{gone, c}
	case known:
	case !cw.resumed:
		c.Created = true
	default:
		c.Created = obj.GetObjectMeta().CreationTimestamp.After(cw.resumedAt)
	}
	return []Change{c}
}
