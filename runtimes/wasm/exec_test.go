package wasm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/wasm"
	"github.com/skiff-sh/skiff/testbed/fixtures"
)

// Exec runs the task's module again with the command as argv: it sees the
// task's mounts and environment, returns the exit code and output, and
// ends with its context.
func TestExecRunsTheModuleAgainInTheTasksMountsAndEnv(t *testing.T) {
	probe := fixtures.BuildWasm(t, "probe")
	d := newDriver(t, wasm.Options{CacheDir: t.TempDir()})
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "ready"), []byte("yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := taskFor(t, "app", probe, "forever")
	cfg.Mounts = []runtimes.Mount{{HostPath: data, GuestPath: "/data", ReadOnly: true}}
	cfg.Env = []runtimes.EnvVar{{Name: "MODE", Value: "probe"}}
	mustStart(t, d, cfg)

	var ex runtimes.Execer = d
	code, out, err := ex.Exec(t.Context(), "app", []string{"probe", "cat", "/data/ready"})
	if err != nil || code != 0 || string(out) != "yes\n" {
		t.Errorf("exec cat = %d, %q, %v; want 0, \"yes\\n\"", code, out, err)
	}
	code, out, err = ex.Exec(t.Context(), "app", []string{"probe", "env"})
	if err != nil || code != 0 || !strings.Contains(string(out), "MODE=probe") {
		t.Errorf("exec env = %d, %q, %v; want the task's environment", code, out, err)
	}
	code, _, err = ex.Exec(t.Context(), "app", []string{"probe", "cat", "/data/missing"})
	if err != nil || code != 1 {
		t.Errorf("exec cat of a missing file = %d, %v; want exit code 1", code, err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, _, err = ex.Exec(ctx, "app", []string{"probe", "spin"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("exec of a busy loop with a deadline: err %v, want DeadlineExceeded", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("exec ended %s after its deadline", took)
	}
	if st, err := d.Inspect(t.Context(), "app"); err != nil || st.State != runtimes.TaskRunning {
		t.Errorf("the task itself = %+v, %v; exec must not disturb it", st, err)
	}

	if err := d.Stop(t.Context(), "app", 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ex.Exec(t.Context(), "app", []string{"probe", "hello"}); !errors.Is(err, runtimes.ErrTaskNotFound) {
		t.Errorf("exec in a stopped task: err %v, want ErrTaskNotFound", err)
	}
	if _, _, err := ex.Exec(t.Context(), "nope", []string{"probe", "hello"}); !errors.Is(err, runtimes.ErrTaskNotFound) {
		t.Errorf("exec in an unknown task: err %v, want ErrTaskNotFound", err)
	}
	if _, _, err := ex.Exec(t.Context(), "nope", nil); err == nil {
		t.Error("exec of an empty command succeeded")
	}
}
