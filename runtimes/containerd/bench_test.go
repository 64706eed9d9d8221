package containerd_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/containerd"
)

// BenchmarkContainerStart measures, with the image imported and unpacked,
// Start alone (container, snapshot and task created, process started) and
// Start through the exit of the probe's hello (the exit includes the
// task's deletion, which flushes the log), each followed by Destroy
// outside or inside the measurement.
func BenchmarkContainerStart(b *testing.B) {
	e := newEnv(b)
	d := e.newDriver(b)
	logDir := b.TempDir()
	task := func(i int) *runtimes.TaskConfig {
		return &runtimes.TaskConfig{
			ID: fmt.Sprintf("bench-%d", i), ContainerName: "hello", Image: e.ref,
			Args: []string{"hello"}, LogPath: filepath.Join(logDir, "hello.log"),
		}
	}
	// The first Start pays for nothing the others do not, but warm up anyway.
	warm := task(-1)
	if _, err := d.Start(b.Context(), warm); err != nil {
		b.Fatal(err)
	}
	<-mustWaitB(b, d, warm.ID)
	_ = d.Destroy(b.Context(), warm.ID)

	b.Run("Start", func(b *testing.B) {
		i := 0
		for b.Loop() {
			cfg := task(i)
			i++
			if _, err := d.Start(b.Context(), cfg); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			<-mustWaitB(b, d, cfg.ID)
			if err := d.Destroy(b.Context(), cfg.ID); err != nil {
				b.Fatal(err)
			}
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
			if res := <-mustWaitB(b, d, cfg.ID); !res.Successful() {
				b.Fatalf("exit %+v", res)
			}
			b.StopTimer()
			if err := d.Destroy(b.Context(), cfg.ID); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}

func mustWaitB(b *testing.B, d *containerd.Driver, id string) <-chan *runtimes.ExitResult {
	ch, err := d.Wait(b.Context(), id)
	if err != nil {
		b.Fatal(err)
	}
	return ch
}
