package natsauth_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/natsauth"
	"github.com/skiff-sh/skiff/controlplane/natsserver"
)

// env is an embedded server in operator mode (no TLS: these tests are
// about identities; TLS is tested with the whole control plane).
type env struct {
	keys *natsauth.Keys
	url  string
	cp   *nats.Conn
	ids  *natsauth.Identities
}

func start(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	keys, err := natsauth.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	op, _, err := keys.Operator()
	if err != nil {
		t.Fatal(err)
	}
	sysJWT, _ := keys.SystemAccountJWT()
	accJWT, _ := keys.AccountJWT(nil)
	var log *slog.Logger
	if os.Getenv("NATSAUTH_DEBUG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:-1", StoreDir: filepath.Join(dir, "js"), Auth: &natsserver.Auth{
		Operator: op, SystemAccount: keys.SystemAccount(), ResolverDir: filepath.Join(dir, "accounts"),
		Preload: map[string]string{keys.SystemAccount(): sysJWT, keys.Account(): accJWT},
	}}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	e := &env{keys: keys, url: s.ClientURL()}
	cred, _ := keys.ControlPlaneUser()
	e.cp = e.connect(t, cred.JWT, cred.Seed)
	sc, _ := keys.SystemUser()
	sys := e.connect(t, sc.JWT, sc.Seed)
	js, _ := jetstream.New(e.cp)
	ctx := context.Background()
	e.ids, err = natsauth.Open(ctx, keys, js, e.cp, sys, natsauth.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ids.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.ids.Stop(ctx) })
	return e
}

func (e *env) connect(t *testing.T, jwt string, seed []byte, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(e.url, append([]nats.Option{nats.UserJWTAndSeed(jwt, string(seed))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestNodeCredentialConnectsAndIsLimitedToItsSubjects(t *testing.T) {
	e := start(t)
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	tok, err := e.ids.IssueNode(context.Background(), "pi-01", pub, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	nc := e.connect(t, tok, seed, nats.CustomInboxPrefix(api.NodeInboxPrefix("pi-01")))
	if err := nc.Publish(api.AgentSubject("pi-01", "lease"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}
