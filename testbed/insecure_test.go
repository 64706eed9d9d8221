package testbed_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/testbed"
)

// TestInsecureClusterServesPlainHTTPAndAnonymousNATS: with config
// Insecure (benchmarks only) the API serves plain HTTP, the embedded NATS
// takes anonymous clients over plain TCP, no identities are issued, and
// an agent without credentials joins and becomes Ready.
func TestInsecureClusterServesPlainHTTPAndAnonymousNATS(t *testing.T) {
	c, err := testbed.StartCluster(t.Context(), testbed.ClusterOptions{
		Dir: t.TempDir(), Agents: 1, NoSync: true,
		Configure: func(cfg *config.Config) { cfg.Insecure = true },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(t.Context()) })

	base := c.Server.API.URL()
	if !strings.HasPrefix(base, "http://") {
		t.Fatalf("API at %s, want plain http://", base)
	}
	if code, body := get(t, http.DefaultClient, base, "/api/v1/nodes", c.Token); code != http.StatusOK || !strings.Contains(body, "node-1") {
		t.Errorf("GET /api/v1/nodes over plain HTTP = %d %s, want 200 listing node-1", code, body)
	}
	if code, _ := get(t, http.DefaultClient, base, "/api/v1/nodes", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/nodes without a token = %d, want 401: insecure turns off TLS and NATS authentication, not the API's tokens", code)
	}
	if c.Server.Identities != nil {
		t.Error("an insecure server runs the identity service, want none")
	}
	url := c.Server.NATS.ClientURL
	if !strings.HasPrefix(url, "nats://") {
		t.Fatalf("NATS at %s, want nats:// (no TLS)", url)
	}
	nc, err := nats.Connect(url, nats.Name("insecure-test"))
	if err != nil {
		t.Fatalf("anonymous plain connection to the insecure NATS: %v", err)
	}
	defer nc.Close()
	if nc.TLSRequired() {
		t.Error("the insecure NATS asks for TLS")
	}
}
