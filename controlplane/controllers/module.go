package controllers

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/controlplane/store"
)

// Module provides a *Manager that runs every controller while the app runs.
var Module = fx.Module("controllers",
	fx.Provide(func(lc fx.Lifecycle, st *store.Store, log *slog.Logger) *Manager {
		m := NewManager(st, log.With("component", "controllers"))
		lc.Append(fx.StartStopHook(m.Start, m.Stop))
		return m
	}),
)
