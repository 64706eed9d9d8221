// Package informer keeps watch-fed caches of stored objects, one per kind,
// shared by every controller in the process, as client-go's shared
// informers do: one KV watch per kind, handlers called on every change, and
// reads served from memory.
//
// Objects handed out by an informer are shared: never modify them; use
// api.DeepCopy (or Clone here) and write the copy through the store.
//
// Package informer imports api and store only.
package informer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Handler is told about changes. Any field may be nil. Handlers run on the
// informer's goroutine, one change at a time: they must be quick (enqueue a
// key, bump a counter).
type Handler[T api.Object] struct {
	OnAdd    func(obj T)
	OnUpdate func(old, cur T)
	OnDelete func(obj T)
}

// Informer is a watch-fed cache of one kind.
type Informer[T api.Object] struct {
	res *store.Resource[T]
	log *slog.Logger

	mu    sync.RWMutex
	items map[string]T
	// byController indexes objects by their controller's uid; orphans
	// holds those without one. Controllers read these instead of scanning
	// every object of the kind on each reconcile.
	byController map[string]map[string]T
	orphans      map[string]T
	handlers     []Handler[T]
	// rev is the highest KV revision applied; changed is closed and
	// replaced whenever it grows (WaitRevision).
	rev     uint64
	changed chan struct{}
	synced  chan struct{}
	started bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns an informer over the kind of T; Start fills it.
func New[T api.Object](st *store.Store, log *slog.Logger) *Informer[T] {
	return &Informer[T]{res: store.For[T](st), log: log, items: map[string]T{}, synced: make(chan struct{}), changed: make(chan struct{}),
		byController: map[string]map[string]T{}, orphans: map[string]T{}}
}

// Key is the cache key of an object: namespace/name, or name when
// cluster-scoped.
func Key(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// KeyOf is the cache key of obj.
func KeyOf(obj api.Object) string {
	m := obj.GetObjectMeta()
	return Key(m.Namespace, m.Name)
}

// AddHandler registers h. Objects already in the cache are replayed to
// OnAdd, so a late handler sees the same world as an early one.
func (i *Informer[T]) AddHandler(h Handler[T]) {
	i.mu.Lock()
	i.handlers = append(i.handlers, h)
	existing := make([]T, 0, len(i.items))
	for _, o := range i.items {
		existing = append(existing, o)
	}
	i.mu.Unlock()
	if h.OnAdd != nil {
		for _, o := range existing {
			h.OnAdd(o)
		}
	}
}

// Start begins the watch. Calling it again does nothing.
func (i *Informer[T]) Start(ctx context.Context) error {
	i.mu.Lock()
	if i.started {
		i.mu.Unlock()
		return nil
	}
	i.started = true
	i.mu.Unlock()
	ctx, i.cancel = context.WithCancel(context.WithoutCancel(ctx))
	events, err := i.res.Watch(ctx, store.WatchOptions{})
	if err != nil {
		i.cancel()
		return fmt.Errorf("informer %s: %w", i.res.Info().Resource, err)
	}
	i.wg.Add(1)
	go func() {
		defer i.wg.Done()
		for ev := range events {
			i.apply(ev)
		}
	}()
	return nil
}

// Stop ends the watch and waits for the last handler call.
func (i *Informer[T]) Stop() {
	if i.cancel != nil {
		i.cancel()
	}
	i.wg.Wait()
}

func (i *Informer[T]) apply(ev store.Event[T]) {
	defer i.advance(ev.Revision)
	switch ev.Type {
	case store.Synced:
		close(i.synced)
		return
	case store.Added, store.Modified:
		key := KeyOf(ev.Object)
		i.mu.Lock()
		old, had := i.items[key]
		if had {
			i.unindexLocked(key, old)
		}
		i.items[key] = ev.Object
		i.indexLocked(key, ev.Object)
		hs := i.handlers
		i.mu.Unlock()
		for _, h := range hs {
			switch {
			case had && h.OnUpdate != nil:
				h.OnUpdate(old, ev.Object)
			case !had && h.OnAdd != nil:
				h.OnAdd(ev.Object)
			}
		}
	case store.Deleted:
		key := Key(ev.Namespace, ev.Name)
		i.mu.Lock()
		old, had := i.items[key]
		if had {
			i.unindexLocked(key, old)
		}
		delete(i.items, key)
		hs := i.handlers
		i.mu.Unlock()
		if !had {
			return
		}
		for _, h := range hs {
			if h.OnDelete != nil {
				h.OnDelete(old)
			}
		}
	}
}

// advance records that the cache has applied revision rev.
func (i *Informer[T]) advance(rev uint64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if rev > i.rev {
		i.rev = rev
		close(i.changed)
		i.changed = make(chan struct{})
	}
}

// WaitRevision waits until the cache has applied a change at or after KV
// revision rev (for read-your-writes after a write through the store), or
// ctx ends.
func (i *Informer[T]) WaitRevision(ctx context.Context, rev uint64) error {
	for {
		i.mu.RLock()
		reached, ch := i.rev >= rev, i.changed
		i.mu.RUnlock()
		if reached {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// controllerUID is the uid of obj's controller (owner reference with
// controller: true), or "".
func controllerUID(obj api.Object) string {
	for _, r := range obj.GetObjectMeta().OwnerReferences {
		if r.Controller != nil && *r.Controller {
			return r.UID
		}
	}
	return ""
}

func (i *Informer[T]) indexLocked(key string, obj T) {
	uid := controllerUID(obj)
	if uid == "" {
		i.orphans[key] = obj
		return
	}
	m := i.byController[uid]
	if m == nil {
		m = map[string]T{}
		i.byController[uid] = m
	}
	m[key] = obj
}

func (i *Informer[T]) unindexLocked(key string, obj T) {
	uid := controllerUID(obj)
	if uid == "" {
		delete(i.orphans, key)
		return
	}
	if m := i.byController[uid]; m != nil {
		delete(m, key)
		if len(m) == 0 {
			delete(i.byController, uid)
		}
	}
}

// ControlledBy returns the cached objects whose controller has this uid.
func (i *Informer[T]) ControlledBy(uid string) []T {
	i.mu.RLock()
	defer i.mu.RUnlock()
	m := i.byController[uid]
	out := make([]T, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	return out
}

// Orphans returns the cached objects in ns ("" for all) that have no
// controller and that keep returns true for (keep may be nil).
func (i *Informer[T]) Orphans(ns string, keep func(T) bool) []T {
	i.mu.RLock()
	defer i.mu.RUnlock()
	var out []T
	for _, o := range i.orphans {
		if ns != "" && o.GetObjectMeta().Namespace != ns {
			continue
		}
		if keep == nil || keep(o) {
			out = append(out, o)
		}
	}
	return out
}

// WaitSynced blocks until the cache holds every object that existed when
// the watch began, or ctx ends (then it returns false).
func (i *Informer[T]) WaitSynced(ctx context.Context) bool {
	select {
	case <-i.synced:
		return true
	case <-ctx.Done():
		return false
	}
}

// Started reports whether Start has been called.
func (i *Informer[T]) Started() bool {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.started
}

// HasSynced reports whether the initial objects are all in the cache.
func (i *Informer[T]) HasSynced() bool {
	select {
	case <-i.synced:
		return true
	default:
		return false
	}
}

// Get returns the cached object (shared: do not modify).
func (i *Informer[T]) Get(ns, name string) (T, bool) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	o, ok := i.items[Key(ns, name)]
	return o, ok
}

// List returns the cached objects in ns ("" for all) that keep returns
// true for (keep may be nil).
func (i *Informer[T]) List(ns string, keep func(T) bool) []T {
	i.mu.RLock()
	defer i.mu.RUnlock()
	out := make([]T, 0)
	for _, o := range i.items {
		if ns != "" && o.GetObjectMeta().Namespace != ns {
			continue
		}
		if keep == nil || keep(o) {
			out = append(out, o)
		}
	}
	return out
}

// Len is the number of cached objects.
func (i *Informer[T]) Len() int {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return len(i.items)
}

// Resource is typed store access to the informer's kind, for writes.
func (i *Informer[T]) Resource() *store.Resource[T] { return i.res }

// Clone deep-copies an object through JSON, for changing a cached object
// before writing it.
func Clone[T api.Object](obj T) T {
	b, err := json.Marshal(obj)
	if err != nil {
		panic(fmt.Sprintf("informer: clone %T: %v", obj, err)) // every api type marshals
	}
	out := api.KindOf(obj).New().(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("informer: clone %T: %v", obj, err))
	}
	return out
}

// ErrNotSynced is returned by users of an informer that is not synced yet.
var ErrNotSynced = errors.New("informer not synced")
