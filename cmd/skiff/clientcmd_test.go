package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/artifacts"
	"github.com/skiff-sh/skiff/controlplane/events"
	"github.com/skiff-sh/skiff/controlplane/natsserver"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
	"github.com/skiff-sh/skiff/web"
	"github.com/skiff-sh/skiff/web/client"
)

// cliLogs is a LogSource that answers with a fixed log.
type cliLogs struct{}

func (cliLogs) PodLogs(_ context.Context, pod *api.Pod, req api.LogRequest) ([]byte, error) {
	tail := "all"
	if req.TailLines != nil {
		tail = fmt.Sprint(*req.TailLines)
	}
	run := ""
	if req.Previous {
		run = " previous run"
	}
	return fmt.Appendf(nil, "log of %s/%s container %s tail %s%s\n", pod.Namespace, pod.Name, req.Container, tail, run), nil
}

// cliEnv is a real API server over a real store, for running the client
// commands in-process against it.
type cliEnv struct {
	t      *testing.T
	server string
	store  *store.Store
	nats   string              // the NATS server's client URL
	js     jetstream.JetStream // where the events stream is
}

func startCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	return startCLIEnvWith(t, true)
}

// startCLIEnvWith starts the env; withEvents serves the events endpoints
// from the events stream, as skiff server does.
func startCLIEnvWith(t *testing.T, withEvents bool) *cliEnv {
	t.Helper()
	isolateClientConfig(t)
	ns, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, js, store.Options{Keyring: natstest.Keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	arts, err := artifacts.Open(ctx, js, nc, artifacts.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var opts []web.ServerOption
	if withEvents {
		if _, err := events.EnsureStream(ctx, js, events.StreamOptions{}); err != nil {
			t.Fatal(err)
		}
		opts = append(opts, web.WithEvents(events.NewReader(js)))
	}
	srv := web.New(web.Options{Listen: "127.0.0.1:0"}, st, cliLogs{}, arts, nil, opts...)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return &cliEnv{t: t, server: srv.URL(), store: st, nats: ns.ClientURL(), js: js}
}

// isolateClientConfig keeps the tests away from the user's config file
// and environment.
func isolateClientConfig(t *testing.T) {
	t.Helper()
	t.Setenv(client.EnvConfig, filepath.Join(t.TempDir(), "config.yaml"))
	t.Setenv(client.EnvServer, "")
}

// runCLI runs the skiff command tree in-process.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// run runs a client command against the env's server.
func (e *cliEnv) run(args ...string) (string, string, error) {
	e.t.Helper()
	return runCLI(e.t, "", append(args, "--server", e.server)...)
}

// mustRun runs a command that must succeed and returns its output.
func (e *cliEnv) mustRun(args ...string) string {
	e.t.Helper()
	out, errOut, err := e.run(args...)
	if err != nil {
		e.t.Fatalf("skiff %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// pod reads a pod from the store; nil if there is none.
func (e *cliEnv) pod(ns, name string) *api.Pod {
	e.t.Helper()
	p, err := store.For[*api.Pod](e.store).Get(e.t.Context(), ns, name)
	if err != nil {
		return nil
	}
	return p
}

// closedServer is a URL where nothing listens.
func closedServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestClientCommandsWithoutServerSayHowToStartOne(t *testing.T) {
	isolateClientConfig(t)
	server := closedServer(t)
	want := `cannot reach the Skiff API at ` + server + ` (connection refused); start one with "skiff up" or set --server/SKIFF_SERVER`
	dir := t.TempDir()
	manifest := writeFile(t, dir, "p.yaml", podManifest("p", "nginx:1"))
	for _, args := range [][]string{
		{"get", "pods"},
		{"get", "nodes"},
		{"logs", "p"},
		{"delete", "pod", "p"},
		{"apply", "-f", manifest},
	} {
		_, _, err := runCLI(t, "", append(args, "--server", server)...)
		if err == nil || err.Error() != want {
			t.Errorf("skiff %s: error\n %v\nwant\n %s", strings.Join(args, " "), err, want)
		}
	}
}

func TestServerComesFromEnvThenConfigFile(t *testing.T) {
	e := startCLIEnv(t)
	t.Setenv(client.EnvServer, e.server)
	if _, _, err := runCLI(t, "", "get", "pods"); err != nil {
		t.Fatalf("with %s set: %v", client.EnvServer, err)
	}
	t.Setenv(client.EnvServer, "")
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	t.Setenv(client.EnvConfig, cfg)
	if err := client.WriteConfig(cfg, client.Config{Server: e.server}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "", "get", "pods"); err != nil {
		t.Fatalf("with the config file: %v", err)
	}
	// The flag wins over both.
	_, _, err := runCLI(t, "", "get", "pods", "--server", closedServer(t))
	if err == nil || !strings.Contains(err.Error(), "cannot reach the Skiff API") {
		t.Fatalf("--server did not win: %v", err)
	}
}

func TestAge(t *testing.T) {
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		give time.Duration
		want string
	}{
		{0, "0s"}, {5 * time.Second, "5s"}, {119 * time.Second, "119s"}, {3 * time.Minute, "3m"},
		{2 * time.Hour, "2h"}, {47 * time.Hour, "47h"}, {4 * 24 * time.Hour, "4d"}, {3 * 365 * 24 * time.Hour, "3y"},
		{-time.Minute, "0s"},
	}
	for _, tt := range tests {
		if got := age(now.Add(-tt.give), now); got != tt.want {
			t.Errorf("age(%v ago) = %q, want %q", tt.give, got, tt.want)
		}
	}
	if got := age(time.Time{}, now); got != "<unknown>" {
		t.Errorf("age(zero) = %q", got)
	}
}
