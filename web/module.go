package web

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Module provides the API *Server, which listens on Options.Listen when
// the application starts and shuts down when it stops. It needs Options, a
// *store.Store, the *auth.Tokens every request is checked against, and a
// *slog.Logger; LogSource and ArtifactStore are optional (their endpoints
// answer 503 without them), and so is the process's *prometheus.Registry
// (without it there is no /metrics).
var Module = fx.Module("web",
	fx.Provide(provide),
)

// Params are the server's dependencies in an fx graph.
type Params struct {
	fx.In

	Lifecycle fx.Lifecycle
	Options   Options
	Store     *store.Store
	Tokens    *auth.Tokens
	Registry  *prometheus.Registry `optional:"true"`
	Logs      LogSource            `optional:"true"`
	Artifacts ArtifactStore        `optional:"true"`
	Log       *slog.Logger
}

func provide(p Params) *Server {
	opts := []ServerOption{WithAuth(p.Tokens)}
	if p.Registry != nil {
		opts = append(opts, WithMetrics(p.Registry))
	}
	s := New(p.Options, p.Store, p.Logs, p.Artifacts, p.Log, opts...)
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Shutdown})
	return s
}
