package testbed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/cmd/skiff/app"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/web/client"
)

// ClusterOptions shape an in-process cluster.
type ClusterOptions struct {
	// Dir holds all state; each component gets its own subdirectory.
	Dir string
	// Agents is how many agents join over TCP, each as its own fx app
	// with its own data dir, named node-1, node-2, …
	Agents int
	// Log receives every component's log; nil discards it.
	Log io.Writer
	// NoSync turns off fsync in the embedded NATS (benchmarks may compare).
	NoSync bool
	// Configure may change each config before it is used.
	Configure func(*config.Config)
	// Hollow makes the agents hollow agents (real agent code and NATS
	// connection, no-op runtimes), for scale tests.
	Hollow bool
}

// Cluster is a control plane with its API and some agents, in-process.
type Cluster struct {
	Server *app.Server
	Agents []*app.Agent
	// Client talks to the API with Token.
	Client *client.Client
	// Token is the server's admin token, for tests that send requests of
	// their own ("Authorization: Bearer <Token>").
	Token string
	opts  ClusterOptions
	// joinToken lets the cluster's agents join (made with the first).
	joinToken string
}

// StartCluster starts a server and opts.Agents agents and waits until every
// agent's node is registered and Ready.
func StartCluster(ctx context.Context, opts ClusterOptions) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("testbed: ClusterOptions.Dir is required")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if opts.Log != nil {
		log = slog.New(slog.NewTextHandler(opts.Log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg := config.Default()
	cfg.DataDir = filepath.Join(opts.Dir, "server")
	cfg.API.Listen = "127.0.0.1:0"
	cfg.NATS.Listen = "127.0.0.1:-1"
	cfg.NATS.NoSync = opts.NoSync
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	srv, err := app.StartServer(ctx, cfg, log.With("proc", "server"))
	if err != nil {
		return nil, err
	}
	c := &Cluster{Server: srv, Client: client.New(srv.API.URL(), client.WithToken(srv.AdminToken), client.WithCA(srv.CA.PEM)), Token: srv.AdminToken, opts: opts}
	for i := 1; i <= opts.Agents; i++ {
		if _, err := c.AddAgent(ctx, fmt.Sprintf("node-%d", i), log); err != nil {
			_ = c.Stop(context.Background())
			return nil, err
		}
	}
	if err := c.WaitNodesReady(ctx, opts.Agents); err != nil {
		_ = c.Stop(context.Background())
		return nil, err
	}
	return c, nil
}

// AddAgent starts one more agent named node.
func (c *Cluster) AddAgent(ctx context.Context, node string, log *slog.Logger) (*app.Agent, error) {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(c.opts.Dir, node)
	cfg.Agent.NodeName = node
	cfg.Agent.NATSURL = c.Server.NATS.ClientURL
	tok, err := c.JoinToken(ctx)
	if err != nil {
		return nil, err
	}
	cfg.Agent.JoinToken = tok
	// A test cluster never uses the host's containerd by accident: tests
	// that run containers point Configure at their own private daemon.
	off := false
	cfg.Agent.Containerd = &off
	if c.opts.Configure != nil {
		c.opts.Configure(&cfg)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var opts []app.AgentOption
	if c.opts.Hollow {
		opts = append(opts, app.Hollow())
	}
	a, err := app.StartAgent(ctx, cfg, log.With("proc", node), opts...)
	if err != nil {
		return nil, err
	}
	c.Agents = append(c.Agents, a)
	return a, nil
}

// JoinToken is a join token of the cluster (the same for every agent),
// made on first use; "" when the server has no identity service.
func (c *Cluster) JoinToken(ctx context.Context) (string, error) {
	if c.joinToken != "" || c.Server.Identities == nil {
		return c.joinToken, nil
	}
	info, err := c.Server.Identities.CreateJoinToken(ctx, api.JoinTokenRequest{Name: "testbed"})
	if err != nil {
		return "", fmt.Errorf("testbed: join token: %w", err)
	}
	c.joinToken = info.Token
	return c.joinToken, nil
}

// WaitNodesReady polls the API until n nodes are Ready.
func (c *Cluster) WaitNodesReady(ctx context.Context, n int) error {
	return Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		nodes, err := c.Client.ListNodes(ctx)
		if err != nil {
			return false, nil
		}
		ready := 0
		for _, nd := range nodes {
			if nd.IsReady() {
				ready++
			}
		}
		return ready >= n, nil
	})
}

// Stop stops the agents, then the server.
func (c *Cluster) Stop(ctx context.Context) error {
	var errs []error
	for _, a := range c.Agents {
		errs = append(errs, a.Stop(ctx))
	}
	errs = append(errs, c.Server.Stop(ctx))
	return errors.Join(errs...)
}

// Poll calls cond every interval until it returns true, returns an error,
// or timeout passes (then it returns an error saying so).
func Poll(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("condition not met within %s", timeout)
		case <-t.C:
		}
	}
}

// TempDir makes a directory for a cluster outside tests (benchmarks); the
// caller removes it.
func TempDir(prefix string) (string, error) { return os.MkdirTemp("", prefix) }

// AgentDataDir is where the agent named node keeps its local state.
func (c *Cluster) AgentDataDir(node string) string {
	cfg := config.Config{DataDir: filepath.Join(c.opts.Dir, node)}
	return cfg.Path("agent")
}

// HTTPClient is an HTTP client that checks servers against the CA in
// caPEM (the cluster CA), for tests that send requests of their own.
func HTTPClient(caPEM []byte) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}
}

// HTTPClient checks the cluster's API against its CA.
func (c *Cluster) HTTPClient() *http.Client { return HTTPClient(c.Server.CA.PEM) }
