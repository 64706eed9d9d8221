package controllers

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/controlplane/store"
)

// Module provides a *Manager of every controller. It is leader-only: the
// control plane's leader election starts and stops it.
var Module = fx.Module("controllers",
	fx.Provide(func(st *store.Store, log *slog.Logger) *Manager {
		return NewManager(st, log.With("component", "controllers"))
	}),
)
