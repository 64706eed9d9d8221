package dispatch

import (
	"log/slog"

	"github.com/nats-io/nats.go"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/controlplane/store"
)

// Module provides a *Dispatcher that runs while the app runs. An Observer
// in the graph (optional) hears of every push.
var Module = fx.Module("dispatch",
	fx.Provide(func(p params) *Dispatcher {
		d := New(p.Conn, p.Store, Options{Observer: p.Observer}, p.Log.With("component", "dispatch"))
		p.Lifecycle.Append(fx.StartStopHook(d.Start, d.Stop))
		return d
	}),
)

type params struct {
	fx.In

	Lifecycle fx.Lifecycle
	Conn      *nats.Conn
	Store     *store.Store
	Log       *slog.Logger
	Observer  Observer `optional:"true"`
}
