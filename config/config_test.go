package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/config"
)

func TestDefaultValidates(t *testing.T) {
	cfg := config.Default()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
	if !cfg.Agent.WasmEnabled() {
		t.Error("the Wasm runtime is off by default, want on")
	}
	if cfg.NodeLifecycle.GracePeriod <= cfg.Agent.LeaseInterval {
		t.Errorf("default grace period %v is not longer than the lease interval %v", cfg.NodeLifecycle.GracePeriod, cfg.Agent.LeaseInterval)
	}
}

func TestValidateNamesEachBadField(t *testing.T) {
	tests := []struct {
		give func(*config.Config)
		want string
	}{
		{func(c *config.Config) { c.DataDir = "" }, "dataDir"},
		{func(c *config.Config) { c.API.Listen = "8080" }, "api.listen"},
		{func(c *config.Config) { c.NATS.Listen = "localhost" }, "nats.listen"},
		{func(c *config.Config) { c.Agent.NodeName = "Not_A_Label" }, "agent.nodeName"},
		{func(c *config.Config) { c.Agent.LeaseInterval = 0 }, "agent.leaseInterval"},
		{func(c *config.Config) { c.Agent.ResyncInterval = -time.Second }, "agent.resyncInterval"},
		{func(c *config.Config) { c.NodeLifecycle.GracePeriod = c.Agent.LeaseInterval }, "nodeLifecycle.gracePeriod"},
		{func(c *config.Config) { c.NATS.Replicas = 0 }, "nats.replicas"},
		{func(c *config.Config) { c.NATS.Replicas = 6 }, "nats.replicas"},
		{func(c *config.Config) { c.LogLevel = "verbose" }, "logLevel"},
		{func(c *config.Config) { c.LogFormat = "xml" }, "logFormat"},
		{func(c *config.Config) { c.SecretsEncryptionKeyring = "keys.json" }, "secretsEncryptionKeyring"},
		{func(c *config.Config) { c.Agent.WasmDefaultMemoryLimit = "lots" }, "agent.wasmDefaultMemoryLimit"},
		{func(c *config.Config) { c.Agent.WasmDefaultMemoryLimit = "-1Mi" }, "agent.wasmDefaultMemoryLimit"},
		{func(c *config.Config) { c.Agent.WasmDefaultMemoryLimit = "1Ki" }, "agent.wasmDefaultMemoryLimit"},
		{func(c *config.Config) { c.Agent.WasmDefaultMemoryLimit = "" }, "agent.wasmDefaultMemoryLimit"},
		{func(c *config.Config) { c.Agent.HostPathAllow = []string{"srv/data"} }, "agent.hostPathAllow[0]"},
		{func(c *config.Config) { c.Agent.HostPathAllow = []string{"/srv", "/srv/../etc"} }, "agent.hostPathAllow[1]"},
		{func(c *config.Config) { c.Agent.HostPathAllow = []string{"/"} }, "agent.hostPathAllow[0]"},
		{func(c *config.Config) { c.Insecure, c.API.Listen = true, "0.0.0.0:8080" }, "insecure"},
		{func(c *config.Config) { c.Insecure, c.NATS.Listen = true, ":4222" }, "insecure"},
		{func(c *config.Config) { c.Insecure, c.NATS.Listen = true, "192.168.1.10:4222" }, "insecure"},
		{func(c *config.Config) { c.Insecure, c.NATS.URL = true, "nats://127.0.0.1:4222" }, "insecure"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			cfg := config.Default()
			tt.give(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an error naming %s", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want+": ") {
				t.Errorf("Validate() = %q, want it to start with %q", err, tt.want+": ")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Validate() = %q, want exactly one problem", err)
			}
		})
	}
}

func TestWasmDefaultMemoryLimitIs128MiAndReadsAsAQuantity(t *testing.T) {
	cfg := config.Default()
	if got := cfg.Agent.WasmDefaultMemoryLimitBytes(); got != 128<<20 {
		t.Errorf("default Wasm memory cap %d bytes, want 128Mi", got)
	}
	for _, tt := range []struct {
		give string
		want int64
	}{
		{"wasmDefaultMemoryLimit: 256Mi", 256 << 20},
		{"wasmDefaultMemoryLimit: 1G", 1_000_000_000},
		{"wasmDefaultMemoryLimit: 0", 0},
		{"wasmDefaultMemoryLimit: 65536", 64 << 10},
	} {
		cfg := config.Default()
		if err := cfg.LoadFile(writeFile(t, "agent:\n  "+tt.give+"\n")); err != nil {
			t.Fatalf("LoadFile(%q): %v", tt.give, err)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: Validate() = %v", tt.give, err)
		}
		if got := cfg.Agent.WasmDefaultMemoryLimitBytes(); got != tt.want {
			t.Errorf("%s: %d bytes, want %d", tt.give, got, tt.want)
		}
	}
}

func TestValidateListsEveryProblemInFieldOrder(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = ""
	cfg.API.Listen = "nope"
	cfg.NATS.Listen = "nope"
	cfg.LogFormat = "xml"
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want four problems")
	}
	lines := strings.Split(err.Error(), "\n")
	var fields []string
	for _, l := range lines {
		f, _, _ := strings.Cut(l, ":")
		fields = append(fields, f)
	}
	want := []string{"dataDir", "api.listen", "nats.listen", "logFormat"}
	if strings.Join(fields, ",") != strings.Join(want, ",") {
		t.Errorf("problems name %v, want %v (in that order):\n%s", fields, want, err)
	}
}

func TestInsecureIsRefusedUnlessEveryListenAddressIsLoopback(t *testing.T) {
	for _, tt := range []struct {
		api, nats string
		wantErr   string // "" when valid
	}{
		{"127.0.0.1:0", "127.0.0.1:-1", ""},
		{"[::1]:8080", "localhost:4222", ""},
		{"127.0.0.2:8080", "LOCALHOST:4222", ""},
		{"0.0.0.0:8080", "127.0.0.1:4222", `insecure: api.listen "0.0.0.0:8080" is not a loopback address`},
		{"127.0.0.1:8080", "[::]:4222", `insecure: nats.listen "[::]:4222" is not a loopback address`},
		{"127.0.0.1:8080", "edge.example:4222", `insecure: nats.listen "edge.example:4222" is not a loopback address`},
	} {
		cfg := config.Default()
		cfg.Insecure, cfg.API.Listen, cfg.NATS.Listen = true, tt.api, tt.nats
		err := cfg.Validate()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("insecure on %s, %s: Validate() = %v, want nil", tt.api, tt.nats, err)
		case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
			t.Errorf("insecure on %s, %s: Validate() = %v, want %q", tt.api, tt.nats, err, tt.wantErr)
		}
	}
	// Off (the default), any address is fine.
	cfg := config.Default()
	cfg.API.Listen, cfg.NATS.Listen = "0.0.0.0:8080", "0.0.0.0:4222"
	if err := cfg.Validate(); err != nil {
		t.Errorf("secure on every interface: Validate() = %v, want nil", err)
	}
}

func TestLoadFileReadsInsecure(t *testing.T) {
	cfg := config.Default()
	if cfg.Insecure {
		t.Fatal("Default() is insecure, want TLS and authentication on")
	}
	if err := cfg.LoadFile(writeFile(t, "insecure: true\n")); err != nil {
		t.Fatal(err)
	}
	if !cfg.Insecure {
		t.Error("insecure: true in the file did not set Insecure")
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "skiff.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileRefusesUnknownKeys(t *testing.T) {
	for _, tt := range []struct{ give, want string }{
		{"logLevel: debug\nbogus: 1\n", `"bogus"`},
		{"nats:\n  listn: 127.0.0.1:4222\n", `"listn"`},
		{"agent:\n  leaseInterval: 5s\n  lease: 5s\n", `"lease"`},
	} {
		cfg := config.Default()
		err := cfg.LoadFile(writeFile(t, tt.give))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadFile(%q) = %v, want an error naming %s", tt.give, err, tt.want)
		}
	}
}

func TestLoadFileRefusesDuplicateKeys(t *testing.T) {
	cfg := config.Default()
	err := cfg.LoadFile(writeFile(t, "logLevel: debug\nlogLevel: warn\n"))
	if err == nil || !strings.Contains(err.Error(), "logLevel") {
		t.Fatalf("LoadFile = %v, want an error naming logLevel", err)
	}
}

func TestLoadFileOverlaysOntoWhatIsSet(t *testing.T) {
	cfg := config.Default()
	err := cfg.LoadFile(writeFile(t, "logLevel: debug\nnats:\n  replicas: 3\nagent:\n  labels:\n    zone: \"1\"\n    tier: edge\n"))
	if err != nil {
		t.Fatal(err)
	}
	def := config.Default()
	if cfg.LogLevel != "debug" || cfg.NATS.Replicas != 3 || cfg.Agent.Labels["zone"] != "1" || cfg.Agent.Labels["tier"] != "edge" {
		t.Errorf("file values not applied: logLevel %q replicas %d labels %v", cfg.LogLevel, cfg.NATS.Replicas, cfg.Agent.Labels)
	}
	if cfg.NATS.Listen != def.NATS.Listen || cfg.API.Listen != def.API.Listen || cfg.Agent.LeaseInterval != def.Agent.LeaseInterval {
		t.Errorf("values the file does not set changed: %+v", cfg)
	}
}

func TestLoadFileReadsDurationsAsWrittenInTheDocs(t *testing.T) {
	cfg := config.Default()
	err := cfg.LoadFile(writeFile(t, "agent:\n  leaseInterval: 5s\n  resyncInterval: 1m30s\nnodeLifecycle:\n  gracePeriod: 20s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Agent.LeaseInterval != 5*time.Second || cfg.Agent.ResyncInterval != 90*time.Second || cfg.NodeLifecycle.GracePeriod != 20*time.Second {
		t.Errorf("durations = lease %v resync %v grace %v, want 5s 1m30s 20s", cfg.Agent.LeaseInterval, cfg.Agent.ResyncInterval, cfg.NodeLifecycle.GracePeriod)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}

	// Nanoseconds, as time.Duration marshals, still work.
	cfg = config.Default()
	if err := cfg.LoadFile(writeFile(t, "agent:\n  leaseInterval: 5000000000\n")); err != nil {
		t.Fatal(err)
	}
	if cfg.Agent.LeaseInterval != 5*time.Second {
		t.Errorf("leaseInterval = %v, want 5s", cfg.Agent.LeaseInterval)
	}
}

func TestLoadFileNamesABadDuration(t *testing.T) {
	cfg := config.Default()
	err := cfg.LoadFile(writeFile(t, "nodeLifecycle:\n  gracePeriod: soon\n"))
	if err == nil || !strings.Contains(err.Error(), "nodeLifecycle.gracePeriod") {
		t.Fatalf("LoadFile = %v, want an error naming nodeLifecycle.gracePeriod", err)
	}
	if cfg.NodeLifecycle.GracePeriod != config.Default().NodeLifecycle.GracePeriod {
		t.Errorf("a refused file changed gracePeriod to %v", cfg.NodeLifecycle.GracePeriod)
	}
}

func TestLoadFileMissingFileSaysSo(t *testing.T) {
	cfg := config.Default()
	err := cfg.LoadFile(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadFile(absent) = %v, want a not-exist error", err)
	}
}

func TestPathIsUnderDataDir(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = "/srv/skiff"
	if got := cfg.Path("jetstream"); got != "/srv/skiff/jetstream" {
		t.Errorf("Path(jetstream) = %q", got)
	}
}
