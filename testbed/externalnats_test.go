package testbed_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/testbed"
)

// TestAgentOutlivesTheControlPlaneOnAnExternalNATS runs a real nats-server
// from the configuration `skiff nats server-config` writes, a `skiff
// server` on it, and an agent that joins with a token. With the control
// plane gone and the NATS server still up, a restarted agent connects
// with the identity it keeps (the NATS server checks it alone); when the
// control plane is back, the node is Ready again. Anonymous clients are
// refused by the external server too.
func TestAgentOutlivesTheControlPlaneOnAnExternalNATS(t *testing.T) {
	bin := testbed.BuildSkiff(t)
	dir := t.TempDir()
	env := []string{"SKIFF_CONFIG=" + filepath.Join(dir, "client.yaml"), "SKIFF_SERVER=", "SKIFF_TOKEN="}
	dataDir := filepath.Join(dir, "server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := l.Addr().String()
	l.Close()
	conf := filepath.Join(dir, "nats.conf")
	if res := testbed.RunCLI(t, bin, env, "nats", "server-config", "--data-dir", dataDir, "--listen", natsAddr, "--out", conf); res.ExitCode != 0 {
		t.Fatalf("nats server-config: %s", res)
	}
	ns := startNATSFromConfig(t, conf)
	natsURL := "tls://" + natsAddr
	if nc, err := nats.Connect(natsURL, nats.RootCAs(filepath.Join(dataDir, "pki", "ca.crt"))); err == nil {
		nc.Close()
		t.Fatal("the external NATS accepted an anonymous client")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("anonymous client: %v; want an authorization violation", err)
	}

	start := func() *testbed.Process {
		p := testbed.StartProcess(t, bin, env, "server", "--listen", "127.0.0.1:0", "--nats-url", natsURL, "--data-dir", dataDir)
		p.WaitOutput(t, apiLine, 60*time.Second)
		return p
	}
	srv := start()
	tok := testbed.RunCLI(t, bin, env, "token", "create", "--join")
	if tok.ExitCode != 0 {
		t.Fatalf("token create --join: %s", tok)
	}
	agentArgs := []string{"agent", "--server", natsURL, "--node-name", "ext-1", "--data-dir", filepath.Join(dir, "agent")}
	agent := testbed.StartProcess(t, bin, nil, append(agentArgs, "--token", strings.TrimSpace(tok.Stdout))...)
	agent.WaitOutput(t, regexp.MustCompile(`Skiff agent ext-1 is running`), 60*time.Second)
	pollCLI(t, bin, env, []string{`ext-1\s+Ready`}, "get", "nodes")

	// The control plane goes; the NATS server stays. The agent restarts
	// and connects with its stored identity.
	srv.Stop()
	agent.Stop()
	agent = testbed.StartProcess(t, bin, nil, agentArgs...)
	agent.WaitOutput(t, regexp.MustCompile(`Skiff agent ext-1 is running`), 60*time.Second)
	if err := testbed.Poll(context.Background(), 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		cz, err := ns.Connz(&server.ConnzOptions{Account: "", Username: true})
		if err != nil {
			return false, err
		}
		for _, c := range cz.Conns {
			if c.Name == "skiff-agent-ext-1" {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatalf("the restarted agent is not connected to the external NATS: %v\n%s", err, agent.Stderr())
	}
	if strings.Contains(agent.Stderr(), "refused this node's credential") {
		t.Fatalf("the external NATS refused the stored identity:\n%s", agent.Stderr())
	}

	// The control plane returns: the node is Ready again.
	start()
	pollCLI(t, bin, env, []string{`ext-1\s+Ready`}, "get", "nodes")
}

// startNATSFromConfig runs a nats-server in this process from a
// configuration file, as `nats-server -c FILE` would.
func startNATSFromConfig(t *testing.T, path string) *server.Server {
	t.Helper()
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		b, _ := os.ReadFile(path)
		t.Fatalf("nats-server cannot read %s: %v\n%s", path, err, b)
	}
	opts.NoSigs = true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		t.Fatal("the external nats-server did not start")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}
