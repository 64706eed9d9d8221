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

// maxSeconds bounds durations that come from a pod spec in seconds, so
// that a huge value cannot overflow time.Duration (about 292 years).
const maxSeconds = 100 * 365 * 24 * 3600

// seconds turns a spec's count of seconds into a Duration, clamped to
// [0, maxSeconds].
func seconds(s int64) time.Duration {
	return time.Duration(min(max(s, 0), maxSeconds)) * time.Second
}
