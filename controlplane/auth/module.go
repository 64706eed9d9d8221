package auth

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
)

// Module provides *Tokens over the tokens bucket, watching it while the
// app runs.
var Module = fx.Module("auth",
	fx.Provide(func(lc fx.Lifecycle, js jetstream.JetStream, cfg config.Config, log *slog.Logger) (*Tokens, error) {
		t, err := Open(context.Background(), js, Options{Replicas: cfg.NATS.Replicas}, log.With("component", "auth"))
		if err != nil {
			return nil, err
		}
		lc.Append(fx.Hook{OnStart: t.Start, OnStop: func(context.Context) error { t.Stop(); return nil }})
		return t, nil
	}),
)
