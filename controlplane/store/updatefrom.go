package store

import "context"

// UpdateFrom writes obj over old with one compare-and-swap on old's
// resourceVersion and no read first: old is the stored version obj was made
// from, as a watch-fed cache holds it, and obj must carry old's
// resourceVersion. uid, creationTimestamp and generation come from old
// (generation bumped when the spec changed), as in Update. On success obj
// has its new resourceVersion.
//
// It returns ErrConflict when the stored object is no longer old (the cache
// was behind, or another writer won), and ErrNotFound when it is gone; a
// caller that must still make its change reads and retries with Mutate.
//
// Neither old nor obj may be changed by others during the call; old is
// only read.
func (r *Resource[T]) UpdateFrom(ctx context.Context, old, obj T) error {
	return r.s.updateFrom(ctx, r.info, old, obj)
}
