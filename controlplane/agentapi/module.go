package agentapi

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/controlplane/natsauth"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Leases is the node leases bucket, named so fx can tell it from others.
type Leases struct{ jetstream.KeyValue }

// Module provides the leases bucket and a *Server that runs while the app
// runs.
var Module = fx.Module("agentapi",
	fx.Provide(func(js jetstream.JetStream, cfg config.Config) (Leases, error) {
		kv, err := OpenLeases(context.Background(), js, cfg.NATS.Replicas)
		return Leases{kv}, err
	}),
	fx.Provide(func(p params) *Server {
		opts := Options{Replicas: p.Config.NATS.Replicas}
		if p.Identities != nil {
			opts.JoinLabels = p.Identities.NodeLabels
		}
		s := New(p.NC, p.Store, p.Leases.KeyValue, opts, p.Log.With("component", "agentapi"))
		p.Lifecycle.Append(fx.StartStopHook(s.Start, s.Stop))
		return s
	}),
)

type params struct {
	fx.In

	Lifecycle fx.Lifecycle
	NC        *nats.Conn
	Store     *store.Store
	Leases    Leases
	Config    config.Config
	Log       *slog.Logger
	// Identities gives the labels nodes joined with; absent with an
	// external NATS.
	Identities *natsauth.Identities `optional:"true"`
}
