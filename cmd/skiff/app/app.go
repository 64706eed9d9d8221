// Package app assembles Skiff's processes from the packages' fx modules:
// the server (control plane and REST API), the edge agent, and both in one
// process (`skiff up`). cmd/skiff and the testbed build their processes
// here, so a test cluster is wired exactly like a real one.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/controlplane"
	"github.com/skiff-sh/skiff/controlplane/artifacts"
	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/controlplane/dispatch"
	"github.com/skiff-sh/skiff/controlplane/events"
	"github.com/skiff-sh/skiff/controlplane/natsauth"
	"github.com/skiff-sh/skiff/controlplane/natsserver"
	"github.com/skiff-sh/skiff/controlplane/pki"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/edge"
	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/containerd"
	"github.com/skiff-sh/skiff/runtimes/hollow"
	"github.com/skiff-sh/skiff/runtimes/wasm"
	"github.com/skiff-sh/skiff/web"
)

// NewLogger returns the process logger: text on a terminal, JSON when
// cfg.LogFormat says so.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func common(cfg config.Config, log *slog.Logger) fx.Option {
	return fx.Options(
		fx.Supply(cfg, log),
		fx.WithLogger(func() fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: log.With("component", "fx")}
			l.UseLogLevel(slog.LevelDebug)
			return l
		}),
		fx.StartTimeout(30*time.Second),
		fx.StopTimeout(30*time.Second),
	)
}

// serverOptions are the control plane and the REST API.
func serverOptions(cfg config.Config) fx.Option {
	return fx.Options(
		controlplane.Module,
		fx.Supply(web.OptionsFrom(cfg.API)),
		fx.Provide(
			func(d *dispatch.Dispatcher) web.LogSource { return d },
			func(a *artifacts.Store) web.ArtifactStore { return a },
			func(r *events.Reader) web.EventSource { return r },
		),
		web.Module,
	)
}

// Server is a running control plane with its API.
type Server struct {
	app   *fx.App
	NATS  *natsserver.Conn
	API   *web.Server
	Store *store.Store
	// CA is the cluster CA the API and NATS certificates chain to.
	CA *pki.CA
	// Identities issues and revokes NATS identities (nil with an
	// external NATS).
	Identities *natsauth.Identities
	// tokens checks the API's bearer tokens.
	tokens *auth.Tokens
	// AdminToken is the server's admin token, kept in its data directory
	// (auth.AdminTokenFile, mode 0600) and made on first start.
	AdminToken string
}

// Agent is a running edge agent.
type Agent struct {
	app   *fx.App
	Agent *edge.Agent
	NC    *nats.Conn
}

// Up is a server and a local agent in one process.
type Up struct {
	Server
	Agent *edge.Agent
}

// Stop stops the process's components and waits for them.
func (s *Server) Stop(ctx context.Context) error { return s.app.Stop(ctx) }

// Stop stops the agent and waits for it.
func (a *Agent) Stop(ctx context.Context) error { return a.app.Stop(ctx) }

// Done is closed when the app receives a shutdown signal.
func (s *Server) Done() <-chan os.Signal { return s.app.Done() }

// Done is closed when the app receives a shutdown signal.
func (a *Agent) Done() <-chan os.Signal { return a.app.Done() }

// StartServer builds and starts the control plane and API.
func StartServer(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	s := &Server{}
	s.app = fx.New(serverGraph(cfg, log, s))
	if err := s.app.Start(ctx); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	if err := s.ensureAdminToken(ctx, cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// serverGraph is the whole server process; s receives its parts.
func serverGraph(cfg config.Config, log *slog.Logger, s *Server) fx.Option {
	return fx.Options(
		common(cfg, log),
		serverOptions(cfg),
		fx.Invoke(func(cp controlplane.ControlPlane, api *web.Server) {
			s.NATS, s.API, s.Store, s.tokens, s.CA, s.Identities = cp.NATS, api, cp.Store, cp.Tokens, cp.CA, cp.Identities
		}),
	)
}

// ensureAdminToken reads or makes the server's admin token; on failure it
// stops the server.
func (s *Server) ensureAdminToken(ctx context.Context, cfg config.Config) error {
	tok, err := s.tokens.EnsureAdminToken(ctx, cfg.Path(auth.AdminTokenFile))
	if err != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = s.app.Stop(sctx)
		return fmt.Errorf("start server: %w", err)
	}
	s.AdminToken = tok
	return nil
}

// StartUp builds and starts the server and a local agent connected to it
// in-process.
func StartUp(ctx context.Context, cfg config.Config, log *slog.Logger) (*Up, error) {
	u := &Up{}
	u.app = fx.New(upGraph(cfg, log, u))
	if err := u.app.Start(ctx); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	if err := u.ensureAdminToken(ctx, cfg); err != nil {
		return nil, err
	}
	return u, nil
}

// upGraph is the server and a local agent in one process; u receives its
// parts.
func upGraph(cfg config.Config, log *slog.Logger, u *Up) fx.Option {
	return fx.Options(
		common(cfg, log),
		serverOptions(cfg),
		fx.Provide(func(c *natsserver.Conn, ids *natsauth.Identities, ca *pki.CA) (agentConn, error) {
			var extra []nats.Option
			url := c.ClientURL
			if c.Server != nil {
				extra = append(extra, nats.InProcessServer(c.Server))
				url = c.InProcessURL
			}
			if ids != nil {
				id, err := localIdentity(ids, ca, cfg)
				if err != nil {
					return agentConn{}, err
				}
				extra = append(extra, nats.UserJWTAndSeed(id.JWT, string(id.Seed)))
			}
			nc, err := edge.Connect(url, cfg.Agent.NodeName, extra...)
			return agentConn{nc}, err
		}),
		agentOptions(cfg, agentSettings{}),
		fx.Invoke(func(cp controlplane.ControlPlane, api *web.Server, a *edge.Agent) {
			u.NATS, u.API, u.Store, u.Agent, u.tokens, u.CA, u.Identities = cp.NATS, api, cp.Store, a, cp.Tokens, cp.CA, cp.Identities
		}),
	)
}

// AgentOption changes how an agent is built.
type AgentOption func(*agentSettings)

type agentSettings struct{ hollow bool }

// Hollow makes the agent a hollow agent (Skiff's kubemark): the real agent
// code and NATS connection, with no-op runtimes for both wasm and
// containerd (runtimes/hollow). Only for scale tests and benchmarks.
func Hollow() AgentOption { return func(s *agentSettings) { s.hollow = true } }

// StartAgent builds and starts an edge agent that connects to
// cfg.Agent.NATSURL.
func StartAgent(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...AgentOption) (*Agent, error) {
	var set agentSettings
	for _, o := range opts {
		o(&set)
	}
	a := &Agent{}
	a.app = fx.New(agentGraph(cfg, log, set, a))
	if err := a.app.Start(ctx); err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	return a, nil
}

// agentGraph is an agent process that connects to cfg.Agent.NATSURL; a
// receives its parts.
func agentGraph(cfg config.Config, log *slog.Logger, set agentSettings, a *Agent) fx.Option {
	return fx.Options(
		common(cfg, log),
		fx.Provide(func() (agentConn, error) {
			nc, err := connectAgent(cfg, log)
			return agentConn{nc}, err
		}),
		fx.Provide(func(c agentConn) *nats.Conn { return c.Conn }),
		agentOptions(cfg, set),
		fx.Invoke(func(ag *edge.Agent, c agentConn) { a.Agent, a.NC = ag, c.Conn }),
	)
}

// localIdentity is the identity of `skiff up`'s own agent: kept in its
// data dir like a joined agent's, issued directly by the control plane in
// the same process on first start (no join token needed).
func localIdentity(ids *natsauth.Identities, ca *pki.CA, cfg config.Config) (*edge.Identity, error) {
	dir := edge.IdentityDir(cfg.Path("agent"))
	id, err := edge.LoadIdentity(dir)
	if err != nil {
		return nil, err
	}
	if id != nil && id.NodeName == cfg.Agent.NodeName && pki.PEMEqual(id.CAPEM, ca.PEM) {
		return id, nil
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if id != nil {
		// Renamed, or a new CA: the old identity is void.
		_ = ids.RevokeNode(ctx, id.NodeName)
	}
	tok, err := ids.IssueNode(ctx, cfg.Agent.NodeName, pub, "", cfg.Agent.Labels)
	if errors.Is(err, natsauth.ErrAlreadyExists) {
		// The identity on disk was lost: replace the recorded one.
		if err = ids.RevokeNode(ctx, cfg.Agent.NodeName); err == nil {
			tok, err = ids.IssueNode(ctx, cfg.Agent.NodeName, pub, "", cfg.Agent.Labels)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("local agent identity: %w", err)
	}
	id = &edge.Identity{NodeName: cfg.Agent.NodeName, JWT: tok, Seed: seed, CAPEM: ca.PEM}
	if err := id.Save(dir); err != nil {
		return nil, err
	}
	return id, nil
}

// connectAgent connects a standalone agent: with its identity from its
// data dir, or, on first start, with the identity it gets by joining with
// cfg.Agent.JoinToken. Without either it connects without credentials,
// which only a NATS that accepts anonymous clients allows.
func connectAgent(cfg config.Config, log *slog.Logger) (*nats.Conn, error) {
	dir := edge.IdentityDir(cfg.Path("agent"))
	id, err := edge.LoadIdentity(dir)
	if err != nil {
		return nil, err
	}
	if id != nil && id.NodeName != cfg.Agent.NodeName {
		return nil, fmt.Errorf("this agent's identity (%s) is node %q, not %q: keep the name, or remove %s and join again with a new token",
			dir, id.NodeName, cfg.Agent.NodeName, dir)
	}
	if id == nil && cfg.Agent.JoinToken != "" {
		tok, err := api.ParseJoinToken(cfg.Agent.JoinToken)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		start := time.Now()
		if id, err = edge.Join(ctx, cfg.Agent.NATSURL, tok, cfg.Agent.NodeName, cfg.Agent.Labels); err != nil {
			return nil, err
		}
		if err := id.Save(dir); err != nil {
			return nil, err
		}
		log.Info("joined the cluster", "node", cfg.Agent.NodeName, "identity", dir, "took", time.Since(start).Round(time.Millisecond))
	}
	var opts []nats.Option
	if id != nil {
		if opts, err = id.NATSOptions(); err != nil {
			return nil, err
		}
	} else {
		log.Warn("this agent has no identity and no join token: connecting without credentials, which only a NATS that accepts anonymous clients allows; join with --token from `skiff token create --join`")
	}
	refused := func(err error) {
		if e := strings.ToLower(err.Error()); strings.Contains(e, "authorization") || strings.Contains(e, "revoked") {
			log.Error("the control plane's NATS refused this node's credential: it was revoked (skiff node revoke), or the cluster was made anew; remove "+dir+" and join again with a new token", "err", err)
			return
		}
		log.Warn("nats", "err", err)
	}
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { refused(err) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				refused(err)
			}
		}))
	return edge.Connect(cfg.Agent.NATSURL, cfg.Agent.NodeName, opts...)
}

// agentConn is the agent's own NATS connection (core NATS, its own inbox
// prefix), kept apart from the control plane's in the fx graph.
type agentConn struct{ *nats.Conn }

// agentOptions are the edge agent. It runs in its own fx module whose
// *nats.Conn is the agent's connection (decorated from agentConn), so in
// `skiff up` the agent never uses the control plane's connection.
func agentOptions(cfg config.Config, set agentSettings) fx.Option {
	return fx.Module("agent",
		fx.Decorate(func(c agentConn) *nats.Conn { return c.Conn }),
		fx.Decorate(func(log *slog.Logger) *slog.Logger {
			return log.With("component", "agent")
		}),
		fx.Supply(edge.Options{
			NodeName:       cfg.Agent.NodeName,
			DataDir:        cfg.Path("agent"),
			Labels:         cfg.Agent.Labels,
			LeaseInterval:  cfg.Agent.LeaseInterval,
			ResyncInterval: cfg.Agent.ResyncInterval,
			RestartBackoff: cfg.Agent.RestartBackoff,
			HostPathAllow:  cfg.Agent.HostPathAllow,
		}),
		drivers(cfg, set),
		// The connection closes after the agent stopped (hooks stop in
		// reverse order), so its last status reports still go out.
		fx.Invoke(func(lc fx.Lifecycle, c agentConn) {
			lc.Append(fx.Hook{OnStop: func(context.Context) error { _ = c.FlushTimeout(time.Second); c.Close(); return nil }})
		}),
		edge.Module,
	)
}

// drivers provides the agent's runtimes into the "drivers" group: Wasm
// unless turned off, containerd when enabled (see containerdDriver).
func drivers(cfg config.Config, set agentSettings) fx.Option {
	group := fx.ResultTags(`group:"drivers"`)
	if set.hollow {
		return fx.Provide(
			fx.Annotate(func() runtimes.Driver { return hollow.New(api.RuntimeClassWasm) }, group),
			fx.Annotate(func() runtimes.Driver { return hollow.New(containerd.DriverName) }, group),
		)
	}
	var opts []fx.Option
	if cfg.Agent.WasmEnabled() {
		opts = append(opts, fx.Provide(fx.Annotate(func(lc fx.Lifecycle, log *slog.Logger) (runtimes.Driver, error) {
			d, err := wasm.New(wasm.Options{
				CacheDir:                cfg.Path("agent", "wasm-cache"),
				Logger:                  log.With("runtime", "wasm"),
				DefaultMemoryLimitBytes: cfg.Agent.WasmDefaultMemoryLimitBytes(),
			})
			if err != nil {
				return nil, err
			}
			lc.Append(fx.Hook{OnStop: d.Close})
			return d, nil
		}, group)))
	}
	opts = append(opts, fx.Provide(fx.Annotate(func(lc fx.Lifecycle, log *slog.Logger) (runtimes.Driver, error) {
		return containerdDriver(cfg.Agent, lc, log)
	}, group)))
	return fx.Options(opts...)
}

// containerdDriver connects the containerd driver, or returns nil (which
// the agent skips) when containerd is off. Turned on explicitly, a daemon
// that does not answer stops the agent from starting; left to the default,
// it is used when its socket is there, and a socket that does not answer
// leaves the node without containers rather than without an agent.
func containerdDriver(ac config.AgentConfig, lc fx.Lifecycle, log *slog.Logger) (runtimes.Driver, error) {
	sock, ns := ac.ContainerdSocketOrDefault(), ac.ContainerdNamespaceOrDefault()
	enabled, explicit := ac.ContainerdMode()
	if !enabled {
		if explicit {
			log.Info("container runtime off (agent.containerd is false)")
		} else {
			log.Info("container runtime off: no containerd socket; start containerd or set --containerd-socket",
				"socket", sock)
		}
		return nil, nil
	}
	d, err := containerd.New(containerd.Options{
		Address:     sock,
		Namespace:   ns,
		Snapshotter: ac.ContainerdSnapshotter,
		Logger:      log.With("runtime", "containerd"),
	})
	if err != nil {
		if explicit {
			return nil, fmt.Errorf("container runtime (agent.containerd is true): %w", err)
		}
		log.Warn("container runtime off: containerd does not answer", "socket", sock, "err", err)
		return nil, nil
	}
	lc.Append(fx.StopHook(d.Close))
	log.Info("container runtime on", "socket", sock, "namespace", ns)
	return d, nil
}
