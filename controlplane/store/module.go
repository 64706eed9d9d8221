package store

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
)

// Module provides *Store over the objects bucket, with Secrets encrypted
// under the keyring at config.SecretsEncryptionKeyring (default
// <dataDir>/secrets-encryption.json, made on first start); an Observer in
// the graph (optional) hears of every KV operation. On start it logs
// Secrets the keyring cannot read (another replica's keys) and Secrets
// still stored unencrypted.
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
		s, err := Open(context.Background(), p.JS, Options{Replicas: p.Config.NATS.Replicas, Observer: p.Observer, Keyring: ring})
		if err != nil {
			return nil, err
		}
		p.Lifecycle.Append(fx.StartHook(func(ctx context.Context) { s.reportKeyring(ctx, p.Log) }))
		return s, nil
	}),
)

type params struct {
	fx.In

	Lifecycle fx.Lifecycle
	JS        jetstream.JetStream
	Config    config.Config
	Log       *slog.Logger
	Observer  Observer `optional:"true"`
}

// reportKeyring logs what an operator must act on: Secrets under keys the
// keyring lacks, and Secrets not yet encrypted.
func (s *Store) reportKeyring(ctx context.Context, log *slog.Logger) {
	st, err := s.SecretsEncryptionStatus(ctx)
	if err != nil {
		log.Warn("cannot read the secrets encryption status", "err", err)
		return
	}
	if st.UnknownKey > 0 {
		log.Error("Secrets are encrypted under keys this server's keyring does not hold, so it cannot read them; "+
			"copy the keyring file from the control plane that wrote them (every replica needs the same keys)",
			"secrets", st.UnknownKey, "keyring", s.keyring.Path())
	}
	if st.Plaintext > 0 {
		log.Warn("Secrets stored before encryption was on are unencrypted until written again; `skiff secrets-encryption rotate` encrypts them",
			"secrets", st.Plaintext)
	}
}
