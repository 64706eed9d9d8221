package wasm

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero/experimental"

	"github.com/skiff-sh/skiff/runtimes"
)

var _ runtimes.Execer = (*Driver)(nil)

// Exec implements runtimes.Execer for Wasm modules: it runs a new instance
// of the task's module with cmd as its argv (cmd[0] is argv[0], the
// program name; the module is always the task's own), the task's
// environment, mounts and memory limit, and returns its exit code and
// output.
//
// # Notes
//
//   - A module instance is single-threaded and cannot be entered while its
//     _start runs, so exec cannot run inside the running instance; a new
//     instance is what a container exec is too: another process that sees
//     the same files (the pod's volumes) and environment, not the first
//     one's memory. Probes that check a file the task writes (a readiness
//     file in an emptyDir) or a mode of the program that checks its state
//     on disk work; probes that ask the running process over a socket do
//     not exist for Wasm (WASI preview1 has no sockets).
//   - The instance is closed when ctx ends, when the task exits or is
//     stopped, and when the driver closes. It has no CPU budget: ctx (the
//     probe's timeoutSeconds) bounds it.
//   - It returns runtimes.ErrTaskNotFound for an unknown or exited task.
func (d *Driver) Exec(ctx context.Context, id string, cmd []string) (int, []byte, error) {
	if len(cmd) == 0 {
		return 0, nil, fmt.Errorf("exec in wasm task %s: command: empty", id)
	}
	for i, a := range cmd {
		if strings.IndexByte(a, 0) >= 0 {
			return 0, nil, fmt.Errorf("exec in wasm task %s: command[%d]: contains a NUL byte", id, i)
		}
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return 0, nil, fmt.Errorf("exec in wasm task %s: %w", id, errClosed)
	}
	t := d.tasks[id]
	running := t != nil
	if running {
		select {
		case <-t.exit.Done():
			running = false
		default:
		}
	}
	if !running {
		d.mu.Unlock()
		return 0, nil, fmt.Errorf("exec in wasm task %s: %w", id, runtimes.ErrTaskNotFound)
	}
	m := t.module
	m.refs++
	d.wg.Add(1) // Close waits for the instance before closing the runtime
	d.mu.Unlock()
	defer d.wg.Done()
	defer d.releaseModule(m)

	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopWithTask := context.AfterFunc(t.ctx, cancel)
	defer stopWithTask()

	cfg := cloneConfig(t.cfg)
	cfg.Command, cfg.Args, cfg.LogPath = cmd, nil, ""
	et := newTask(ectx, cfg, m)
	defer et.cancel()
	et.memory = d.memoryLimitFor(cfg)
	if et.memory != nil && m.minMemory > et.memory.limit {
		return 0, nil, fmt.Errorf("exec in wasm task %s: the module needs %d bytes of memory to start, above the limit of %d bytes%s",
			id, m.minMemory, et.memory.limit, et.memory.note())
	}
	mc, err := moduleConfig(cfg, et)
	if err != nil {
		return 0, nil, fmt.Errorf("exec in wasm task %s: %w", id, err)
	}
	defer et.closeFiles() // after the instance is closed (defers run last first)
	out := &boundedBuffer{max: runtimes.MaxExecOutput}
	mc = mc.WithStdout(out).WithStderr(out)
	ictx := et.ctx
	if et.memory != nil {
		ictx = experimental.WithMemoryAllocator(ictx, et.memory)
	}
	mod, err := d.runtime.InstantiateModule(ictx, m.code, mc)
	if err != nil {
		if ctx.Err() != nil {
			return 0, out.Bytes(), fmt.Errorf("exec in wasm task %s: %w", id, ctx.Err())
		}
		return 0, out.Bytes(), fmt.Errorf("exec in wasm task %s: instantiate module: %w", id, err)
	}
	defer mod.Close(context.Background())
	_, err = mod.ExportedFunction("_start").Call(et.ctx)
	switch {
	case ctx.Err() != nil:
		return 0, out.Bytes(), fmt.Errorf("exec in wasm task %s: %w", id, ctx.Err())
	case t.ctx.Err() != nil:
		return 0, out.Bytes(), fmt.Errorf("exec in wasm task %s: the task stopped: %w", id, runtimes.ErrTaskNotFound)
	}
	res := et.exitResult(err)
	return res.ExitCode, out.Bytes(), nil
}

// boundedBuffer keeps the first max bytes written and drops the rest.
type boundedBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *boundedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
