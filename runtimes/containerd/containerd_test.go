package containerd_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/containerd"
	"github.com/skiff-sh/skiff/runtimes/runtimetest"
	"github.com/skiff-sh/skiff/testbed/containerdtest"
)

// env is a private containerd with the probe image imported.
type env struct {
	daemon *containerdtest.Daemon
	ref    string // the probe image for this node
}

// newEnv starts a daemon and imports the probe image for this node.
func newEnv(t testing.TB) *env {
	t.Helper()
	daemon := containerdtest.Start(t)
	e := &env{daemon: daemon}
	archive, ref := containerdtest.ProbeImageArchive(t, runtime.GOARCH)
	d := e.newDriver(t)
	refs, err := d.ImportArchive(context.Background(), archive)
	if err != nil {
		t.Fatalf("ImportArchive: %v", err)
	}
	if len(refs) != 1 || refs[0] != ref {
		t.Fatalf("ImportArchive returned %q, want [%s]", refs, ref)
	}
	e.ref = ref
	return e
}

// newDriver returns a driver on the env's daemon, closed on cleanup.
func (e *env) newDriver(t testing.TB) *containerd.Driver {
	t.Helper()
	d, err := containerd.New(e.options(t))
	if err != nil {
		t.Fatalf("containerd.New: %v", err)
	}
	t.Cleanup(func() { closeDriver(t, d) })
	return d
}

func (e *env) options(t testing.TB) containerd.Options {
	return containerd.Options{
		Address:     e.daemon.Address,
		Namespace:   e.daemon.Namespace,
		Snapshotter: e.daemon.Snapshotter,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

func closeDriver(t testing.TB, d *containerd.Driver) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// task is a config running the probe image with probeArgs.
func (e *env) task(t testing.TB, id string, probeArgs ...string) *runtimes.TaskConfig {
	return &runtimes.TaskConfig{
		ID:            id,
		PodNamespace:  "default",
		PodName:       "probe-pod",
		PodUID:        "uid-1",
		ContainerName: "probe",
		Image:         e.ref,
		Args:          probeArgs,
		LogPath:       filepath.Join(t.TempDir(), id+".log"),
	}
}

// client is a raw containerd client in the env's namespace, for checks
// behind the driver's back.
func (e *env) client(t testing.TB) (*client.Client, context.Context) {
	return e.daemon.Client(t), namespaces.WithNamespace(context.Background(), e.daemon.Namespace)
}

// containers lists the IDs of the containers in the env's namespace.
func (e *env) containers(t testing.TB) []string {
	t.Helper()
	c, ctx := e.client(t)
	cs, err := c.Containers(ctx)
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	var ids []string
	for _, ctr := range cs {
		ids = append(ids, ctr.ID())
	}
	return ids
}

type harness struct{ e *env }

func (h harness) NewDriver(t *testing.T) runtimes.Driver { return h.e.newDriver(t) }

func (h harness) Task(t *testing.T, id string, probeArgs ...string) *runtimes.TaskConfig {
	cfg := h.e.task(t, id, probeArgs...)
	cfg.PodName, cfg.PodUID, cfg.PodNamespace = "", "", ""
	return cfg
}

func TestConformance(t *testing.T) {
	runtimetest.Run(t, harness{newEnv(t)})
}
