package metrics

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/skiff-sh/skiff/controlplane/dispatch"
	"github.com/skiff-sh/skiff/controlplane/scheduler"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Series names.
const (
	// KVOperationDuration is a histogram of the store's KV operations in
	// seconds, by op (get, create, update, put, delete, watch, status) and
	// result (ok, not_found, conflict, error).
	KVOperationDuration = "skiff_kv_operation_duration_seconds"
	// SchedulingAttemptDuration is a histogram of scheduling attempts
	// (decision and bind) in seconds, by result (bound, unschedulable,
	// error).
	SchedulingAttemptDuration = "skiff_scheduler_attempt_duration_seconds"
	// SchedulingAttempts counts scheduling attempts by result.
	SchedulingAttempts = "skiff_scheduler_attempts_total"
	// DispatchPushDuration is a histogram of pushes to nodes (encode and
	// publish) in seconds, by kind (pod, removed).
	DispatchPushDuration = "skiff_dispatch_push_duration_seconds"
	// DispatchPushErrors counts pushes that could not be published.
	DispatchPushErrors = "skiff_dispatch_push_errors_total"
	// Pods is a gauge of pods by phase.
	Pods = "skiff_pods"
	// Nodes is a gauge of nodes by their Ready condition (true, false,
	// unknown).
	Nodes = "skiff_nodes"
	// AgentsConnected is a gauge of nodes whose agent renews its lease
	// (Ready).
	AgentsConnected = "skiff_agents_connected"
)

// NewRegistry returns a process's registry, with the Go runtime and
// process collectors. Build one per process and pass it on (fx does).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Metrics are the series the control plane's components feed. It
// implements store.Observer, scheduler.Observer and dispatch.Observer.
type Metrics struct {
	kv           *prometheus.HistogramVec
	schedule     *prometheus.HistogramVec
	attempts     *prometheus.CounterVec
	push         *prometheus.HistogramVec
	pushFailures *prometheus.CounterVec
}

var (
	_ store.Observer     = (*Metrics)(nil)
	_ scheduler.Observer = (*Metrics)(nil)
	_ dispatch.Observer  = (*Metrics)(nil)
)

// New makes the series and registers them on reg. A series already
// registered there (a second control plane in one process, in tests) is
// shared.
func New(reg prometheus.Registerer) *Metrics {
	// 50 µs … 1.6 s: KV operations are fast unless fsync or the network
	// is slow.
	fast := prometheus.ExponentialBuckets(0.00005, 2, 16)
	m := &Metrics{
		kv: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: KVOperationDuration, Help: "Latency of the store's KV operations by op and result.", Buckets: fast,
		}, []string{"op", "result"}),
		schedule: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: SchedulingAttemptDuration, Help: "Latency of scheduling attempts (decision and bind) by result.", Buckets: fast,
		}, []string{"result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: SchedulingAttempts, Help: "Scheduling attempts by result: bound, unschedulable, error.",
		}, []string{"result"}),
		push: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: DispatchPushDuration, Help: "Latency of pushes to nodes (encode and publish) by kind.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 2, 16), // 10 µs … 330 ms
		}, []string{"kind"}),
		pushFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: DispatchPushErrors, Help: "Pushes to nodes that could not be published, by kind.",
		}, []string{"kind"}),
	}
	m.kv = registerOrReuse(reg, m.kv)
	m.schedule = registerOrReuse(reg, m.schedule)
	m.attempts = registerOrReuse(reg, m.attempts)
	m.push = registerOrReuse(reg, m.push)
	m.pushFailures = registerOrReuse(reg, m.pushFailures)
	// Results and kinds known up front start at zero, so that rates work
	// from the first scrape.
	for _, r := range []string{scheduler.ResultBound, scheduler.ResultUnschedulable, scheduler.ResultError} {
		m.attempts.WithLabelValues(r)
	}
	for _, k := range []string{dispatch.PushPod, dispatch.PushRemoved} {
		m.pushFailures.WithLabelValues(k)
	}
	return m
}

// registerOrReuse registers c, or returns the collector already
// registered with the same description.
func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	return c
}

// ObserveKV records one KV operation (store.Observer).
func (m *Metrics) ObserveKV(op, result string, d time.Duration) {
	m.kv.WithLabelValues(op, result).Observe(d.Seconds())
}

// ScheduleAttempt records one scheduling attempt (scheduler.Observer).
func (m *Metrics) ScheduleAttempt(result string, d time.Duration) {
	m.schedule.WithLabelValues(result).Observe(d.Seconds())
	m.attempts.WithLabelValues(result).Inc()
}

// ObservePush records one push to a node (dispatch.Observer).
func (m *Metrics) ObservePush(kind string, d time.Duration, err error) {
	m.push.WithLabelValues(kind).Observe(d.Seconds())
	if err != nil {
		m.pushFailures.WithLabelValues(kind).Inc()
	}
}
