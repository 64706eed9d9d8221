package containerd

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/runtimes"
)

// Module provides the *Driver, built from the Options the application
// supplies (fx.Supply(containerd.Options{...})), and also as a
// runtimes.Driver in the value group "drivers". The driver is closed on
// stop; its containers keep running.
var Module = fx.Module("runtimes.containerd",
	fx.Provide(newForFx),
	fx.Provide(fx.Annotate(
		func(d *Driver) runtimes.Driver { return d },
		fx.ResultTags(`group:"drivers"`),
	)),
)

type fxParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Options   Options
	Logger    *slog.Logger `optional:"true"`
}

func newForFx(p fxParams) (*Driver, error) {
	opts := p.Options
	if opts.Logger == nil && p.Logger != nil {
		opts.Logger = p.Logger.With("component", "runtimes.containerd")
	}
	d, err := New(opts)
	if err != nil {
		return nil, err
	}
	p.Lifecycle.Append(fx.StopHook(d.Close))
	return d, nil
}
