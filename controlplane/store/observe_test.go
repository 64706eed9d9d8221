package store_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

// kvRecorder is an Observer that keeps what it hears.
type kvRecorder struct {
	mu  sync.Mutex
	ops map[string]int // "op result" → count
}

func (r *kvRecorder) ObserveKV(op, result string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d <= 0 {
		op += " without duration"
	}
	r.ops[op+" "+result]++
}

func (r *kvRecorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ops[key]
}

func TestObserverHearsEveryKVOperationWithItsResult(t *testing.T) {
	_, _, js := natstest.Store(t)
	rec := &kvRecorder{ops: map[string]int{}}
	st, err := store.Open(t.Context(), js, store.Options{Observer: rec, Keyring: natstest.Keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	pods := store.For[*api.Pod](st)
	p := newPod("o")
	if err := pods.Create(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if err := pods.Create(t.Context(), newPod("o")); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatal(err)
	}
	if _, err := pods.Get(t.Context(), "default", "none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	stale := p.ResourceVersion
	p.Labels = map[string]string{"a": "b"}
	if err := pods.Update(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	p.ResourceVersion = stale
	if err := pods.Update(t.Context(), p); !errors.Is(err, store.ErrConflict) {
		t.Fatal(err)
	}
	if _, err := pods.List(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(t.Context(), "default", "o", ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"create ok", "create conflict", "get not_found", "update ok", "update conflict", "watch ok", "delete ok"} {
		if rec.count(want) == 0 {
			t.Errorf("observer did not hear %q; heard %v", want, rec.ops)
		}
	}
	// The raw bucket is not observed.
	before := rec.count("get not_found")
	if _, err := st.KV().Get(t.Context(), "nothing"); err == nil {
		t.Fatal("got a missing key")
	}
	if rec.count("get not_found") != before {
		t.Error("KV() is observed; it should be the raw bucket")
	}
}
