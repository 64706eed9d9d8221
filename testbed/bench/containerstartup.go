package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	cclient "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/runtimes/containerd"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/testbed/containerdtest"
	"github.com/skiff-sh/skiff/testbed/fixtures"
	"github.com/skiff-sh/skiff/web/client"
)

// Baselines of the container-startup benchmark.
const (
	BaselineCtr    = "ctr"    // `ctr run --rm` as a process
	BaselineClient = "client" // the same steps through the containerd Go client
)

// ContainerStartupOptions configure the container-startup benchmark.
type ContainerStartupOptions struct {
	// Pods is how many pods (and baseline runs) to time. Default 50.
	Pods int
	// Socket is the host's containerd socket, used when it answers;
	// otherwise a private containerd is started. Default
	// /run/containerd/containerd.sock.
	Socket string
	// ImageArchive and Image name an OCI archive to import and the image
	// reference to run. Empty: the probe test program built for this
	// machine (needs the Go toolchain and the repository's source).
	ImageArchive, Image string
	// Args are the container's arguments (appended to the image's
	// entrypoint, as a pod's args are). The program must exit by itself,
	// for the baseline waits for it. Default for the probe: "hello".
	Args []string
	// Baseline is BaselineCtr or BaselineClient; empty picks ctr when it
	// is installed, else the client.
	Baseline string
	// Out receives progress lines.
	Out io.Writer
}

// ContainerStartup measures container pod apply→Running through an
// in-process cluster whose agent runs containers through containerd, with
// the image already imported and unpacked, beside a baseline measured in
// the same run against the same daemon and image: `ctr run --rm` (or,
// without ctr, the same create, start, wait and delete through the
// containerd client).
func ContainerStartup(ctx context.Context, o ContainerStartupOptions) (*Summary, error) {
	if o.Pods <= 0 {
		o.Pods = 50
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if (o.ImageArchive == "") != (o.Image == "") {
		return nil, errors.New("--image-archive and --image go together: the archive to import and the reference to run")
	}
	dir, err := testbed.TempDir("skiff-ctr-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	daemon, err := openDaemon(ctx, o.Socket)
	if err != nil {
		return nil, err
	}
	defer daemon.close()
	fmt.Fprintf(o.Out, "containerd %s: %s (namespace %s, snapshotter %s)\n", daemon.version, daemon.where, daemon.ns, daemon.snapshotter)

	archive, ref, args := o.ImageArchive, o.Image, o.Args
	if archive == "" {
		if archive, ref, err = probeArchive(ctx, dir); err != nil {
			return nil, err
		}
		if args == nil {
			args = []string{"hello"}
		}
	}
	if err := daemon.importImage(ctx, archive, ref); err != nil {
		return nil, err
	}

	baseline := o.Baseline
	ctrPath, ctrErr := exec.LookPath("ctr")
	switch baseline {
	case "":
		baseline = BaselineCtr
		if ctrErr != nil {
			baseline = BaselineClient
			fmt.Fprintf(o.Out, "ctr not found (%v); the baseline runs the same steps through the containerd client\n", ctrErr)
		}
	case BaselineCtr:
		if ctrErr != nil {
			return nil, fmt.Errorf("baseline ctr: %w", ctrErr)
		}
	case BaselineClient:
	default:
		return nil, fmt.Errorf("baseline %q: want %s or %s", baseline, BaselineCtr, BaselineClient)
	}
	argv, err := daemon.argv(ctx, ref, args)
	if err != nil {
		return nil, err
	}
	run := func(ctx context.Context, id string) error { return daemon.clientRun(ctx, ref, id, argv) }
	if baseline == BaselineCtr {
		run = func(ctx context.Context, id string) error { return daemon.ctrRun(ctx, ctrPath, ref, id, argv) }
	}
	// One untimed run warms the daemon's caches, as the warm-up pod does.
	if err := run(ctx, "skiff-bench-warmup"); err != nil {
		return nil, fmt.Errorf("baseline warm-up: %w", err)
	}
	base := make([]time.Duration, 0, o.Pods)
	for i := range o.Pods {
		start := time.Now()
		if err := run(ctx, fmt.Sprintf("skiff-bench-%d", i)); err != nil {
			return nil, fmt.Errorf("baseline run %d: %w", i, err)
		}
		base = append(base, time.Since(start))
	}
	fmt.Fprintf(o.Out, "baseline (%s): p50 %s ms over %d runs\n", baseline, Ms(Percentile(base, 50)), o.Pods)

	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: filepath.Join(dir, "cluster"), Agents: 1,
		Configure: func(cfg *config.Config) {
			on := true
			cfg.Agent.Containerd = &on
			cfg.Agent.ContainerdSocket = daemon.address
			cfg.Agent.ContainerdNamespace = daemon.ns
			cfg.Agent.ContainerdSnapshotter = daemon.snapshotter
		}})
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Stop(context.Background()) }()
	if _, err := applyContainerAndWait(ctx, c, "warm-up", ref, args); err != nil {
		return nil, fmt.Errorf("warm-up pod: %w", err)
	}
	lat := make([]time.Duration, 0, o.Pods)
	for i := range o.Pods {
		d, err := applyContainerAndWait(ctx, c, fmt.Sprintf("ctr-bench-%d", i), ref, args)
		if err != nil {
			return nil, err
		}
		lat = append(lat, d)
	}

	p50, p99 := Percentile(lat, 50), Percentile(lat, 99)
	b50, b99 := Percentile(base, 50), Percentile(base, 99)
	sum := &Summary{}
	sum.Add("pods", o.Pods)
	sum.Add("p50_ms", Ms(p50))
	sum.Add("p99_ms", Ms(p99))
	sum.Add("baseline", baseline)
	sum.Add("baseline_p50_ms", Ms(b50))
	sum.Add("baseline_p99_ms", Ms(b99))
	sum.Add("ratio_p50", fmt.Sprintf("%.2f", float64(p50)/float64(max(b50, 1))))
	sum.Add("ratio_p99", fmt.Sprintf("%.2f", float64(p99)/float64(max(b99, 1))))
	sum.Add("max_ms", Ms(Percentile(lat, 100)))
	sum.Add("containerd", daemon.where)
	sum.Add("image", ref)
	return sum, nil
}

// probeArchive builds the probe for this machine and writes its image
// archive under dir.
func probeArchive(ctx context.Context, dir string) (archive, ref string, err error) {
	bin, err := fixtures.BuildLinuxFile(ctx, "probe", runtime.GOARCH)
	if err != nil {
		return "", "", fmt.Errorf("build the probe image (needs the Go toolchain and a checkout of Skiff; "+
			"or give --image-archive and --image): %w", err)
	}
	ref = containerdtest.ProbeRef(runtime.GOARCH)
	archive = filepath.Join(dir, "probe.tar")
	err = containerdtest.WriteArchive(archive, ref, containerdtest.Image{
		Architecture: runtime.GOARCH,
		Entrypoint:   []string{"/probe"},
		Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Files:        []containerdtest.File{{Path: "/probe", Mode: 0o755, Source: bin}},
	})
	return archive, ref, err
}

// applyContainerAndWait creates a container pod, times it until the API
// shows it started (Running, or Succeeded for a program that already
// exited), then deletes it and waits until it is gone, so that pods never
// overlap.
func applyContainerAndWait(ctx context.Context, c *testbed.Cluster, name, image string, args []string) (time.Duration, error) {
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: api.DefaultNamespace},
		Spec: api.PodSpec{
			RestartPolicy: api.RestartPolicyNever,
			Containers:    []api.Container{{Name: "app", Image: image, Args: args}},
		},
	}
	start := time.Now()
	if _, err := c.Client.CreatePod(ctx, p); err != nil {
		return 0, err
	}
	var took time.Duration
	err := testbed.Poll(ctx, time.Minute, time.Millisecond, func() (bool, error) {
		got, err := c.Client.GetPod(ctx, p.Namespace, name)
		if err != nil {
			return false, err
		}
		switch got.Status.Phase {
		case api.PodRunning, api.PodSucceeded:
			took = time.Since(start)
			return true, nil
		case api.PodFailed:
			return false, fmt.Errorf("pod %s failed: %s %s %s", name, got.Status.Reason, got.Status.Message, containerMessage(got))
		}
		return false, nil
	})
	if err != nil {
		return 0, fmt.Errorf("pod %s: %w", name, err)
	}
	zero := int64(0)
	if _, err := c.Client.DeletePod(ctx, p.Namespace, name, client.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		return 0, err
	}
	err = testbed.Poll(ctx, time.Minute, 5*time.Millisecond, func() (bool, error) {
		_, err := c.Client.GetPod(ctx, p.Namespace, name)
		if client.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return 0, fmt.Errorf("delete pod %s: %w", name, err)
	}
	return took, nil
}

func containerMessage(p *api.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf("(container %s: exit %d %s %s)", cs.Name, t.ExitCode, t.Reason, t.Message)
		}
	}
	return ""
}

// benchDaemon is the containerd the benchmark runs against.
type benchDaemon struct {
	address, ns, snapshotter string
	version, where           string
	client                   *cclient.Client
	private                  *containerdtest.Daemon
}

// benchNamespace is the namespace used on the host's containerd; it is
// removed afterwards.
const benchNamespace = "skiff-bench"

// openDaemon connects to the host's containerd when its socket answers,
// else starts a private one.
func openDaemon(ctx context.Context, socket string) (*benchDaemon, error) {
	if socket == "" {
		socket = config.DefaultContainerdSocket
	}
	socket = strings.TrimPrefix(socket, "unix://")
	var hostErr error
	if _, err := os.Stat(socket); err != nil {
		hostErr = err
	} else if c, err := cclient.New(socket, cclient.WithTimeout(2*time.Second)); err != nil {
		hostErr = err
	} else {
		vctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		v, err := c.Version(vctx)
		cancel()
		if err == nil {
			return &benchDaemon{address: socket, ns: benchNamespace, snapshotter: containerd.DefaultSnapshotter,
				version: v.Version, where: "host", client: c}, nil
		}
		_ = c.Close()
		hostErr = err
	}
	d, err := containerdtest.StartDaemon(ctx, containerdtest.DaemonOptions{})
	if err != nil {
		return nil, fmt.Errorf("no containerd answers at %s (%v), and a private one cannot start: %w", socket, hostErr, err)
	}
	c, err := cclient.New(d.Address)
	if err != nil {
		_ = d.Stop(context.Background())
		return nil, err
	}
	return &benchDaemon{address: d.Address, ns: d.Namespace, snapshotter: d.Snapshotter,
		version: d.Version, where: "private", client: c, private: d}, nil
}

func (d *benchDaemon) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, d.ns)
}

// close removes what the benchmark left in the host's daemon (its
// namespace with its containers and images), or stops the private daemon.
func (d *benchDaemon) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if d.private != nil {
		_ = d.client.Close()
		_ = d.private.Stop(ctx)
		return
	}
	nctx := d.ctx(ctx)
	if cs, err := d.client.Containers(nctx); err == nil {
		for _, ctr := range cs {
			if t, err := ctr.Task(nctx, nil); err == nil {
				_, _ = t.Delete(nctx, cclient.WithProcessKill)
			}
			_ = ctr.Delete(nctx, cclient.WithSnapshotCleanup)
		}
	}
	if imgs, err := d.client.ImageService().List(nctx); err == nil {
		for _, img := range imgs {
			_ = d.client.ImageService().Delete(nctx, img.Name)
		}
	}
	_ = d.client.NamespaceService().Delete(ctx, d.ns)
	_ = d.client.Close()
}

// importImage imports the archive as `skiff image import` does.
func (d *benchDaemon) importImage(ctx context.Context, archive, ref string) error {
	drv, err := containerd.New(containerd.Options{Address: d.address, Namespace: d.ns, Snapshotter: d.snapshotter})
	if err != nil {
		return err
	}
	defer drv.Close(ctx)
	names, err := drv.ImportArchive(ctx, archive, containerd.WithImageName(ref))
	if err != nil {
		return err
	}
	if !slices.Contains(names, ref) {
		return fmt.Errorf("the archive %s holds %v, not %s", archive, names, ref)
	}
	return nil
}

// argv is the command line the pod runs: the image's entrypoint followed
// by args (or its cmd when there are none), as Kubernetes builds it.
func (d *benchDaemon) argv(ctx context.Context, ref string, args []string) ([]string, error) {
	img, err := d.client.GetImage(d.ctx(ctx), ref)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	spec, err := img.Spec(d.ctx(ctx))
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w", ref, err)
	}
	argv := slices.Clone(spec.Config.Entrypoint)
	if len(args) > 0 {
		argv = append(argv, args...)
	} else {
		argv = append(argv, spec.Config.Cmd...)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("image %s has no entrypoint or cmd, and no args were given", ref)
	}
	return argv, nil
}

// ctrRun is `ctr run --rm` of the image with the pod's command line and
// its host network, against the same daemon, namespace and snapshotter.
func (d *benchDaemon) ctrRun(ctx context.Context, ctr, ref, id string, argv []string) error {
	cmd := exec.CommandContext(ctx, ctr, append([]string{"--address", d.address, "--namespace", d.ns,
		"run", "--rm", "--snapshotter", d.snapshotter, "--net-host", ref, id}, argv...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// clientRun does what `ctr run --rm` does through the Go client: a
// container with a new snapshot and the image's config, a task with no
// I/O, start, wait for the exit, delete both.
func (d *benchDaemon) clientRun(ctx context.Context, ref, id string, argv []string) error {
	ctx = d.ctx(ctx)
	img, err := d.client.GetImage(ctx, ref)
	if err != nil {
		return err
	}
	ctr, err := d.client.NewContainer(ctx, id,
		cclient.WithImage(img),
		cclient.WithSnapshotter(d.snapshotter),
		cclient.WithNewSnapshot(id+"-snapshot", img),
		cclient.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs(argv...),
			oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostHostsFile, oci.WithHostResolvconf))
	if err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx), cclient.WithSnapshotCleanup)
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	defer task.Delete(context.WithoutCancel(ctx), cclient.WithProcessKill)
	exit, err := task.Wait(ctx)
	if err != nil {
		return fmt.Errorf("wait: %w", err)
	}
	if err := task.Start(ctx); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	st := <-exit
	if code, _, err := st.Result(); err != nil || code != 0 {
		return fmt.Errorf("exit %d: %v", code, err)
	}
	return nil
}
