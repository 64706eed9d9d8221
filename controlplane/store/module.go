package store

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
)

// Module provides *Store over the objects bucket, with Secrets encrypted
// under the keyring at config.SecretsEncryptionKeyring (default
// <dataDir>/secrets-encryption.json, made on first start); an Observer in
// the graph (optional) hears of every KV operation.
var Module = fx.Module("store",
	fx.Provide(func(p params) (*Store, error) {
		path := p.Config.SecretsEncryptionKeyring
		if path == "" {
			path = p.Config.Path(KeyringFile)
		}
		ring, err := OpenKeyring(path)
		if err != nil {
			return nil, err
		}
		return Open(context.Background(), p.JS, Options{Replicas: p.Config.NATS.Replicas, Observer: p.Observer, Keyring: ring})
	}),
)

type params struct {
	fx.In

	JS       jetstream.JetStream
	Config   config.Config
	Observer Observer `optional:"true"`
}
