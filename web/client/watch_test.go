package client_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/web"
	"github.com/skiff-sh/skiff/web/client"
)

func podKind() api.KindInfo { k, _ := api.LookupKind("Pod"); return k }

func storePod(t *testing.T, st *store.Store, name string, labels map[string]string) *api.Pod {
	t.Helper()
	p := newPod(name)
	p.Namespace, p.Labels = "default", labels
	api.SetDefaults(p)
	if err := store.For[*api.Pod](st).Create(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestListPodsWithSelectorsAndPages(t *testing.T) {
	e := startAPI(t)
	ctx := t.Context()
	for i := range 7 {
		app := "web"
		if i%2 == 1 {
			app = "db"
		}
		storePod(t, e.store, fmt.Sprintf("p-%d", i), map[string]string{"app": app})
	}
	web, err := e.client.ListPods(ctx, "default", client.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(web) != 4 {
		t.Fatalf("ListPods app=web = %d, %v", len(web), err)
	}
	one, err := e.client.ListPods(ctx, "default", client.ListOptions{FieldSelector: "metadata.name=p-3"})
	if err != nil || len(one) != 1 || one[0].Name != "p-3" {
		t.Fatalf("ListPods by name = %v, %v", one, err)
	}
	var got []string
	opts := client.ListOptions{Limit: 3}
	for {
		l, err := e.client.ListObjects(ctx, podKind(), "default", opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range l.Items {
			got = append(got, o.GetObjectMeta().Name)
		}
		if l.Continue == "" {
			break
		}
		if l.RemainingItemCount == nil || *l.RemainingItemCount != int64(7-len(got)) {
			t.Fatalf("remaining = %v after %d items", l.RemainingItemCount, len(got))
		}
		opts.Continue = l.Continue
	}
	if strings.Join(got, " ") != "p-0 p-1 p-2 p-3 p-4 p-5 p-6" {
		t.Fatalf("pages = %v", got)
	}
	_, err = e.client.ListPods(ctx, "default", client.ListOptions{LabelSelector: "app in (web"})
	st, ok := client.StatusOf(err)
	if !ok || st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Field != api.ParamLabelSelector {
		t.Fatalf("bad selector: %v", err)
	}
}

// nextEvent reads one event (bookmarks skipped unless wanted) or fails.
func nextEvent(t *testing.T, ch <-chan client.WatchEvent, bookmarks bool) client.WatchEvent {
	t.Helper()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("watch channel closed")
			}
			if ev.Type == api.WatchBookmark && !bookmarks {
				continue
			}
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5s")
		}
	}
}

func eventString(ev client.WatchEvent) string {
	if ev.Object == nil {
		return string(ev.Type)
	}
	return string(ev.Type) + " " + ev.Object.GetObjectMeta().Name
}

func TestWatchSendsExistingPodsThenChanges(t *testing.T) {
	e := startAPI(t)
	storePod(t, e.store, "a", map[string]string{"app": "web"})
	ch, err := e.client.Watch(t.Context(), podKind(), "default", client.WatchOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, ch, true); eventString(ev) != "ADDED a" || ev.ResourceVersion == "" {
		t.Fatalf("first event = %s (rv %q)", eventString(ev), ev.ResourceVersion)
	}
	if ev := nextEvent(t, ch, true); ev.Type != api.WatchBookmark || ev.Object.GetObjectMeta().Annotations[api.InitialEventsEndAnnotation] != "true" {
		t.Fatalf("second event = %s, want the initial-events-end bookmark", eventString(ev))
	}
	storePod(t, e.store, "b", map[string]string{"app": "web"})
	storePod(t, e.store, "c", map[string]string{"app": "db"})
	if err := store.For[*api.Pod](e.store).Delete(t.Context(), "default", "a", ""); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ADDED b", "DELETED a"} {
		ev := nextEvent(t, ch, false)
		if eventString(ev) != want {
			t.Fatalf("event = %s, want %s", eventString(ev), want)
		}
		if p, ok := ev.Object.(*api.Pod); !ok || p.Labels["app"] != "web" {
			t.Fatalf("event object = %#v, want the *api.Pod", ev.Object)
		}
	}
}

func TestWatchReconnectsAfterBrokenConnectionsWithoutRepeatsOrGaps(t *testing.T) {
	e := startAPI(t)
	// The API behind a test server whose connections the test can cut.
	srv := web.New(web.Options{}, e.store, nil, nil, nil, web.WithAuth(e.tokens))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	c := client.New(ts.URL, client.WithToken(e.admin))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	l, err := c.ListObjects(ctx, podKind(), "default")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := c.Watch(ctx, podKind(), "default", client.WatchOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for round := range 4 {
		for i := range 3 {
			name := fmt.Sprintf("r%d-%d", round, i)
			storePod(t, e.store, name, nil)
			want = append(want, name)
		}
		for len(got) < len(want) {
			got = append(got, nextEvent(t, ch, false).Object.GetObjectMeta().Name)
		}
		ts.CloseClientConnections() // the watch reconnects from the last event
		name := fmt.Sprintf("gap-%d", round)
		storePod(t, e.store, name, nil) // written while the watch is cut
		want = append(want, name)
		got = append(got, nextEvent(t, ch, false).Object.GetObjectMeta().Name)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("events across reconnections = %v, want each write once in order: %v", got, want)
	}
	cancel()
	for range ch { // closed once the watch goroutine ends
	}
}

func TestWatchFromExpiredResourceVersionFails(t *testing.T) {
	e := startAPI(t)
	p := storePod(t, e.store, "a", nil)
	for range 2 {
		if _, err := store.For[*api.Pod](e.store).Mutate(t.Context(), "default", "a", func(p *api.Pod) error {
			p.Labels = map[string]string{"rv": p.ResourceVersion}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.client.Watch(t.Context(), podKind(), "default", client.WatchOptions{ResourceVersion: p.ResourceVersion})
	if !client.IsExpired(err) {
		t.Fatalf("Watch from a compacted version = %v, want IsExpired", err)
	}
}
