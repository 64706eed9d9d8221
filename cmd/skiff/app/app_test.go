package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/edge"
)

// TestEveryProcessGraphIsComplete checks the fx wiring of each process
// without starting anything: every dependency is provided, none twice.
func TestEveryProcessGraphIsComplete(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Agent.NATSURL = "nats://127.0.0.1:4222"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	off := false
	noContainerd := cfg
	noContainerd.Agent.Containerd = &off
	insecure := cfg
	insecure.Insecure = true
	graphs := map[string]fx.Option{
		"server":          serverGraph(cfg, log, &Server{}),
		"up":              upGraph(cfg, log, &Up{}),
		"server-insecure": serverGraph(insecure, log, &Server{}),
		"up-insecure":     upGraph(insecure, log, &Up{}),
		"agent":           agentGraph(cfg, log, agentSettings{}, &Agent{}),
		"agent-plain":     agentGraph(noContainerd, log, agentSettings{}, &Agent{}),
		"agent-hollow":    agentGraph(cfg, log, agentSettings{hollow: true}, &Agent{}),
	}
	// The check can fail: nothing in this graph provides a *Server.
	if err := fx.ValidateApp(common(cfg, log), fx.Invoke(func(*Server) {})); err == nil {
		t.Fatal("ValidateApp accepted a graph with a missing dependency")
	}
	for name, g := range graphs {
		t.Run(name, func(t *testing.T) {
			if err := fx.ValidateApp(g); err != nil {
				t.Fatalf("%s wiring: %v", name, err)
			}
		})
	}
}

// TestServerRefusesAKeyringOthersCanRead: a secrets encryption keyring
// that group or others may read stops the server from starting, and the
// error says how to fix it.
func TestServerRefusesAKeyringOthersCanRead(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.API.Listen = "127.0.0.1:0"
	cfg.NATS.Listen = "127.0.0.1:-1"
	path := cfg.Path(store.KeyringFile)
	if _, err := store.OpenKeyring(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s, err := StartServer(ctx, cfg, log)
	if err == nil {
		_ = s.Stop(context.Background())
		t.Fatal("the server started with a keyring of mode 0644")
	}
	if !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("start: %v, want an error saying chmod 600 %s", err, path)
	}

	// Fixed as the error says, the server starts and reads its keyring.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = StartServer(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Stop(context.Background()) }()
	st, err := s.Store.SecretsEncryptionStatus(ctx)
	if err != nil || st.Provider != api.SecretsEncryptionProvider || len(st.Keys) != 1 {
		t.Fatalf("status = %+v, %v", st, err)
	}
}

// TestInsecureUpRunsItsAgentWithoutCredentials: `skiff up` with config
// Insecure (benchmarks only) serves plain HTTP, issues no identities, and
// its own agent connects in-process without credentials and registers.
func TestInsecureUpRunsItsAgentWithoutCredentials(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.API.Listen = "127.0.0.1:0"
	cfg.NATS.Listen = "127.0.0.1:-1"
	cfg.NATS.NoSync = true
	cfg.Agent.NodeName = "local"
	off := false
	cfg.Agent.Containerd = &off
	cfg.Insecure = true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	u, err := StartUp(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = u.Stop(context.Background()) }()
	if u.Identities != nil {
		t.Error("an insecure `up` runs the identity service, want none")
	}
	if url := u.API.URL(); !strings.HasPrefix(url, "http://") {
		t.Errorf("API at %s, want plain http://", url)
	}
	if _, err := os.Stat(edge.IdentityDir(cfg.Path("agent"))); !os.IsNotExist(err) {
		t.Errorf("the local agent has an identity directory (%v), want none", err)
	}
	nodes, _ := api.LookupKind("Node")
	for {
		if _, err := u.Store.GetObject(ctx, nodes, "", "local"); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the local agent did not register within 60s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
