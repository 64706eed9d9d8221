package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// loadAgentFlags parses args as `skiff agent` flags and loads the config.
func loadAgentFlags(t *testing.T, args ...string) ([]string, error) {
	t.Helper()
	var f serveFlags
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	f.register(fs, false, true)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	cfg, err := f.load(fs)
	return cfg.Agent.HostPathAllow, err
}

func TestHostPathAllowComesFromTheFlagOrTheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "skiff.yaml")
	if err := os.WriteFile(file, []byte("agent:\n  hostPathAllow: [/from/file]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		give []string
		want []string
	}{
		{nil, nil},
		{[]string{"--host-path-allow", "/srv/a,/srv/b", "--host-path-allow", "/data"}, []string{"/srv/a", "/srv/b", "/data"}},
		{[]string{"--config", file}, []string{"/from/file"}},
		{[]string{"--config", file, "--host-path-allow", "/data"}, []string{"/data"}},
	}
	for _, tt := range tests {
		got, err := loadAgentFlags(t, tt.give...)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%q: hostPathAllow %q (%v), want %q", tt.give, got, err, tt.want)
		}
	}
}

func TestABadHostPathAllowIsRefusedNamingTheField(t *testing.T) {
	for _, give := range []string{"relative/dir", "/", "/srv/../etc"} {
		_, err := loadAgentFlags(t, "--host-path-allow", "/srv", "--host-path-allow", give)
		if err == nil || !strings.Contains(err.Error(), "agent.hostPathAllow[1]") {
			t.Errorf("--host-path-allow %q: %v, want an error naming agent.hostPathAllow[1]", give, err)
		}
	}
}
