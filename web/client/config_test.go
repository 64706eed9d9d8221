package client_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/skiff-sh/skiff/web/client"
)

func TestWriteConfigIsPrivateAndLoadsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "skiff", "config.yaml")
	want := client.Config{Server: "http://10.0.0.1:8080", NATS: "nats://10.0.0.1:4222", Token: "skiff_admin-x_secret"}
	if err := client.WriteConfig(path, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode = %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("config dir mode = %v, want 0700", di.Mode().Perm())
	}
	got, err := client.LoadConfig(path)
	if err != nil || got != want {
		t.Fatalf("LoadConfig = %+v, %v; want %+v", got, err, want)
	}
	// Overwriting keeps the mode.
	if err := client.WriteConfig(path, client.Config{Server: "http://h:1"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := client.LoadConfig(path); got.Server != "http://h:1" || got.NATS != "" {
		t.Fatalf("after rewrite: %+v", got)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := client.LoadConfig(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v, want fs.ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("server: http://h:1\nsevrer: typo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.LoadConfig(bad); err == nil {
		t.Fatal("unknown key accepted")
	}
}

func TestResolveServerOrder(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	t.Setenv(client.EnvConfig, cfg)
	t.Setenv(client.EnvServer, "")

	check := func(flag, want string) {
		t.Helper()
		got, err := client.ResolveServer(flag)
		if err != nil || got != want {
			t.Fatalf("ResolveServer(%q) = %q, %v; want %q", flag, got, err, want)
		}
	}
	check("", client.DefaultServer) // no flag, env or file
	if err := client.WriteConfig(cfg, client.Config{Server: "http://from-file:1"}); err != nil {
		t.Fatal(err)
	}
	check("", "http://from-file:1")
	t.Setenv(client.EnvServer, "from-env:2")
	check("", "https://from-env:2")
	check("http://from-flag:3", "http://from-flag:3")

	t.Setenv(client.EnvServer, "")
	if err := os.WriteFile(cfg, []byte("not: [valid"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ResolveServer(""); err == nil {
		t.Fatal("a broken config file was ignored")
	}
}

func TestDefaultConfigPath(t *testing.T) {
	t.Setenv(client.EnvConfig, "/tmp/x.yaml")
	if got := client.DefaultConfigPath(); got != "/tmp/x.yaml" {
		t.Fatalf("with %s: %q", client.EnvConfig, got)
	}
	t.Setenv(client.EnvConfig, "")
	t.Setenv("HOME", "/home/someone")
	if got := client.DefaultConfigPath(); got != "/home/someone/.config/skiff/config.yaml" {
		t.Fatalf("default: %q", got)
	}
}
