package agentapi

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
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
	fx.Provide(func(lc fx.Lifecycle, nc *nats.Conn, st *store.Store, leases Leases, cfg config.Config, log *slog.Logger) *Server {
		s := New(nc, st, leases.KeyValue, Options{Replicas: cfg.NATS.Replicas}, log.With("component", "agentapi"))
		lc.Append(fx.StartStopHook(s.Start, s.Stop))
		return s
	}),
)
