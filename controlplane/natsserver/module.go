package natsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/controlplane/natsauth"
	"github.com/skiff-sh/skiff/controlplane/pki"
)

// Conn is the control plane's connection to NATS: to the embedded server
// it started, or to an external NATS.
type Conn struct {
	// Server is the embedded server, nil with an external NATS.
	Server *server.Server
	NC     *nats.Conn
	JS     jetstream.JetStream
	// ClientURL is where other processes (agents, the NATS CLI) connect.
	ClientURL string
	// InProcessURL names the embedded server for in-process connections
	// (nats.InProcessServer), which need no TLS; "" with an external NATS.
	InProcessURL string
	// Keys are the NATS trust (operator, accounts, signing keys): the
	// embedded server runs in operator mode with them, and an external
	// NATS does when it was set up with `skiff nats server-config`; nil
	// with an external NATS whose trust is its operator's alone.
	Keys *natsauth.Keys
	// System is a connection as the SYS account's user, for pushing
	// account updates; nil when Keys is nil.
	System *nats.Conn
}

// Close flushes and closes the connections and shuts the embedded server down.
func (c *Conn) Close() {
	for _, nc := range []*nats.Conn{c.NC, c.System} {
		if nc != nil {
			_ = nc.FlushTimeout(time.Second) // deliver what was published
			nc.Close()
		}
	}
	if c.Server != nil {
		c.Server.Shutdown()
		c.Server.WaitForShutdown()
	}
}

// Open starts the embedded server (unless cfg.NATS.URL names an external
// one) and connects to it. The embedded server requires TLS (serving)
// of TCP clients and runs in operator mode with the keys kept in the PKI
// directory, made on first start (docs/security.md); with cfg.Insecure
// (benchmarks only) it has neither, Keys is nil and so no identities are
// issued. In-process clients use an in-process connection, which skips
// the TCP stack.
func Open(cfg config.Config, log *slog.Logger, serving *pki.Serving) (*Conn, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Conn{}
	opts := []nats.Option{nats.Name("skiff-controlplane"), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	var sysOpts []nats.Option
	if cfg.NATS.URL != "" {
		c.ClientURL = cfg.NATS.URL
		// An external NATS set up with this control plane's trust
		// (`skiff nats server-config`): connect with its own credential over
		// TLS with the cluster CA, and issue identities as with the
		// embedded server. Without the keys, the external NATS's trust is
		// its operator's alone.
		keys, err := natsauth.LoadKeys(pki.Dir(cfg))
		if err != nil {
			return nil, err
		}
		if keys != nil {
			cp, err := keys.ControlPlaneUser()
			if err != nil {
				return nil, err
			}
			sys, err := keys.SystemUser()
			if err != nil {
				return nil, err
			}
			ca := nats.RootCAs(filepath.Join(pki.Dir(cfg), pki.CACertFile))
			c.Keys = keys
			opts = append(opts, ca, nats.UserJWTAndSeed(cp.JWT, string(cp.Seed)))
			sysOpts = []nats.Option{nats.Name("skiff-controlplane-system"), ca,
				nats.UserJWTAndSeed(sys.JWT, string(sys.Seed)), nats.MaxReconnects(-1)}
		}
	} else if cfg.Insecure {
		// Benchmarks of the cost of security only (config.Validate allows
		// it on loopback addresses alone): no TLS, no operator mode, no
		// identities; every client connects anonymously.
		log.Warn("insecure (benchmarks only): the API and NATS serve without TLS and NATS without authentication; anyone who reaches "+
			cfg.NATS.Listen+" or "+cfg.API.Listen+" owns the cluster", "nats", cfg.NATS.Listen, "api", cfg.API.Listen)
		s, err := Start(Options{Listen: cfg.NATS.Listen, StoreDir: cfg.Path("jetstream"), NoSync: cfg.NATS.NoSync}, log)
		if err != nil {
			return nil, err
		}
		c.Server, c.ClientURL, c.InProcessURL = s, "nats://"+hostPort(s), "nats://"+hostPort(s)
		opts = append(opts, nats.InProcessServer(s))
	} else {
		if serving == nil {
			return nil, errors.New("nats: the embedded server needs a serving certificate")
		}
		keys, err := natsauth.LoadOrCreateKeys(pki.Dir(cfg))
		if err != nil {
			return nil, err
		}
		op, _, err := keys.Operator()
		if err != nil {
			return nil, err
		}
		sysJWT, err := keys.SystemAccountJWT()
		if err != nil {
			return nil, err
		}
		accJWT, err := keys.AccountJWT(nil)
		if err != nil {
			return nil, err
		}
		s, err := Start(Options{
			Listen: cfg.NATS.Listen, StoreDir: cfg.Path("jetstream"), NoSync: cfg.NATS.NoSync,
			TLS: serving.TLSConfig(),
			Auth: &Auth{
				Operator: op, SystemAccount: keys.SystemAccount(), ResolverDir: cfg.Path("pki", "accounts"),
				Preload: map[string]string{keys.SystemAccount(): sysJWT, keys.Account(): accJWT},
			},
		}, log)
		if err != nil {
			return nil, err
		}
		c.Server, c.ClientURL, c.InProcessURL, c.Keys = s, "tls://"+hostPort(s), "nats://"+hostPort(s), keys
		cp, err := keys.ControlPlaneUser()
		if err != nil {
			c.Close()
			return nil, err
		}
		sys, err := keys.SystemUser()
		if err != nil {
			c.Close()
			return nil, err
		}
		opts = append(opts, nats.InProcessServer(s), nats.UserJWTAndSeed(cp.JWT, string(cp.Seed)))
		sysOpts = []nats.Option{nats.Name("skiff-controlplane-system"), nats.InProcessServer(s),
			nats.UserJWTAndSeed(sys.JWT, string(sys.Seed)), nats.MaxReconnects(-1)}
	}
	url := c.ClientURL
	if c.InProcessURL != "" {
		url = c.InProcessURL
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("connect to NATS at %s: %w", c.ClientURL, err)
	}
	c.NC = nc
	if sysOpts != nil {
		if c.System, err = nats.Connect(url, sysOpts...); err != nil {
			c.Close()
			return nil, fmt.Errorf("connect to NATS at %s as the system user: %w", c.ClientURL, err)
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	c.JS = js
	return c, nil
}

// hostPort is the server's client address without a scheme.
func hostPort(s *server.Server) string {
	a := s.Addr()
	if a == nil {
		return ""
	}
	return a.String()
}

// Module provides *Conn, *nats.Conn and jetstream.JetStream; the server
// shuts down when the app stops.
var Module = fx.Module("nats",
	fx.Provide(func(lc fx.Lifecycle, cfg config.Config, log *slog.Logger, serving *pki.Serving) (*Conn, error) {
		c, err := Open(cfg, log, serving)
		if err != nil {
			return nil, err
		}
		lc.Append(fx.Hook{OnStop: func(context.Context) error { c.Close(); return nil }})
		return c, nil
	}),
	fx.Provide(func(c *Conn) *nats.Conn { return c.NC }),
	fx.Provide(func(c *Conn) jetstream.JetStream { return c.JS }),
)
