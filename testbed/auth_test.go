package testbed_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/web/client"
)

// get sends GET path with token ("" for none) and returns the code and
// body.
func get(t *testing.T, hc *http.Client, base, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set(api.AuthorizationHeader, api.BearerPrefix+token)
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestSkiffUpGuardsTheAPIWithAnAdminTokenItWritesDown runs the binary:
// `skiff up` makes an admin token, keeps it in its data dir and writes it
// into the client config (both 0600); the API refuses requests without
// it; the CLI uses it to make a view token, which works only in its
// namespace; a restart keeps the same admin token.
func TestSkiffUpGuardsTheAPIWithAnAdminTokenItWritesDown(t *testing.T) {
	bin := testbed.BuildSkiff(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "client.yaml")
	env := []string{"SKIFF_CONFIG=" + cfgPath, "SKIFF_SERVER=", "SKIFF_TOKEN="}
	dataDir := filepath.Join(dir, "data")
	args := []string{"up", "--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:-1", "--data-dir", dataDir, "--node-name", "edge-1"}
	up := testbed.StartProcess(t, bin, env, args...)
	base := up.WaitOutput(t, apiLine, 60*time.Second)

	cfg, err := client.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.Token, auth.TokenPrefix+"admin-") || cfg.Server != base {
		t.Fatalf("client config = server %q token %q", cfg.Server, cfg.Token)
	}
	hc := testbed.HTTPClient([]byte(cfg.CA))
	if m := mode(t, cfgPath); m != 0o600 {
		t.Errorf("client config mode %v, want 0600", m)
	}
	tokenFile := filepath.Join(dataDir, auth.AdminTokenFile)
	if m := mode(t, tokenFile); m != 0o600 {
		t.Errorf("admin token file mode %v, want 0600", m)
	}

	if code, body := get(t, hc, base, "/api/v1/pods", ""); code != http.StatusUnauthorized || !strings.Contains(body, `"reason":"Unauthorized"`) {
		t.Fatalf("no token: %d %s", code, body)
	}
	if code, _ := get(t, hc, base, "/api/v1/pods", cfg.Token); code != http.StatusOK {
		t.Fatalf("admin token: %d", code)
	}
	if code, _ := get(t, hc, base, api.HealthzPath, ""); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}
	code, metrics := get(t, hc, base, "/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("metrics: %d", code)
	}
	for _, series := range []string{"skiff_api_request_duration_seconds_count{", "skiff_kv_operation_duration_seconds_count{", "skiff_agents_connected ",
		`skiff_pods{phase="Running"}`, "skiff_scheduler_attempts_total{", "go_goroutines "} {
		if !strings.Contains(metrics, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}

	res := testbed.RunCLI(t, bin, env, "token", "create", "--role", "view", "--namespace", "team-a", "--name", "viewer")
	if res.ExitCode != 0 || !regexp.MustCompile(`^skiff_viewer_\S{43}\n$`).MatchString(res.Stdout) {
		t.Fatalf("token create: %s", res)
	}
	viewEnv := append(append([]string(nil), env...), "SKIFF_TOKEN="+strings.TrimSpace(res.Stdout))
	if res := testbed.RunCLI(t, bin, viewEnv, "get", "pods", "-n", "team-a"); res.ExitCode != 0 {
		t.Fatalf("view token in team-a: %s", res)
	}
	res = testbed.RunCLI(t, bin, viewEnv, "get", "pods", "-n", "team-b")
	if res.ExitCode != 1 || !strings.Contains(res.Stderr, `cannot list pods in namespace "team-b"`) {
		t.Fatalf("view token in team-b: %s", res)
	}
	res = testbed.RunCLI(t, bin, viewEnv, "apply", "-f", filepath.Join(exampleDir(t), "hello-wasm.yaml"), "-n", "team-a")
	if res.ExitCode != 1 || !strings.Contains(res.Stderr, `token "viewer" (view, namespace team-a) cannot create`) {
		t.Fatalf("view token applies: %s", res)
	}

	// A restart reuses the admin token.
	up.Stop()
	up = testbed.StartProcess(t, bin, env, args...)
	up.WaitOutput(t, apiLine, 60*time.Second)
	again, err := client.LoadConfig(cfgPath)
	if err != nil || again.Token != cfg.Token {
		t.Fatalf("after a restart the token is %q (%v), want the same %q", again.Token, err, cfg.Token)
	}
}
