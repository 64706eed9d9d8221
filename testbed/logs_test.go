package testbed_test

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/web/client"
)

// Logs through the whole cluster (API, dispatch over NATS, agent, real
// Wasm driver): the previous run's log after a crash, and a followed log.

func startLogCluster(t *testing.T) *testbed.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: t.TempDir(), Agents: 1, Configure: func(cfg *config.Config) {
		cfg.Agent.RestartBackoff = 100 * time.Millisecond
	}})
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

func TestLogsPreviousShowsTheCrashedRun(t *testing.T) {
	c := startLogCluster(t)
	image := uploadProbe(t, c)
	ctx := context.Background()
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "crasher", Namespace: "default"}, Spec: api.PodSpec{
		RuntimeClassName: api.RuntimeClassWasm, RestartPolicy: api.RestartPolicyOnFailure,
		// cat of a missing file says why on stderr and exits 1.
		Containers: []api.Container{{Name: "app", Image: image, Args: []string{"cat", "/no/such/file"}}},
	}}
	if _, err := c.Client.CreatePod(ctx, pod); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "default", "crasher", "restarted", func(p *api.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	prev, err := c.Client.PodLogs(ctx, "default", "crasher", api.LogRequest{Previous: true})
	if err != nil {
		t.Fatalf("previous log: %v", err)
	}
	if !strings.Contains(string(prev), "/no/such/file") || strings.Count(string(prev), "/no/such/file") != 1 {
		t.Errorf("previous log = %q, want exactly the crashed run's error", prev)
	}

	// A pod that never restarted has no previous run.
	ok := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "steady", Namespace: "default"}, Spec: api.PodSpec{
		RuntimeClassName: api.RuntimeClassWasm,
		Containers:       []api.Container{{Name: "app", Image: image, Args: []string{"forever"}}},
	}}
	if _, err := c.Client.CreatePod(ctx, ok); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "default", "steady", "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	_, err = c.Client.PodLogs(ctx, "default", "steady", api.LogRequest{Previous: true})
	if !client.IsNotFound(err) || !strings.Contains(err.Error(), "previous terminated container") {
		t.Errorf("previous log of a pod that never restarted: %v, want NotFound about the previous terminated container", err)
	}
}

func TestLogsFollowShowsNewTicksAsTheyComeAndEndsWithTheContainer(t *testing.T) {
	c := startLogCluster(t)
	image := uploadProbe(t, c)
	ctx := context.Background()
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "ticker", Namespace: "default"}, Spec: api.PodSpec{
		RuntimeClassName: api.RuntimeClassWasm,
		Containers:       []api.Container{{Name: "app", Image: image, Args: []string{"forever"}}},
	}}
	if _, err := c.Client.CreatePod(ctx, pod); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "default", "ticker", "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })

	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	one := int64(1)
	rc, err := c.Client.FollowLogs(fctx, "default", "ticker", api.LogRequest{TailLines: &one})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	lines := make(chan string, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// Lines keep coming, in order, spread over time.
	var got []string
	first := time.Time{}
	for len(got) < 15 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the stream ended after %q", got)
			}
			if l == "started" {
				continue
			}
			if first.IsZero() {
				first = time.Now()
			}
			got = append(got, l)
		case <-fctx.Done():
			t.Fatalf("only %q arrived", got)
		}
	}
	if took := time.Since(first); took < 500*time.Millisecond {
		t.Errorf("15 lines arrived within %v: want them as the module writes them (one per 100ms)", took)
	}
	var prev int
	for i, l := range got {
		var n int
		if _, err := fmt.Sscanf(l, "tick %d", &n); err != nil {
			t.Fatalf("line %d = %q, want a tick", i, l)
		}
		if i > 0 && n != prev+1 {
			t.Fatalf("ticks %q: want each once, in order", got)
		}
		prev = n
	}

	// Deleting the pod stops the container; the stream ends.
	if _, err := c.Client.DeletePod(ctx, "default", "ticker", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-fctx.Done():
		t.Fatal("the followed log did not end when the container stopped")
	}
}
