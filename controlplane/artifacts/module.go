package artifacts

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
)

// Module provides a *Store that serves agents while the app runs.
var Module = fx.Module("artifacts",
	fx.Provide(func(lc fx.Lifecycle, js jetstream.JetStream, nc *nats.Conn, cfg config.Config, log *slog.Logger) (*Store, error) {
		s, err := Open(context.Background(), js, nc, Options{Replicas: cfg.NATS.Replicas}, log.With("component", "artifacts"))
		if err != nil {
			return nil, err
		}
		lc.Append(fx.StartStopHook(s.Start, s.Stop))
		return s, nil
	}),
)
