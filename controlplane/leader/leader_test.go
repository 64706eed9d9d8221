package leader_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/controlplane/leader"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

type counter struct{ running atomic.Int32 }

func (c *counter) Start(context.Context) error { c.running.Add(1); return nil }
func (c *counter) Stop()                       { c.running.Add(-1) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func elector(t *testing.T, js jetstream.JetStream, ttl time.Duration, c *counter, lost func(error)) *leader.Elector {
	t.Helper()
	e, err := leader.Open(context.Background(), js, leader.Options{TTL: ttl, OnLost: lost}, []leader.Runnable{c}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestOneLeaderAtATimeAndHandOverOnStop(t *testing.T) {
	s := natstest.Start(t)
	_, jsA := natstest.Connect(t, s)
	_, jsB := natstest.Connect(t, s)
	var a, b counter
	ea := elector(t, jsA, 2*time.Second, &a, nil)
	eb := elector(t, jsB, 2*time.Second, &b, nil)
	ctx := context.Background()
	if err := ea.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := eb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer eb.Stop()
	if !ea.Leading() || a.running.Load() != 1 {
		t.Fatal("the first replica should lead at once (Start makes one attempt)")
	}
	if eb.Leading() || b.running.Load() != 0 {
		t.Fatal("two leaders")
	}
	start := time.Now()
	ea.Stop() // gives the key up
	if a.running.Load() != 0 {
		t.Fatal("the old leader's components still run after Stop")
	}
	err := testbed.Poll(ctx, 5*time.Second, 10*time.Millisecond, func() (bool, error) { return eb.Leading(), nil })
	if err != nil {
		t.Fatal("the follower did not take over after the leader gave up")
	}
	if b.running.Load() != 1 {
		t.Fatalf("new leader runs %d components", b.running.Load())
	}
	t.Logf("handover after a clean stop took %s", time.Since(start))
}

func TestDeadLeaderIsReplacedWithinOneTTL(t *testing.T) {
	s := natstest.Start(t)
	ncA, jsA := natstest.Connect(t, s)
	_, jsB := natstest.Connect(t, s)
	var a, b counter
	lost := make(chan error, 1)
	const ttl = 3 * time.Second
	ea := elector(t, jsA, ttl, &a, func(err error) { lost <- err })
	eb := elector(t, jsB, ttl, &b, nil)
	ctx := context.Background()
	_ = ea.Start(ctx)
	_ = eb.Start(ctx)
	defer eb.Stop()
	if !ea.Leading() {
		t.Fatal("a does not lead")
	}
	// The leader's process dies: its connection goes away without giving
	// the key up.
	died := time.Now()
	ncA.Close()
	err := testbed.Poll(ctx, 3*ttl, 20*time.Millisecond, func() (bool, error) { return eb.Leading(), nil })
	if err != nil {
		t.Fatal("the follower never took over")
	}
	took := time.Since(died)
	if took > ttl {
		t.Fatalf("takeover took %s, more than one TTL (%s)", took, ttl)
	}
	// The cut-off leader stops acting before the follower can start.
	select {
	case <-lost:
	case <-time.After(ttl):
		t.Fatal("the cut-off leader never gave up")
	}
	if a.running.Load() != 0 {
		t.Fatal("the cut-off leader still runs its components")
	}
	t.Logf("takeover after the leader died took %s (TTL %s)", took, ttl)
	ea.Stop()
}
