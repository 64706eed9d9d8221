package nodelifecycle

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/controlplane/agentapi"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Module provides a *Controller. It is leader-only: the control plane's
// leader election starts and stops it.
var Module = fx.Module("nodelifecycle",
	fx.Provide(func(st *store.Store, leases agentapi.Leases, cfg config.Config, log *slog.Logger) *Controller {
		return New(st, leases.KeyValue, Options{GracePeriod: cfg.NodeLifecycle.GracePeriod}, log.With("component", "nodelifecycle"))
	}),
)
