package scheduler

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/controlplane/store"
)

// Module provides a *Scheduler. It is leader-only: the control plane's
// leader election starts and stops it.
var Module = fx.Module("scheduler",
	fx.Provide(func(st *store.Store, log *slog.Logger) *Scheduler {
		return New(st, Options{}, log.With("component", "scheduler"))
	}),
)
