package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/testbed/natstest"
	"github.com/skiff-sh/skiff/web"
	"github.com/skiff-sh/skiff/web/client"
)

// startAuthCLIEnv runs an API server with authentication and writes a
// client config naming it with an admin token, as `skiff up` does.
func startAuthCLIEnv(t *testing.T) (server, admin string) {
	t.Helper()
	isolateClientConfig(t)
	t.Setenv(client.EnvToken, "")
	st, _, js := natstest.Store(t)
	tokens, err := auth.Open(t.Context(), js, auth.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tokens.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tokens.Stop)
	admin, err = tokens.EnsureAdminToken(t.Context(), filepath.Join(t.TempDir(), auth.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	srv := web.New(web.Options{Listen: "127.0.0.1:0"}, st, cliLogs{}, nil, nil, web.WithAuth(tokens))
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	if err := client.WriteConfig(client.DefaultConfigPath(), client.Config{Server: srv.URL(), Token: admin}); err != nil {
		t.Fatal(err)
	}
	return srv.URL(), admin
}

func TestTokenCreatePrintsATokenThatWorksWithinItsScope(t *testing.T) {
	startAuthCLIEnv(t)
	out, errOut, err := runCLI(t, "", "token", "create", "--role", "view", "--namespace", "team-a", "--name", "ci", "--ttl", "24h")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, errOut)
	}
	tok := strings.TrimSpace(out)
	if !regexp.MustCompile(`^skiff_ci_[A-Za-z0-9_-]{43}$`).MatchString(tok) {
		t.Fatalf("stdout = %q, want only the token", out)
	}
	if !strings.Contains(errOut, `token "ci" (view, namespace team-a, expires `) || !strings.Contains(errOut, "shown only once") {
		t.Fatalf("stderr = %q", errOut)
	}

	t.Setenv(client.EnvToken, tok)
	if _, errOut, err := runCLI(t, "", "get", "pods", "-n", "team-a"); err != nil {
		t.Fatalf("view token in its namespace: %v %s", err, errOut)
	}
	_, _, err = runCLI(t, "", "get", "pods", "-n", "team-b")
	if !client.IsForbidden(err) || !strings.Contains(err.Error(), `namespace "team-b"`) {
		t.Fatalf("view token elsewhere: %v, want forbidden naming team-b", err)
	}
	_, _, err = runCLI(t, "", "token", "list")
	if !client.IsForbidden(err) || !strings.Contains(err.Error(), "admin token") {
		t.Fatalf("view token lists tokens: %v", err)
	}
	out, _, err = runCLI(t, "", "token", "whoami")
	if err != nil || !strings.Contains(out, `token "ci" (view, namespace team-a`) {
		t.Fatalf("whoami = %q, %v", out, err)
	}
}

func TestTokenListAndRevoke(t *testing.T) {
	startAuthCLIEnv(t)
	out, _, err := runCLI(t, "", "token", "create", "--role", "edit", "--name", "deployer")
	if err != nil {
		t.Fatal(err)
	}
	deployer := strings.TrimSpace(out)
	out, _, err = runCLI(t, "", "token", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`NAME\s+ROLE\s+NAMESPACE\s+AGE\s+EXPIRES`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^admin-\S+\s+admin\s+\*\s+\d+s\s+never$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^deployer\s+edit\s+\*\s+\d+s\s+never$`).MatchString(out) || strings.Contains(out, deployer) {
		t.Fatalf("list:\n%s", out)
	}
	out, _, err = runCLI(t, "", "token", "revoke", "deployer")
	if err != nil || !strings.Contains(out, `token "deployer" revoked`) {
		t.Fatalf("revoke: %q %v", out, err)
	}
	t.Setenv(client.EnvToken, deployer)
	_, _, err = runCLI(t, "", "get", "pods")
	if !client.IsUnauthorized(err) {
		t.Fatalf("revoked token: %v, want unauthorized", err)
	}
	t.Setenv(client.EnvToken, "")
	if _, _, err := runCLI(t, "", "token", "revoke", "deployer"); !client.IsNotFound(err) {
		t.Fatalf("revoke again: %v, want not found", err)
	}
}

func TestTokenCreateBadInput(t *testing.T) {
	startAuthCLIEnv(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "create"}, "--role is required"},
		{[]string{"token", "create", "--role", "root"}, `"root" is not one of admin, edit, view`},
		{[]string{"token", "create", "--role", "view", "--namespace", "Team_A"}, "namespace"},
		{[]string{"token", "create", "--role", "view", "--ttl", "-1h"}, "--ttl"},
		{[]string{"token", "create", "--role", "view", "--ttl", "soon"}, "invalid argument"},
	} {
		_, _, err := runCLI(t, "", tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("skiff %s: %v, want an error saying %s", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}

func TestClientCommandsSendTheConfigTokenOnlyToItsServer(t *testing.T) {
	server, _ := startAuthCLIEnv(t)
	if _, errOut, err := runCLI(t, "", "get", "pods"); err != nil {
		t.Fatalf("with the config's token: %v %s", err, errOut)
	}
	// Another address of the same server: the config's token is not sent.
	other := strings.Replace(server, "127.0.0.1", "localhost", 1)
	_, _, err := runCLI(t, "", "get", "pods", "--server", other)
	if !client.IsUnauthorized(err) || !strings.Contains(err.Error(), "bearer token") {
		t.Fatalf("--server elsewhere: %v, want unauthorized", err)
	}
	// The config without a token: 401 that says how to get one.
	if err := client.WriteConfig(client.DefaultConfigPath(), client.Config{Server: server}); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, "", "get", "pods")
	if !client.IsUnauthorized(err) || !strings.Contains(err.Error(), "skiff token create") {
		t.Fatalf("no token: %v", err)
	}
}
