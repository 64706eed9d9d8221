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
	seq     uint64
	wake    chan struct{}
}

type queuedReport struct {
	seq    uint64
	report api.PodStatusReport
}

func newStatusReporter(nc *nats.Conn, node string, requestTimeout time.Duration, log *slog.Logger) *statusReporter {
	return &statusReporter{
		nc: nc, subject: api.AgentSubject(node, api.AgentStatus), requestTimeout: requestTimeout, log: log,
		pending: map[string]*queuedReport{}, wake: make(chan struct{}, 1),
	}
}

// Enqueue queues a report, replacing any unsent report of the same pod.
func (r *statusReporter) Enqueue(rep api.PodStatusReport) {
	r.mu.Lock()
	r.seq++
	r.pending[rep.UID] = &queuedReport{seq: r.seq, report: rep}
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
		if r.flush(ctx) {
			failures = 0
			continue
		}
		failures++
		retry = time.After(backoffDelay(time.Second, 30*time.Second, failures))
	}
}

// flush sends every queued report, oldest first; it stops at the first
// failure to reach the control plane and reports whether all were sent.
func (r *statusReporter) flush(ctx context.Context) bool {
	r.mu.Lock()
	batch := make([]queuedReport, 0, len(r.pending))
	for _, q := range r.pending {
		batch = append(batch, *q)
	}
	r.mu.Unlock()
	sort.Slice(batch, func(i, j int) bool { return batch[i].seq < batch[j].seq })
	for _, q := range batch {
		if ctx.Err() != nil {
			return false
		}
		ack, err := r.send(ctx, &q.report)
		if err != nil {
			r.log.Debug("status report not delivered; will retry", "pod", q.report.Namespace+"/"+q.report.Name, "err", err)
			return false
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
		r.mu.Unlock()
	}
	return true
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
