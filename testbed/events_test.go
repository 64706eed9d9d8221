package testbed_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/web/client"
)

// TestEventsThroughTheAPIWithAViewToken runs a pod on a real cluster and
// reads its events as a user with only a view token of its namespace: the
// Go client lists and watches them, and `skiff events` and `skiff
// describe` print them with no NATS URL anywhere in their configuration.
func TestEventsThroughTheAPIWithAViewToken(t *testing.T) {
	c := startCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	image := uploadProbe(t, c)
	if _, err := c.Client.CreateObject(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team"}}); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Client.CreateToken(ctx, api.TokenRequest{Name: "viewer", Role: api.RoleView, Namespace: "team"})
	if err != nil {
		t.Fatal(err)
	}
	viewer := client.New(c.Server.API.URL(), client.WithToken(tok.Token), client.WithCA(c.Server.CA.PEM))
	of := client.EventsOf("Pod", "team", "ticker")
	watch, err := viewer.WatchEvents(ctx, "team", client.WatchOptions{FieldSelector: of})
	if err != nil {
		t.Fatal(err)
	}

	pod, err := c.Client.CreatePod(ctx, &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "ticker", Namespace: "team"},
		Spec:       api.PodSpec{RuntimeClassName: "wasm", Containers: []api.Container{{Name: "tick", Image: image, Args: []string{"forever"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The watch sees the pod's story as it happens.
	var seen []string
	for !slices.Contains(seen, "Running") {
		select {
		case ev, ok := <-watch:
			if !ok {
				t.Fatalf("the watch ended; saw %v", seen)
			}
			switch ev.Type {
			case api.WatchError:
				t.Fatalf("watch: %v", ev.Err)
			case api.WatchAdded:
				e := ev.Object.(*api.Event)
				if e.InvolvedObject.Name != "ticker" || e.InvolvedObject.UID != pod.UID {
					t.Fatalf("an event of another object: %+v", e.InvolvedObject)
				}
				seen = append(seen, e.Reason)
			}
		case <-ctx.Done():
			t.Fatalf("no Running event; saw %v", seen)
		}
	}
	if seen[0] != "Created" || !slices.Contains(seen, "Scheduled") {
		t.Fatalf("events %v, want Created, Scheduled, …, Running", seen)
	}

	evs, rv, err := viewer.ListEvents(ctx, "team", client.ListOptions{FieldSelector: of})
	if err != nil {
		t.Fatal(err)
	}
	listRV, _ := strconv.ParseUint(rv, 10, 64)
	lastRV, _ := strconv.ParseUint(evs[len(evs)-1].ResourceVersion, 10, 64)
	if len(evs) < 3 || evs[0].Reason != "Created" || lastRV == 0 || lastRV > listRV {
		t.Fatalf("list: %d events, the last at %d, the list at %q", len(evs), lastRV, rv)
	}
	for _, e := range evs {
		if e.Namespace != "team" || e.Type == "" || e.Source.Component != "skiff/controlplane" || e.EventTime.IsZero() {
			t.Fatalf("event %+v", e)
		}
		if e.Reason == "Scheduled" && e.Source.Host != "node-1" {
			t.Fatalf("Scheduled event from host %q, want node-1", e.Source.Host)
		}
	}
	if _, _, err := viewer.ListEvents(ctx, "default", client.ListOptions{}); !client.IsForbidden(err) {
		t.Fatalf("viewer of team lists default's events: %v", err)
	}
	if _, _, err := viewer.ListEvents(ctx, "", client.ListOptions{}); !client.IsForbidden(err) {
		t.Fatalf("viewer of team lists every namespace's events: %v", err)
	}

	// The CLI with the API URL and the view token, and a config without NATS.
	bin := testbed.BuildSkiff(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, c.Server.CA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		client.EnvConfig + "=" + filepath.Join(dir, "none.yaml"),
		client.EnvServer + "=" + c.Server.API.URL(),
		client.EnvToken + "=" + tok.Token,
		client.EnvCA + "=" + caFile,
	}
	res := testbed.RunCLI(t, bin, env, "events", "-n", "team")
	if res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "LAST SEEN") || !strings.Contains(res.Stdout, "Running") || !strings.Contains(res.Stdout, "pod/ticker") {
		t.Fatalf("skiff events: %s", res)
	}
	res = testbed.RunCLI(t, bin, env, "describe", "pod", "ticker", "-n", "team")
	if res.ExitCode != 0 || res.Stderr != "" || !strings.Contains(res.Stdout, "Events:") || !strings.Contains(res.Stdout, "Normal  Scheduled") {
		t.Fatalf("skiff describe: %s", res)
	}
	res = testbed.RunCLI(t, bin, env, "events", "-n", "default")
	if res.ExitCode != 1 || !strings.Contains(res.Stderr, "cannot list events") {
		t.Fatalf("skiff events in another namespace: %s", res)
	}
}
