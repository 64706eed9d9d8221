package testbed_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/testbed"
)

// TestExampleWorkloadsRunFromLocalModules applies the README's example
// Deployment, DaemonSet and Job with the CLI, each naming a module beside
// its manifest (image: ./sensor.wasm): apply uploads the modules, and the
// pods run on two real agents (wazero).
func TestExampleWorkloadsRunFromLocalModules(t *testing.T) {
	bin := testbed.BuildSkiff(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: t.TempDir(), Agents: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, c.Server.CA.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"SKIFF_CONFIG=" + filepath.Join(dir, "none.yaml"), "SKIFF_SERVER=" + c.Server.API.URL(),
		"SKIFF_TOKEN=" + c.Token, "SKIFF_CA=" + caFile}
	for _, m := range []string{"sensor-deployment.yaml", "sensor-daemonset.yaml", "hello-job.yaml"} {
		b, err := os.ReadFile(filepath.Join("examples", m))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, m), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testbed.BuildExample(t, "sensor", dir)
	testbed.BuildExample(t, "hello", dir)

	for _, m := range []string{"sensor-deployment.yaml", "sensor-daemonset.yaml", "hello-job.yaml"} {
		if res := testbed.RunCLI(t, bin, env, "apply", "-f", filepath.Join(dir, m)); res.ExitCode != 0 {
			t.Fatalf("apply %s: %s", m, res)
		}
	}
	running := `\s+1/1\s+Running\s+node-\d\s+wasm`
	pollCLI(t, bin, env, []string{`(?s)(sensor-\S+` + running + `.*){3}`}, "get", "pods", "-l", "app=sensor")
	fleet := pollCLI(t, bin, env, []string{`(?s)sensor-fleet-\S+` + running + `.*sensor-fleet-\S+` + running}, "get", "pods", "-l", "app=sensor-fleet")
	pollCLI(t, bin, env, []string{`(?s)(hello-\S+\s+0/1\s+Completed.*){3}`}, "get", "pods", "-l", "batch.kubernetes.io/job-name=hello")
	// A sensor logs its readings with the node it runs on.
	pod := regexp.MustCompile(`sensor-fleet-\S+`).FindString(fleet.Stdout)
	pollCLI(t, bin, env, []string{`reading \d+ node=node-\d temperature=`}, "logs", pod)
}
