package natsserver_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/controlplane/natsserver"
	"github.com/skiff-sh/skiff/controlplane/pki"
)

func TestStartWithATakenPortSaysSoAtOnce(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()

	began := time.Now()
	s, err := natsserver.Start(natsserver.Options{Listen: addr, StoreDir: t.TempDir()}, nil)
	if err == nil {
		s.Shutdown()
		t.Fatalf("Start on taken %s succeeded", addr)
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Start on taken port: %q, want it to name %s and say the address is in use", err, addr)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Start took %v to fail on a taken port, want it to fail at once", took)
	}
}

func TestStartRefusesBadOptions(t *testing.T) {
	for _, tt := range []struct {
		give natsserver.Options
		want string
	}{
		{natsserver.Options{Listen: "4222", StoreDir: t.TempDir()}, "listen address"},
		{natsserver.Options{Listen: "127.0.0.1:http", StoreDir: t.TempDir()}, "port"},
		{natsserver.Options{Listen: "127.0.0.1:-1"}, "store dir"},
	} {
		s, err := natsserver.Start(tt.give, nil)
		if err == nil {
			s.Shutdown()
			t.Errorf("Start(%+v) succeeded", tt.give)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Start(%+v) = %q, want it to mention %q", tt.give, err, tt.want)
		}
	}
}

func TestStartWithAStoreDirThatIsAFileFailsNamingJetStream(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	s, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:-1", StoreDir: file}, nil)
	if err == nil {
		s.Shutdown()
		t.Fatal("Start with a file as store dir succeeded")
	}
	if !strings.Contains(err.Error(), "JetStream") {
		t.Errorf("Start = %q, want it to say JetStream could not start", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Start took %v to fail, want it to fail at once", took)
	}
}

func TestStartRunsJetStreamThatSyncsEveryWrite(t *testing.T) {
	dir := t.TempDir()
	s, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:-1", StoreDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	if !s.JetStreamEnabled() {
		t.Fatal("JetStream is off")
	}
	jc := s.JetStreamConfig()
	if !jc.SyncAlways {
		t.Error("JetStream SyncAlways is off: acknowledged writes can be lost on power failure")
	}
	if !strings.HasPrefix(jc.StoreDir, dir) {
		t.Errorf("JetStream store dir %q is not under %q", jc.StoreDir, dir)
	}

	// A client outside the process reaches it and can use JetStream.
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("JetStream account info: %v", err)
	}
}

func TestStartWithNoSyncTurnsSyncAlwaysOff(t *testing.T) {
	s, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:-1", StoreDir: t.TempDir(), NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	if s.JetStreamConfig().SyncAlways {
		t.Error("SyncAlways is on although NoSync was asked for")
	}
}

func testConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.NATS.Listen = "127.0.0.1:-1"
	return cfg
}

// serving makes the cluster CA and serving certificate under cfg's data
// dir, as the pki module does.
func serving(t *testing.T, cfg config.Config) (*pki.CA, *pki.Serving) {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(pki.Dir(cfg))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate(pki.ServerNames([]string{cfg.NATS.Listen}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return ca, &pki.Serving{Cert: cert}
}

func TestOpenEmbedsAServerUnderTheDataDir(t *testing.T) {
	cfg := testConfig(t)
	_, srv := serving(t, cfg)
	c, err := natsserver.Open(cfg, nil, srv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Server == nil {
		t.Fatal("Open without a URL embedded no server")
	}
	if !c.Server.JetStreamConfig().SyncAlways {
		t.Error("embedded server does not sync every write")
	}
	if sd := c.Server.JetStreamConfig().StoreDir; !strings.HasPrefix(sd, cfg.Path("jetstream")) {
		t.Errorf("store dir %q is not under %q", sd, cfg.Path("jetstream"))
	}
	if want := "tls://" + c.Server.Addr().String(); c.ClientURL != want {
		t.Errorf("ClientURL = %q, want %q", c.ClientURL, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "probe"}); err != nil {
		t.Fatalf("create a bucket through Open's JetStream: %v", err)
	}

	// Other processes reach it at ClientURL over TLS with the cluster CA,
	// and only with a credential: an anonymous client is refused.
	other, err := nats.Connect(c.ClientURL, nats.RootCAs(filepath.Join(pki.Dir(cfg), pki.CACertFile)))
	if err == nil {
		other.Close()
		t.Fatal("an anonymous client connected")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("anonymous connect: %v; want an authorization violation", err)
	}
	cred, err := c.Keys.ControlPlaneUser()
	if err != nil {
		t.Fatal(err)
	}
	other, err = nats.Connect(c.ClientURL, nats.RootCAs(filepath.Join(pki.Dir(cfg), pki.CACertFile)), nats.UserJWTAndSeed(cred.JWT, string(cred.Seed)))
	if err != nil {
		t.Fatalf("connect with a credential over TLS: %v", err)
	}
	other.Close()
	// Without TLS there is no connection at all.
	plain := "nats://" + c.Server.Addr().String()
	if nc, err := nats.Connect(plain, nats.UserJWTAndSeed(cred.JWT, string(cred.Seed))); err == nil {
		nc.Close()
		t.Fatalf("a client without TLS connected to %s", plain)
	}

	c.Close()
	if c.Server.Running() {
		t.Error("the embedded server still runs after Close")
	}
}

func TestOpenWithAnExternalURLEmbedsNoServer(t *testing.T) {
	ext, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ext.Shutdown)

	// The listen address is taken: embedding a server would fail.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := testConfig(t)
	cfg.NATS.URL = ext.ClientURL()
	cfg.NATS.Listen = l.Addr().String()

	_, srv := serving(t, cfg)
	c, err := natsserver.Open(cfg, nil, srv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Server != nil {
		t.Fatal("Open with an external URL embedded a server")
	}
	if c.ClientURL != ext.ClientURL() {
		t.Errorf("ClientURL = %q, want %q", c.ClientURL, ext.ClientURL())
	}
	if _, err := os.Stat(cfg.Path("jetstream")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open with an external URL touched %s: %v", cfg.Path("jetstream"), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "probe"}); err != nil {
		t.Fatal(err)
	}
	direct, err := nats.Connect(ext.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	djs, _ := jetstream.New(direct)
	if _, err := djs.KeyValue(ctx, "probe"); err != nil {
		t.Errorf("the bucket Open's client created is not on the external server: %v", err)
	}
}

func TestOpenWithAnUnreachableURLNamesIt(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + l.Addr().String()
	l.Close() // nothing listens there now

	cfg := testConfig(t)
	cfg.NATS.URL = url
	_, srv := serving(t, cfg)
	c, err := natsserver.Open(cfg, nil, srv)
	if err == nil {
		c.Close()
		t.Fatal("Open of an unreachable NATS succeeded")
	}
	if !strings.Contains(err.Error(), url) {
		t.Errorf("Open = %q, want it to name %s", err, url)
	}
}

func TestModuleProvidesConnectionsAndShutsTheServerDown(t *testing.T) {
	var c *natsserver.Conn
	var nc *nats.Conn
	var js jetstream.JetStream
	app := fxtest.New(t,
		fx.Supply(testConfig(t), slog.New(slog.DiscardHandler)),
		pki.Module,
		natsserver.Module,
		fx.Populate(&c, &nc, &js),
	)
	app.RequireStart()
	if c.Server == nil || nc != c.NC || js == nil {
		t.Fatalf("module gave conn %+v, nc %p, js %v", c, nc, js)
	}
	app.RequireStop()
	if c.Server.Running() || !nc.IsClosed() {
		t.Error("stopping the app left the server running or the connection open")
	}
}
