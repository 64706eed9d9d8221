package containerd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/runtimetest"
)

// dockerCapEff is the capability mask of Docker's default set, as
// /proc/<pid>/status shows it: CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL,
// SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD,
// AUDIT_WRITE, SETFCAP.
const dockerCapEff = "00000000a80425fb"

// statusField returns the value of a "Name:\tvalue" line of
// /proc/<pid>/status.
func statusField(status, name string) string {
	for line := range strings.Lines(status) {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// A container runs under containerd's default seccomp profile (filter
// mode), with Docker's capabilities and no_new_privs: its own status says
// so.
func TestContainersRunWithTheDefaultSeccompProfileAndCapabilities(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	cfg := e.task(t, "confined-status", "cat", "/proc/self/status")
	mustStart(t, d, cfg)
	if res := runtimetest.WaitExit(t, d, cfg.ID); !res.Successful() {
		t.Fatalf("exit %+v; log %q", res, runtimetest.ReadLog(t, cfg))
	}
	status := runtimetest.ReadLog(t, cfg)
	for name, want := range map[string]string{
		"Seccomp":    "2", // SECCOMP_MODE_FILTER
		"NoNewPrivs": "1",
		"CapEff":     dockerCapEff,
		"CapPrm":     dockerCapEff,
		"CapBnd":     dockerCapEff,
	} {
		if got := statusField(status, name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if t.Failed() {
		t.Logf("/proc/self/status:\n%s", status)
	}
}

// A system call the default profile refuses (keyctl: the kernel keyring
// is not namespaced) fails with EPERM in a container, though the process
// is root; the same program outside a container makes it.
func TestASyscallTheProfileRefusesFailsInAContainer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	cfg := e.task(t, "confined-keyctl", "syscall", "keyctl")
	mustStart(t, d, cfg)
	res := runtimetest.WaitExit(t, d, cfg.ID)
	if got := runtimetest.ReadLog(t, cfg); res.ExitCode != 1 || got != "keyctl: operation not permitted\n" {
		t.Fatalf("exit %+v, log %q; want exit 1 and keyctl refused with EPERM", res, got)
	}
}

// A mount's host path may be /proc/<pid>/fd/<n> of a descriptor the caller
// holds: the container gets the file the descriptor is, even when the
// name it was opened by has since been swapped for a symlink elsewhere.
// The agent pins hostPath and subPath mounts this way.
func TestAMountFromADescriptorPathMountsTheDescriptorsFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := e.newDriver(t)
	dir := t.TempDir()
	checked, elsewhere := filepath.Join(dir, "checked"), filepath.Join(dir, "elsewhere")
	for p, which := range map[string]string{checked: "checked", elsewhere: "elsewhere"} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "which"), []byte(which), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := unix.Open(checked, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// The swap: the checked name now leads elsewhere.
	if err := os.Rename(checked, checked+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, checked); err != nil {
		t.Fatal(err)
	}
	cfg := e.task(t, "pinned-mount", "cat", "/data/which")
	cfg.Mounts = []runtimes.Mount{{HostPath: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd), GuestPath: "/data", ReadOnly: true}}
	mustStart(t, d, cfg)
	// The bind that gave runc a name is gone once the task exists (only
	// this test of the package mounts descriptors).
	if info, err := os.ReadFile("/proc/self/mountinfo"); err != nil || strings.Contains(string(info), "skiff-mounts-") {
		t.Errorf("a skiff-mounts bind is left after Start (%v):\n%s", err, info)
	}
	res := runtimetest.WaitExit(t, d, cfg.ID)
	if got := runtimetest.ReadLog(t, cfg); !res.Successful() || got != "checked" {
		t.Fatalf("exit %+v, log %q; want the descriptor's directory (\"checked\")", res, got)
	}
}
