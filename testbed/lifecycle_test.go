package testbed_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/testbed/fixtures"
	"github.com/skiff-sh/skiff/web/client"
)

func startCluster(t *testing.T, agents int) *testbed.Cluster {
	t.Helper()
	return startClusterWith(t, agents, nil)
}

// startClusterWith is startCluster with configure applied to each
// process's config.
func startClusterWith(t *testing.T, agents int, configure func(*config.Config)) *testbed.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: t.TempDir(), Agents: agents, Configure: configure})
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
	return c
}

func uploadProbe(t *testing.T, c *testbed.Cluster) string {
	t.Helper()
	f, err := os.Open(fixtures.BuildWasm(t, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	image, err := c.Client.UploadArtifact(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return image
}

func waitPod(t *testing.T, c *testbed.Cluster, ns, name string, what string, cond func(*api.Pod) bool) *api.Pod {
	t.Helper()
	var last *api.Pod
	err := testbed.Poll(context.Background(), 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		p, err := c.Client.GetPod(context.Background(), ns, name)
		if err != nil {
			return false, err
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s never became %s: %v; last status %+v", ns, name, what, err, last.Status)
	}
	return last
}

// TestDeletingARunningPodStopsItOnTheAgent deletes a module that never
// exits: the pod shows Terminating, the agent stops it, and only then does
// it leave the API. Its log stops growing.
func TestDeletingARunningPodStopsItOnTheAgent(t *testing.T) {
	c := startCluster(t, 1)
	image := uploadProbe(t, c)
	ctx := context.Background()
	pod := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "ticker", Namespace: "default"},
		Spec:       api.PodSpec{RuntimeClassName: "wasm", Containers: []api.Container{{Name: "tick", Image: image, Args: []string{"forever"}}}},
	}
	if _, err := c.Client.CreatePod(ctx, pod); err != nil {
		t.Fatal(err)
	}
	running := waitPod(t, c, "default", "ticker", "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	if running.Spec.NodeName != "node-1" {
		t.Fatalf("bound to %q, want node-1", running.Spec.NodeName)
	}
	// The module is really running: its log grows.
	err := testbed.Poll(ctx, 10*time.Second, 50*time.Millisecond, func() (bool, error) {
		b, err := c.Client.PodLogs(ctx, "default", "ticker", api.LogRequest{})
		return err == nil && strings.Count(string(b), "\n") >= 3, nil
	})
	if err != nil {
		t.Fatalf("the running module wrote no ticks: %v", err)
	}
	logDir := filepath.Join(c.AgentDataDir("node-1"), "pods", running.UID)
	deleted, err := c.Client.DeletePod(ctx, "default", "ticker", client.DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if deleted.DeletionTimestamp == nil {
		t.Fatalf("a running pod's delete must be graceful (deletionTimestamp set), got %+v", deleted.ObjectMeta)
	}
	err = testbed.Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		_, err := c.Client.GetPod(ctx, "default", "ticker")
		return client.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("the pod was not removed after its agent stopped it: %v", err)
	}
	if _, err := os.Stat(logDir); !os.IsNotExist(err) {
		t.Fatalf("the agent still keeps the deleted pod's state in %s (err %v)", logDir, err)
	}
}

// TestPodOnMissingRuntimeStaysPendingWithReason checks the scheduler's
// explanation when no node has what the pod needs.
func TestPodOnMissingRuntimeStaysPendingWithReason(t *testing.T) {
	c := startCluster(t, 1)
	ctx := context.Background()
	pod := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "needs-arm", Namespace: "default"},
		Spec: api.PodSpec{RuntimeClassName: "wasm", NodeSelector: map[string]string{"site": "nowhere"},
			Containers: []api.Container{{Name: "app", Image: "file:///nonexistent.wasm"}}},
	}
	if _, err := c.Client.CreatePod(ctx, pod); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, c, "default", "needs-arm", "unschedulable", func(p *api.Pod) bool {
		cond := p.Status.Condition(api.PodScheduled)
		return cond != nil && cond.Status == api.ConditionFalse
	})
	msg := p.Status.Condition(api.PodScheduled).Message
	if p.Status.Phase != api.PodPending || !strings.Contains(msg, "0/1 nodes are available: 1 node(s) didn't match the pod's node selector") {
		t.Fatalf("phase %s, PodScheduled message %q", p.Status.Phase, msg)
	}
}

// TestMissingModuleFileIsReportedNotCrashed sends the agent a module path
// that does not exist on the node: the pod reports why and the agent keeps
// serving.
func TestMissingModuleFileIsReportedNotCrashed(t *testing.T) {
	c := startCluster(t, 1)
	ctx := context.Background()
	bad := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "nofile", Namespace: "default"},
		Spec: api.PodSpec{RuntimeClassName: "wasm", RestartPolicy: api.RestartPolicyNever,
			Containers: []api.Container{{Name: "app", Image: "file:///nonexistent/module.wasm"}}},
	}
	if _, err := c.Client.CreatePod(ctx, bad); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, c, "default", "nofile", "reported", func(p *api.Pod) bool {
		for _, cs := range p.Status.ContainerStatuses {
			if (cs.State.Waiting != nil && cs.State.Waiting.Message != "") || cs.State.Terminated != nil {
				return true
			}
		}
		return p.Status.Phase == api.PodFailed
	})
	if !strings.Contains(statusText(p), "nonexistent/module.wasm") {
		t.Fatalf("the status does not say which module is missing: %+v", p.Status)
	}
	// The agent still runs other pods.
	image := uploadProbe(t, c)
	good := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "after", Namespace: "default"},
		Spec: api.PodSpec{RuntimeClassName: "wasm", RestartPolicy: api.RestartPolicyNever,
			Containers: []api.Container{{Name: "app", Image: image, Args: []string{"exit", "3"}}}},
	}
	if _, err := c.Client.CreatePod(ctx, good); err != nil {
		t.Fatal(err)
	}
	done := waitPod(t, c, "default", "after", "Failed", func(p *api.Pod) bool { return p.Status.Phase == api.PodFailed })
	term := done.Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.ExitCode != 3 {
		t.Fatalf("want exit code 3 reported, got %+v", done.Status.ContainerStatuses[0])
	}
}

func statusText(p *api.Pod) string {
	var b strings.Builder
	b.WriteString(p.Status.Message + " " + p.Status.Reason)
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			b.WriteString(" " + w.Reason + " " + w.Message)
		}
		if x := cs.State.Terminated; x != nil {
			b.WriteString(" " + x.Reason + " " + x.Message)
		}
	}
	return b.String()
}
