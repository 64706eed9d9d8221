package scheduler

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

// attempts is an Observer that counts results.
type attempts struct {
	mu sync.Mutex
	n  map[string]int
}

func (a *attempts) ScheduleAttempt(result string, d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d > 0 {
		a.n[result]++
	}
}

func (a *attempts) count(result string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[result]
}

func TestObserverHearsBoundAndUnschedulableAttempts(t *testing.T) {
	st, _, _ := natstest.Store(t)
	pods, nodes := store.For[*api.Pod](st), store.For[*api.Node](st)
	createAll(t, nodes, testNode("n0", allocatable("1", "8Gi")))
	obs := &attempts{n: map[string]int{}}
	startScheduler(t, st, Options{Observer: obs, RetryInterval: time.Hour}, nil)
	for i := range 3 {
		createAll(t, pods, testPod(fmt.Sprintf("p%d", i), wasm, requests("400m", "")))
	}
	waitFor(t, 10*time.Second, "two pods bound and one unschedulable", func() bool {
		return obs.count(ResultBound) == 2 && obs.count(ResultUnschedulable) >= 1
	})
	if n := obs.count(ResultError); n != 0 {
		t.Fatalf("%d error attempts", n)
	}
}
