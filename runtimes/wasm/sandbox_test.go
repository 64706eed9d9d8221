package wasm_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/runtimetest"
	"github.com/skiff-sh/skiff/runtimes/wasm"
	"github.com/skiff-sh/skiff/testbed/fixtures"
)

// escapeAttempts are the attempts of the escape fixture's attack mode; each
// must be reported blocked (so none was skipped).
var escapeAttempts = []string{
	"symlink-up", "symlink-parent", "symlink-abs", "symlink-abs-root", "raw-symlink-up",
	"symlink-dotdot-then-move",
	"dotdot-open", "raw-dotdot-open", "raw-dotdot-open-deep", "raw-dotdot-after-dir",
	"hardlink-abs", "raw-hardlink-dotdot", "raw-hardlink-follow-planted", "hardlink-planted",
	"hardlink-through-planted-dir",
	"raw-rename-out", "rename-through-planted-dir", "rename-planted-in",
	"planted-rel", "planted-abs", "planted-dir", "stat-planted", "readdir-planted-dir",
	"write-planted", "create-through-planted-dir", "mkdir-through-planted-dir",
	"symlink-through-planted-dir", "remove-through-planted-dir", "chtimes-planted",
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// dirNames lists dir's entries, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// runGuest runs the escape fixture with args and mounts, and returns its
// exit and log.
func runGuest(t *testing.T, d *wasm.Driver, id string, mounts []runtimes.Mount, args ...string) (*runtimes.ExitResult, string) {
	t.Helper()
	cfg := taskFor(t, id, fixtures.BuildWasm(t, "escape"), args...)
	cfg.Mounts = mounts
	mustStart(t, d, cfg)
	res := runtimetest.WaitExit(t, d, id)
	return res, runtimetest.ReadLog(t, cfg)
}

// The attack of a tenant who may only run a Wasm pod with an emptyDir:
// links, "..", hard links and renames towards a host file beside the
// mount, and symlinks the host already had in the mount.
func TestGuestCannotLeaveItsMount(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	base := t.TempDir()
	secretText := "skiff-secret-" + rand.Text()
	secret := filepath.Join(base, "secret.txt")
	writeFile(t, secret, secretText)
	before, err := os.Stat(secret)
	if err != nil {
		t.Fatal(err)
	}
	mount := filepath.Join(base, "mount")
	if err := os.Mkdir(mount, 0o777); err != nil {
		t.Fatal(err)
	}
	symlink(t, "../secret.txt", filepath.Join(mount, "planted-rel"))
	symlink(t, secret, filepath.Join(mount, "planted-abs"))
	symlink(t, "..", filepath.Join(mount, "planted-dir"))
	writeFile(t, filepath.Join(mount, "victim.txt"), "victim")

	res, log := runGuest(t, d, "attack", []runtimes.Mount{{HostPath: mount, GuestPath: "/data"}},
		"attack", "/data", secret)

	if strings.Contains(log, secretText) {
		t.Fatalf("the guest read the secret:\n%s", log)
	}
	for _, name := range escapeAttempts {
		if !strings.Contains(log, "\n"+name+": blocked: ") && !strings.HasPrefix(log, name+": blocked: ") {
			t.Errorf("attempt %s not reported blocked", name)
		}
	}
	if res.ExitCode != 0 || !strings.Contains(log, "every attempt was blocked\n") {
		t.Errorf("exit %+v, want 0 with every attempt blocked", res)
	}
	if t.Failed() {
		t.Logf("guest output:\n%s", log)
	}

	// Nothing changed outside the mount.
	if b, err := os.ReadFile(secret); err != nil || string(b) != secretText {
		t.Errorf("secret after the attack: %q, %v", b, err)
	}
	if after, err := os.Stat(secret); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("secret's mtime changed: %v → %v (%v)", before.ModTime(), after.ModTime(), err)
	}
	if got := dirNames(t, base); !slices.Equal(got, []string{"mount", "secret.txt"}) {
		t.Errorf("beside the mount now: %q, want only mount and secret.txt", got)
	}
	if b, err := os.ReadFile(filepath.Join(mount, "victim.txt")); err != nil || string(b) != "victim" {
		t.Errorf("victim.txt: %q, %v; want it still in the mount", b, err)
	}
	// Every symlink in the mount is one the host planted, or a guest's
	// that points down.
	planted := map[string]bool{"planted-rel": true, "planted-abs": true, "planted-dir": true}
	err = filepath.WalkDir(mount, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.Type()&os.ModeSymlink == 0 || planted[e.Name()] {
			return err
		}
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if filepath.IsAbs(target) || slices.Contains(strings.Split(target, "/"), "..") {
			t.Errorf("the guest left a symlink %s -> %s", p, target)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestGuestFileWorkInsideItsMountWorks(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	mount := t.TempDir()
	writeFile(t, filepath.Join(mount, "given.txt"), "given")
	symlink(t, "given.txt", filepath.Join(mount, "given-link"))

	res, log := runGuest(t, d, "work", []runtimes.Mount{{HostPath: mount, GuestPath: "/data"}}, "work", "/data")
	if !res.Successful() || !strings.Contains(log, "work done\n") {
		t.Fatalf("exit %+v, output:\n%s", res, log)
	}
	if got := dirNames(t, mount); !slices.Equal(got, []string{"given-link", "given.txt"}) {
		t.Errorf("mount after the work: %q, want what it started with", got)
	}
}

func TestReadOnlyMountRefusesEveryChange(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	mount := t.TempDir()
	given := filepath.Join(mount, "given.txt")
	writeFile(t, given, "given")
	before, err := os.Stat(given)
	if err != nil {
		t.Fatal(err)
	}

	res, log := runGuest(t, d, "readonly", []runtimes.Mount{{HostPath: mount, GuestPath: "/ro", ReadOnly: true}},
		"readonly", "/ro")
	for _, name := range []string{"create", "write", "append", "truncate-on-open", "create-read-only",
		"truncate", "mkdir", "remove", "rename", "symlink", "hardlink", "chtimes"} {
		if !strings.Contains(log, name+": blocked: ") {
			t.Errorf("change %s not reported blocked", name)
		}
	}
	if !res.Successful() || !strings.Contains(log, "read: given\n") {
		t.Errorf("exit %+v, want 0 and the file read", res)
	}
	if t.Failed() {
		t.Logf("guest output:\n%s", log)
	}
	if got := dirNames(t, mount); !slices.Equal(got, []string{"given.txt"}) {
		t.Errorf("read-only mount now holds %q", got)
	}
	after, err := os.Stat(given)
	if b, _ := os.ReadFile(given); err != nil || string(b) != "given" || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("given.txt changed: %q, mtime %v → %v", b, before.ModTime(), after.ModTime())
	}
}

// An exec (a probe) is a new instance with its own view of the task's
// mounts: it is confined the same way.
func TestExecIsConfinedToTheTasksMounts(t *testing.T) {
	d := newDriver(t, wasm.Options{})
	base := t.TempDir()
	secretText := "skiff-secret-" + rand.Text()
	writeFile(t, filepath.Join(base, "secret.txt"), secretText)
	mount := filepath.Join(base, "mount")
	if err := os.Mkdir(mount, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mount, "ready"), "yes")
	symlink(t, "../secret.txt", filepath.Join(mount, "out"))
	cfg := taskFor(t, "app", fixtures.BuildWasm(t, "probe"), "forever")
	cfg.Mounts = []runtimes.Mount{{HostPath: mount, GuestPath: "/data"}}
	mustStart(t, d, cfg)

	code, out, err := d.Exec(t.Context(), "app", []string{"probe", "cat", "/data/out"})
	if err != nil || code == 0 || strings.Contains(string(out), secretText) {
		t.Errorf("exec cat /data/out = %d, %q, %v; want a failure without the secret", code, out, err)
	}
	if code, out, err := d.Exec(t.Context(), "app", []string{"probe", "cat", "/data/ready"}); err != nil || code != 0 || string(out) != "yes" {
		t.Errorf("exec cat /data/ready = %d, %q, %v; want 0, yes", code, out, err)
	}
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// Each instance opens a descriptor per mount; all are closed when it ends,
// whether it ran, failed to start or was an exec.
func TestMountDescriptorsAreClosedWhenInstancesEnd(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	d := newDriver(t, wasm.Options{})
	probe := fixtures.BuildWasm(t, "probe")
	mounts := []runtimes.Mount{{HostPath: t.TempDir(), GuestPath: "/a"}, {HostPath: t.TempDir(), GuestPath: "/b", ReadOnly: true}}
	run := func(id string, args ...string) {
		t.Helper()
		cfg := taskFor(t, id, probe, args...)
		cfg.Mounts = mounts
		mustStart(t, d, cfg)
		runtimetest.WaitExit(t, d, id)
		if err := d.Destroy(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	run("warm", "hello") // compiles, and opens what the runtime keeps open
	before := openFDs(t)
	for i := range 10 {
		run(fmt.Sprintf("run-%d", i), "write", "/a/f", "x")
	}
	bad := taskFor(t, "bad-log", probe, "hello")
	bad.Mounts = mounts
	bad.LogPath = "/dev/null/cannot/be/a/dir/x.log" // moduleConfig fails after opening the mounts
	if _, err := d.Start(t.Context(), bad); err == nil {
		t.Fatal("Start with an impossible LogPath succeeded")
	}
	live := taskFor(t, "live", probe, "forever")
	live.Mounts = mounts
	mustStart(t, d, live)
	for range 5 {
		if _, _, err := d.Exec(t.Context(), "live", []string{"probe", "hello"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Destroy(t.Context(), "live"); err != nil {
		t.Fatal(err)
	}
	if after := openFDs(t); after > before {
		t.Fatalf("%d descriptors open after the instances ended, %d before: mounts leak", after, before)
	}
}
