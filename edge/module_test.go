package edge

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/runtimes"
)

func TestModuleRunsAgentForTheAppsLifetime(t *testing.T) {
	e := newEnv(t)
	nc, err := Connect(e.srv.ClientURL(), testNode)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	d := newFakeDriver("wasm")
	var a *Agent
	app := fxtest.New(t,
		fx.Supply(e.options(), nc, slog.New(slog.DiscardHandler)),
		fx.Provide(fx.Annotate(func() runtimes.Driver { return d }, fx.ResultTags(`group:"drivers"`))),
		Module,
		fx.Populate(&a),
	)
	app.RequireStart()
	waitFor(t, "the agent to register", func() bool {
		e.cp.mu.Lock()
		defer e.cp.mu.Unlock()
		return len(e.cp.registrations) > 0
	})
	if !a.running.Load() {
		t.Error("agent is not running after start")
	}
	app.RequireStop()
	if a.running.Load() {
		t.Error("agent still runs after stop")
	}
	if _, err := e.cp.nc.Request(api.NodeLogsSubject(testNode), []byte("{}"), 2*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("log request after stop: err %v, want no responders", err)
	}
}
