package config_test

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/config"
)

func TestContainerdDefaults(t *testing.T) {
	a := config.Default().Agent
	if a.ContainerdSocket != "/run/containerd/containerd.sock" || a.ContainerdNamespace != "skiff" || a.Containerd != nil {
		t.Fatalf("defaults socket %q namespace %q containerd %v, want the host socket, skiff, unset",
			a.ContainerdSocket, a.ContainerdNamespace, a.Containerd)
	}
	var zero config.AgentConfig
	if zero.ContainerdSocketOrDefault() != config.DefaultContainerdSocket || zero.ContainerdNamespaceOrDefault() != "skiff" {
		t.Fatal("empty socket or namespace does not fall back to the defaults")
	}
}

func TestContainerdModeFollowsTheSocketUnlessSet(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "containerd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	on, off := true, false
	tests := []struct {
		name                      string
		give                      config.AgentConfig
		wantEnabled, wantExplicit bool
	}{
		{"socket there", config.AgentConfig{ContainerdSocket: sock}, true, false},
		{"unix:// socket there", config.AgentConfig{ContainerdSocket: "unix://" + sock}, true, false},
		{"no socket", config.AgentConfig{ContainerdSocket: filepath.Join(dir, "none.sock")}, false, false},
		{"a file that is not a socket", config.AgentConfig{ContainerdSocket: dir}, false, false},
		{"on without a socket", config.AgentConfig{Containerd: &on, ContainerdSocket: filepath.Join(dir, "none.sock")}, true, true},
		{"off with a socket", config.AgentConfig{Containerd: &off, ContainerdSocket: sock}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enabled, explicit := tt.give.ContainerdMode()
			if enabled != tt.wantEnabled || explicit != tt.wantExplicit {
				t.Errorf("ContainerdMode() = %v, %v; want %v, %v", enabled, explicit, tt.wantEnabled, tt.wantExplicit)
			}
		})
	}
}

func TestValidateNamesBadContainerdSettings(t *testing.T) {
	tests := []struct {
		give func(*config.Config)
		want string
	}{
		{func(c *config.Config) { c.Agent.ContainerdNamespace = "-skiff" }, "agent.containerdNamespace"},
		{func(c *config.Config) { c.Agent.ContainerdNamespace = "a/b" }, "agent.containerdNamespace"},
		{func(c *config.Config) { c.Agent.ContainerdNamespace = strings.Repeat("n", 77) }, "agent.containerdNamespace"},
		{func(c *config.Config) { c.Agent.ContainerdSocket = "run/containerd.sock" }, "agent.containerdSocket"},
		{func(c *config.Config) { c.Agent.RestartBackoff = -time.Second }, "agent.restartBackoff"},
	}
	for _, tt := range tests {
		cfg := config.Default()
		tt.give(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tt.want+": ") {
			t.Errorf("Validate() = %v, want an error naming %s", err, tt.want)
		}
	}
	cfg := config.Default()
	cfg.Agent.ContainerdNamespace = "skifftest-ab12.x_y"
	cfg.Agent.ContainerdSocket = "unix:///run/containerd/containerd.sock"
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate() of a good namespace and a unix:// socket = %v", err)
	}
}

func TestLoadFileReadsContainerdSettings(t *testing.T) {
	cfg := config.Default()
	p := writeFile(t, "agent:\n  containerd: true\n  containerdSocket: /tmp/c.sock\n  containerdNamespace: edge\n  restartBackoff: 2s\n")
	if err := cfg.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	a := cfg.Agent
	if a.Containerd == nil || !*a.Containerd || a.ContainerdSocket != "/tmp/c.sock" || a.ContainerdNamespace != "edge" || a.RestartBackoff != 2*time.Second {
		t.Fatalf("loaded %+v", a)
	}
}
