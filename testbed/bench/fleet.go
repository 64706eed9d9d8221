package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/cmd/skiff/app"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/web/client"
)

// FleetOptions configure the fleet benchmark.
type FleetOptions struct {
	Agents   int
	Replicas int
	// Binary is the skiff executable; the control plane runs as its own
	// process (`skiff server`) so its RSS and CPU are its own.
	Binary string
	Out    io.Writer
}

// Fleet measures the control plane at fleet scale: a DaemonSet (one pod per
// agent) and a Deployment of Replicas pods over Agents hollow agents (real
// agent code and NATS connections, no-op runtime), timed until every pod is
// Running as the API lists them. Beside it: the scheduler's bind rate
// against raw KV compare-and-swap writes per second on the same server.
// All of it runs twice in the same run, on a fresh server each time: with
// TLS and NATS authentication (agents join with a join token), then with
// both off (config Insecure), for the cost of security.
func Fleet(ctx context.Context, o FleetOptions) (*Summary, error) {
	if o.Binary == "" {
		return nil, fmt.Errorf("fleet: the skiff binary is required")
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	dir, err := os.MkdirTemp("", "skiff-fleet-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	res := make([]fleetResult, 0, len(securityModes))
	for _, m := range securityModes {
		r, err := fleetRun(ctx, o, filepath.Join(dir, m.name), m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		res = append(res, r)
	}
	sec, ins := res[0], res[1]
	sum := &Summary{}
	sum.Add("agents", o.Agents)
	sum.Add("replicas", o.Replicas)
	sum.Add("pods", o.Agents+o.Replicas)
	sec.add(sum, "")
	ins.add(sum, "_insecure")
	sum.Add("agents_ready_ratio_secure_over_insecure", durationCost(sec.agentsReady, ins.agentsReady))
	sum.Add("all_running_ratio_secure_over_insecure", durationCost(sec.allRunning, ins.allRunning))
	sum.Add("bind_ratio_secure_over_insecure", securityCost(sec.bindRate, ins.bindRate))
	return sum, nil
}

// fleetResult is one security mode's run of the fleet benchmark.
type fleetResult struct {
	agentsReady, allRunning time.Duration
	bindRate, casRate       float64
	writesPerPod, cpu       float64
	peakRSS                 int64
}

// add puts the result into sum, each key with suffix.
func (r fleetResult) add(sum *Summary, suffix string) {
	sum.Add("agents_ready_s"+suffix, fmt.Sprintf("%.1f", r.agentsReady.Seconds()))
	sum.Add("all_running_s"+suffix, fmt.Sprintf("%.1f", r.allRunning.Seconds()))
	sum.Add("bind_per_s"+suffix, fmt.Sprintf("%.0f", r.bindRate))
	sum.Add("baseline_kv_cas_per_s"+suffix, fmt.Sprintf("%.0f", r.casRate))
	sum.Add("ratio_bind_to_cas"+suffix, fmt.Sprintf("%.2f", r.bindRate/r.casRate))
	sum.Add("kv_writes_per_pod"+suffix, fmt.Sprintf("%.2f", r.writesPerPod))
	sum.Add("cp_cpu_s"+suffix, fmt.Sprintf("%.1f", r.cpu))
	sum.Add("cp_peak_rss_mb"+suffix, fmt.Sprintf("%.0f", float64(r.peakRSS)/(1<<20)))
}

// fleetServerArgs are the arguments of the `skiff server` process of a
// fleet run in dir: insecure through a config file (there is no flag).
func fleetServerArgs(dir string, m securityMode) ([]string, error) {
	args := []string{"server", "--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1",
		"--data-dir", filepath.Join(dir, "server"), "--log-level", "warn"}
	if m.insecure {
		file := filepath.Join(dir, "server.yaml")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(file, []byte("insecure: true\n"), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--config", file)
	}
	return args, nil
}

// fleetRun is one run of the fleet benchmark in dir, in mode m: its own
// `skiff server` process and its own hollow agents, stopped at the end.
func fleetRun(ctx context.Context, o FleetOptions, dir string, m securityMode) (r fleetResult, err error) {
	args, err := fleetServerArgs(dir, m)
	if err != nil {
		return r, err
	}
	srv := exec.CommandContext(ctx, o.Binary, args...)
	srv.Env = append(os.Environ(), "SKIFF_CONFIG="+filepath.Join(dir, "client.yaml"))
	urls, err := startAndRead(srv, 2)
	if err != nil {
		return r, fmt.Errorf("skiff server: %w", err)
	}
	defer stopProcess(srv)
	access, err := accessFromConfig(filepath.Join(dir, "client.yaml"))
	if err != nil {
		return r, err
	}
	cl := access.client(urls["API"])
	var cpOpts []nats.Option
	var jt string
	if !m.insecure {
		if cpOpts, err = controlPlaneNATS(filepath.Join(dir, "server")); err != nil {
			return r, err
		}
		if jt, err = joinToken(ctx, cl); err != nil {
			return r, err
		}
	}
	nc, err := nats.Connect(urls["NATS"], append(cpOpts, nats.Name("skiff-bench-fleet"))...)
	if err != nil {
		return r, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return r, err
	}

	// Agents: in the secure mode each joins with the join token (pinned
	// TLS handshake, join request, its JWT) and connects with its identity.
	start := time.Now()
	agents, err := startHollowAgents(ctx, o.Agents, urls["NATS"], jt, dir)
	defer func() {
		var wg sync.WaitGroup
		for _, a := range agents {
			wg.Add(1)
			go func() { defer wg.Done(); _ = a.Stop(context.Background()) }()
		}
		wg.Wait()
	}()
	if err != nil {
		return r, err
	}
	if err := waitReadyNodes(ctx, cl, o.Agents); err != nil {
		return r, err
	}
	r.agentsReady = time.Since(start)
	fmt.Fprintf(o.Out, "%s: %d hollow agents joined and Ready in %.1fs\n", m.name, o.Agents, r.agentsReady.Seconds())

	// Baseline: raw KV compare-and-swap writes on the same server.
	if r.casRate, err = kvCASRate(ctx, js, 5000, 16); err != nil {
		return r, err
	}
	fmt.Fprintf(o.Out, "%s: baseline: %.0f KV CAS writes/s (16 writers, fsync on)\n", m.name, r.casRate)

	objects, err := js.Stream(ctx, "KV_"+api.ObjectsBucket)
	if err != nil {
		return r, err
	}
	seq0 := streamSeq(ctx, objects)
	cpu0, _ := cpuSeconds(srv.Process.Pid)

	// Follow pods through a KV watch to time binds.
	w := newPodWatch()
	stopWatch, err := w.run(ctx, js)
	if err != nil {
		return r, err
	}
	defer stopWatch()

	t0 := time.Now()
	if _, err := cl.CreateObject(ctx, fleetDaemonSet()); err != nil {
		return r, err
	}
	if _, err := cl.CreateObject(ctx, fleetDeployment(o.Replicas)); err != nil {
		return r, err
	}
	want := o.Agents + o.Replicas
	for {
		if rss, err := RSSBytes(srv.Process.Pid); err == nil {
			r.peakRSS = max(r.peakRSS, rss)
		}
		if w.running.Load() >= int64(want) {
			n, err := countRunning(ctx, cl)
			if err != nil {
				return r, err
			}
			if n >= want {
				break
			}
		}
		if time.Since(t0) > 10*time.Minute {
			return r, fmt.Errorf("only %d of %d pods running after 10 minutes", w.running.Load(), want)
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	r.allRunning = time.Since(t0)
	cpu1, _ := cpuSeconds(srv.Process.Pid)
	r.cpu = cpu1 - cpu0
	r.writesPerPod = float64(streamSeq(ctx, objects)-seq0) / float64(want)
	first, last, bound := w.bindSpan()
	r.bindRate = float64(bound) / max(last.Sub(first).Seconds(), 1e-3)
	w.mu.Lock()
	fmt.Fprintf(o.Out, "%s: stages from the first create: creates %.1fs..%.1fs, binds %.1fs..%.1fs, last running %.1fs\n", m.name,
		w.firstCreate.Sub(t0).Seconds(), w.lastCreate.Sub(t0).Seconds(), first.Sub(t0).Seconds(), last.Sub(t0).Seconds(), w.lastRunning.Sub(t0).Seconds())
	w.mu.Unlock()
	return r, nil
}

// fleetLabel marks the hollow agents' nodes for the DaemonSet. It is a
// label the agent owns (api.AgentLabelPrefix), which its registration sets
// in both security modes: other labels of an agent's own come only with a
// join, and an insecure cluster has no joins.
const fleetLabel = api.AgentLabelPrefix + "fleet"

func startHollowAgents(ctx context.Context, n int, natsURL, joinToken, dir string) ([]*app.Agent, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	out := make([]*app.Agent, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			cfg := config.Default()
			name := fmt.Sprintf("hollow-%04d", i)
			cfg.DataDir = filepath.Join(dir, name)
			cfg.Agent.NodeName = name
			cfg.Agent.NATSURL = natsURL
			cfg.Agent.JoinToken = joinToken
			cfg.Agent.Labels = map[string]string{fleetLabel: "bench"}
			a, err := app.StartAgent(ctx, cfg, log, app.Hollow())
			if err != nil {
				errs <- err
				return
			}
			out[i] = a
		}()
	}
	wg.Wait()
	close(errs)
	var started []*app.Agent
	for _, a := range out {
		if a != nil {
			started = append(started, a)
		}
	}
	if err := <-errs; err != nil {
		return started, fmt.Errorf("start hollow agent: %w", err)
	}
	return started, nil
}

func waitReadyNodes(ctx context.Context, cl *client.Client, n int) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		nodes, err := cl.ListNodes(ctx)
		if err == nil {
			ready := 0
			for _, nd := range nodes {
				if nd.IsReady() {
					ready++
				}
			}
			if ready >= n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("fewer than %d nodes Ready after 5 minutes", n)
}

func countRunning(ctx context.Context, cl *client.Client) (int, error) {
	pods, err := cl.ListPods(ctx, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods {
		if p.Status.Phase == api.PodRunning {
			n++
		}
	}
	return n, nil
}

func fleetTemplate(app string) api.PodTemplateSpec {
	return api.PodTemplateSpec{
		ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: api.PodSpec{Containers: []api.Container{{Name: app, Image: "registry.local/" + app + ":1",
			Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: "1m", api.ResourceMemory: "1Mi"}}}}},
	}
}

func fleetDaemonSet() *api.DaemonSet {
	d := &api.DaemonSet{
		ObjectMeta: api.ObjectMeta{Name: "node-agent", Namespace: "default"},
		Spec: api.DaemonSetSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "node-agent"}},
			Template: fleetTemplate("node-agent")},
	}
	d.Spec.Template.Spec.NodeSelector = map[string]string{fleetLabel: "bench"}
	api.SetDefaults(d)
	return d
}

func fleetDeployment(replicas int) *api.Deployment {
	r := int32(replicas)
	d := &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: "fleet-web", Namespace: "default"},
		Spec: api.DeploymentSpec{Replicas: &r, Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "fleet-web"}},
			Template: fleetTemplate("fleet-web")},
	}
	api.SetDefaults(d)
	return d
}

// kvCASRate is the baseline: n compare-and-swap updates over `writers`
// keys in a scratch bucket on the same server, one writer per key.
func kvCASRate(ctx context.Context, js jetstream.JetStream, n, writers int) (float64, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bench-scratch", History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		return 0, err
	}
	defer func() { _ = js.DeleteKeyValue(context.Background(), "bench-scratch") }()
	per := n / writers
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "k" + strconv.Itoa(w)
			rev, err := kv.Create(ctx, key, []byte("0"))
			if err != nil {
				errs <- err
				return
			}
			for i := 1; i < per; i++ {
				if rev, err = kv.Update(ctx, key, []byte(strconv.Itoa(i)), rev); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(per*writers) / time.Since(start).Seconds(), nil
}

func streamSeq(ctx context.Context, s jetstream.Stream) uint64 {
	info, err := s.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.LastSeq
}

// cpuSeconds is a process's user+system CPU time from /proc.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) start after ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

// podWatch follows pods in the objects bucket to time binds and count
// running pods.
type podWatch struct {
	mu          sync.Mutex
	bound       map[string]bool
	first, last time.Time
	running     atomic.Int64
	isRunning   map[string]bool
	// Stage times of the Deployment's pods: first and last create, and
	// last running, to tell which stage limits the run.
	created                 map[string]bool
	firstCreate, lastCreate time.Time
	lastRunning             time.Time
}

func newPodWatch() *podWatch {
	return &podWatch{bound: map[string]bool{}, isRunning: map[string]bool{}, created: map[string]bool{}}
}

func (w *podWatch) run(ctx context.Context, js jetstream.JetStream) (func(), error) {
	kv, err := js.KeyValue(ctx, api.ObjectsBucket)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	watcher, err := kv.Watch(wctx, api.ObjectKeyPrefix("pods", ""), jetstream.UpdatesOnly())
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range watcher.Updates() {
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var p api.Pod
			if json.Unmarshal(e.Value(), &p) != nil {
				continue
			}
			now := time.Now()
			w.mu.Lock()
			if p.Labels["app"] == "fleet-web" && !w.created[e.Key()] {
				w.created[e.Key()] = true
				if w.firstCreate.IsZero() {
					w.firstCreate = now
				}
				w.lastCreate = now
			}
			// Binds of the Deployment's pods time the scheduler (the
			// DaemonSet controller binds its own pods).
			if p.Spec.NodeName != "" && !w.bound[e.Key()] && p.Labels["app"] == "fleet-web" {
				w.bound[e.Key()] = true
				if w.first.IsZero() {
					w.first = now
				}
				w.last = now
			}
			if p.Status.Phase == api.PodRunning && !w.isRunning[e.Key()] {
				w.isRunning[e.Key()] = true
				w.running.Add(1)
				w.lastRunning = now
			}
			w.mu.Unlock()
		}
	}()
	return func() { cancel(); _ = watcher.Stop(); <-done }, nil
}

func (w *podWatch) bindSpan() (first, last time.Time, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first, w.last, len(w.bound)
}
