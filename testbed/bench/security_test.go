package bench

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/testbed"
)

// summaryValues parses a summary line into its values, failing the test
// for a key it lacks.
func summaryValues(t *testing.T, sum *Summary, keys ...string) map[string]float64 {
	t.Helper()
	line := sum.String()
	got := map[string]string{}
	for _, kv := range strings.Fields(line) {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	out := map[string]float64{}
	for _, k := range keys {
		v, ok := got[k]
		if !ok {
			t.Errorf("summary lacks %s: %s", k, line)
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Errorf("%s=%s is not a number: %s", k, v, line)
		}
		out[k] = f
	}
	return out
}

// positive fails the test for a value that is not above zero.
func positive(t *testing.T, vals map[string]float64, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if vals[k] <= 0 {
			t.Errorf("%s=%v, want more than 0", k, vals[k])
		}
	}
}

func TestFleetServerIsInsecureThroughAConfigFileOnlyInTheInsecureMode(t *testing.T) {
	for _, m := range securityModes {
		dir := filepath.Join(t.TempDir(), m.name) // not there yet, as in Fleet
		args, err := fleetServerArgs(dir, m)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.Index(args, "--config")
		if !m.insecure {
			if i >= 0 {
				t.Errorf("secure: the server gets a config file: %v", args)
			}
			continue
		}
		if i < 0 || i+1 >= len(args) {
			t.Fatalf("insecure: no --config FILE in %v", args)
		}
		cfg := config.Default()
		if err := cfg.LoadFile(args[i+1]); err != nil {
			t.Fatal(err)
		}
		// The listen flags the server gets are loopback, as insecure needs.
		cfg.API.Listen, cfg.NATS.Listen = args[slices.Index(args, "--listen")+1], args[slices.Index(args, "--nats-listen")+1]
		if err := cfg.Validate(); err != nil || !cfg.Insecure {
			t.Errorf("insecure: the server's config is insecure=%v, Validate() = %v; want insecure and valid", cfg.Insecure, err)
		}
	}
}

func TestWasmStartupMeasuresBothModesInTheSameRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two clusters")
	}
	sum, err := WasmStartup(t.Context(), WasmStartupOptions{Pods: 3})
	if err != nil {
		t.Fatal(err)
	}
	vals := summaryValues(t, sum, "p50_ms", "p99_ms", "p50_ms_insecure", "p99_ms_insecure",
		"p50_ratio_secure_over_insecure", "p99_ratio_secure_over_insecure", "first_pod_ms_insecure")
	positive(t, vals, "p50_ms", "p99_ms", "p50_ms_insecure", "p99_ms_insecure", "p99_ratio_secure_over_insecure")
}

func TestFleetMeasuresBothModesInTheSameRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds skiff and starts two servers")
	}
	sum, err := Fleet(t.Context(), FleetOptions{Agents: 2, Replicas: 4, Binary: testbed.BuildSkiff(t)})
	if err != nil {
		t.Fatal(err)
	}
	vals := summaryValues(t, sum, "pods", "agents_ready_s", "all_running_s", "bind_per_s", "agents_ready_s_insecure", "all_running_s_insecure",
		"bind_per_s_insecure", "kv_writes_per_pod", "kv_writes_per_pod_insecure", "all_running_ratio_secure_over_insecure", "bind_ratio_secure_over_insecure")
	if vals["pods"] != 6 {
		t.Errorf("pods=%v, want 6 (2 DaemonSet pods and 4 replicas)", vals["pods"])
	}
	positive(t, vals, "bind_per_s", "bind_per_s_insecure", "kv_writes_per_pod", "kv_writes_per_pod_insecure", "bind_ratio_secure_over_insecure")
}

func TestJoinMeasuresJoinsBesideConnects(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	sum, err := Join(t.Context(), JoinOptions{Joins: 3})
	if err != nil {
		t.Fatal(err)
	}
	vals := summaryValues(t, sum, "joins", "join_p50_ms", "join_p99_ms", "baseline_connect_p50_ms", "baseline_connect_p99_ms",
		"ratio_p50", "plain_connect_p50_ms", "connect_p50_ratio_secure_over_insecure")
	if vals["joins"] != 3 {
		t.Errorf("joins=%v, want 3", vals["joins"])
	}
	positive(t, vals, "join_p50_ms", "baseline_connect_p50_ms", "plain_connect_p50_ms")
}

// BenchmarkJoin is one agent's join (pinned TLS, join request, the
// control plane's record, the JWT) against an in-process server with fsync.
func BenchmarkJoin(b *testing.B) {
	env, err := startJoinEnv(b.Context(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer env.stop()
	for i := 0; b.Loop(); i++ {
		if _, err := env.join(b.Context(), "bench-"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnectWithIdentity is a joined node's connect (TLS against the
// CA, JWT, nonce signature): the baseline of BenchmarkJoin.
func BenchmarkConnectWithIdentity(b *testing.B) {
	env, err := startJoinEnv(b.Context(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer env.stop()
	for b.Loop() {
		if _, err := connectTime(env.secure.Server.NATS.ClientURL, env.identity); err != nil {
			b.Fatal(err)
		}
	}
}
