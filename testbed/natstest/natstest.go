// Package natstest starts real in-process NATS servers with JetStream for
// tests, as nats-server's own tests do: a free port (-1), a store under the
// test's temp dir, a wait until the server accepts clients, and shutdown
// when the test ends.
package natstest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/controlplane/natsserver"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Start runs an embedded NATS server with JetStream (fsync on, as in
// production) on a free port; it shuts down when the test ends.
func Start(t testing.TB) *server.Server {
	t.Helper()
	s, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Connect opens a client connection to s with JetStream, closed when the
// test ends.
func Connect(t testing.TB, s *server.Server, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// Keyring makes a secrets encryption keyring with one key in a file under
// the test's temp dir, as a control plane makes one on first start.
func Keyring(t testing.TB) *store.Keyring {
	t.Helper()
	k, err := store.OpenKeyring(filepath.Join(t.TempDir(), store.KeyringFile))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Store starts a server and returns a store over it (Secrets encrypted
// under a fresh Keyring, as in production), with the connection for tests
// that also speak NATS.
func Store(t testing.TB) (*store.Store, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, js := Connect(t, Start(t))
	st, err := store.Open(context.Background(), js, store.Options{Keyring: Keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	return st, nc, js
}
