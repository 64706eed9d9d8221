package scheduler

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/controlplane/store"
)

// Module provides a *Scheduler that runs while the app runs.
var Module = fx.Module("scheduler",
	fx.Provide(func(lc fx.Lifecycle, st *store.Store, log *slog.Logger) *Scheduler {
		s := New(st, Options{}, log.With("component", "scheduler"))
		lc.Append(fx.StartStopHook(s.Start, s.Stop))
		return s
	}),
)
