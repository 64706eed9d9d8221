package wasm_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/runtimetest"
	"github.com/skiff-sh/skiff/runtimes/wasm"
	"github.com/skiff-sh/skiff/testbed/fixtures"
)

// harness runs the conformance suite on the Wasm driver. Drivers of one
// harness share an on-disk compilation cache, so only the first compiles
// the probe.
type harness struct {
	probe       string
	cacheDir    string
	interpreter bool
}

func newHarness(t *testing.T, interpreter bool) *harness {
	return &harness{
		probe:       fixtures.BuildWasm(t, "probe"),
		cacheDir:    t.TempDir(),
		interpreter: interpreter,
	}
}

func (h *harness) NewDriver(t *testing.T) runtimes.Driver {
	return newDriver(t, wasm.Options{CacheDir: h.cacheDir, Interpreter: h.interpreter})
}

func (h *harness) Task(t *testing.T, id string, probeArgs ...string) *runtimes.TaskConfig {
	return &runtimes.TaskConfig{
		ID:            id,
		PodNamespace:  "default",
		PodName:       "probe",
		ContainerName: "probe",
		Image:         h.probe,
		Args:          probeArgs,
		LogPath:       filepath.Join(t.TempDir(), id+".log"),
	}
}

func newDriver(t testing.TB, opts wasm.Options) *wasm.Driver {
	t.Helper()
	d, err := wasm.New(opts)
	if err != nil {
		t.Fatalf("wasm.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

func TestConformance(t *testing.T) {
	runtimetest.Run(t, newHarness(t, false))
}

// The interpreter is what armv7 nodes run.
func TestConformanceOnTheInterpreter(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: the interpreter runs the probe")
	}
	runtimetest.Run(t, newHarness(t, true))
}
