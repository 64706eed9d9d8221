package store_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, _, _ := natstest.Store(t)
	return st
}

func newPod(name string) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "busybox"}}}}
	api.SetDefaults(p)
	return p
}

func TestCreateSetsIdentityAndResourceVersionIsKVRevision(t *testing.T) {
	ctx := context.Background()
	pods := store.For[*api.Pod](openStore(t))
	p := newPod("web")
	if err := pods.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if p.UID == "" || p.CreationTimestamp.IsZero() || p.ResourceVersion == "" {
		t.Fatalf("create did not set uid/creationTimestamp/resourceVersion: %+v", p.ObjectMeta)
	}
	got, err := pods.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != p.ResourceVersion || got.UID != p.UID {
		t.Fatalf("get = rv %s uid %s, want rv %s uid %s", got.ResourceVersion, got.UID, p.ResourceVersion, p.UID)
	}
	if err := pods.Create(ctx, newPod("web")); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second create: err = %v, want ErrAlreadyExists", err)
	}
}

func TestUpdateWithStaleResourceVersionConflicts(t *testing.T) {
	ctx := context.Background()
	pods := store.For[*api.Pod](openStore(t))
	p := newPod("web")
	if err := pods.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	a, _ := pods.Get(ctx, "default", "web")
	b, _ := pods.Get(ctx, "default", "web")
	a.Labels = map[string]string{"v": "a"}
	if err := pods.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	b.Labels = map[string]string{"v": "b"}
	if err := pods.Update(ctx, b); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale update: err = %v, want ErrConflict", err)
	}
	got, _ := pods.Get(ctx, "default", "web")
	if got.Labels["v"] != "a" {
		t.Fatalf("stale update overwrote the newer one: labels %v", got.Labels)
	}
	if err := pods.Delete(ctx, "default", "web", b.ResourceVersion); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale delete: err = %v, want ErrConflict", err)
	}
	if err := pods.Delete(ctx, "default", "web", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "default", "web"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get after delete: err = %v, want ErrNotFound", err)
	}
	if err := pods.Update(ctx, got); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update after delete: err = %v, want ErrNotFound", err)
	}
}

func TestMutateRetriesOnConflictUntilItWins(t *testing.T) {
	ctx := context.Background()
	pods := store.For[*api.Pod](openStore(t))
	if err := pods.Create(ctx, newPod("web")); err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 10
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func() {
			for i := 0; i < each; i++ {
				if _, err := pods.Mutate(ctx, "default", "web", func(p *api.Pod) error {
					if p.Annotations == nil {
						p.Annotations = map[string]string{}
					}
					n := len(p.Annotations)
					p.Annotations["n"+string(rune('a'+n%26))+time.Now().Format("150405.000000000")] = "x"
					return nil
				}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < writers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, _ := pods.Get(ctx, "default", "web")
	if len(got.Annotations) != writers*each {
		t.Fatalf("annotations = %d, want %d: a mutation was lost", len(got.Annotations), writers*each)
	}
}

func TestListAndWatchByNamespace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pods := store.For[*api.Pod](openStore(t))
	for _, ns := range []string{"default", "team-a"} {
		p := newPod("web")
		p.Namespace = ns
		if err := pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	all, err := pods.List(ctx, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("list all = %d, %v; want 2", len(all), err)
	}
	one, err := pods.List(ctx, "team-a")
	if err != nil || len(one) != 1 || one[0].Namespace != "team-a" {
		t.Fatalf("list team-a = %v, %v", one, err)
	}
	ch, err := pods.Watch(ctx, store.WatchOptions{Namespace: "team-a"})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.EventType{store.Added, store.Synced, store.Modified, store.Deleted}
	writes := make(chan struct{})
	defer func() { <-writes }()
	go func() {
		defer close(writes)
		ctx := context.Background() // the writes outlive the watch
		p, err := pods.Get(ctx, "team-a", "web")
		if err != nil {
			t.Error(err)
			return
		}
		p.Labels = map[string]string{"x": "y"}
		if err := pods.Update(ctx, p); err != nil {
			t.Errorf("update: %v", err)
		}
		if err := pods.Delete(ctx, "default", "web", ""); err != nil { // other namespace: not seen
			t.Errorf("delete: %v", err)
		}
		if err := pods.Delete(ctx, "team-a", "web", ""); err != nil {
			t.Errorf("delete: %v", err)
		}
	}()
	for i, w := range want {
		select {
		case ev := <-ch:
			if ev.Type != w {
				t.Fatalf("event %d = %s, want %s", i, ev.Type, w)
			}
			if ev.Type != store.Synced && ev.Namespace != "team-a" {
				t.Fatalf("event %d from namespace %q", i, ev.Namespace)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event %d (%s) within 5s", i, w)
		}
	}
}

func TestSpecChangesBumpGenerationStatusChangesDoNot(t *testing.T) {
	ctx := context.Background()
	pods := store.For[*api.Pod](openStore(t))
	p := newPod("web")
	if err := pods.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if p.Generation != 1 {
		t.Fatalf("generation after create = %d, want 1", p.Generation)
	}
	got, err := pods.Mutate(ctx, "default", "web", func(p *api.Pod) error { p.Status.Phase = api.PodRunning; return nil })
	if err != nil || got.Generation != 1 {
		t.Fatalf("status change: generation %d, err %v; want 1", got.Generation, err)
	}
	got, err = pods.Mutate(ctx, "default", "web", func(p *api.Pod) error { p.Spec.NodeName = "n1"; return nil })
	if err != nil || got.Generation != 2 {
		t.Fatalf("spec change through Mutate: generation %d, err %v; want 2", got.Generation, err)
	}
	got.Spec.Containers[0].Image = "busybox:2"
	got.Generation = 0 // a client's stale idea of the generation is ignored
	if err := pods.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	stored, _ := pods.Get(ctx, "default", "web")
	if stored.Generation != 3 {
		t.Fatalf("spec change through Update: generation %d, want 3", stored.Generation)
	}
}

func TestDryRunChecksWritesButMakesNone(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	pods := store.For[*api.Pod](st)
	dry := store.For[*api.Pod](st.DryRun())
	stored := newPod("web")
	if err := pods.Create(ctx, stored); err != nil {
		t.Fatal(err)
	}
	_, before, err := st.Revisions(ctx)
	if err != nil {
		t.Fatal(err)
	}

	p := newPod("")
	p.GenerateName = "gen-"
	if err := dry.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if len(p.Name) != len("gen-")+5 || p.UID == "" || p.CreationTimestamp.IsZero() || p.Generation != 1 || p.ResourceVersion != "" {
		t.Fatalf("dry-run create = %+v, want a generated name, uid, creationTimestamp, generation 1 and no resourceVersion", p.ObjectMeta)
	}
	if _, err := pods.Get(ctx, "default", p.Name); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("dry-run create wrote %s: err = %v", p.Name, err)
	}
	if err := dry.Create(ctx, newPod("web")); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("dry-run create of a taken name: err = %v, want ErrAlreadyExists", err)
	}

	stale := *stored
	stale.ResourceVersion = strconv.FormatUint(before+7, 10)
	if err := dry.Update(ctx, &stale); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("dry-run update at a stale version: err = %v, want ErrConflict", err)
	}
	changed, err := dry.Mutate(ctx, "default", "web", func(p *api.Pod) error {
		p.Spec.Containers[0].Image = "busybox:2"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if changed.Generation != stored.Generation+1 || changed.ResourceVersion != stored.ResourceVersion {
		t.Fatalf("dry-run mutate = generation %d rv %s, want generation %d and the stored rv %s", changed.Generation, changed.ResourceVersion, stored.Generation+1, stored.ResourceVersion)
	}
	if err := dry.Delete(ctx, "default", "web", ""); err != nil {
		t.Fatal(err)
	}
	if err := dry.Delete(ctx, "default", "missing", ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("dry-run delete of nothing: err = %v, want ErrNotFound", err)
	}

	got, err := pods.Get(ctx, "default", "web")
	if err != nil || got.Spec.Containers[0].Image != "busybox" || got.ResourceVersion != stored.ResourceVersion {
		t.Fatalf("after dry runs the stored pod is %+v, %v; want it unchanged", got, err)
	}
	if _, after, err := st.Revisions(ctx); err != nil || after != before {
		t.Fatalf("bucket revision %d → %d (%v): a dry run wrote", before, after, err)
	}
}
