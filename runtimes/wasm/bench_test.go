package wasm_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/wasm"
	"github.com/skiff-sh/skiff/testbed/fixtures"
)

// BenchmarkStartCompiled measures Start of an already compiled module, and
// Start through the exit of the probe's hello.
func BenchmarkStartCompiled(b *testing.B) {
	probe := fixtures.BuildWasm(b, "probe")
	d := newDriver(b, wasm.Options{CacheDir: b.TempDir()})
	logDir := b.TempDir()
	task := func(i int) *runtimes.TaskConfig {
		id := fmt.Sprintf("bench-%d", i)
		return &runtimes.TaskConfig{
			ID: id, ContainerName: "hello", Image: probe,
			Args: []string{"hello"}, LogPath: filepath.Join(logDir, "hello.log"),
		}
	}
	// Compile once, outside the measurement.
	warm := task(-1)
	if _, err := d.Start(b.Context(), warm); err != nil {
		b.Fatal(err)
	}
	<-mustWait(b, d, warm.ID)

	b.Run("Start", func(b *testing.B) {
		i := 0
		for b.Loop() {
			cfg := task(i)
			i++
			if _, err := d.Start(b.Context(), cfg); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			<-mustWait(b, d, cfg.ID)
			_ = d.Destroy(b.Context(), cfg.ID)
			b.StartTimer()
		}
	})
	b.Run("StartToExit", func(b *testing.B) {
		i := 0
		for b.Loop() {
			cfg := task(1_000_000 + i)
			i++
			if _, err := d.Start(b.Context(), cfg); err != nil {
				b.Fatal(err)
			}
			if res := <-mustWait(b, d, cfg.ID); !res.Successful() {
				b.Fatalf("exit %+v", res)
			}
			_ = d.Destroy(b.Context(), cfg.ID)
		}
	})
}

func mustWait(b *testing.B, d *wasm.Driver, id string) <-chan *runtimes.ExitResult {
	ch, err := d.Wait(b.Context(), id)
	if err != nil {
		b.Fatal(err)
	}
	return ch
}
