package web

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/controlplane/store"
)

// Module provides the API *Server, which listens on Options.Listen when
// the application starts and shuts down when it stops. It needs Options, a
// *store.Store and a *slog.Logger; LogSource and ArtifactStore are optional
// (their endpoints answer 503 without them).
var Module = fx.Module("web",
	fx.Provide(provide),
)

// Params are the server's dependencies in an fx graph.
type Params struct {
	fx.In

	Lifecycle fx.Lifecycle
	Options   Options
	Store     *store.Store
	Logs      LogSource     `optional:"true"`
	Artifacts ArtifactStore `optional:"true"`
	Log       *slog.Logger
}

func provide(p Params) *Server {
	s := New(p.Options, p.Store, p.Logs, p.Artifacts, p.Log)
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Shutdown})
	return s
}
