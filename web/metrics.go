package web

import (
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/skiff-sh/skiff/controlplane/auth"
)

// Metric names the API server exports at /metrics.
const (
	// MetricRequestDuration is a histogram of API request latency in
	// seconds by verb, kind and code; watches are not in it (they last as
	// long as their client wants).
	MetricRequestDuration = "skiff_api_request_duration_seconds"
	// MetricLongRunning is a gauge of open watches (and followed logs) by
	// verb and kind.
	MetricLongRunning = "skiff_api_long_running_requests"
)

// apiMetrics are the API server's own series.
type apiMetrics struct {
	duration    *prometheus.HistogramVec
	longRunning *prometheus.GaugeVec
}

func newAPIMetrics(reg prometheus.Registerer) *apiMetrics {
	m := &apiMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: MetricRequestDuration,
			Help: "API request latency by verb, kind and HTTP code (watches excluded).",
			// 0.25 ms … 8 s.
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 16),
		}, []string{"verb", "kind", "code"}),
		longRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricLongRunning,
			Help: "Open long-running API requests (watches, followed logs) by verb and kind.",
		}, []string{"verb", "kind"}),
	}
	m.duration = registerOrReuse(reg, m.duration)
	m.longRunning = registerOrReuse(reg, m.longRunning)
	return m
}

// registerOrReuse registers c, or returns the collector already
// registered under the same description (two servers on one registry).
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

// observe records a finished request; begin counts a long-running one
// while it runs.
func (m *apiMetrics) observe(ri requestInfo, code int, d time.Duration) {
	if m == nil || ri.longRunning || ri.public {
		return
	}
	verb := ri.Verb
	if !slices.Contains(auth.AllVerbs(), verb) {
		verb = "other" // methods are the client's to invent: keep the label's values few
	}
	m.duration.WithLabelValues(string(verb), ri.kind, strconv.Itoa(code)).Observe(d.Seconds())
}

func (m *apiMetrics) begin(ri requestInfo) (end func()) {
	if m == nil || !ri.longRunning {
		return func() {}
	}
	g := m.longRunning.WithLabelValues(string(ri.Verb), ri.kind)
	g.Inc()
	return g.Dec
}

// serveMetrics is the Prometheus scrape endpoint over the process's
// registry.
func serveMetrics(g prometheus.Gatherer) echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
}
