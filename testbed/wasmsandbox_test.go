package testbed_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/testbed/fixtures"
	"github.com/skiff-sh/skiff/web/client"
)

// terminated waits for the pod's only container to have terminated and
// returns that state.
func terminated(t *testing.T, c *testbed.Cluster, name string) *api.ContainerStateTerminated {
	t.Helper()
	p := waitPod(t, c, "default", name, "terminated", func(p *api.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Terminated != nil
	})
	return p.Status.ContainerStatuses[0].State.Terminated
}

// The incident: a tenant with an edit token runs a Wasm pod with only an
// emptyDir, and from it tries to reach the server's admin token on the same
// machine through symlinks, "..", hard links and renames.
func TestWasmPodWithAnEmptyDirCannotReadTheAdminToken(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: dir, Agents: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
	})
	adminTokenFile := filepath.Join(dir, "server", auth.AdminTokenFile)
	if b, err := os.ReadFile(adminTokenFile); err != nil || strings.TrimSpace(string(b)) != c.Token {
		t.Fatalf("the admin token is not where the attacker looks (%s): %v", adminTokenFile, err)
	}

	edit, err := c.Client.CreateToken(ctx, api.TokenRequest{Name: "tenant", Role: api.RoleEdit, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	tenant := client.New(c.Server.API.URL(), client.WithToken(edit.Token), client.WithCA(c.Server.CA.PEM))
	f, err := os.Open(fixtures.BuildWasm(t, "escape"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	image, err := tenant.UploadArtifact(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	pod := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "escape", Namespace: "default"},
		Spec: api.PodSpec{
			RuntimeClassName: api.RuntimeClassWasm,
			RestartPolicy:    api.RestartPolicyNever,
			Volumes:          []api.Volume{{Name: "scratch", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}}},
			Containers: []api.Container{{
				Name: "attacker", Image: image,
				Args:         []string{"attack", "/scratch", adminTokenFile},
				VolumeMounts: []api.VolumeMount{{Name: "scratch", MountPath: "/scratch"}},
			}},
		},
	}
	if _, err := tenant.CreatePod(ctx, pod); err != nil {
		t.Fatal(err)
	}
	term := terminated(t, c, "escape")
	logs, err := tenant.PodLogs(ctx, "default", "escape", api.LogRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(logs), c.Token) {
		t.Fatalf("the Wasm pod read the admin token:\n%s", logs)
	}
	if term.ExitCode != 0 || !strings.Contains(string(logs), "every attempt was blocked") ||
		!strings.Contains(string(logs), "symlink-up: blocked: ") {
		t.Fatalf("exit %+v, want 0 with every attempt blocked; output:\n%s", term, logs)
	}
}

// A Wasm container without resources.limits.memory gets the agent's
// default cap (128Mi unless agent.wasmDefaultMemoryLimit says otherwise);
// one with a limit gets its own.
func TestWasmContainerWithoutAMemoryLimitIsCappedAtTheDefault(t *testing.T) {
	c := startCluster(t, 1)
	image := uploadProbe(t, c)
	ctx := context.Background()
	allocPod := func(name string, limits api.ResourceList) *api.Pod {
		return &api.Pod{
			ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.PodSpec{
				RuntimeClassName: api.RuntimeClassWasm,
				RestartPolicy:    api.RestartPolicyNever,
				Containers: []api.Container{{
					Name: "alloc", Image: image, Args: []string{"alloc", "160"},
					Resources: api.ResourceRequirements{Limits: limits},
				}},
			},
		}
	}
	if _, err := c.Client.CreatePod(ctx, allocPod("no-limit", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CreatePod(ctx, allocPod("own-limit", api.ResourceList{api.ResourceMemory: "400Mi"})); err != nil {
		t.Fatal(err)
	}

	capped := terminated(t, c, "no-limit")
	if capped.Reason != "OOMKilled" || !strings.Contains(capped.Message, "134217728") {
		t.Errorf("pod without a limit ended %+v, want OOMKilled at 134217728 bytes (128Mi)", capped)
	}
	own := terminated(t, c, "own-limit")
	if own.ExitCode != 0 {
		t.Errorf("pod with its own 400Mi limit ended %+v, want exit 0", own)
	}
}
