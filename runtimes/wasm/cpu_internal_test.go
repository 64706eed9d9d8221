package wasm

import (
	"testing"
	"time"
)

// The bucket starts full at limit × 5 s, fills at the limit's rate and
// runs dry when a task uses more than that.
func TestCPUBudgetIsATokenBucketOfCPUTime(t *testing.T) {
	if !threadClocksSupported {
		t.Skip("no per-thread CPU clock on this platform")
	}
	b := newCPUBudget(100)
	if b.capacity != 500*time.Millisecond {
		t.Fatalf("capacity %s, want 500ms (100m × 5s)", b.capacity)
	}
	t0 := time.Unix(1000, 0)
	b.lastAt, b.started = t0, t0
	// Busy for 0.5 s: 0.5 s used, 0.05 s earned: 50ms left.
	if b.observe(500*time.Millisecond, t0.Add(500*time.Millisecond)) {
		t.Fatal("ran dry within its burst")
	}
	// Idle for 10 s: full again (capped).
	if b.observe(500*time.Millisecond, t0.Add(10500*time.Millisecond)) || b.tokens != b.capacity {
		t.Fatalf("tokens %s after idling, want the capacity %s", b.tokens, b.capacity)
	}
	// Busy again: 0.5 s used, 0.05 s earned: 50ms left; 0.1 s more
	// (0.01 s earned) runs it dry.
	if b.observe(1000*time.Millisecond, t0.Add(11000*time.Millisecond)) {
		t.Fatalf("ran dry too early: %s left", b.tokens)
	}
	if !b.observe(1100*time.Millisecond, t0.Add(11100*time.Millisecond)) {
		t.Fatalf("still %s left after using 0.7 s of CPU in 0.7 s under 100m", b.tokens)
	}
	if b.exceededMessage() == "" {
		t.Error("no message for the exceeded budget")
	}
}

func TestNoCPUBudgetWithoutALimitOrFromOneCPU(t *testing.T) {
	for _, m := range []int64{0, -5, 1000, 2500} {
		if newCPUBudget(m) != nil {
			t.Errorf("newCPUBudget(%d) is a budget; a module uses one thread, so it needs none", m)
		}
	}
	if b := newCPUBudget(1); b != nil && b.capacity != minCPUBurst {
		t.Errorf("capacity for 1m = %s, want the minimum %s", b.capacity, minCPUBurst)
	}
}
