package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/cmd/skiff/app"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/web/client"
)

// SleeperSleep is how long each sleep of SleeperModule lasts.
const SleeperSleep = time.Hour

// SleeperModule returns a tiny WASI module, assembled here like
// HelloModule, whose _start sleeps forever: a loop around poll_oneoff with
// one relative clock subscription of SleeperSleep. It is the small
// long-running workload of the density benchmark: it uses no CPU and one
// 64 KiB page of linear memory (its memory declares a maximum of one page).
func SleeperModule() []byte {
	var m []byte
	m = append(m, 0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00)
	// Types: 0 = poll_oneoff (i32 i32 i32 i32) -> i32; 1 = _start () -> ().
	m = append(m, section(1, []byte{0x02, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00})...)
	imp := []byte{0x01}
	imp = append(imp, name("wasi_snapshot_preview1")...)
	imp = append(imp, name("poll_oneoff")...)
	imp = append(imp, 0x00, 0x00)
	m = append(m, section(2, imp)...)
	m = append(m, section(3, []byte{0x01, 0x01})...)
	// One memory of exactly one page (limits flag 1: min 1, max 1).
	m = append(m, section(5, []byte{0x01, 0x01, 0x01, 0x01})...)
	exp := []byte{0x02}
	exp = append(exp, name("memory")...)
	exp = append(exp, 0x02, 0x00)
	exp = append(exp, name("_start")...)
	exp = append(exp, 0x00, 0x01)
	m = append(m, section(7, exp)...)
	// _start: loop { drop(poll_oneoff(in=0, out=48, nsubscriptions=1,
	// nevents=96)); br 0 }. i32.const takes signed LEB128: 96 is 0xe0 0x00.
	body := []byte{
		0x00,       // no locals
		0x03, 0x40, // loop
		0x41, 0x00, // i32.const 0: the subscription
		0x41, 0x30, // i32.const 48: the event
		0x41, 0x01, // i32.const 1
		0x41, 0xe0, 0x00, // i32.const 96: nevents
		0x10, 0x00, // call poll_oneoff
		0x1a,       // drop
		0x0c, 0x00, // br 0
		0x0b, // end loop
		0x0b, // end
	}
	code := append([]byte{0x01}, uleb(len(body))...)
	m = append(m, section(10, append(code, body...))...)
	// Data at 16: the subscription's clock (WASI subscription layout:
	// userdata u64 at 0, tag u8 at 8 = 0 for clock, clock id u32 at 16 =
	// 1 monotonic, timeout u64 at 24, precision u64 at 32, flags u16 at 40
	// = 0 relative).
	clock := make([]byte, 16)
	binary.LittleEndian.PutUint32(clock[0:], 1)
	binary.LittleEndian.PutUint64(clock[8:], uint64(SleeperSleep.Nanoseconds()))
	data := []byte{0x01, 0x00, 0x41, 16, 0x0b}
	data = append(data, uleb(len(clock))...)
	data = append(data, clock...)
	m = append(m, section(11, data)...)
	return m
}

// WasmDensityOptions configure the wasm-density benchmark.
type WasmDensityOptions struct {
	// Max is the most pods to apply. Default 2000.
	Max int
	// LimitBytes is the agent's memory budget: pods are added until the
	// process's RSS has grown by this much since before the agent
	// started. Default 1 GiB.
	LimitBytes int64
	// Batch is how many pods are created before the RSS is read again.
	// Default 100.
	Batch int
	// ServerBinary is the skiff executable that runs the control plane
	// (`skiff server`) as a process of its own, so that this process holds
	// the agent alone. "" runs it in this process, and its memory counts
	// against the agent's.
	ServerBinary string
	// Out receives progress lines.
	Out io.Writer
}

// WasmDensity measures how many Wasm pods of SleeperModule one agent holds
// within a memory budget. The agent runs in this process with the real
// Wasm driver; its memory is this process's RSS (VmRSS) minus the RSS
// before the agent started. Pods are bound to the agent's node in their
// spec (the scheduler would stop at the node's advertised 110 pods) and
// created in batches; after each batch the benchmark waits until the API
// shows every pod Running and reads the RSS.
func WasmDensity(ctx context.Context, o WasmDensityOptions) (*Summary, error) {
	if o.Max <= 0 {
		o.Max = 2000
	}
	if o.LimitBytes <= 0 {
		o.LimitBytes = 1 << 30
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	dir, err := testbed.TempDir("skiff-density-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	cp, err := startControlPlane(ctx, o.ServerBinary, dir)
	if err != nil {
		return nil, err
	}
	defer cp.stop()
	cl := cp.access.client(cp.apiURL)
	jt, err := joinToken(ctx, cl)
	if err != nil {
		return nil, err
	}

	base := settledRSS()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "agent")
	cfg.LogLevel = "warn"
	cfg.Agent.NodeName = "density-1"
	cfg.Agent.NATSURL = cp.natsURL
	cfg.Agent.JoinToken = jt
	off := false
	cfg.Agent.Containerd = &off
	agent, err := app.StartAgent(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = agent.Stop(sctx)
	}()
	if err := waitNodeReady(ctx, cl, cfg.Agent.NodeName); err != nil {
		return nil, err
	}
	idle := settledRSS() - base
	fmt.Fprintf(o.Out, "agent idle: %.1f MB over %.1f MB before it started (control plane %s)\n",
		mb(idle), mb(base), cp.where)

	image, err := cl.UploadArtifact(ctx, bytes.NewReader(SleeperModule()))
	if err != nil {
		return nil, fmt.Errorf("upload the module: %w", err)
	}
	var (
		created int
		grown   int64
		start   = time.Now()
		// within is the last reading inside the budget.
		withinPods int
		withinRSS  int64
	)
	for created < o.Max && grown < o.LimitBytes {
		n := min(o.Batch, o.Max-created)
		if err := createSleepers(ctx, cl, image, cfg.Agent.NodeName, created, n); err != nil {
			return nil, err
		}
		created += n
		if err := waitRunning(ctx, cl, created); err != nil {
			return nil, err
		}
		rss, err := RSSBytes(os.Getpid())
		if err != nil {
			return nil, err
		}
		grown = rss - base
		if grown < o.LimitBytes {
			withinPods, withinRSS = created, grown
		}
		fmt.Fprintf(o.Out, "%5d pods running: agent RSS %.1f MB (%.0f s)\n", created, mb(grown), time.Since(start).Seconds())
	}
	after := settledRSS() - base

	// The figures are those of the last reading within the budget; a
	// batch that went over it is reported beside them.
	sum := &Summary{}
	sum.Add("pods_running", withinPods)
	sum.Add("rss_mb", fmt.Sprintf("%.1f", mb(withinRSS)))
	if withinPods > 0 {
		sum.Add("per_pod_kb", fmt.Sprintf("%.1f", float64(withinRSS-idle)/1024/float64(withinPods)))
	}
	sum.Add("agent_idle_rss_mb", fmt.Sprintf("%.1f", mb(idle)))
	sum.Add("process_rss_before_agent_mb", fmt.Sprintf("%.1f", mb(base)))
	if created > withinPods {
		sum.Add("over_limit_pods", created)
		sum.Add("over_limit_rss_mb", fmt.Sprintf("%.1f", mb(grown)))
	}
	sum.Add("rss_after_gc_mb", fmt.Sprintf("%.1f", mb(after)))
	sum.Add("limit_mb", fmt.Sprintf("%.0f", mb(o.LimitBytes)))
	sum.Add("control_plane", cp.where)
	return sum, nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// settledRSS collects garbage, returns freed memory to the OS and reads
// this process's RSS.
func settledRSS() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	rss, err := RSSBytes(os.Getpid())
	if err != nil {
		return 0
	}
	return rss
}

// createSleepers creates n pods, with a few requests in flight at once.
func createSleepers(ctx context.Context, cl *client.Client, image, node string, from, n int) error {
	const parallel = 8
	sem := make(chan struct{}, parallel)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i := from; i < from+n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p := &api.Pod{
				ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("sleeper-%d", i), Namespace: api.DefaultNamespace},
				Spec: api.PodSpec{
					NodeName:         node,
					RuntimeClassName: api.RuntimeClassWasm,
					Containers:       []api.Container{{Name: "sleep", Image: image}},
				},
			}
			if _, err := cl.CreatePod(ctx, p); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("create %s: %w", p.Name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitRunning polls the API until want pods are Running; a pod that failed
// ends the benchmark.
func waitRunning(ctx context.Context, cl *client.Client, want int) error {
	var running int
	err := testbed.Poll(ctx, 2*time.Minute, 100*time.Millisecond, func() (bool, error) {
		pods, err := cl.ListPods(ctx, api.DefaultNamespace)
		if err != nil {
			return false, err
		}
		running = 0
		for _, p := range pods {
			switch p.Status.Phase {
			case api.PodRunning:
				running++
			case api.PodFailed, api.PodSucceeded:
				return false, fmt.Errorf("pod %s ended: %s %s", p.Name, p.Status.Reason, p.Status.Message)
			}
		}
		return running >= want, nil
	})
	if err != nil {
		return fmt.Errorf("%d of %d pods running: %w", running, want, err)
	}
	return nil
}

func waitNodeReady(ctx context.Context, cl *client.Client, node string) error {
	return testbed.Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		n, err := cl.GetNode(ctx, node)
		return err == nil && n.IsReady(), nil
	})
}

// controlPlane is the server of a benchmark: a `skiff server` process, or
// an in-process cluster without agents.
type controlPlane struct {
	apiURL, natsURL string
	access          serverAccess // the server's admin token and CA
	where           string       // "process" or "in-process"
	stop            func()
}

func startControlPlane(ctx context.Context, binary, dir string) (*controlPlane, error) {
	if binary == "" {
		c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: filepath.Join(dir, "cluster")})
		if err != nil {
			return nil, err
		}
		return &controlPlane{
			apiURL: c.Server.API.URL(), natsURL: c.Server.NATS.ClientURL, access: serverAccess{token: c.Token, ca: c.Server.CA.PEM}, where: "in-process",
			stop: func() { _ = c.Stop(context.Background()) },
		}, nil
	}
	srv := exec.CommandContext(ctx, binary, "server", "--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1",
		"--data-dir", filepath.Join(dir, "server"), "--log-level", "warn")
	srv.Env = append(os.Environ(), "SKIFF_CONFIG="+filepath.Join(dir, "client.yaml"))
	urls, err := startAndRead(srv, 2)
	if err != nil {
		if srv.Process != nil {
			stopProcess(srv)
		}
		return nil, fmt.Errorf("skiff server: %w", err)
	}
	access, err := accessFromConfig(filepath.Join(dir, "client.yaml"))
	if err != nil {
		stopProcess(srv)
		return nil, err
	}
	return &controlPlane{apiURL: urls["API"], natsURL: urls["NATS"], access: access, where: "process", stop: func() { stopProcess(srv) }}, nil
}
