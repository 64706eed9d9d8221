package testbed_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/cmd/skiff/app"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/testbed/natstest"
	"github.com/skiff-sh/skiff/web/client"
)

// TestTwoServersOneLeaderSurvivesKill runs two `skiff server` processes
// against one NATS. Both serve the API; one leads. kill -9 of the leader:
// the other takes over within one TTL, nothing stored is lost, and nothing
// is done twice.
func TestTwoServersOneLeaderSurvivesKill(t *testing.T) {
	const ttl = 3 * time.Second
	nats := natstest.Start(t)
	bin := testbed.BuildSkiff(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "skiff.yaml")
	if err := os.WriteFile(cfgFile, []byte("leaderTTL: 3s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func(name string) (*testbed.Process, *client.Client) {
		p := testbed.StartProcess(t, bin, []string{"SKIFF_CONFIG=" + filepath.Join(dir, name+".yaml")},
			"server", "--config", cfgFile, "--nats-url", nats.ClientURL(), "--listen", "127.0.0.1:0",
			"--data-dir", filepath.Join(dir, name))
		return p, testbed.ClientFromConfig(t, filepath.Join(dir, name+".yaml"), p.WaitOutput(t, apiLine, 60*time.Second))
	}
	a, ca := start("a")
	b, cb := start("b")
	leaderOf := func() (leader, follower *testbed.Process, lc, fc *client.Client) {
		var out *testbed.Process
		_ = testbed.Poll(context.Background(), 10*time.Second, 20*time.Millisecond, func() (bool, error) {
			switch {
			case strings.Contains(a.Stderr(), "became leader"):
				out = a
			case strings.Contains(b.Stderr(), "became leader"):
				out = b
			}
			return out != nil, nil
		})
		if out == a {
			return a, b, ca, cb
		}
		if out == b {
			return b, a, cb, ca
		}
		t.Fatal("no server became leader")
		return nil, nil, nil, nil
	}
	leader, follower, lc, fc := leaderOf()
	if strings.Contains(follower.Stderr(), "became leader") {
		t.Fatal("both servers say they became leader")
	}

	// Two hollow agents join through NATS.
	ctx := context.Background()
	for _, node := range []string{"edge-a", "edge-b"} {
		cfg := config.Default()
		cfg.DataDir = filepath.Join(dir, node)
		cfg.Agent.NodeName = node
		cfg.Agent.NATSURL = nats.ClientURL()
		ag, err := app.StartAgent(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), app.Hollow())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ag.Stop(context.Background()) })
	}

	// Work created through the follower's API is done by the leader.
	if _, err := fc.CreateObject(ctx, webDeployment(3, "v1")); err != nil {
		t.Fatal(err)
	}
	running := func(c *client.Client) (n, total int, uids map[string]bool) {
		pods, err := c.ListPods(ctx, "default")
		if err != nil {
			return -1, -1, nil
		}
		uids = map[string]bool{}
		for _, p := range pods {
			total++
			uids[p.UID] = true
			if p.Status.Phase == api.PodRunning {
				n++
			}
		}
		return n, total, uids
	}
	var before map[string]bool
	if err := testbed.Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		n, _, uids := running(lc)
		before = uids
		return n == 3, nil
	}); err != nil {
		t.Fatalf("3 pods never ran: %v", err)
	}

	killed := time.Now()
	leader.Kill()
	if err := testbed.Poll(ctx, 2*ttl, 10*time.Millisecond, func() (bool, error) {
		return strings.Contains(follower.Stderr(), "became leader"), nil
	}); err != nil {
		t.Fatal("the follower never took over")
	}
	took := time.Since(killed)
	t.Logf("takeover after kill -9 of the leader: %s (TTL %s)", took, ttl)
	if took > ttl+500*time.Millisecond { // one TTL, plus the log line's trip through a pipe
		t.Fatalf("takeover took %s, more than one TTL (%s)", took, ttl)
	}

	// Nothing lost: the same pods; nothing done twice: scaling to 5 makes
	// exactly two more.
	if _, total, uids := running(fc); total != 3 || !sameKeys(uids, before) {
		t.Fatalf("after the takeover the pods are %v, want the same 3 as before %v", uids, before)
	}
	// Scale as `skiff scale` does: read, change, write with the
	// resourceVersion, again on a conflict (the controllers write status).
	five := int32(5)
	if err := testbed.Poll(ctx, 10*time.Second, 10*time.Millisecond, func() (bool, error) {
		d, err := fc.GetObject(ctx, api.KindOf(&api.Deployment{}), "default", "web")
		if err != nil {
			return false, err
		}
		dep := d.(*api.Deployment)
		dep.Spec.Replicas = &five
		_, err = fc.UpdateObject(ctx, dep)
		if client.IsConflict(err) {
			return false, nil
		}
		return err == nil, err
	}); err != nil {
		t.Fatal(err)
	}
	maxTotal := 0
	if err := testbed.Poll(ctx, 30*time.Second, 10*time.Millisecond, func() (bool, error) {
		n, total, _ := running(fc)
		maxTotal = max(maxTotal, total)
		return n == 5, nil
	}); err != nil {
		t.Fatalf("the new leader did not scale to 5: %v", err)
	}
	if maxTotal > 5 {
		t.Fatalf("saw %d pods for 5 replicas: an action was done twice", maxTotal)
	}
}

func sameKeys(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
