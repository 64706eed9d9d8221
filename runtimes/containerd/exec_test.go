package containerd_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/runtimetest"
)

func TestExecRunsCommandsInTheRunningContainer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	cfg := e.task(t, "exec-target", "forever")
	cfg.Env = []runtimes.EnvVar{{Name: "FROM_POD", Value: "yes"}}
	mustStart(t, d, cfg)
	t.Cleanup(func() { _ = d.Destroy(context.Background(), cfg.ID) })

	t.Run("echo returns exit 0 and its output", func(t *testing.T) {
		code, out, err := d.Exec(t.Context(), cfg.ID, []string{"/probe", "echo-args", "hi"})
		if err != nil || code != 0 || string(out) != "hi\n" {
			t.Fatalf("Exec = %d, %q, %v; want 0, \"hi\\n\", nil", code, out, err)
		}
	})

	t.Run("a failing command is its exit code and output, not an error", func(t *testing.T) {
		code, out, err := d.Exec(t.Context(), cfg.ID, []string{"/probe", "cat", "/no/such/file"})
		if err != nil || code != 1 || !strings.Contains(string(out), "/no/such/file") {
			t.Fatalf("Exec = %d, %q, %v; want 1 with the error on stderr, nil", code, out, err)
		}
	})

	t.Run("the command sees the container's environment", func(t *testing.T) {
		code, out, err := d.Exec(t.Context(), cfg.ID, []string{"/probe", "env"})
		if err != nil || code != 0 || !strings.Contains(string(out), "FROM_POD=yes\n") || !strings.Contains(string(out), "PATH=") {
			t.Fatalf("Exec env = %d, %q, %v; want the pod's FROM_POD and the image's PATH", code, out, err)
		}
	})

	t.Run("a missing binary is ErrCommandNotFound naming it", func(t *testing.T) {
		_, _, err := d.Exec(t.Context(), cfg.ID, []string{"/no/such/program"})
		if !errors.Is(err, runtimes.ErrCommandNotFound) || !strings.Contains(err.Error(), "/no/such/program") {
			t.Fatalf("err %v, want ErrCommandNotFound naming the program", err)
		}
	})

	t.Run("a command that outlives its context is killed", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		began := time.Now()
		_, _, err := d.Exec(ctx, cfg.ID, []string{"/probe", "sleep", "60s"})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want DeadlineExceeded", err)
		}
		if took := time.Since(began); took > 15*time.Second {
			t.Errorf("Exec returned after %v, long after its 500ms deadline", took)
		}
		c, nctx := e.client(t)
		ctr, err := c.LoadContainer(nctx, cfg.ID)
		if err != nil {
			t.Fatal(err)
		}
		tk, err := ctr.Task(nctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		pids, err := tk.Pids(nctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) != 1 {
			t.Errorf("the container has %d processes after the timed-out exec, want only its own: %+v", len(pids), pids)
		}
	})

	t.Run("output beyond MaxExecOutput is cut", func(t *testing.T) {
		long := strings.Repeat("x", 4096)
		args := []string{"/probe", "echo-args"}
		for range 5 {
			args = append(args, long)
		}
		code, out, err := d.Exec(t.Context(), cfg.ID, args)
		if err != nil || code != 0 || len(out) != runtimes.MaxExecOutput {
			t.Fatalf("Exec = %d, %d bytes, %v; want 0, %d bytes, nil", code, len(out), err, runtimes.MaxExecOutput)
		}
	})

	t.Run("the container keeps running", func(t *testing.T) {
		st, err := d.Inspect(t.Context(), cfg.ID)
		if err != nil || st.State != runtimes.TaskRunning {
			t.Fatalf("Inspect = %+v, %v; want running", st, err)
		}
	})
}

func TestExecOfAnUnknownOrExitedTaskIsTaskNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	if _, _, err := d.Exec(t.Context(), "nobody", []string{"/probe", "hello"}); !errors.Is(err, runtimes.ErrTaskNotFound) {
		t.Errorf("unknown task: err %v, want ErrTaskNotFound", err)
	}
	cfg := e.task(t, "exec-exited", "exit", "0")
	mustStart(t, d, cfg)
	runtimetest.WaitExit(t, d, cfg.ID)
	if _, _, err := d.Exec(t.Context(), cfg.ID, []string{"/probe", "hello"}); !errors.Is(err, runtimes.ErrTaskNotFound) {
		t.Errorf("exited task: err %v, want ErrTaskNotFound", err)
	}
}

// No registry is reachable where the tests run: this is the failure path
// of a pull; the success path needs a registry.
func TestStartPullsAMissingImageAndReportsAnUnreachableRegistry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	cfg := e.task(t, "pull-refused", "hello")
	cfg.Image = "127.0.0.1:1/skiff/no-such-image:1"
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	began := time.Now()
	_, err := d.Start(ctx, cfg)
	if !errors.Is(err, runtimes.ErrImageNotFound) {
		t.Fatalf("err %v, want ErrImageNotFound", err)
	}
	msg := err.Error()
	t.Logf("the refused pull: %v", err)
	if !strings.Contains(msg, cfg.Image) || !strings.Contains(msg, "connection refused") {
		t.Errorf("err %q should name the image and the registry's error", msg)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("a refused pull took %v", took)
	}
	if ids := e.containers(t); len(ids) != 0 {
		t.Errorf("containers left after the failed pull: %v", ids)
	}
}

func TestStartWhosePullOutlivesItsContextIsTheContextsError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	cfg := e.task(t, "pull-cancelled", "hello")
	cfg.Image = "127.0.0.1:1/skiff/no-such-image:1"
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := d.Start(ctx, cfg)
	if !errors.Is(err, context.Canceled) || errors.Is(err, runtimes.ErrImageNotFound) {
		t.Fatalf("err %v, want context.Canceled and not ErrImageNotFound", err)
	}
}
