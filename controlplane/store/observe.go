package store

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Observer hears how long each KV operation of the store took, for
// metrics. op is one of the KVOp values; result one of the KVResult
// values. It is called on the hot path: it must be cheap and must not
// block.
type Observer interface {
	ObserveKV(op, result string, d time.Duration)
}

// KV operations an Observer hears of. A watch is timed until the watcher
// is set up, not over its life.
const (
	KVOpGet    = "get"
	KVOpCreate = "create"
	KVOpUpdate = "update"
	KVOpPut    = "put"
	KVOpDelete = "delete"
	KVOpWatch  = "watch"
	KVOpStatus = "status"
)

// Results of KV operations: the expected refusals apart from failures.
const (
	KVResultOK       = "ok"
	KVResultNotFound = "not_found"
	KVResultConflict = "conflict" // key exists, or wrong last revision
	KVResultError    = "error"
)

// observedKV times the KV operations the store uses. Every other method
// is the bucket's own.
type observedKV struct {
	jetstream.KeyValue
	obs Observer
}

var _ jetstream.KeyValue = observedKV{}

func (o observedKV) done(op string, start time.Time, err error) {
	o.obs.ObserveKV(op, kvResult(err), time.Since(start))
}

func kvResult(err error) string {
	switch {
	case err == nil:
		return KVResultOK
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return KVResultNotFound
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch), isWrongLastSequence(err):
		return KVResultConflict
	}
	return KVResultError
}

func (o observedKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	start := time.Now()
	e, err := o.KeyValue.Get(ctx, key)
	o.done(KVOpGet, start, err)
	return e, err
}

func (o observedKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	start := time.Now()
	rev, err := o.KeyValue.Create(ctx, key, value, opts...)
	o.done(KVOpCreate, start, err)
	return rev, err
}

func (o observedKV) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	start := time.Now()
	rev, err := o.KeyValue.Update(ctx, key, value, revision)
	o.done(KVOpUpdate, start, err)
	return rev, err
}

func (o observedKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	start := time.Now()
	rev, err := o.KeyValue.Put(ctx, key, value)
	o.done(KVOpPut, start, err)
	return rev, err
}

func (o observedKV) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	start := time.Now()
	err := o.KeyValue.Delete(ctx, key, opts...)
	o.done(KVOpDelete, start, err)
	return err
}

func (o observedKV) Watch(ctx context.Context, keys string, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	start := time.Now()
	w, err := o.KeyValue.Watch(ctx, keys, opts...)
	o.done(KVOpWatch, start, err)
	return w, err
}

func (o observedKV) WatchAll(ctx context.Context, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	start := time.Now()
	w, err := o.KeyValue.WatchAll(ctx, opts...)
	o.done(KVOpWatch, start, err)
	return w, err
}

func (o observedKV) Status(ctx context.Context) (jetstream.KeyValueStatus, error) {
	start := time.Now()
	st, err := o.KeyValue.Status(ctx)
	o.done(KVOpStatus, start, err)
	return st, err
}
