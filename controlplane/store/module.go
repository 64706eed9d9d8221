package store

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
)

// Module provides *Store over the objects bucket; an Observer in the graph
// (optional) hears of every KV operation.
var Module = fx.Module("store",
	fx.Provide(func(p params) (*Store, error) {
		return Open(context.Background(), p.JS, Options{Replicas: p.Config.NATS.Replicas, Observer: p.Observer})
	}),
)

type params struct {
	fx.In

	JS       jetstream.JetStream
	Config   config.Config
	Observer Observer `optional:"true"`
}
