package dispatch_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/controlplane/dispatch"
)

// pushes is an Observer that counts pushes by kind.
type pushes struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *pushes) ObservePush(kind string, d time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d > 0 && err == nil {
		p.n[kind]++
	}
}

func (p *pushes) count(kind string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[kind]
}

func TestObserverHearsEachPushAndRemoval(t *testing.T) {
	e := startNATS(t)
	obs := &pushes{n: map[string]int{}}
	e.dispatcher(t, dispatch.Options{Observer: obs})
	n1 := e.node(t, "edge-1")
	e.create(t, "default", "web", "edge-1")
	n1.nextFor("web")
	if err := e.pods.Delete(context.Background(), "default", "web", ""); err != nil {
		t.Fatal(err)
	}
	n1.nextFor("web")
	// The observer hears of a push right after its publish, which the
	// node may receive first.
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for obs.count(dispatch.PushPod) != 1 || obs.count(dispatch.PushRemoved) != 1 {
		select {
		case <-deadline:
			t.Fatalf("observed %d pod pushes and %d removals, want one each", obs.count(dispatch.PushPod), obs.count(dispatch.PushRemoved))
		case <-tick.C:
		}
	}
}
