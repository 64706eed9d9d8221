package bench

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

func TestSleeperModuleSleepsAnHourAtATimeUntilClosed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
	defer r.Close(context.Background())
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	var sleeps atomic.Int64
	var asked atomic.Int64
	cfg := wazero.NewModuleConfig().WithNanosleep(func(ns int64) {
		asked.Store(ns)
		if sleeps.Add(1) == 3 {
			cancel() // the third sleep ends the run
		}
	})
	done := make(chan error, 1)
	go func() {
		_, err := r.InstantiateWithConfig(ctx, SleeperModule(), cfg)
		done <- err
	}()
	select {
	case err := <-done:
		var exit *sys.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("the module ended with %v, want closed on context done", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the module did not end after its context was cancelled")
	}
	if n := sleeps.Load(); n < 3 {
		t.Errorf("%d sleeps, want the loop to sleep again and again", n)
	}
	if got := time.Duration(asked.Load()); got != SleeperSleep {
		t.Errorf("sleeps of %v, want %v", got, SleeperSleep)
	}
}

func TestSleeperModuleMemoryIsOnePage(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, SleeperModule())
	if err != nil {
		t.Fatal(err)
	}
	mems := cm.ExportedMemories()
	m, ok := mems["memory"]
	if !ok {
		t.Fatal("no exported memory")
	}
	if mx, ok := m.Max(); m.Min() != 1 || !ok || mx != 1 {
		t.Fatalf("memory min %d max %d (%v), want exactly one page", m.Min(), mx, ok)
	}
}
