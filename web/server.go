package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// LogSource reads a pod's container log from the node that runs it. It
// returns an error wrapping api.ErrNodeUnreachable when the node does not
// answer and store.ErrNotFound when the node does not know the pod or
// container.
type LogSource interface {
	PodLogs(ctx context.Context, pod *api.Pod, req api.LogRequest) ([]byte, error)
}

// ArtifactStore keeps uploaded Wasm modules. PutArtifact returns the
// module's digest ("sha256:<hex>") and size, or an error wrapping
// api.ErrInvalidArtifact when the body is not a Wasm module.
type ArtifactStore interface {
	PutArtifact(ctx context.Context, r io.Reader) (digest string, size int64, err error)
}

// DefaultMaxBodyBytes caps request bodies when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 8 << 20

// Options configure the server.
type Options struct {
	// Listen is host:port; port 0 picks a free port (see Server.Addr).
	Listen string
	// MaxBodyBytes caps request bodies, uploads included; larger bodies
	// get 413. 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// WatchBookmarkInterval is how often a watch that asked for bookmarks
	// (allowWatchBookmarks=true) gets one when its resourceVersion moved.
	// 0 means DefaultWatchBookmarkInterval.
	WatchBookmarkInterval time.Duration
	// MaxListsInFlight bounds how many lists read the store at once; the
	// others wait their turn (or until their client gives up). A list reads
	// every object of its kind and namespace, so many large lists at once
	// would make the store's own requests time out. 0 means
	// DefaultMaxListsInFlight.
	MaxListsInFlight int
	// TLS, when set, serves HTTPS only (the control plane always sets it;
	// package tests may leave it out).
	TLS *tls.Config
}

// DefaultMaxListsInFlight is Options.MaxListsInFlight when unset: four per
// CPU, at least eight.
func DefaultMaxListsInFlight() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

// DefaultWatchBookmarkInterval is Options.WatchBookmarkInterval when unset.
const DefaultWatchBookmarkInterval = 30 * time.Second

// OptionsFrom takes the server's options from the API section of the
// configuration.
func OptionsFrom(c config.APIConfig) Options {
	return Options{Listen: c.Listen, MaxBodyBytes: c.MaxBodyBytes}
}

// ServerOption adds an optional part to the server.
type ServerOption func(*Server)

// WithAuth makes every request but /healthz, /metrics and the dashboard's
// page and assets need a bearer token that tokens accepts and that may do
// what the request asks (auth.Authorize), and serves the token endpoints
// (api.TokensPath, api.WhoAmIPath). Without it the server has no
// authentication at all: for tests, and only behind another gate.
func WithAuth(tokens *auth.Tokens) ServerOption {
	return func(s *Server) { s.tokens = tokens }
}

// WithMetrics registers the API's metrics on reg and serves everything reg
// gathers at /metrics for Prometheus. reg is the process's one registry.
func WithMetrics(reg *prometheus.Registry) ServerOption {
	return func(s *Server) { s.registry = reg }
}

// Server is the REST API server. Build it with New; serve it with Start and
// Shutdown, or mount Handler in an http.Server or httptest.Server.
type Server struct {
	identities Identities // nil: join tokens, node revocation and events credentials answer 503
	opts       Options
	store      *store.Store
	logs       LogSource
	artifacts  ArtifactStore
	events     EventSource // nil: the events endpoints answer 503
	log        *slog.Logger
	echo       *echo.Echo
	now        func() time.Time
	tokens     *auth.Tokens         // nil: no authentication
	registry   *prometheus.Registry // nil: no /metrics
	metrics    *apiMetrics          // nil without registry
	openAPI    openAPIDoc
	// lists holds a slot per list reading the store (MaxListsInFlight).
	lists chan struct{}
	// quotas is a watched copy of the ResourceQuotas for admission, so a
	// pod create does not list them from the store; until it has synced
	// (or without Start) admission reads the store.
	quotas *informer.Informer[*api.ResourceQuota]

	// watchCtx ends every watch stream when the server shuts down, so
	// that Shutdown does not wait for long-lived responses.
	watchCtx    context.Context
	stopWatches context.CancelFunc

	mu      sync.Mutex
	httpSrv *http.Server
	addr    net.Addr
	served  chan struct{} // closed when the serve goroutine returns
}

// New builds the server and its routes. logs and artifacts may be nil: the
// log and upload endpoints then answer 503. Without WithAuth the server
// needs no token (and says so in its log).
func New(opts Options, st *store.Store, logs LogSource, artifacts ArtifactStore, log *slog.Logger, extra ...ServerOption) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.WatchBookmarkInterval <= 0 {
		opts.WatchBookmarkInterval = DefaultWatchBookmarkInterval
	}
	if opts.MaxListsInFlight <= 0 {
		opts.MaxListsInFlight = DefaultMaxListsInFlight()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:      opts,
		store:     st,
		logs:      logs,
		artifacts: artifacts,
		log:       log.With("component", "api"),
		now:       time.Now,
	}
	s.lists = make(chan struct{}, opts.MaxListsInFlight)
	s.quotas = informer.New[*api.ResourceQuota](st, log)
	for _, o := range extra {
		o(s)
	}
	if s.tokens == nil {
		s.log.Warn("the API server runs without authentication: every request is allowed")
	}
	if s.registry != nil {
		s.metrics = newAPIMetrics(s.registry)
	}
	s.watchCtx, s.stopWatches = context.WithCancel(context.Background())
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{LogErrorFunc: s.recovered}))
	e.Use(s.logRequests, s.authenticate, s.limitBody)
	s.echo = e
	s.routes()
	return s
}

// Handler serves the API.
func (s *Server) Handler() http.Handler { return s.echo }

// Echo is the underlying router, for packages that add routes (the
// dashboard, metrics).
func (s *Server) Echo() *echo.Echo { return s.echo }

// Start listens on Options.Listen and serves in the background until
// Shutdown. ctx bounds only the listen call.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpSrv != nil {
		return errors.New("api server already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("api listen on %s: %w", s.opts.Listen, err)
	}
	if err := s.quotas.Start(ctx); err != nil {
		_ = ln.Close()
		return fmt.Errorf("api: %w", err)
	}
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if _, err := s.openAPIDocument(); err != nil {
		s.log.Warn("no OpenAPI document", "err", err)
	}
	s.httpSrv, s.addr, s.served = srv, ln.Addr(), make(chan struct{})
	if s.opts.TLS != nil {
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	served := s.served
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("api server stopped", "err", err)
		}
	}()
	s.log.Info("api server listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address the server listens on (host:port), or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == nil {
		return ""
	}
	return s.addr.String()
}

// URL is the server's base URL (https://host:port, or http:// without
// TLS), or "" before Start.
func (s *Server) URL() string {
	a := s.Addr()
	if a == "" {
		return ""
	}
	if s.opts.TLS != nil {
		return "https://" + a
	}
	return "http://" + a
}

// Shutdown ends the watch streams, stops accepting requests, waits for the
// running ones until ctx ends, then closes what is left and waits for the
// serve goroutine.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopWatches()
	defer s.quotas.Stop()
	s.mu.Lock()
	srv, served := s.httpSrv, s.served
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("api server shutdown: %w", err)
	}
	<-served
	return err
}

// limitBody caps every request body at MaxBodyBytes: a declared length
// above it is refused at once, a longer stream fails when read.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength > s.opts.MaxBodyBytes {
			return &http.MaxBytesError{Limit: s.opts.MaxBodyBytes}
		}
		if req.Body != nil {
			req.Body = http.MaxBytesReader(c.Response().Writer, req.Body, s.opts.MaxBodyBytes)
		}
		return next(c)
	}
}

// logRequests logs each request when it is done (debug for success, warn
// for server errors) and records it in the metrics.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		ri := requestInfoOf(c)
		end := s.metrics.begin(ri)
		err := next(c)
		end()
		if err != nil {
			c.Error(err) // write the Status now so the code below is the one sent
		}
		code := c.Response().Status
		d := time.Since(start)
		s.metrics.observe(ri, code, d)
		s.log.Log(c.Request().Context(), logLevelFor(code), "api request",
			"method", c.Request().Method, "path", c.Request().URL.Path, "code", code,
			"duration", d)
		return nil
	}
}

// listSnapshot reads a kind's objects from the store, waiting for one of
// the MaxListsInFlight slots first.
func (s *Server) listSnapshot(ctx context.Context, info api.KindInfo, ns string) ([]api.Object, uint64, error) {
	select {
	case s.lists <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	defer func() { <-s.lists }()
	return s.store.ListSnapshot(ctx, info, ns)
}
