package wasm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/wasm"
	"github.com/skiff-sh/skiff/testbed/fixtures"
)

// A task runs a WASI command module; its stdout and stderr land in one log
// file and its exit comes on the Wait channel.
func Example() {
	ctx := context.Background()
	module, err := fixtures.BuildWasmFile(ctx, "probe")
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, err := os.MkdirTemp("", "wasm-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	d, err := wasm.New(wasm.Options{CacheDir: filepath.Join(dir, "cache")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close(ctx)

	logPath := filepath.Join(dir, "hello.log")
	_, err = d.Start(ctx, &runtimes.TaskConfig{
		ID:               "default/hello/main",
		ContainerName:    "main",
		Image:            module,
		Args:             []string{"hello"},
		MemoryLimitBytes: 64 << 20,
		LogPath:          logPath,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	exit, err := d.Wait(ctx, "default/hello/main")
	if err != nil {
		fmt.Println(err)
		return
	}
	res := <-exit
	fmt.Println("exit code", res.ExitCode, res.Reason)

	out, _ := os.ReadFile(logPath)
	fmt.Print(string(out))
	// Output:
	// exit code 0 Completed
	// hello from skiff
	// hello on stderr
}
