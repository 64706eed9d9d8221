package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/moby/sys/signal"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiff-sh/skiff/runtimes"
)

// Names and defaults.
const (
	// DriverName is the value of TaskHandle.Driver and Capabilities.Runtime.
	DriverName = "containerd"
	// DefaultAddress is the socket of the host's containerd.
	DefaultAddress = "/run/containerd/containerd.sock"
	// DefaultNamespace is the containerd namespace Skiff's containers live in.
	DefaultNamespace = "skiff"
	// DefaultSnapshotter is the snapshotter images are unpacked into.
	DefaultSnapshotter = "overlayfs"
	// Runtime is the containerd runtime (shim) of every container.
	Runtime = "io.containerd.runc.v2"
)

// Labels the driver puts on its containers, so that `ctr -n skiff c ls`
// says what each one is and Recover can check a container is the task's.
const (
	LabelTaskID        = "io.skiff.task-id"
	LabelPodNamespace  = "io.skiff.pod-namespace"
	LabelPodName       = "io.skiff.pod-name"
	LabelPodUID        = "io.skiff.pod-uid"
	LabelContainerName = "io.skiff.container-name"
)

// Timeouts of the driver's own calls to containerd.
const (
	connectTimeout = 10 * time.Second // New's first Version call
	cleanupTimeout = 30 * time.Second // post-exit and failed-start cleanup
)

// cfsPeriod is the CFS period of CPU limits, in microseconds (the kernel's
// and Kubernetes' default); minQuota is the smallest quota the kernel takes.
const (
	cfsPeriod = 100_000
	minQuota  = 1_000
)

// maxIDLength is containerd's limit on identifiers.
const maxIDLength = 76

var errClosed = errors.New("containerd driver is closed")

// Options configure a Driver. The zero value talks to the host's containerd.
type Options struct {
	// Address is containerd's gRPC socket; empty means DefaultAddress.
	Address string
	// Namespace is the containerd namespace of the driver's containers;
	// empty means DefaultNamespace. Two agents on one daemon need two
	// namespaces.
	Namespace string
	// Snapshotter unpacks images and holds containers' root filesystems;
	// empty means DefaultSnapshotter (overlayfs). Use "native" where
	// overlay mounts do not work.
	Snapshotter string
	// LogDir receives <container ID>.log for tasks whose TaskConfig has no
	// LogPath; empty means the output of such tasks is discarded.
	LogDir string
	// Logger receives the driver's own log lines; nil discards them.
	Logger *slog.Logger
}

// Driver runs tasks as containers through containerd. It implements
// runtimes.Driver; every method is safe for concurrent use.
//
// # Notes
//
//   - Images come from containerd's image store in the driver's namespace:
//     imported with ImportArchive (`skiff image import`) or `ctr -n skiff
//     image import`, or pulled by other means. A reference is looked up as
//     given, then in its normalized form ("busybox" →
//     "docker.io/library/busybox:latest"); only when neither is there does
//     Start pull it (containerd's client Pull: anonymous, HTTPS or HTTP for
//     localhost, only the manifest for this node's platform), bounded by
//     Start's context, and then checks and unpacks it like an imported
//     image. A pull that fails
//     (no registry reachable, an unknown image or tag) is
//     runtimes.ErrImageNotFound with the registry's error in the message;
//     the agent shows it as ErrImagePull, then ImagePullBackOff. Tests run
//     the failure path only (no registry is reachable where they run); a
//     successful pull needs a registry.
//   - Exec (runtimes.Execer, for exec probes) runs a command as an extra
//     process of the running task: the container's process spec (env,
//     working directory, user, capabilities) with the command as args, no
//     terminal, stdout and stderr captured through FIFOs into one buffer
//     of at most runtimes.MaxExecOutput bytes. When ctx ends first the
//     process is killed (SIGKILL) and removed and ctx's error returned.
//   - Platforms: from an image index, the manifest for this node's platform
//     is picked (containerd's default matcher, so an amd64 node also takes
//     386). A single-manifest image names its platform only in its config,
//     and containerd imports and unpacks it for any platform; Start reads
//     the config itself and refuses an image of another OS or architecture
//     with runtimes.ErrImagePlatform (which wraps runtimes.ErrInvalidImage)
//     and a message naming both platforms, before anything runs.
//   - Command and Args follow Kubernetes: Command replaces the image's
//     Entrypoint and drops its Cmd; Args alone replace Cmd. Env is applied
//     over the image's environment, WorkingDir over its working directory.
//     A command runc cannot execute (missing, not executable) is
//     runtimes.ErrCommandNotFound, from runc's error at task creation.
//   - Networking: there is no CNI. Containers share the node's network
//     namespace (and its /etc/hosts and /etc/resolv.conf), like Kubernetes'
//     hostNetwork: containers of one pod reach each other on localhost and
//     probes reach them on the node's addresses. The hostname is the pod
//     name. Other namespaces (PID, IPC, UTS, mount) are the container's own.
//   - Limits: MemoryLimitBytes becomes the cgroup memory limit
//     (oci.WithMemoryLimit); swap is not limited separately. CPUMillis
//     becomes a CFS quota over a 100 ms period (1000m = one CPU), at least
//     1 ms.
//   - Mounts are recursive bind mounts, read-only when asked. A host path
//     must exist; it may be a file or a directory, or /proc/<pid>/fd/<n>
//     of a descriptor of this process that stays open until Start returns:
//     then the container gets the very file the descriptor is, whatever
//     became of the name it was opened by (the agent pins hostPath and
//     subPath mounts this way). runc cannot bind such a path from the
//     container's mount namespace, so Start binds it onto an entry of a
//     private temporary directory first and removes that once the task is
//     created; this needs CAP_SYS_ADMIN, which a root agent has.
//   - Confinement: every container gets DefaultCapabilities (Docker's set:
//     no CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_PTRACE, …), no_new_privs
//     (setuid binaries and file capabilities grant nothing), and
//     containerd's default seccomp profile (Docker's: mount, unshare,
//     keyctl, bpf, ptrace, kexec and other syscalls that reach beyond the
//     container fail with EPERM), besides containerd's default masked and
//     read-only /proc paths and its own PID, IPC, UTS and mount
//     namespaces. There is no way to ask for more: the API has no
//     securityContext. The process runs as the image's user (root when the
//     image names none); user namespaces are not used.
//   - Logs: stdout and stderr are appended to TaskConfig.LogPath (or
//     LogDir/<container ID>.log) by processes of containerd's shim, not of
//     the agent, so they keep flowing while the agent is down. Not through
//     cio.LogFile: when the shim writes both streams to one file itself,
//     the stdout copier closes the file as soon as stdout ends, and what
//     stderr still had to write is lost ("error copying stderr" in the
//     daemon's log; containerd 1.6 to 2.4, process/io.go copyPipes): the
//     last words of a crashing program. The driver uses the shim's binary
//     logging instead, with /bin/sh as the binary: it starts one cat per
//     stream, each appending to the log file; they ignore SIGTERM and end
//     when the shim closes the pipes as it deletes the task. The node needs
//     /bin/sh and cat (three small processes per running container).
//   - Exit: the exit code is the task's exit status (128+n for a signal n).
//     Once a task exits the driver reads its cgroup's OOM-kill counter
//     through the task's metrics (memory.oom_control's oom_kill on cgroup v1,
//     memory.events' oom_kill on v2) and then deletes the task, which waits
//     for the shim to copy the last output into the log and frees the shim.
//     A non-zero exit with an OOM kill counted (of any process of the
//     container, as Kubernetes counts it) is OOMKilled, Reason
//     runtimes.ReasonOOMKilled, Signal 9 for exit code 137; a non-zero exit
//     after Stop is runtimes.ReasonStopped, with Signal set when the exit
//     status says a signal ended it; other non-zero exits are
//     runtimes.ReasonError, without Signal (a program may exit 130 itself).
//     A Go program as PID 1 cannot die of SIGTERM: its runtime exits 2.
//   - Stop sends the image's StopSignal (SIGTERM by default), waits up to
//     grace, then sends SIGKILL. Destroy kills the task at once and deletes
//     the container with its snapshot. The container keeps its ID (the task
//     ID, or a readable prefix and a hash of it when the task ID is not a
//     valid containerd identifier) and the io.skiff.* labels.
//   - Containers survive the agent: Close only disconnects. Recover loads
//     the container named in the handle's DriverState, checks its task-id
//     label and re-attaches to its task: a running task is watched again, a
//     task that exited while the agent was away reports that exit at once.
//     A container whose task is gone (after a reboot) or was never started
//     is deleted and Recover returns runtimes.ErrTaskNotFound, so the agent
//     starts a new task and no container is duplicated or leaked. Start
//     refuses (runtimes.ErrTaskExists) an ID whose container still exists.
type Driver struct {
	log         *slog.Logger
	client      *client.Client
	ns          string
	snapshotter string
	logDir      string
	platform    ocispec.Platform
	match       platforms.MatchComparer

	// ctx carries the namespace and is the parent of every task watch;
	// Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // task watches and Starts under way

	mu       sync.Mutex
	closed   bool
	tasks    map[string]*task
	starting map[string]struct{} // IDs whose Start or Recover is under way
}

var (
	_ runtimes.Driver = (*Driver)(nil)
	_ runtimes.Execer = (*Driver)(nil)
)

// New connects to containerd and returns a Driver. It fails when nothing
// answers at the address within ten seconds.
func New(opts Options) (*Driver, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr := cmpOr(opts.Address, DefaultAddress)
	ns := cmpOr(opts.Namespace, DefaultNamespace)
	if err := identifiers.Validate(ns); err != nil {
		return nil, fmt.Errorf("containerd driver: namespace: %w", err)
	}
	snapshotter := cmpOr(opts.Snapshotter, DefaultSnapshotter)
	// containerd's dialer waits for a missing socket to appear until the
	// timeout; say at once that it is not there.
	if sock := strings.TrimPrefix(addr, "unix://"); filepath.IsAbs(sock) {
		if _, err := os.Stat(sock); err != nil {
			return nil, fmt.Errorf("containerd driver: no containerd socket at %s: %w", addr, err)
		}
	}
	c, err := client.New(addr,
		client.WithDefaultNamespace(ns),
		client.WithDefaultRuntime(Runtime),
		client.WithTimeout(connectTimeout))
	if err != nil {
		return nil, fmt.Errorf("containerd driver: connect to %s: %w", addr, err)
	}
	vctx, vcancel := context.WithTimeout(context.Background(), connectTimeout)
	defer vcancel()
	v, err := c.Version(vctx)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("containerd driver: no containerd answers at %s: %w", addr, err)
	}
	platform := platforms.DefaultSpec()
	ctx, cancel := context.WithCancel(namespaces.WithNamespace(context.Background(), ns))
	log.Debug("containerd driver ready", "address", addr, "version", v.Version,
		"namespace", ns, "snapshotter", snapshotter, "platform", platforms.Format(platform))
	return &Driver{
		log:         log,
		client:      c,
		ns:          ns,
		snapshotter: snapshotter,
		logDir:      opts.LogDir,
		platform:    platform,
		match:       platforms.Only(platform),
		ctx:         ctx,
		cancel:      cancel,
		tasks:       map[string]*task{},
		starting:    map[string]struct{}{},
	}, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Close stops watching tasks and closes the connection; containers keep
// running, for a later Driver to Recover. Calls after the first return
// nil; afterwards Wait and Inspect still answer for known tasks (a task
// that was running gets no exit any more), other methods return an error.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.cancel()

	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("close containerd driver: wait for task watches: %w", ctx.Err())
	}
	if err := d.client.Close(); err != nil {
		return fmt.Errorf("close containerd driver: %w", err)
	}
	return nil
}

// Capabilities implements runtimes.Driver.
func (d *Driver) Capabilities() runtimes.Capabilities {
	return runtimes.Capabilities{Runtime: DriverName, SurvivesAgentRestart: true, MemoryLimit: true, CPULimit: true}
}

// nsCtx puts the driver's namespace on a caller's context.
func (d *Driver) nsCtx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, d.ns)
}

// reserve marks id as being started; it fails when the driver is closed or
// the ID is live. The caller calls release unless it registers a task.
func (d *Driver) reserve(id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	_, live := d.tasks[id]
	_, starting := d.starting[id]
	if live || starting {
		return runtimes.ErrTaskExists
	}
	d.starting[id] = struct{}{}
	d.wg.Add(1) // Close waits for Starts under way
	return nil
}

func (d *Driver) release(id string) {
	d.mu.Lock()
	delete(d.starting, id)
	d.mu.Unlock()
	d.wg.Done()
}

// Start implements runtimes.Driver. It resolves the image (checking its
// platform and unpacking it if needed), creates the container and its
// task, and returns once the task's process has started.
//
// Errors: runtimes.ErrTaskExists for a live ID or an existing container of
// that ID; runtimes.ErrImageNotFound when the image is not in the store
// and pulling it failed;
// runtimes.ErrImagePlatform (an ErrInvalidImage) when it is for another
// platform, runtimes.ErrInvalidImage when its content is broken; runtimes.ErrCommandNotFound when there is no command or runc
// cannot execute it. A config the driver cannot carry out is an error
// naming the field.
func (d *Driver) Start(ctx context.Context, cfg *runtimes.TaskConfig) (*runtimes.TaskHandle, error) {
	if err := checkConfig(cfg); err != nil {
		return nil, fmt.Errorf("start container task: %w", err)
	}
	if err := d.reserve(cfg.ID); err != nil {
		return nil, fmt.Errorf("start container task %s: %w", cfg.ID, err)
	}
	defer d.release(cfg.ID)
	cfg = cloneConfig(cfg)
	if cfg.LogPath == "" && d.logDir != "" {
		cfg.LogPath = filepath.Join(d.logDir, containerID(cfg.ID)+".log")
	}
	h, err := d.start(d.nsCtx(ctx), cfg)
	if err != nil {
		return nil, fmt.Errorf("start container task %s: %w", cfg.ID, err)
	}
	return h, nil
}

func (d *Driver) start(ctx context.Context, cfg *runtimes.TaskConfig) (*runtimes.TaskHandle, error) {
	began := time.Now()
	img, spec, err := d.resolveImage(ctx, cfg.Image)
	if err != nil {
		return nil, err
	}
	argv, err := processArgs(spec.Config, cfg)
	if err != nil {
		return nil, err
	}
	stopSignal := syscall.SIGTERM
	labels := taskLabels(cfg)
	if s := spec.Config.StopSignal; s != "" {
		if sig, err := signal.ParseSignal(s); err == nil {
			stopSignal = sig
			labels[client.StopSignalLabel] = s
		} else {
			d.log.Warn("image has an unknown stop signal; using SIGTERM", "image", cfg.Image, "signal", s)
		}
	}

	// Mounts of descriptors get a name runc can bind, until the task is
	// created (see bindDescriptorMounts).
	mounts, unbind, err := bindDescriptorMounts(cfg.Mounts)
	if err != nil {
		return nil, err
	}
	defer unbind()
	specCfg := *cfg
	specCfg.Mounts = mounts

	resolved := time.Now()
	cid := containerID(cfg.ID)
	ctr, err := d.client.NewContainer(ctx, cid,
		client.WithSnapshotter(d.snapshotter),
		client.WithNewSnapshot(cid, img),
		client.WithContainerLabels(labels),
		client.WithNewSpec(specOpts(img, &specCfg, argv)...),
	)
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			return nil, fmt.Errorf("%w: container %s already exists in containerd namespace %s",
				runtimes.ErrTaskExists, cid, d.ns)
		}
		return nil, fmt.Errorf("create container %s: %w", cid, err)
	}

	created := time.Now()
	t := newTask(cfg, ctr, stopSignal)
	exitCh, err := d.startTask(ctx, t)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if rerr := removeContainer(cctx, ctr); rerr != nil {
			d.log.Warn("remove container after a failed start", "task", cfg.ID, "container", cid, "err", rerr)
		}
		return nil, err
	}
	h, err := d.register(t, exitCh)
	if err != nil {
		// Closed meanwhile: nobody would know of the container.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if rerr := removeContainer(cctx, ctr); rerr != nil {
			d.log.Warn("remove container started while the driver closed", "task", cfg.ID, "container", cid, "err", rerr)
		}
		return nil, err
	}
	d.log.Debug("started container task", "task", cfg.ID, "container", cid, "image", cfg.Image,
		"duration", time.Since(began), "resolveImage", resolved.Sub(began),
		"createContainer", created.Sub(resolved), "startTask", time.Since(created))
	return h, nil
}

// startTask creates t's task with its log and starts it; it subscribes to
// the exit before the start, so that no exit is missed.
func (d *Driver) startTask(ctx context.Context, t *task) (<-chan client.ExitStatus, error) {
	ioc := cio.NullIO
	if p := t.cfg.LogPath; p != "" {
		if err := createLog(p); err != nil {
			return nil, err
		}
		ioc = logCreator(p)
	}
	tk, err := t.container.NewTask(ctx, ioc)
	if err != nil {
		return nil, runError("create task", err)
	}
	t.task = tk
	exitCh, err := tk.Wait(d.ctx)
	if err != nil {
		return nil, fmt.Errorf("wait for task: %w", err)
	}
	t.startedAt = time.Now()
	if err := tk.Start(ctx); err != nil {
		return nil, runError("start task", err)
	}
	return exitCh, nil
}

// createLog creates the log file (and its directory) unless it exists, so
// that a path the logger could not open fails Start instead of the task.
func createLog(p string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("logPath: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("logPath: %w", err)
	}
	return f.Close()
}

// logCreator has the shim run a shell as its logging binary: the shell
// signals readiness by closing descriptor 5 and starts one cat per stream
// (stdout on descriptor 3, stderr on 4), each appending to the log. The
// cats ignore SIGTERM, which the shim sends when it deletes the task right
// after closing the pipes, so they drain the pipes before they exit and
// the delete returns with the whole output in the file. See the Notes on
// Driver for why not cio.LogFile.
func logCreator(path string) cio.Creator {
	q := shellQuote(path)
	script := "trap '' TERM; exec 5>&-; PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; " +
		"cat <&3 >>" + q + " & cat <&4 >>" + q + "; wait"
	return cio.BinaryIO(logShell, map[string]string{"-c": script})
}

// logShell is the shell that runs the log copiers on the node.
const logShell = "/bin/sh"

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runError translates runc's failure to execute the command into
// runtimes.ErrCommandNotFound, keeping runc's message.
func runError(stage string, err error) error {
	msg := err.Error()
	if strings.Contains(msg, `exec: "`) {
		for _, reason := range []string{"executable file not found", "no such file or directory",
			"permission denied", "exec format error", "is a directory", "not a directory"} {
			if strings.Contains(msg, reason) {
				return fmt.Errorf("%w: %s: %w", runtimes.ErrCommandNotFound, stage, err)
			}
		}
	}
	return fmt.Errorf("%s: %w", stage, err)
}

// register makes t visible and starts watching its exit.
func (d *Driver) register(t *task, exitCh <-chan client.ExitStatus) (*runtimes.TaskHandle, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errClosed
	}
	d.tasks[t.cfg.ID] = t
	d.wg.Add(1)
	go d.watch(t, exitCh)
	state, _ := json.Marshal(driverState{ContainerID: t.container.ID(), Namespace: d.ns})
	return &runtimes.TaskHandle{
		ID:          t.cfg.ID,
		Driver:      DriverName,
		Config:      cloneConfig(t.cfg),
		StartedAt:   t.startedAt,
		DriverState: state,
	}, nil
}

// driverState is TaskHandle.DriverState.
type driverState struct {
	ContainerID string `json:"containerID"`
	Namespace   string `json:"namespace"`
}

// Wait implements runtimes.Driver.
func (d *Driver) Wait(_ context.Context, id string) (<-chan *runtimes.ExitResult, error) {
	t, err := d.lookup(id)
	if err != nil {
		return nil, fmt.Errorf("wait for container task %s: %w", id, err)
	}
	return t.wait(), nil
}

// Stop implements runtimes.Driver: the image's stop signal (SIGTERM by
// default), then SIGKILL once grace has passed. It returns when the task
// has exited, or ctx's error.
func (d *Driver) Stop(ctx context.Context, id string, grace time.Duration) error {
	t, err := d.lookup(id)
	if err != nil {
		return fmt.Errorf("stop container task %s: %w", id, err)
	}
	if err := d.stopIfOpen(); err != nil {
		return fmt.Errorf("stop container task %s: %w", id, err)
	}
	if err := t.stop(d.nsCtx(ctx), grace); err != nil {
		return fmt.Errorf("stop container task %s: %w", id, err)
	}
	return nil
}

// enter fails once the driver is closed; otherwise Close waits for the
// caller's d.wg.Done.
func (d *Driver) enter() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	d.wg.Add(1)
	return nil
}

func (d *Driver) stopIfOpen() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	return nil
}

// Destroy implements runtimes.Driver: it kills the task if it runs and
// deletes the container and its snapshot. For an ID the driver does not
// know, it removes a container of that task left by an earlier agent
// process, if there is one.
func (d *Driver) Destroy(ctx context.Context, id string) error {
	ctx = d.nsCtx(ctx)
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return fmt.Errorf("destroy container task %s: %w", id, errClosed)
	}
	t := d.tasks[id]
	_, starting := d.starting[id]
	d.mu.Unlock()
	if t == nil {
		if starting {
			return nil
		}
		if err := d.removeLeftover(ctx, id); err != nil {
			return fmt.Errorf("destroy container task %s: %w", id, err)
		}
		return nil
	}
	if err := t.stop(ctx, 0); err != nil {
		return fmt.Errorf("destroy container task %s: %w", id, err)
	}
	if err := removeContainer(ctx, t.container); err != nil {
		return fmt.Errorf("destroy container task %s: %w", id, err)
	}
	d.mu.Lock()
	if d.tasks[id] == t {
		delete(d.tasks, id)
	}
	d.mu.Unlock()
	return nil
}

// removeLeftover removes the container of task id if it exists and carries
// that task's label.
func (d *Driver) removeLeftover(ctx context.Context, id string) error {
	ctr, err := d.client.LoadContainer(ctx, containerID(id))
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load container: %w", err)
	}
	labels, err := ctr.Labels(ctx)
	if err != nil {
		return fmt.Errorf("container labels: %w", err)
	}
	if labels[LabelTaskID] != id {
		return nil
	}
	return removeContainer(ctx, ctr)
}

// removeContainer kills and deletes the container's task, if any, and
// deletes the container with its snapshot.
func removeContainer(ctx context.Context, ctr client.Container) error {
	tk, err := ctr.Task(ctx, nil)
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("load task: %w", err)
	default:
		if _, err := tk.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task: %w", err)
		}
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container: %w", err)
	}
	return nil
}

// Inspect implements runtimes.Driver.
func (d *Driver) Inspect(_ context.Context, id string) (*runtimes.TaskStatus, error) {
	t, err := d.lookup(id)
	if err != nil {
		return nil, fmt.Errorf("inspect container task %s: %w", id, err)
	}
	return t.status(), nil
}

func (d *Driver) lookup(id string) (*task, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tasks[id]
	if !ok {
		return nil, runtimes.ErrTaskNotFound
	}
	return t, nil
}

// Recover implements runtimes.Driver; see the Notes on Driver. For a task
// this Driver already has, it returns nil.
func (d *Driver) Recover(ctx context.Context, h *runtimes.TaskHandle) error {
	if h == nil || h.ID == "" {
		return errors.New("recover container task: handle without an ID")
	}
	if err := d.reserve(h.ID); err != nil {
		if errors.Is(err, runtimes.ErrTaskExists) {
			return nil // attached already, or being started
		}
		return fmt.Errorf("recover container task %s: %w", h.ID, err)
	}
	defer d.release(h.ID)
	if err := d.recover(d.nsCtx(ctx), h); err != nil {
		return fmt.Errorf("recover container task %s: %w", h.ID, err)
	}
	return nil
}

func (d *Driver) recover(ctx context.Context, h *runtimes.TaskHandle) error {
	cid := containerID(h.ID)
	var st driverState
	if len(h.DriverState) > 0 {
		if err := json.Unmarshal(h.DriverState, &st); err != nil {
			return fmt.Errorf("driverState: %w", err)
		}
		if st.ContainerID != "" {
			cid = st.ContainerID
		}
		if st.Namespace != "" && st.Namespace != d.ns {
			return fmt.Errorf("%w: the task ran in containerd namespace %s, this driver uses %s",
				runtimes.ErrTaskNotFound, st.Namespace, d.ns)
		}
	}
	ctr, err := d.client.LoadContainer(ctx, cid)
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%w: no container %s", runtimes.ErrTaskNotFound, cid)
	}
	if err != nil {
		return fmt.Errorf("load container %s: %w", cid, err)
	}
	labels, err := ctr.Labels(ctx)
	if err != nil {
		return fmt.Errorf("container %s labels: %w", cid, err)
	}
	if got := labels[LabelTaskID]; got != h.ID {
		return fmt.Errorf("%w: container %s belongs to task %q", runtimes.ErrTaskNotFound, cid, got)
	}

	tk, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		// After a reboot: the container record is all that is left.
		if err := removeContainer(ctx, ctr); err != nil {
			return fmt.Errorf("remove container %s without a task: %w", cid, err)
		}
		return fmt.Errorf("%w: container %s has no task any more; removed it", runtimes.ErrTaskNotFound, cid)
	}
	if err != nil {
		return fmt.Errorf("load task of %s: %w", cid, err)
	}
	status, err := tk.Status(ctx)
	if err != nil {
		return fmt.Errorf("task status of %s: %w", cid, err)
	}
	switch status.Status {
	case client.Running, client.Paused, client.Pausing, client.Stopped:
	default:
		// Created but never started, or unknown to the shim.
		if err := removeContainer(ctx, ctr); err != nil {
			return fmt.Errorf("remove container %s whose task is %s: %w", cid, status.Status, err)
		}
		return fmt.Errorf("%w: the task of container %s was %s; removed it",
			runtimes.ErrTaskNotFound, cid, status.Status)
	}

	stopSignal, err := client.GetStopSignal(ctx, ctr, syscall.SIGTERM)
	if err != nil {
		stopSignal = syscall.SIGTERM
	}
	cfg := h.Config
	if cfg == nil {
		cfg = &runtimes.TaskConfig{ID: h.ID}
	}
	cfg = cloneConfig(cfg)
	cfg.ID = h.ID
	t := newTask(cfg, ctr, stopSignal)
	t.task = tk
	t.startedAt = h.StartedAt
	// For a stopped task Wait answers at once with its exit.
	exitCh, err := tk.Wait(d.ctx)
	if err != nil {
		return fmt.Errorf("wait for task of %s: %w", cid, err)
	}
	if _, err := d.register(t, exitCh); err != nil {
		return err
	}
	d.log.Info("recovered container task", "task", h.ID, "container", cid, "status", status.Status)
	return nil
}

// taskLabels are the io.skiff.* labels of cfg's container.
func taskLabels(cfg *runtimes.TaskConfig) map[string]string {
	l := map[string]string{LabelTaskID: cfg.ID}
	for k, v := range map[string]string{
		LabelPodNamespace:  cfg.PodNamespace,
		LabelPodName:       cfg.PodName,
		LabelPodUID:        cfg.PodUID,
		LabelContainerName: cfg.ContainerName,
	} {
		if v != "" {
			l[k] = v
		}
	}
	return l
}

// containerID is the task ID when containerd accepts it as an identifier,
// else the ID's letters and digits joined by dashes, cut short, and a hash
// of the whole ID, so that distinct task IDs stay distinct.
func containerID(taskID string) string {
	if identifiers.Validate(taskID) == nil {
		return taskID
	}
	sum := sha256.Sum256([]byte(taskID))
	suffix := hex.EncodeToString(sum[:8])
	prefix := strings.Join(strings.FieldsFunc(taskID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}), "-")
	if max := maxIDLength - len(suffix) - 1; len(prefix) > max {
		prefix = strings.TrimRight(prefix[:max], "-")
	}
	if prefix == "" {
		prefix = "task"
	}
	return prefix + "-" + suffix
}

// processArgs is the command line per Kubernetes' rules; see the Notes on
// Driver.
func processArgs(ic ocispec.ImageConfig, cfg *runtimes.TaskConfig) ([]string, error) {
	var argv []string
	switch {
	case len(cfg.Command) > 0:
		argv = append(slices.Clone(cfg.Command), cfg.Args...)
	case len(cfg.Args) > 0:
		argv = append(slices.Clone(ic.Entrypoint), cfg.Args...)
	default:
		argv = append(slices.Clone(ic.Entrypoint), ic.Cmd...)
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, fmt.Errorf("%w: no command: the image %s has no entrypoint or cmd and the task gives none",
			runtimes.ErrCommandNotFound, cfg.Image)
	}
	return argv, nil
}

// DefaultCapabilities are the capabilities of every container: Docker's
// and containerd's default set. Anything else (CAP_SYS_ADMIN,
// CAP_NET_ADMIN, CAP_SYS_PTRACE, …) is not granted.
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
}

// specOpts build the container's OCI spec.
func specOpts(img client.Image, cfg *runtimes.TaskConfig, argv []string) []oci.SpecOpts {
	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		// Confinement, set explicitly rather than left to what
		// containerd's default spec happens to hold; the seccomp profile
		// follows the capabilities, which it reads.
		oci.WithCapabilities(DefaultCapabilities()),
		oci.WithNoNewPrivileges,
		seccomp.WithDefaultProfile(),
		oci.WithProcessArgs(argv...),
		oci.WithHostNamespace(specs.NetworkNamespace),
		oci.WithHostHostsFile,
		oci.WithHostResolvconf,
	}
	if h := cfg.PodName; h != "" && len(h) <= 63 {
		opts = append(opts, oci.WithHostname(h))
	}
	if len(cfg.Env) > 0 {
		env := make([]string, 0, len(cfg.Env))
		for _, e := range cfg.Env {
			env = append(env, e.Name+"="+e.Value)
		}
		opts = append(opts, oci.WithEnv(env))
	}
	if cfg.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(cfg.WorkingDir))
	}
	if len(cfg.Mounts) > 0 {
		mounts := make([]specs.Mount, 0, len(cfg.Mounts))
		for _, m := range cfg.Mounts {
			mode := "rw"
			if m.ReadOnly {
				mode = "ro"
			}
			mounts = append(mounts, specs.Mount{
				Destination: path.Clean(m.GuestPath),
				Type:        "bind",
				Source:      m.HostPath,
				Options:     []string{"rbind", "rprivate", mode},
			})
		}
		opts = append(opts, oci.WithMounts(mounts))
	}
	if cfg.MemoryLimitBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(cfg.MemoryLimitBytes)))
	}
	if cfg.CPUMillis > 0 {
		quota := max(cfg.CPUMillis*cfsPeriod/1000, minQuota)
		opts = append(opts, oci.WithCPUCFS(quota, cfsPeriod))
	}
	return opts
}

// checkConfig rejects what the driver cannot carry out, naming the field.
func checkConfig(cfg *runtimes.TaskConfig) error {
	if cfg == nil {
		return errors.New("no task config")
	}
	if cfg.ID == "" {
		return errors.New("id: empty")
	}
	if strings.ContainsRune(cfg.ID, 0) {
		return fmt.Errorf("id %q: contains NUL", cfg.ID)
	}
	if cfg.Image == "" {
		return errors.New("image: empty")
	}
	if cfg.MemoryLimitBytes < 0 {
		return fmt.Errorf("memoryLimitBytes: %d is negative", cfg.MemoryLimitBytes)
	}
	if cfg.CPUMillis < 0 {
		return fmt.Errorf("cpuMillis: %d is negative", cfg.CPUMillis)
	}
	for i, s := range cfg.Command {
		if strings.ContainsRune(s, 0) {
			return fmt.Errorf("command[%d]: contains NUL", i)
		}
	}
	for i, s := range cfg.Args {
		if strings.ContainsRune(s, 0) {
			return fmt.Errorf("args[%d]: contains NUL", i)
		}
	}
	for i, e := range cfg.Env {
		if e.Name == "" || strings.ContainsAny(e.Name, "=\x00") {
			return fmt.Errorf("env[%d].name: %q is not a variable name", i, e.Name)
		}
		if strings.ContainsRune(e.Value, 0) {
			return fmt.Errorf("env[%d].value: contains NUL", i)
		}
	}
	if cfg.WorkingDir != "" && !path.IsAbs(cfg.WorkingDir) {
		return fmt.Errorf("workingDir: %q is not an absolute path", cfg.WorkingDir)
	}
	seen := map[string]bool{}
	for i, m := range cfg.Mounts {
		if !path.IsAbs(m.GuestPath) || path.Clean(m.GuestPath) == "/" {
			return fmt.Errorf("mounts[%d].guestPath: %q is not an absolute path below /", i, m.GuestPath)
		}
		g := path.Clean(m.GuestPath)
		if seen[g] {
			return fmt.Errorf("mounts[%d].guestPath: %s is mounted twice", i, g)
		}
		seen[g] = true
		if !filepath.IsAbs(m.HostPath) {
			return fmt.Errorf("mounts[%d].hostPath: %q is not an absolute path", i, m.HostPath)
		}
		if _, err := os.Stat(m.HostPath); err != nil {
			return fmt.Errorf("mounts[%d].hostPath: %w", i, err)
		}
	}
	if cfg.LogPath != "" && !filepath.IsAbs(cfg.LogPath) {
		return fmt.Errorf("logPath: %q is not an absolute path", cfg.LogPath)
	}
	return nil
}

// cloneConfig copies cfg deeply enough that the caller may reuse its slices.
func cloneConfig(cfg *runtimes.TaskConfig) *runtimes.TaskConfig {
	c := *cfg
	c.Command = slices.Clone(cfg.Command)
	c.Args = slices.Clone(cfg.Args)
	c.Env = slices.Clone(cfg.Env)
	c.Mounts = slices.Clone(cfg.Mounts)
	return &c
}
