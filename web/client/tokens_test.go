package client_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/web/client"
)

func TestTokensThroughClient(t *testing.T) {
	e := startAPI(t)
	ctx := t.Context()
	tok, err := e.client.CreateToken(ctx, api.TokenRequest{Name: "ci", Role: api.RoleView, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Name != "ci" || !strings.HasPrefix(tok.Token, "skiff_ci_") {
		t.Fatalf("created %+v", tok)
	}
	viewer := client.New(e.url, client.WithToken(tok.Token))
	if _, err := viewer.ListPods(ctx, "default"); err != nil {
		t.Fatalf("view token lists pods: %v", err)
	}
	who, err := viewer.WhoAmI(ctx)
	if err != nil || who.Name != "ci" || who.Role != api.RoleView || who.Token != "" {
		t.Fatalf("WhoAmI = %+v, %v", who, err)
	}
	if _, err := viewer.CreatePod(ctx, newPod("nope")); !client.IsForbidden(err) {
		t.Fatalf("view token creates a pod: %v, want IsForbidden", err)
	}
	if _, err := viewer.ListTokens(ctx); !client.IsForbidden(err) {
		t.Fatalf("view token lists tokens: %v, want IsForbidden", err)
	}
	list, err := e.client.ListTokens(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListTokens = %+v, %v", list, err)
	}
	if _, err := e.client.RevokeToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := viewer.ListPods(ctx, "default"); !client.IsUnauthorized(err) {
		t.Fatalf("revoked token: %v, want IsUnauthorized", err)
	}
	if _, err := e.client.RevokeToken(ctx, "ci"); !client.IsNotFound(err) {
		t.Fatalf("second revoke: %v, want IsNotFound", err)
	}
	if _, err := e.client.CreateToken(ctx, api.TokenRequest{Role: "root"}); !client.IsInvalid(err) {
		t.Fatalf("bad role: %v, want IsInvalid", err)
	}
}

func TestClientWithoutTokenIsUnauthorized(t *testing.T) {
	e := startAPI(t)
	_, err := client.New(e.url).ListPods(t.Context(), "")
	if !client.IsUnauthorized(err) {
		t.Fatalf("no token: %v, want IsUnauthorized", err)
	}
	// Health needs no token.
	if err := client.New(e.url).Healthz(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestResolveTokenOnlyForTheConfiguredServer(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	t.Setenv(client.EnvConfig, cfg)
	t.Setenv(client.EnvToken, "")
	check := func(server, want string) {
		t.Helper()
		got, err := client.ResolveToken(server)
		if err != nil || got != want {
			t.Fatalf("ResolveToken(%q) = %q, %v; want %q", server, got, err, want)
		}
	}
	check("http://h:1", "") // no file
	if err := client.WriteConfig(cfg, client.Config{Server: "http://h:1", Token: "from-file"}); err != nil {
		t.Fatal(err)
	}
	check("http://h:1", "from-file")
	check("http://h:1/", "from-file")
	check("http://elsewhere:1", "") // never sent to another server
	t.Setenv(client.EnvToken, "from-env")
	check("http://elsewhere:1", "from-env")
	t.Setenv(client.EnvToken, "")
	if err := os.WriteFile(cfg, []byte("token: [x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ResolveToken("http://h:1"); err == nil {
		t.Fatal("a broken config file was ignored")
	}
}
