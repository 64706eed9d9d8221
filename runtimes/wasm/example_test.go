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

// A mount is confined to its directory: a symlink in it that points inside
// is followed, one that points out (here to a file beside the mount) is
// refused, whoever made it.
func Example_mountsAreConfined() {
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
	mount := filepath.Join(dir, "mount")
	for _, err := range []error{
		os.WriteFile(filepath.Join(dir, "secret"), []byte("not for guests\n"), 0o600),
		os.Mkdir(mount, 0o755),
		os.WriteFile(filepath.Join(mount, "note"), []byte("inside\n"), 0o644),
		os.Symlink("note", filepath.Join(mount, "in")),
		os.Symlink("../secret", filepath.Join(mount, "out")),
	} {
		if err != nil {
			fmt.Println(err)
			return
		}
	}

	d, err := wasm.New(wasm.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close(ctx)
	for _, name := range []string{"in", "out"} {
		logPath := filepath.Join(dir, name+".log")
		_, err = d.Start(ctx, &runtimes.TaskConfig{
			ID:      "cat-" + name,
			Image:   module,
			Args:    []string{"cat", "/data/" + name},
			Mounts:  []runtimes.Mount{{HostPath: mount, GuestPath: "/data"}},
			LogPath: logPath,
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		exit, err := d.Wait(ctx, "cat-"+name)
		if err != nil {
			fmt.Println(err)
			return
		}
		res := <-exit
		out, _ := os.ReadFile(logPath)
		fmt.Printf("cat /data/%s: exit code %d: %s", name, res.ExitCode, out)
	}
	// Output:
	// cat /data/in: exit code 0: inside
	// cat /data/out: exit code 1: probe: open /data/out: Operation not permitted
}
