package app

import (
	"io"
	"log/slog"
	"testing"

	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
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
	graphs := map[string]fx.Option{
		"server":       serverGraph(cfg, log, &Server{}),
		"up":           upGraph(cfg, log, &Up{}),
		"agent":        agentGraph(cfg, log, agentSettings{}, &Agent{}),
		"agent-plain":  agentGraph(noContainerd, log, agentSettings{}, &Agent{}),
		"agent-hollow": agentGraph(cfg, log, agentSettings{hollow: true}, &Agent{}),
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
