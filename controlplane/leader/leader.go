// Package leader elects one control-plane replica to run the components
// that act on the cluster (scheduler, controllers, node lifecycle, the
// events watcher), through a key with a TTL in the api.LeaderBucket KV
// bucket. Every replica serves the API and the agents' subjects; only the
// leader acts.
//
// The rules that keep two replicas from acting at once:
//   - Options.TTL bounds the takeover: a dead leader is replaced within one
//     TTL. The key itself lives for keyTTL = 2/3 TTL after its last update,
//     leaving a third of the TTL for the server's expiry sweep and the
//     follower's reaction.
//   - A replica becomes leader only by creating the key (create fails if
//     it exists), and stays leader by compare-and-swap updates of it every
//     keyTTL/3.
//   - Followers learn of the expiry from a KV marker (LimitMarkerTTL) and
//     try to create the key; they also try every keyTTL/3.
//   - A leader that has not renewed for 2/3 keyTTL stops acting at once,
//     before the key can expire and a follower take over. Losing
//     leadership ends the process (as kube-controller-manager does), so
//     leader-only components never need to be restartable in place.
//
// Besides, every write the leader makes is a compare-and-swap, so even a
// stale leader could not double-bind a pod.
//
// Package leader imports api and nats.go only.
package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
)

// Runnable is a leader-only component.
type Runnable interface {
	Start(ctx context.Context) error
	Stop()
}

// Options configure an Elector.
type Options struct {
	// TTL of the leader key; a dead leader is replaced within one TTL.
	// Default 10s.
	TTL time.Duration
	// ID names this replica. Default hostname-<random>.
	ID string
	// Replicas of the bucket. Default 1.
	Replicas int
	// OnLost is called once if leadership is lost after being held (the
	// fx module ends the process). Default: nothing.
	OnLost func(error)
}

// Elector campaigns for leadership and runs Runnables while it holds it.
type Elector struct {
	opts   Options
	keyTTL time.Duration
	kv     jetstream.KeyValue
	run    []Runnable
	log    *slog.Logger

	mu      sync.Mutex
	leading bool
	rev     uint64
	renewed time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Key is the leader key in api.LeaderBucket.
const Key = "controlplane"

// Open creates the leader bucket if needed and returns an Elector that
// will run runnables (in order; stopped in reverse) while leading.
func Open(ctx context.Context, js jetstream.JetStream, opts Options, runnables []Runnable, log *slog.Logger) (*Elector, error) {
	if opts.TTL == 0 {
		opts.TTL = 10 * time.Second
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.ID == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		opts.ID = host + "-" + hex.EncodeToString(b)
	}
	keyTTL := opts.TTL * 2 / 3
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         api.LeaderBucket,
		Description:    "Skiff control-plane leader election",
		History:        1,
		TTL:            keyTTL,
		LimitMarkerTTL: max(keyTTL, time.Second),
		Storage:        jetstream.FileStorage,
		Replicas:       opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", api.LeaderBucket, err)
	}
	return &Elector{opts: opts, keyTTL: keyTTL, kv: kv, run: runnables, log: log}, nil
}

// ID is this replica's identity in the election.
func (e *Elector) ID() string { return e.opts.ID }

// Leading reports whether this replica leads now.
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// Start makes one attempt at once (so a lone replica leads before Start
// returns) and then campaigns in the background.
func (e *Elector) Start(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel = cancel
	if err := e.tryAcquire(ctx); err != nil {
		e.log.Warn("leader election: first attempt failed", "err", err)
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.loop(runCtx)
	}()
	return nil
}

// Stop ends the campaign, stops the leader's components and gives the key
// up so another replica takes over at once.
func (e *Elector) Stop() {
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
	e.mu.Lock()
	leading, rev := e.leading, e.rev
	e.leading = false
	e.mu.Unlock()
	if leading {
		e.stopRunnables()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = e.kv.Delete(ctx, Key, jetstream.LastRevision(rev))
	}
}

func (e *Elector) tryAcquire(ctx context.Context) error {
	rev, err := e.kv.Create(ctx, Key, []byte(e.opts.ID))
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil // someone leads
		}
		return err
	}
	e.mu.Lock()
	e.leading, e.rev, e.renewed = true, rev, time.Now()
	e.mu.Unlock()
	e.log.Info("became leader", "id", e.opts.ID)
	for i, r := range e.run {
		if err := r.Start(ctx); err != nil {
			for j := i - 1; j >= 0; j-- {
				e.run[j].Stop()
			}
			e.lose(fmt.Errorf("start leader component: %w", err))
			return err
		}
	}
	return nil
}

func (e *Elector) stopRunnables() {
	for i := len(e.run) - 1; i >= 0; i-- {
		e.run[i].Stop()
	}
}

func (e *Elector) lose(err error) {
	e.mu.Lock()
	was := e.leading
	e.leading = false
	e.mu.Unlock()
	if !was {
		return
	}
	e.log.Error("lost leadership; stopping leader components", "id", e.opts.ID, "err", err)
	e.stopRunnables()
	if e.opts.OnLost != nil {
		e.opts.OnLost(err)
	}
}

func (e *Elector) loop(ctx context.Context) {
	tick := time.NewTicker(e.keyTTL / 3)
	defer tick.Stop()
	var updates <-chan jetstream.KeyValueEntry
	if w, err := e.kv.Watch(ctx, Key, jetstream.UpdatesOnly()); err == nil {
		updates = w.Updates()
		defer func() { _ = w.Stop() }()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ent, ok := <-updates:
			if !ok {
				updates = nil
				continue
			}
			if ent != nil && ent.Operation() != jetstream.KeyValuePut && !e.Leading() {
				_ = e.tryAcquire(ctx) // the leader's key expired or was given up
			}
		case <-tick.C:
			if !e.Leading() {
				_ = e.tryAcquire(ctx)
				continue
			}
			e.renew(ctx)
		}
	}
}

func (e *Elector) renew(ctx context.Context) {
	e.mu.Lock()
	rev, renewed := e.rev, e.renewed
	e.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, e.keyTTL/3)
	defer cancel()
	newRev, err := e.kv.Update(rctx, Key, []byte(e.opts.ID), rev)
	if err == nil {
		e.mu.Lock()
		e.rev, e.renewed = newRev, time.Now()
		e.mu.Unlock()
		return
	}
	if ctx.Err() != nil {
		return
	}
	var apiErr *jetstream.APIError
	conflict := errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
	if conflict || time.Since(renewed) > 2*e.keyTTL/3 {
		e.lose(fmt.Errorf("renew leader key: %w", err))
		return
	}
	e.log.Warn("leader renewal failed; retrying", "err", err)
}
