package dispatch

import (
	"log/slog"

	"github.com/nats-io/nats.go"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/controlplane/store"
)

// Module provides a *Dispatcher that runs while the app runs.
var Module = fx.Module("dispatch",
	fx.Provide(func(lc fx.Lifecycle, nc *nats.Conn, st *store.Store, log *slog.Logger) *Dispatcher {
		d := New(nc, st, Options{}, log.With("component", "dispatch"))
		lc.Append(fx.StartStopHook(d.Start, d.Stop))
		return d
	}),
)
