package nodelifecycle

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/controlplane/agentapi"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Module provides a *Controller that runs while the app runs.
var Module = fx.Module("nodelifecycle",
	fx.Provide(func(lc fx.Lifecycle, st *store.Store, leases agentapi.Leases, cfg config.Config, log *slog.Logger) *Controller {
		c := New(st, leases.KeyValue, Options{GracePeriod: cfg.NodeLifecycle.GracePeriod}, log.With("component", "nodelifecycle"))
		lc.Append(fx.StartStopHook(c.Start, c.Stop))
		return c
	}),
)
