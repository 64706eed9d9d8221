package store

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
)

// Module provides *Store over the objects bucket.
var Module = fx.Module("store",
	fx.Provide(func(js jetstream.JetStream, cfg config.Config) (*Store, error) {
		return Open(context.Background(), js, Options{Replicas: cfg.NATS.Replicas})
	}),
)
