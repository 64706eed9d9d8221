package natsserver

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
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
}

// Close flushes and closes the connection and shuts the embedded server down.
func (c *Conn) Close() {
	if c.NC != nil {
		_ = c.NC.FlushTimeout(time.Second) // deliver what was published
		c.NC.Close()
	}
	if c.Server != nil {
		c.Server.Shutdown()
		c.Server.WaitForShutdown()
	}
}

// Open starts the embedded server (unless cfg.NATS.URL names an external
// one) and connects to it. In-process clients use an in-process
// connection, which skips the TCP stack.
func Open(cfg config.Config, log *slog.Logger) (*Conn, error) {
	c := &Conn{}
	opts := []nats.Option{nats.Name("skiff-controlplane"), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	if cfg.NATS.URL != "" {
		c.ClientURL = cfg.NATS.URL
	} else {
		s, err := Start(Options{Listen: cfg.NATS.Listen, StoreDir: cfg.Path("jetstream"), NoSync: cfg.NATS.NoSync}, log)
		if err != nil {
			return nil, err
		}
		c.Server, c.ClientURL = s, s.ClientURL()
		opts = append(opts, nats.InProcessServer(s))
	}
	nc, err := nats.Connect(c.ClientURL, opts...)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("connect to NATS at %s: %w", c.ClientURL, err)
	}
	c.NC = nc
	js, err := jetstream.New(nc)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	c.JS = js
	return c, nil
}

// Module provides *Conn, *nats.Conn and jetstream.JetStream; the server
// shuts down when the app stops.
var Module = fx.Module("nats",
	fx.Provide(func(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) (*Conn, error) {
		c, err := Open(cfg, log)
		if err != nil {
			return nil, err
		}
		lc.Append(fx.Hook{OnStop: func(context.Context) error { c.Close(); return nil }})
		return c, nil
	}),
	fx.Provide(func(c *Conn) *nats.Conn { return c.NC }),
	fx.Provide(func(c *Conn) jetstream.JetStream { return c.JS }),
)
