package scheduler

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/controlplane/store"
)

// Module provides a *Scheduler. It is leader-only: the control plane's
// leader election starts and stops it. An Observer in the graph (optional)
// hears of every scheduling attempt.
var Module = fx.Module("scheduler",
	fx.Provide(func(p params) *Scheduler {
		return New(p.Store, Options{Observer: p.Observer}, p.Log.With("component", "scheduler"))
	}),
)

type params struct {
	fx.In

	Store    *store.Store
	Log      *slog.Logger
	Observer Observer `optional:"true"`
}
