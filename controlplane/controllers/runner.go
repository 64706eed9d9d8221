package controllers

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Reconciler makes the world match one object's desired state. It returns
// a delay after which to look again (0 for none) or an error, which retries
// the key with back-off.
type Reconciler interface {
	Reconcile(ctx context.Context, key string) (requeueAfter time.Duration, err error)
}

// Runner drives a Reconciler from a Queue with workers and a resync.
type Runner struct {
	Name    string
	Queue   *Queue
	R       Reconciler
	Workers int
	// Resync re-queues every key from Keys this often (0: never).
	Resync time.Duration
	Keys   func() []string
	Log    *slog.Logger
}

// Run processes keys until ctx ends, then shuts the queue down and waits
// for the workers.
func (r *Runner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	workers := max(r.Workers, 1)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r.processOne(ctx) {
			}
		}()
	}
	if r.Resync > 0 && r.Keys != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(r.Resync)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					for _, k := range r.Keys() {
						r.Queue.Add(k)
					}
				}
			}
		}()
	}
	<-ctx.Done()
	r.Queue.ShutDown()
	wg.Wait()
}

func (r *Runner) processOne(ctx context.Context) bool {
	key, ok := r.Queue.Get()
	if !ok {
		return false
	}
	defer r.Queue.Done(key)
	after, err := r.R.Reconcile(ctx, key)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			r.Log.Warn("reconcile failed; will retry", "controller", r.Name, "key", key, "err", err)
		}
		r.Queue.AddRateLimited(key)
	default:
		r.Queue.Forget(key)
		if after > 0 {
			r.Queue.AddAfter(key, after)
		}
	}
	return true
}
