package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/runtimes"
)

// Options configure an Agent. Zero durations take their defaults.
type Options struct {
	// NodeName is this node's name, a DNS label.
	NodeName string
	// DataDir holds the agent's local state: pods, logs, module cache.
	DataDir string
	// Labels are added to the node's labels (besides arch, os, hostname).
	Labels map[string]string
	// LeaseInterval is how often the lease is renewed. Default 10s.
	LeaseInterval time.Duration
	// ResyncInterval is how often the agent asks for its full desired set
	// and re-reports status that the control plane does not have.
	// Default 60s.
	ResyncInterval time.Duration
	// HTTPClient fetches http(s) Wasm modules. Default: 30s to the
	// response headers, 15 minutes for the whole download.
	HTTPClient *http.Client
	// AgentVersion is reported in the node's nodeInfo. Default: the
	// binary's module version, or "dev".
	AgentVersion string
	// RequestTimeout bounds each request to the control plane. Default 5s.
	RequestTimeout time.Duration
	// RestartBackoff is the first delay before a crashed container, a
	// failed module fetch or a refused start is tried again; it doubles
	// up to MaxRestartBackoff and resets after a container ran for twice
	// MaxRestartBackoff. Defaults 10s and 5m, as in Kubernetes.
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
	// HostPathAllow lists the absolute directories hostPath volumes may
	// name, each with everything beneath it; a pod's hostPath elsewhere
	// (after symlinks are resolved) is not run: its container waits with
	// reason HostPathNotAllowed. Empty allows no hostPath.
	HostPathAllow []string
}

func (o *Options) setDefaults() {
	if o.LeaseInterval <= 0 {
		o.LeaseInterval = 10 * time.Second
	}
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = 60 * time.Second
	}
	if o.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = 30 * time.Second
		// A stalled download must end, so that the fetch is retried.
		o.HTTPClient = &http.Client{Transport: tr, Timeout: 15 * time.Minute}
	}
	if o.AgentVersion == "" {
		o.AgentVersion = agentVersion()
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 5 * time.Second
	}
	if o.RestartBackoff <= 0 {
		o.RestartBackoff = 10 * time.Second
	}
	if o.MaxRestartBackoff <= 0 {
		o.MaxRestartBackoff = 5 * time.Minute
	}
	if o.MaxRestartBackoff < o.RestartBackoff {
		o.MaxRestartBackoff = o.RestartBackoff
	}
}

// Agent is the edge agent of one node.
type Agent struct {
	opts       Options
	nc         *nats.Conn
	drivers    map[string]runtimes.Driver // by Capabilities().Runtime
	driverList []runtimes.Driver
	log        *slog.Logger
	local      *localStore
	modules    *moduleCache
	reporter   *statusReporter
	// configs are the ConfigMaps and Secrets the node's pods reference.
	configs *configStore
	// probeClient makes the httpGet probes' requests.
	probeClient *http.Client

	running    atomic.Bool
	registered atomic.Bool
	hostIP     atomic.Value // string

	registerKick chan struct{}
	syncKick     chan struct{}
	// secretVolumes puts secret volumes on tmpfs (secretvolume.go).
	secretVolumes *secretVolumes

	// mu guards the pod workers and what decides about them.
	mu         sync.Mutex
	workerCtx  context.Context
	stopping   bool
	workers    map[string]*podWorker // by pod UID
	tombstones map[string]time.Time  // UIDs removed lately, by removal time
	pushSeq    uint64                // counts pushes, to spot stale sync answers
	workersWG  sync.WaitGroup
}

// tombstoneTTL is how long a removed pod's UID is remembered, so that a
// stale push or sync answer does not start it again.
const tombstoneTTL = 10 * time.Minute

// New returns an Agent for the node; Run runs it. Each driver must offer a
// different runtime.
func New(opts Options, nc *nats.Conn, drivers []runtimes.Driver, log *slog.Logger) (*Agent, error) {
	if err := api.ValidateName(opts.NodeName); err != nil {
		return nil, fmt.Errorf("edge: node name: %w", err)
	}
	if opts.DataDir == "" {
		return nil, errors.New("edge: data dir is required")
	}
	if nc == nil {
		return nil, errors.New("edge: a NATS connection is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts.setDefaults()
	a := &Agent{
		opts:         opts,
		nc:           nc,
		drivers:      map[string]runtimes.Driver{},
		log:          log.With("node", opts.NodeName),
		local:        &localStore{dir: filepath.Join(opts.DataDir, "pods")},
		configs:      newConfigStore(filepath.Join(opts.DataDir, "configs")),
		probeClient:  newProbeClient(),
		registerKick: make(chan struct{}, 1),
		syncKick:     make(chan struct{}, 1),
		workers:      map[string]*podWorker{},
		tombstones:   map[string]time.Time{},
	}
	for _, d := range drivers {
		if d == nil {
			continue
		}
		rt := d.Capabilities().Runtime
		if rt == "" {
			return nil, fmt.Errorf("edge: driver %T names no runtime", d)
		}
		if _, dup := a.drivers[rt]; dup {
			return nil, fmt.Errorf("edge: two drivers offer runtime %q", rt)
		}
		a.drivers[rt] = d
		a.driverList = append(a.driverList, d)
	}
	a.hostIP.Store("")
	a.secretVolumes = newSecretVolumes(a.log)
	a.modules = newModuleCache(filepath.Join(opts.DataDir, "modules"), nc, opts.NodeName, opts.HTTPClient, opts.RequestTimeout)
	a.reporter = newStatusReporter(nc, opts.NodeName, opts.RequestTimeout, a.log)
	if err := api.ValidateNode(a.nodeObject()).OrNil(); err != nil {
		return nil, fmt.Errorf("edge: node %s: %w", opts.NodeName, err)
	}
	return a, nil
}

// Connect connects a node to the control plane's NATS, the way an agent
// must: replies come to the node's own inbox prefix (so its NATS user can
// be limited to its own subjects), it reconnects forever, and it starts
// even when the server cannot be reached yet (the agent keeps running its
// pods from disk meanwhile). The Agent notices connects and reconnects
// itself (nats.Conn.StatusChanged), so opts may set any handlers.
func Connect(url, node string, opts ...nats.Option) (*nats.Conn, error) {
	if err := api.ValidateName(node); err != nil {
		return nil, fmt.Errorf("connect node: name: %w", err)
	}
	base := []nats.Option{
		nats.Name("skiff-agent-" + node),
		nats.CustomInboxPrefix(api.NodeInboxPrefix(node)),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(2 * time.Second),
		nats.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		nats.RetryOnFailedConnect(true),
		// Notice a dead link within a minute rather than the default
		// four minutes: edge links drop without a FIN.
		nats.PingInterval(20 * time.Second),
		nats.MaxPingsOutstanding(3),
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect node %s to %s: %w", node, url, err)
	}
	return nc, nil
}

// HostIP is the address this node reaches the control plane from.
func (a *Agent) HostIP() string { return a.hostIP.Load().(string) }

// prepare creates the local directories; Run calls it, and the fx module
// calls it before starting Run so that a bad DataDir fails the start.
func (a *Agent) prepare() error {
	for _, d := range []string{a.local.dir, a.modules.dir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return fmt.Errorf("edge: data dir: %w", err)
		}
	}
	// configs/ holds Secrets: the agent's user only, also when an older
	// agent made it with a wider mode.
	if err := os.MkdirAll(a.configs.dir, 0o700); err != nil {
		return fmt.Errorf("edge: data dir: %w", err)
	}
	if err := os.Chmod(a.configs.dir, 0o700); err != nil {
		return fmt.Errorf("edge: data dir: %w", err)
	}
	return nil
}

// Run runs the agent until ctx ends, then stops its goroutines and waits
// for them. Pods of drivers whose tasks survive an agent restart keep
// running; the others are stopped. Run returns an error only when the
// agent cannot start.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("edge: agent is already running")
	}
	defer a.running.Store(false)
	if err := a.prepare(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	connected := a.nc.StatusChanged(nats.CONNECTED)
	defer a.nc.RemoveStatusListener(connected)
	a.hostIP.Store(detectHostIP(a.nc))

	a.mu.Lock()
	a.workerCtx, a.stopping = ctx, false
	a.mu.Unlock()
	// Local state first: the node runs its pods whether or not a control
	// plane answers.
	for _, err := range a.configs.Load() {
		a.log.Error("local ConfigMap or Secret unreadable", "err", err)
	}
	a.loadLocalPods()

	podsSub, err := a.nc.Subscribe(api.NodePodsSubject(a.opts.NodeName), a.onAssignment)
	if err != nil {
		cancel()
		a.stopWorkers()
		return fmt.Errorf("edge: subscribe to pods: %w", err)
	}
	_ = podsSub.SetPendingLimits(-1, -1)
	logsSub, err := a.nc.Subscribe(api.NodeLogsSubject(a.opts.NodeName), a.onLogRequest)
	if err != nil {
		_ = podsSub.Unsubscribe()
		cancel()
		a.stopWorkers()
		return fmt.Errorf("edge: subscribe to log requests: %w", err)
	}
	a.log.Info("agent started", "runtimes", a.runtimeNames(), "dataDir", a.opts.DataDir)

	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){a.registerLoop, a.leaseLoop, a.syncLoop, a.reporter.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.watchConnection(ctx, connected)
	}()

	<-ctx.Done()
	_ = podsSub.Unsubscribe()
	_ = logsSub.Unsubscribe()
	// Let the server know at once, so that requests to the node fail fast
	// with "no responders" instead of timing out.
	_ = a.nc.FlushTimeout(time.Second)
	wg.Wait()
	a.stopWorkers()
	a.log.Info("agent stopped")
	return nil
}

// watchConnection reacts to every (re)connect: the control plane may have
// missed pushes and reports meanwhile, so register, resend and resync.
func (a *Agent) watchConnection(ctx context.Context, connected <-chan nats.Status) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-connected:
			if !ok {
				return
			}
			a.hostIP.Store(detectHostIP(a.nc))
			a.log.Info("connected to the control plane's NATS", "server", a.nc.ConnectedUrlRedacted())
			kick(a.registerKick)
			a.reporter.Resend()
			kick(a.syncKick)
		}
	}
}

func (a *Agent) runtimeNames() []string {
	out := make([]string, 0, len(a.driverList))
	for _, d := range a.driverList {
		out = append(out, d.Capabilities().Runtime)
	}
	return out
}

// request sends a request on the node's verb subject and decodes the answer.
func (a *Agent) request(ctx context.Context, verb string, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, a.opts.RequestTimeout)
	defer cancel()
	msg, err := a.nc.RequestWithContext(ctx, api.AgentSubject(a.opts.NodeName, verb), body)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return errors.New("no control plane answers")
		}
		return err
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("bad answer from the control plane: %w", err)
	}
	return nil
}
