package edge

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/api"
)

// statusReporter sends pod status reports to the control plane. Callers
// only queue (latest report per pod wins) and never wait; one goroutine
// sends, keeps what was not acknowledged, and tries again after a back-off,
// on reconnect and on resync.
type statusReporter struct {
	nc             *nats.Conn
	subject        string
	requestTimeout time.Duration
	log            *slog.Logger

	mu      sync.Mutex
	pending map[string]*queuedReport // by pod UID
	// sent holds the pods with a report delivered: only a pod's first
	// report may be held back (see pendingHold).
	sent map[string]bool
	seq  uint64
	wake chan struct{}
}

type queuedReport struct {
	seq    uint64
	report api.PodStatusReport
	// notBefore holds a Pending report back briefly: a container that
	// starts at once replaces it with Running, and the control plane
	// makes one write for the pod instead of two.
	notBefore time.Time
}

// pendingHold is how long a Pending report may wait for the Running one
// that replaces it. A start slower than this is reported as Pending.
const pendingHold = 100 * time.Millisecond

func newStatusReporter(nc *nats.Conn, node string, requestTimeout time.Duration, log *slog.Logger) *statusReporter {
	return &statusReporter{
		nc: nc, subject: api.AgentSubject(node, api.AgentStatus), requestTimeout: requestTimeout, log: log,
		pending: map[string]*queuedReport{}, sent: map[string]bool{}, wake: make(chan struct{}, 1),
	}
}

// Enqueue queues a report, replacing any unsent report of the same pod.
func (r *statusReporter) Enqueue(rep api.PodStatusReport) {
	r.mu.Lock()
	r.seq++
	q := &queuedReport{seq: r.seq, report: rep}
	if prev, ok := r.pending[rep.UID]; ok {
		q.notBefore = prev.notBefore // a hold is never extended
	} else if quietPending(rep) && !r.sent[rep.UID] {
		q.notBefore = time.Now().Add(pendingHold)
	}
	if !quietPending(rep) {
		q.notBefore = time.Time{} // news (Running, an error) goes at once
	}
	r.pending[rep.UID] = q
	r.mu.Unlock()
	kick(r.wake)
}

// Pending reports whether a report of this pod waits to be acknowledged.
func (r *statusReporter) Pending(uid string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.pending[uid]
	return ok
}

// Resend tries the unacknowledged reports now.
func (r *statusReporter) Resend() { kick(r.wake) }

// Run sends until ctx ends.
func (r *statusReporter) Run(ctx context.Context) {
	failures := 0
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-retry:
		}
		retry = nil
		ok, held := r.flush(ctx)
		if ok {
			failures = 0
			if held > 0 {
				retry = time.After(held)
			}
			continue
		}
		failures++
		retry = time.After(backoffDelay(time.Second, 30*time.Second, failures))
	}
}

// flush sends every queued report that is due, oldest first; it stops at
// the first failure to reach the control plane and reports whether all due
// reports were sent and how long until the next held one is due.
func (r *statusReporter) flush(ctx context.Context) (bool, time.Duration) {
	now := time.Now()
	var held time.Duration
	r.mu.Lock()
	batch := make([]queuedReport, 0, len(r.pending))
	for _, q := range r.pending {
		if wait := q.notBefore.Sub(now); wait > 0 {
			if held == 0 || wait < held {
				held = wait
			}
			continue
		}
		batch = append(batch, *q)
	}
	r.mu.Unlock()
	sort.Slice(batch, func(i, j int) bool { return batch[i].seq < batch[j].seq })
	for _, q := range batch {
		if ctx.Err() != nil {
			return false, held
		}
		ack, err := r.send(ctx, &q.report)
		if err != nil {
			r.log.Debug("status report not delivered; will retry", "pod", q.report.Namespace+"/"+q.report.Name, "err", err)
			return false, held
		}
		if ack.Error != "" {
			// Refused, not lost: retrying the same report cannot help,
			// and the next resync reports the pod's status afresh.
			r.log.Warn("control plane refused a status report", "pod", q.report.Namespace+"/"+q.report.Name, "err", ack.Error)
		}
		r.mu.Lock()
		if cur, ok := r.pending[q.report.UID]; ok && cur.seq == q.seq {
			delete(r.pending, q.report.UID)
		}
		if q.report.Removed {
			delete(r.sent, q.report.UID)
		} else {
			r.sent[q.report.UID] = true
		}
		r.mu.Unlock()
	}
	return true, held
}

func (r *statusReporter) send(ctx context.Context, rep *api.PodStatusReport) (*api.Ack, error) {
	b, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.requestTimeout)
	defer cancel()
	msg, err := r.nc.RequestWithContext(ctx, r.subject, b)
	if err != nil {
		return nil, err
	}
	var ack api.Ack
	if err := json.Unmarshal(msg.Data, &ack); err != nil {
		return nil, err
	}
	return &ack, nil
}

// quietPending reports whether rep only says the pod is being set up
// (Pending, containers waiting for their start): the kind of report that
// may wait briefly for the Running one.
func quietPending(rep api.PodStatusReport) bool {
	if rep.Removed || rep.Status.Phase != api.PodPending {
		return false
	}
	for _, cs := range append(rep.Status.InitContainerStatuses, rep.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
			return false
		}
		if cs.State.Terminated != nil {
			return false
		}
	}
	return true
}
