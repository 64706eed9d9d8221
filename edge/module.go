package edge

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/runtimes"
)

// Module provides the *Agent and runs it for the app's lifetime: OnStart
// starts Run in a goroutine, OnStop cancels it and waits. It needs an
// Options, the node's *nats.Conn (see Connect), a *slog.Logger and the
// drivers, each provided into the "drivers" value group, e.g.
//
//	fx.Provide(fx.Annotate(wasm.New, fx.As(new(runtimes.Driver)), fx.ResultTags(`group:"drivers"`)))
var Module = fx.Module("edge", fx.Provide(newAgentForFx))

// params are the Agent's dependencies in an fx app.
type params struct {
	fx.In
	Lifecycle fx.Lifecycle
	Options   Options
	Conn      *nats.Conn
	Drivers   []runtimes.Driver `group:"drivers"`
	Log       *slog.Logger
}

func newAgentForFx(p params) (*Agent, error) {
	a, err := New(p.Options, p.Conn, p.Drivers, p.Log)
	if err != nil {
		return nil, err
	}
	var (
		cancel context.CancelFunc
		done   chan struct{}
	)
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(context.Context) error {
			if err := a.prepare(); err != nil {
				return err
			}
			var ctx context.Context
			ctx, cancel = context.WithCancel(context.Background())
			done = make(chan struct{})
			go func() {
				defer close(done)
				if err := a.Run(ctx); err != nil {
					a.log.Error("agent stopped with an error", "err", err)
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			cancel()
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	return a, nil
}
