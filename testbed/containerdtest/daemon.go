package containerdtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
)

// InstallHint says how to get what the container tests need.
const InstallHint = "containerd and runc are needed, and root: run `go tool task deps:containerd` " +
	"(as root it installs them with apt-get)"

// ErrUnavailable is returned by StartDaemon when containerd or runc is not
// installed or the process is not root.
var ErrUnavailable = errors.New("containerd unavailable")

// Timeouts of the daemon's lifecycle.
const (
	readyTimeout = 30 * time.Second // start until the socket answers
	termTimeout  = 10 * time.Second // SIGTERM until SIGKILL
	stopTimeout  = 60 * time.Second // the whole Stop of Start's cleanup
)

// maxSocketPath is the room for a unix socket path (sun_path holds 108
// bytes with the terminating NUL).
const maxSocketPath = 107

// Daemon is a containerd process of its own: its root, state, socket and
// config live in one temporary directory, removed by Stop.
type Daemon struct {
	// Address is the path of the daemon's gRPC unix socket, for
	// client.New or `ctr --address`.
	Address string
	// Namespace is a containerd namespace unique to this daemon. Use it
	// rather than "default" or "skiff": runc's state (/run/containerd/runc/
	// <namespace>) and the cgroups (/<namespace>/<id>) are named after it,
	// and other daemons on the machine must not meet them.
	Namespace string
	// Snapshotter is "overlayfs", or "native" where overlay mounts do not
	// work.
	Snapshotter string
	// Version is what the daemon reports, such as "1.6.20~ds1".
	Version string
	// Dir holds config.toml, containerd.log and the root and state
	// directories.
	Dir string
	// Binary and Runc are the programs used.
	Binary, Runc string

	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited
	waitErr error         // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// DaemonOptions configure StartDaemon. The zero value works.
type DaemonOptions struct {
	// Namespace defaults to "skifftest-" and random hex digits.
	Namespace string
	// Debug sets the daemon's log level to debug.
	Debug bool
}

// FindBinaries returns the paths of containerd and runc: from PATH, or else
// the usual install directories (runc is in /usr/sbin on Debian, which a
// non-login PATH often lacks).
func FindBinaries() (containerd, runc string, err error) {
	containerd, err1 := findBinary("containerd")
	runc, err2 := findBinary("runc")
	if err := errors.Join(err1, err2); err != nil {
		return "", "", fmt.Errorf("%w: %w; %s", ErrUnavailable, err, InstallHint)
	}
	return containerd, runc, nil
}

func findBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/bin", "/usr/local/bin", "/usr/sbin", "/usr/local/sbin", "/sbin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH, /usr/bin, /usr/local/bin or /usr/sbin", name)
}

// Start starts a private containerd for the test and stops it, removing
// everything it ran, when the test ends. Without containerd, runc or root
// it skips the test, or fails it when the CI environment variable is set.
func Start(t testing.TB) *Daemon {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout+10*time.Second)
	defer cancel()
	d, err := StartDaemon(ctx, DaemonOptions{})
	if errors.Is(err, ErrUnavailable) {
		if os.Getenv("CI") != "" {
			t.Fatalf("containerd tests cannot run in CI: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("containerd log (tail):\n%s", d.LogTail(8<<10))
		}
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := d.Stop(ctx); err != nil {
			t.Errorf("stop containerd: %v", err)
		}
	})
	return d
}

// StartDaemon starts a private containerd and returns once its socket
// answers. It returns an error wrapping ErrUnavailable when containerd or
// runc is missing or the process is not root. The caller must call Stop.
func StartDaemon(ctx context.Context, opts DaemonOptions) (*Daemon, error) {
	bin, runc, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: containerd needs root, this process runs as uid %d; %s",
			ErrUnavailable, os.Geteuid(), InstallHint)
	}
	ns := opts.Namespace
	if ns == "" {
		ns = "skifftest-" + randomHex(4)
	}
	// One short directory: the socket must fit in sun_path.
	dir, err := os.MkdirTemp("", "ctd")
	if err != nil {
		return nil, fmt.Errorf("containerd dir: %w", err)
	}
	d := &Daemon{
		Address:   filepath.Join(dir, "containerd.sock"),
		Namespace: ns,
		Dir:       dir,
		Binary:    bin,
		Runc:      runc,
		done:      make(chan struct{}),
	}
	if len(d.Address) > maxSocketPath {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("containerd socket path %s is longer than %d bytes: set a shorter TMPDIR",
			d.Address, maxSocketPath)
	}
	if err := d.start(ctx, opts); err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		tail := d.LogTail(4 << 10)
		return nil, errors.Join(fmt.Errorf("start containerd %s: %w; log:\n%s", bin, err, tail), d.Stop(stopCtx))
	}
	return d, nil
}

func (d *Daemon) start(ctx context.Context, opts DaemonOptions) error {
	level := "warn"
	if opts.Debug {
		level = "debug"
	}
	config := filepath.Join(d.Dir, "config.toml")
	if err := os.WriteFile(config, []byte(configTOML(d.Dir, d.Address, level)), 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	logFile, err := os.Create(d.logPath())
	if err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor

	cmd := exec.Command(d.Binary, "--config", config)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The shim and runc are found through PATH: put runc's and
	// containerd's directories first.
	path := filepath.Dir(d.Binary) + string(os.PathListSeparator) + filepath.Dir(d.Runc) +
		string(os.PathListSeparator) + os.Getenv("PATH")
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PATH=")
	}), "PATH="+path)
	// The daemon dies with the test process should that be killed; the
	// containers' shims outlive it and are removed by Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		close(d.done)
		return fmt.Errorf("run: %w", err)
	}
	d.cmd = cmd
	go func() {
		d.waitErr = cmd.Wait()
		close(d.done)
	}()
	return d.waitReady(ctx)
}

// configTOML is a config (version 2, read by containerd 1.6 and 2.x) with
// only what running containers from imported images needs: no CRI, no
// tracing, no snapshotters other than overlayfs and native, no metrics or
// debug socket. Unknown names in disabled_plugins are ignored.
func configTOML(dir, address, level string) string {
	disabled := []string{
		"io.containerd.grpc.v1.cri",
		"io.containerd.cri.v1.images",
		"io.containerd.cri.v1.runtime",
		"io.containerd.podsandbox.controller.v1.podsandbox",
		"io.containerd.sandbox.controller.v1.shim",
		"io.containerd.nri.v1.nri",
		"io.containerd.snapshotter.v1.aufs",
		"io.containerd.snapshotter.v1.btrfs",
		"io.containerd.snapshotter.v1.zfs",
		"io.containerd.snapshotter.v1.devmapper",
		"io.containerd.snapshotter.v1.blockfile",
		"io.containerd.snapshotter.v1.erofs",
		"io.containerd.internal.v1.opt",
		"io.containerd.internal.v1.tracing",
		"io.containerd.tracing.processor.v1.otlp",
		"io.containerd.grpc.v1.grpc-metrics",
	}
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, "version = 2\n")
	fmt.Fprintf(&b, "root = %s\n", q(filepath.Join(dir, "root")))
	fmt.Fprintf(&b, "state = %s\n", q(filepath.Join(dir, "state")))
	fmt.Fprintf(&b, "disabled_plugins = [")
	for i, p := range disabled {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(q(p))
	}
	b.WriteString("]\n\n")
	fmt.Fprintf(&b, "[grpc]\n  address = %s\n\n", q(address))
	fmt.Fprintf(&b, "[ttrpc]\n  address = %s\n\n", q(address+".ttrpc"))
	fmt.Fprintf(&b, "[debug]\n  address = \"\"\n  level = %s\n\n", q(level))
	fmt.Fprintf(&b, "[metrics]\n  address = \"\"\n")
	return b.String()
}

// waitReady polls until the socket exists and the daemon answers Version,
// then picks the snapshotter.
func (d *Daemon) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var c *client.Client
	defer func() {
		if c != nil {
			_ = c.Close()
		}
	}()
	var lastErr error
	for {
		select {
		case <-d.done:
			return fmt.Errorf("containerd exited: %v", d.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("containerd did not answer on %s: %w (last error: %v)", d.Address, ctx.Err(), lastErr)
		case <-tick.C:
		}
		// Dial only once the socket exists: gRPC backs off for a second
		// after a failed connection.
		if c == nil {
			if _, err := os.Stat(d.Address); err != nil {
				lastErr = err
				continue
			}
			cl, err := client.New(d.Address, client.WithTimeout(time.Second))
			if err != nil {
				lastErr = err
				continue
			}
			c = cl
		}
		vctx, vcancel := context.WithTimeout(ctx, time.Second)
		v, err := c.Version(vctx)
		vcancel()
		if err != nil {
			lastErr = err
			continue
		}
		d.Version = v.Version
		sn, err := pickSnapshotter(ctx, c)
		if err != nil {
			return err
		}
		d.Snapshotter = sn
		return nil
	}
}

// pickSnapshotter returns overlayfs when its plugin loaded (it checks at
// load that overlay mounts work on the root's filesystem), native otherwise.
func pickSnapshotter(ctx context.Context, c *client.Client) (string, error) {
	resp, err := c.IntrospectionService().Plugins(ctx, `type=="io.containerd.snapshotter.v1"`)
	if err != nil {
		return "", fmt.Errorf("list snapshotters: %w", err)
	}
	ok := map[string]bool{}
	for _, p := range resp.Plugins {
		ok[p.ID] = p.InitErr == nil
	}
	switch {
	case ok["overlayfs"]:
		return "overlayfs", nil
	case ok["native"]:
		return "native", nil
	default:
		return "", errors.New("neither the overlayfs nor the native snapshotter loaded")
	}
}

// Client returns a client of the daemon in its namespace; the test closes
// it on cleanup.
func (d *Daemon) Client(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(d.Address, client.WithDefaultNamespace(d.Namespace))
	if err != nil {
		t.Fatalf("containerd client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop removes every container of every namespace (killing their tasks),
// stops the daemon (SIGTERM, SIGKILL after 10 s), ends shims of this daemon
// still running, unmounts what is mounted under its directory, removes the
// cgroups and runc state named after its namespace, and removes the
// directory. Calls after the first return the first's result.
func (d *Daemon) Stop(ctx context.Context) error {
	d.stopOnce.Do(func() { d.stopErr = d.stop(ctx) })
	return d.stopErr
}

func (d *Daemon) stop(ctx context.Context) error {
	var errs []error
	running := d.cmd != nil
	if running {
		select {
		case <-d.done:
			running = false
		default:
		}
	}
	if running {
		if err := d.removeContainers(ctx); err != nil {
			errs = append(errs, fmt.Errorf("remove containers: %w", err))
		}
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(termTimeout):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
	killShims(d.Address)
	if err := unmountUnder(d.Dir); err != nil {
		errs = append(errs, err)
	}
	removeNamespaceLeftovers(d.Namespace)
	if err := os.RemoveAll(d.Dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", d.Dir, err))
	}
	return errors.Join(errs...)
}

// removeContainers kills and deletes every task and container in every
// namespace of the daemon, with their snapshots.
func (d *Daemon) removeContainers(ctx context.Context) error {
	c, err := client.New(d.Address)
	if err != nil {
		return err
	}
	defer c.Close()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	var errs []error
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		cs, err := c.Containers(nctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("list containers in %s: %w", ns, err))
			continue
		}
		for _, ctr := range cs {
			if err := removeContainer(nctx, ctr); err != nil {
				errs = append(errs, fmt.Errorf("container %s/%s: %w", ns, ctr.ID(), err))
			}
		}
	}
	return errors.Join(errs...)
}

func removeContainer(ctx context.Context, ctr client.Container) error {
	task, err := ctr.Task(ctx, nil)
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("load task: %w", err)
	default:
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task: %w", err)
		}
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

// killShims kills the runc shims started by the daemon at address, if any
// outlived removeContainers. They are found by their -address argument.
func killShims(address string) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		if i := slices.Index(args, "-address"); i >= 0 && i+1 < len(args) && args[i+1] == address {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountUnder lazily unmounts every mount point under dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMountPath(fields[4])
		if strings.HasPrefix(p, prefix) {
			points = append(points, p)
		}
	}
	// Deepest first, so that a mount is gone before its parent.
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeNamespaceLeftovers removes the empty parent cgroups runc created for
// the namespace (/<namespace> in each hierarchy) and runc's state
// directory for it. Both are left behind by design: runc removes only a
// container's own cgroup and state. Only empty directories are removed.
func removeNamespaceLeftovers(ns string) {
	if ns == "" || strings.ContainsAny(ns, "/.") {
		return
	}
	cgroups, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", ns))
	cgroups = append(cgroups, filepath.Join("/sys/fs/cgroup", ns))
	for _, p := range cgroups {
		_ = syscall.Rmdir(p)
	}
	_ = syscall.Rmdir(filepath.Join("/run/containerd/runc", ns))
}

func (d *Daemon) logPath() string { return filepath.Join(d.Dir, "containerd.log") }

// LogTail returns up to n bytes of the end of the daemon's log.
func (d *Daemon) LogTail(n int) string {
	b, err := os.ReadFile(d.logPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
