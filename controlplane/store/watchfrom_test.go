package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

func snapshotPod(ns, name string) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns}, Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "busybox"}}}}
	api.SetDefaults(p)
	return p
}

// nextChange reads one change or fails after a deadline.
func nextChange(t *testing.T, ch <-chan store.Change) store.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("watch closed")
		}
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no change within 5s")
	}
	return store.Change{}
}

func describeChange(c store.Change) string {
	switch {
	case c.Synced:
		return "synced"
	case c.Deleted:
		return "deleted " + c.Name
	case c.Created:
		return "created " + c.Name
	}
	return "modified " + c.Name
}

func TestListSnapshotRevisionIsWhereAWatchResumes(t *testing.T) {
	st, _, _ := natstest.Store(t)
	ctx := t.Context()
	pods := store.For[*api.Pod](st)
	for _, name := range []string{"c", "a", "b"} {
		if err := pods.Create(ctx, snapshotPod("default", name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pods.Create(ctx, snapshotPod("other", "z")); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "default", "c", ""); err != nil {
		t.Fatal(err)
	}
	info := pods.Info()
	objs, rev, err := st.ListSnapshot(ctx, info, "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].GetObjectMeta().Name != "a" || objs[1].GetObjectMeta().Name != "b" {
		t.Fatalf("snapshot = %v", objs)
	}
	_, newest, _ := st.Revisions(ctx)
	if rev != newest {
		t.Fatalf("snapshot revision = %d, want the newest revision %d", rev, newest)
	}

	if _, err := pods.Mutate(ctx, "default", "a", func(p *api.Pod) error { p.Labels = map[string]string{"v": "2"}; return nil }); err != nil {
		t.Fatal(err)
	}
	d := snapshotPod("default", "d")
	if err := pods.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "default", "b", ""); err != nil {
		t.Fatal(err)
	}
	revAt, _, err := st.RevisionTime(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := st.WatchChanges(ctx, info, store.WatchOptions{Namespace: "default", AfterRevision: rev})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 4 {
		got = append(got, describeChange(nextChange(t, ch)))
	}
	// d is new, but a resumed watch knows it only when its
	// creationTimestamp (whole seconds) is after the snapshot revision's
	// time, which depends on where the second turned (see Change.Created).
	dChange := "modified d"
	if d.CreationTimestamp.After(revAt) {
		dChange = "created d"
	}
	want := []string{"modified a", dChange, "deleted b", "synced"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("changes after the snapshot = %v, want %v", got, want)
	}
}

func TestWatchChangesWithoutRevisionSendsStateThenSyncedThenChanges(t *testing.T) {
	st, _, _ := natstest.Store(t)
	ctx := t.Context()
	pods := store.For[*api.Pod](st)
	for _, name := range []string{"a", "gone"} {
		if err := pods.Create(ctx, snapshotPod("default", name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pods.Delete(ctx, "default", "gone", ""); err != nil {
		t.Fatal(err)
	}
	ch, err := st.WatchChanges(ctx, pods.Info(), store.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := nextChange(t, ch); describeChange(c) != "created a" {
		t.Fatalf("first change = %s, want created a", describeChange(c))
	}
	synced := nextChange(t, ch)
	_, newest, _ := st.Revisions(ctx)
	if !synced.Synced || synced.Revision != newest {
		t.Fatalf("second change = %+v, want synced at %d", synced, newest)
	}
	if err := pods.Delete(ctx, "default", "a", ""); err != nil {
		t.Fatal(err)
	}
	if err := pods.Create(ctx, snapshotPod("default", "a")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"deleted a", "created a"} {
		if c := nextChange(t, ch); describeChange(c) != want {
			t.Fatalf("change = %s, want %s", describeChange(c), want)
		}
	}
}

func TestRevisionTooOldOrTooNewIsExpired(t *testing.T) {
	st, _, _ := natstest.Store(t)
	ctx := t.Context()
	pods := store.For[*api.Pod](st)
	p := snapshotPod("default", "a")
	if err := pods.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	first := store.RevisionOf(p)
	if err := st.CheckRevision(ctx, first); err != nil {
		t.Fatalf("the newest revision: %v", err)
	}
	for range 2 {
		if _, err := pods.Mutate(ctx, "default", "a", func(p *api.Pod) error { p.Labels = map[string]string{"n": p.ResourceVersion}; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	oldest, newest, err := st.Revisions(ctx)
	if err != nil || oldest != newest || newest != first+2 {
		t.Fatalf("revisions = %d..%d (%v), want one kept message at %d", oldest, newest, err, first+2)
	}
	if err := st.CheckRevision(ctx, first+1); err != nil {
		t.Fatalf("revision %d: every change after it is kept, got %v", first+1, err)
	}
	for _, rev := range []uint64{first, newest + 1} {
		if err := st.CheckRevision(ctx, rev); !errors.Is(err, store.ErrExpired) {
			t.Errorf("CheckRevision(%d) = %v, want ErrExpired", rev, err)
		}
		if _, err := st.WatchChanges(ctx, pods.Info(), store.WatchOptions{AfterRevision: rev}); !errors.Is(err, store.ErrExpired) {
			t.Errorf("WatchChanges after %d = %v, want ErrExpired", rev, err)
		}
	}
}

func TestResumedWatchReportsObjectsCreatedAfterTheRevisionAsCreated(t *testing.T) {
	st, _, _ := natstest.Store(t)
	ctx := t.Context()
	pods := store.For[*api.Pod](st)
	if err := pods.Create(ctx, snapshotPod("default", "old")); err != nil {
		t.Fatal(err)
	}
	// The client last saw this write, which stays the key's newest.
	anchor := snapshotPod("default", "anchor")
	if err := pods.Create(ctx, anchor); err != nil {
		t.Fatal(err)
	}
	resumeAt := store.RevisionOf(anchor)
	at, ok, err := st.RevisionTime(ctx, resumeAt)
	if err != nil || !ok {
		t.Fatalf("RevisionTime = %v %v", ok, err)
	}
	// creationTimestamp has whole seconds: wait for the clock to pass the
	// second of the resume point, as a client reconnecting later would.
	deadline := time.Now().Add(3 * time.Second)
	for !time.Now().Truncate(time.Second).After(at) {
		if time.Now().After(deadline) {
			t.Fatal("clock did not move")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := pods.Mutate(ctx, "default", "old", func(p *api.Pod) error { p.Labels = map[string]string{"x": "y"}; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := pods.Create(ctx, snapshotPod("default", "new")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := st.WatchChanges(ctx, pods.Info(), store.WatchOptions{AfterRevision: resumeAt})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"modified old", "created new", "synced"} {
		if c := nextChange(t, ch); describeChange(c) != want {
			t.Fatalf("change = %s, want %s", describeChange(c), want)
		}
	}
	cancel()
	for range ch { // the channel closes once the watch stops
	}
}
