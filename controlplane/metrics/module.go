package metrics

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/controlplane/dispatch"
	"github.com/skiff-sh/skiff/controlplane/scheduler"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Module provides the process's *prometheus.Registry, the *Metrics the
// store, scheduler and dispatch observe through (as their Observer
// interfaces), and a *Cluster registered on the registry that watches
// while the app runs.
var Module = fx.Module("metrics",
	fx.Provide(
		NewRegistry,
		func(reg *prometheus.Registry) *Metrics { return New(reg) },
		func(m *Metrics) store.Observer { return m },
		func(m *Metrics) scheduler.Observer { return m },
		func(m *Metrics) dispatch.Observer { return m },
		func(lc fx.Lifecycle, reg *prometheus.Registry, st *store.Store, log *slog.Logger) (*Cluster, error) {
			c := NewCluster(st, log.With("component", "metrics"))
			if err := reg.Register(c); err != nil {
				return nil, err
			}
			lc.Append(fx.StartStopHook(c.Start, c.Stop))
			return c, nil
		},
	),
)
