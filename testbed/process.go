package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/testbed/fixtures"
	"github.com/skiff-sh/skiff/web/client"
)

// BuildSkiff builds the skiff binary from this checkout into a directory
// of the test and returns its path.
func BuildSkiff(t testing.TB) string {
	t.Helper()
	root, err := fixtures.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "skiff")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/skiff")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build skiff: %v\n%s", err, b)
	}
	return out
}

// BuildSkiffFor cross-builds the skiff binary for linux/goarch (goarm for
// arm: "7" for armv7), static (CGO_ENABLED=0) as `go tool task build:all`
// builds device binaries.
func BuildSkiffFor(t testing.TB, goarch, goarm string) string {
	t.Helper()
	root, err := fixtures.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "skiff-linux-"+goarch+goarm)
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/skiff")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "GOARM="+goarm, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build skiff for %s%s: %v\n%s", goarch, goarm, err, b)
	}
	return out
}

// Emulator is the qemu-user-static binary that runs linux/goarch programs
// on this machine ("" when goarch is this machine's own): called
// explicitly, since binfmt_misc may not be registered. Missing, the test
// fails under CI (go tool task test installs it) and is skipped elsewhere.
func Emulator(t testing.TB, goarch string) string {
	t.Helper()
	name := map[string]string{"arm64": "qemu-aarch64-static", "arm": "qemu-arm-static", "amd64": "qemu-x86_64-static"}[goarch]
	if goarch == runtime.GOARCH {
		return ""
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := name + " is missing: install it with `go tool task deps:qemu` (as root: apt-get install qemu-user-static)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// BuildExample builds the Wasm module of an example under testbed/examples
// (a Go package) into dir as <name>.wasm and returns its path.
func BuildExample(t testing.TB, name, dir string) string {
	t.Helper()
	root, err := fixtures.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name+".wasm")
	cmd := exec.Command("go", "build", "-o", out, "./testbed/examples/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build example %s: %v\n%s", name, err, b)
	}
	return out
}

// Process is a skiff process started by a test; it is stopped (SIGINT,
// then SIGKILL) when the test ends.
type Process struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// StartProcess runs bin with args and env (added to the test's
// environment).
func StartProcess(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = lockedWriter{&p.mu, &p.stdout}
	p.cmd.Stderr = lockedWriter{&p.mu, &p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s %v: %v", bin, args, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s %s stdout:\n%s\nstderr:\n%s", filepath.Base(bin), strings.Join(args, " "), p.Stdout(), p.Stderr())
		}
	})
	return p
}

// Stdout is everything the process printed on stdout so far.
func (p *Process) Stdout() string { p.mu.Lock(); defer p.mu.Unlock(); return p.stdout.String() }

// Stderr is everything the process printed on stderr so far.
func (p *Process) Stderr() string { p.mu.Lock(); defer p.mu.Unlock(); return p.stderr.String() }

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// WaitOutput polls stdout until re matches and returns the first submatch
// (or the whole match).
func (p *Process) WaitOutput(t testing.TB, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	var got string
	err := Poll(context.Background(), timeout, 20*time.Millisecond, func() (bool, error) {
		m := re.FindStringSubmatch(p.Stdout())
		if m != nil {
			got = m[len(m)-1]
			return true, nil
		}
		select {
		case <-p.done:
			return false, errors.New("process exited")
		default:
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("waiting for %q in stdout: %v\nstdout:\n%s\nstderr:\n%s", re, err, p.Stdout(), p.Stderr())
	}
	return got
}

// Stop interrupts the process and waits; it kills it after 15 seconds.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill ends the process at once (SIGKILL), as a crash or power loss would.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// ClientFromConfig returns a client of server with the token in the client
// config at path, which `skiff up` and `skiff server` wrote before they
// printed their URLs.
func ClientFromConfig(t testing.TB, path, server string) *client.Client {
	t.Helper()
	cfg, err := client.LoadConfig(path)
	if err != nil {
		t.Fatalf("client config of %s: %v", server, err)
	}
	if cfg.Token == "" {
		t.Fatalf("client config %s has no token", path)
	}
	return client.New(server, client.WithToken(cfg.Token), client.WithCA([]byte(cfg.CA)))
}

// CLIResult is what one CLI invocation printed and how it exited.
type CLIResult struct {
	Stdout, Stderr string
	ExitCode       int
}

// RunCLI runs bin with args to completion (at most a minute).
func RunCLI(t testing.TB, bin string, env []string, args ...string) CLIResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := CLIResult{Stdout: out.String(), Stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s %v: %v", bin, args, err)
	}
	return res
}

// String shows the result for failure messages.
func (r CLIResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Stdout, r.Stderr)
}
