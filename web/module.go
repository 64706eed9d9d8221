package web

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/controlplane/natsauth"
	"github.com/skiff-sh/skiff/controlplane/pki"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Module provides the API *Server, which listens on Options.Listen when
// the application starts and shuts down when it stops. It needs Options, a
// *store.Store, the *auth.Tokens every request is checked against, and a
// *slog.Logger; LogSource, ArtifactStore and EventSource are optional
// (their endpoints answer 503 without them), and so is the process's *prometheus.Registry
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
	Events    EventSource          `optional:"true"`
	// Identities, when there, serves join tokens, node revocation and
	// events credentials.
	Identities *natsauth.Identities `optional:"true"`
	// Serving, when there, makes the API serve HTTPS with it.
	Serving *pki.Serving `optional:"true"`
	Log     *slog.Logger
}

func provide(p Params) *Server {
	opts := []ServerOption{WithAuth(p.Tokens)}
	if p.Registry != nil {
		opts = append(opts, WithMetrics(p.Registry))
	}
	if p.Identities != nil {
		opts = append(opts, WithIdentities(p.Identities))
	}
	if p.Events != nil {
		opts = append(opts, WithEvents(p.Events))
	}
	o := p.Options
	if p.Serving != nil {
		o.TLS = p.Serving.TLSConfig()
	}
	s := New(o, p.Store, p.Logs, p.Artifacts, p.Log, opts...)
	p.Lifecycle.Append(fx.Hook{OnStart: s.Start, OnStop: s.Shutdown})
	return s
}
