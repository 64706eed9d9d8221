package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/web/client"
)

// WasmStartupOptions configure the wasm-startup benchmark.
type WasmStartupOptions struct {
	Pods int
	// Module is the Wasm module to run; nil means HelloModule().
	Module []byte
	// Binary is the skiff executable used to measure idle RSS of `skiff
	// up` and `skiff agent` as separate processes; "" skips that part.
	Binary string
	// Out receives progress lines and the summary.
	Out io.Writer
}

// WasmStartup measures apply→Running of Wasm pods through the API on an
// in-process cluster (one agent), with the module already compiled on the
// agent, beside a bare wazero instantiate+run of the same module; and the
// same on a second cluster with TLS and NATS authentication off (config
// Insecure), in the same run, for the cost of security.
func WasmStartup(ctx context.Context, o WasmStartupOptions) (*Summary, error) {
	if o.Pods <= 0 {
		o.Pods = 200
	}
	if o.Module == nil {
		o.Module = HelloModule()
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if !api.IsWasmBinary(o.Module) {
		return nil, fmt.Errorf("the module is not a Wasm binary module")
	}
	dir, err := testbed.TempDir("skiff-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	sum := &Summary{}
	sum.Add("pods", o.Pods)
	sum.Add("module_bytes", len(o.Module))

	cold, err := coldCompile(ctx, o.Module)
	if err != nil {
		return nil, err
	}
	baseline, err := bareWazero(ctx, o.Module, o.Pods)
	if err != nil {
		return nil, err
	}

	// One cluster per security mode, side by side; the pods are applied
	// alternately, the mode that goes first switching every round (secure,
	// insecure; insecure, secure; …), so that both modes see the same load
	// on the machine over the run and neither always follows the other.
	runs := make([]*wasmStartupRun, 0, len(securityModes))
	defer func() {
		for _, r := range runs {
			_ = r.c.Stop(context.Background())
		}
	}()
	for _, m := range securityModes {
		r, err := startWasmStartupRun(ctx, filepath.Join(dir, m.name), m, o.Module, o.Pods)
		if err != nil {
			return nil, fmt.Errorf("%s cluster: %w", m.name, err)
		}
		runs = append(runs, r)
		fmt.Fprintf(o.Out, "%s: warm-up pod (fetch + first compile on the agent): %s ms\n", m.name, Ms(r.first))
	}
	for i := 0; i < o.Pods; i++ {
		round := slices.Clone(runs)
		if i%2 == 1 {
			slices.Reverse(round)
		}
		for _, r := range round {
			d, err := applyAndWait(ctx, r.c, fmt.Sprintf("bench-%d", i), r.image)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", r.mode.name, err)
			}
			r.lat = append(r.lat, d)
		}
	}
	sec, ins := runs[0], runs[1]
	p50, p99 := Percentile(sec.lat, 50), Percentile(sec.lat, 99)
	i50, i99 := Percentile(ins.lat, 50), Percentile(ins.lat, 99)
	b50, b99 := Percentile(baseline, 50), Percentile(baseline, 99)
	sum.Add("p50_ms", Ms(p50))
	sum.Add("p99_ms", Ms(p99))
	sum.Add("max_ms", Ms(Percentile(sec.lat, 100)))
	sum.Add("baseline_p50_ms", Ms(b50))
	sum.Add("baseline_p99_ms", Ms(b99))
	sum.Add("ratio_p50", fmt.Sprintf("%.1f", float64(p50)/float64(max(b50, 1))))
	sum.Add("ratio_p99", fmt.Sprintf("%.1f", float64(p99)/float64(max(b99, 1))))
	sum.Add("p50_ms_insecure", Ms(i50))
	sum.Add("p99_ms_insecure", Ms(i99))
	sum.Add("max_ms_insecure", Ms(Percentile(ins.lat, 100)))
	sum.Add("p50_ratio_secure_over_insecure", durationCost(p50, i50))
	sum.Add("p99_ratio_secure_over_insecure", durationCost(p99, i99))
	sum.Add("cold_compile_ms", Ms(cold))
	sum.Add("first_pod_ms", Ms(sec.first))
	sum.Add("first_pod_ms_insecure", Ms(ins.first))

	if o.Binary != "" {
		rss, err := idleRSS(ctx, o.Binary, filepath.Join(dir, "rss"))
		if err != nil {
			return nil, fmt.Errorf("idle RSS: %w", err)
		}
		mb := func(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
		sum.Add("up_idle_rss_mb", mb(rss.up))
		sum.Add("up_idle_anon_mb", mb(rss.upAnon))
		sum.Add("agent_idle_rss_mb", mb(rss.agent))
		sum.Add("agent_idle_anon_mb", mb(rss.agentAnon))
	}
	return sum, nil
}

// wasmStartupRun is one security mode's cluster of the wasm-startup
// benchmark and its latencies.
type wasmStartupRun struct {
	mode  securityMode
	c     *testbed.Cluster
	image string
	// first is the warm-up pod's apply→Running (fetch + compile).
	first time.Duration
	lat   []time.Duration
}

// startWasmStartupRun starts an in-process cluster (one agent) in the
// mode, uploads the module and runs the warm-up pod, which fetches and
// compiles it on the agent. The caller stops the cluster.
func startWasmStartupRun(ctx context.Context, dir string, m securityMode, module []byte, pods int) (*wasmStartupRun, error) {
	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: dir, Agents: 1, Configure: m.configure})
	if err != nil {
		return nil, err
	}
	r := &wasmStartupRun{mode: m, c: c, lat: make([]time.Duration, 0, pods)}
	if r.image, err = c.Client.UploadArtifact(ctx, bytes.NewReader(module)); err != nil {
		_ = c.Stop(context.Background())
		return nil, err
	}
	if r.first, err = applyAndWait(ctx, c, "warm-up", r.image); err != nil {
		_ = c.Stop(context.Background())
		return nil, err
	}
	return r, nil
}

// applyAndWait creates a Wasm pod and polls the API until it has started
// (Running, or Succeeded for a module that already finished), then deletes
// it. It returns the time from the create request to the first GET that
// showed the pod started.
func applyAndWait(ctx context.Context, c *testbed.Cluster, name, image string) (time.Duration, error) {
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: api.DefaultNamespace},
		Spec: api.PodSpec{
			RuntimeClassName: api.RuntimeClassWasm,
			RestartPolicy:    api.RestartPolicyNever,
			Containers:       []api.Container{{Name: "app", Image: image}},
		},
	}
	start := time.Now()
	if _, err := c.Client.CreatePod(ctx, p); err != nil {
		return 0, err
	}
	var took time.Duration
	err := testbed.Poll(ctx, 30*time.Second, time.Millisecond, func() (bool, error) {
		got, err := c.Client.GetPod(ctx, p.Namespace, name)
		if err != nil {
			return false, err
		}
		switch got.Status.Phase {
		case api.PodRunning, api.PodSucceeded:
			took = time.Since(start)
			return true, nil
		case api.PodFailed:
			return false, fmt.Errorf("pod %s failed: %s %s", name, got.Status.Reason, got.Status.Message)
		}
		return false, nil
	})
	if err != nil {
		return 0, fmt.Errorf("pod %s: %w", name, err)
	}
	zero := int64(0)
	_, err = c.Client.DeletePod(ctx, p.Namespace, name, client.DeleteOptions{GracePeriodSeconds: &zero})
	return took, err
}

func coldCompile(ctx context.Context, module []byte) (time.Duration, error) {
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	start := time.Now()
	if _, err := r.CompileModule(ctx, module); err != nil {
		return 0, fmt.Errorf("compile: %w", err)
	}
	return time.Since(start), nil
}

// bareWazero is the baseline: instantiate and run the already compiled
// module, n times, in one runtime.
func bareWazero(ctx context.Context, module []byte, n int) ([]time.Duration, error) {
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	cm, err := r.CompileModule(ctx, module)
	if err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		mod, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStdout(io.Discard).WithStderr(io.Discard))
		if err != nil {
			return nil, fmt.Errorf("baseline run: %w", err)
		}
		out = append(out, time.Since(start))
		_ = mod.Close(ctx)
	}
	return out, nil
}

var urlLine = regexp.MustCompile(`(API|NATS):\s+(\S+)`)

type idleMemory struct{ up, upAnon, agent, agentAnon int64 }

// idleRSS starts `skiff up` and then `skiff agent` as processes, lets each
// settle, and reads their resident set sizes, whole and anonymous.
func idleRSS(ctx context.Context, binary, dir string) (m idleMemory, err error) {
	env := append(os.Environ(), "SKIFF_CONFIG="+filepath.Join(dir, "client.yaml"))
	up := exec.CommandContext(ctx, binary, "up", "--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1",
		"--data-dir", filepath.Join(dir, "up"), "--node-name", "bench-up", "--log-level", "warn")
	up.Env = env
	urls, err := startAndRead(up, 2)
	if err != nil {
		return m, fmt.Errorf("skiff up: %w", err)
	}
	defer stopProcess(up)
	agent := exec.CommandContext(ctx, binary, "agent", "--nats", urls["NATS"], "--data-dir", filepath.Join(dir, "agent"),
		"--node-name", "bench-agent", "--log-level", "warn")
	agent.Env = env
	if _, err := startAndRead(agent, 0); err != nil {
		return m, fmt.Errorf("skiff agent: %w", err)
	}
	defer stopProcess(agent)
	// Let both settle: registration, first lease, GC.
	select {
	case <-ctx.Done():
		return m, ctx.Err()
	case <-time.After(3 * time.Second):
	}
	for _, r := range []struct {
		dst  *int64
		pid  int
		read func(int) (int64, error)
	}{{&m.up, up.Process.Pid, RSSBytes}, {&m.upAnon, up.Process.Pid, AnonRSSBytes}, {&m.agent, agent.Process.Pid, RSSBytes}, {&m.agentAnon, agent.Process.Pid, AnonRSSBytes}} {
		if *r.dst, err = r.read(r.pid); err != nil {
			return m, err
		}
	}
	return m, nil
}

// startAndRead starts cmd and reads its stdout until it printed want
// "API:/NATS:" lines (or, for want 0, its first line).
func startAndRead(cmd *exec.Cmd, want int) (map[string]string, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	urls := map[string]string{}
	lines := make(chan string)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return nil, fmt.Errorf("exited early: %s", stderr.String())
			}
			if m := urlLine.FindStringSubmatch(l); m != nil {
				urls[m[1]] = m[2]
			}
			if len(urls) >= want {
				go func() {
					for range lines {
					}
				}()
				return urls, nil
			}
		case <-deadline:
			return nil, fmt.Errorf("no startup output within 30s: %s", stderr.String())
		}
	}
}

func stopProcess(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
