package edge

import (
	"context"
	"time"
)

// backoffDelay is the n-th (from 1) delay of an exponential back-off that
// starts at base and doubles up to limit.
func backoffDelay(base, limit time.Duration, n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// kick does a non-blocking send on a signal channel of capacity 1.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
