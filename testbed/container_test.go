package testbed_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/platforms"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/edge"
	"github.com/skiff-sh/skiff/runtimes"
	"github.com/skiff-sh/skiff/runtimes/containerd"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/testbed/containerdtest"
	"github.com/skiff-sh/skiff/web/client"
)

// containerEnv is an in-process cluster whose agent runs container pods on
// a private containerd, with the probe image (and one built for another
// architecture) imported into the agent's namespace.
type containerEnv struct {
	c                 *testbed.Cluster
	d                 *containerdtest.Daemon
	probe, foreignRef string
	pullBackoff       time.Duration
	foreignArch       string
	// hostDir is the directory the agent allows hostPath volumes in
	// (agent.hostPathAllow); tests make their host directories inside.
	hostDir string
}

func foreignArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

func startContainerEnv(t *testing.T) *containerEnv {
	t.Helper()
	d := containerdtest.Start(t)
	e := &containerEnv{d: d, pullBackoff: 500 * time.Millisecond, foreignArch: foreignArch(), hostDir: t.TempDir()}

	// Import as `skiff image import` does, before any pod exists.
	archive, ref := containerdtest.ProbeImageArchive(t, runtime.GOARCH)
	foreign, foreignRef := containerdtest.ProbeImageArchive(t, e.foreignArch)
	drv, err := containerd.New(containerd.Options{Address: d.Address, Namespace: d.Namespace, Snapshotter: d.Snapshotter})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{archive, foreign} {
		if _, err := drv.ImportArchive(t.Context(), a); err != nil {
			t.Fatalf("import %s: %v", a, err)
		}
	}
	if err := drv.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.probe, e.foreignRef = ref, foreignRef

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: t.TempDir(), Agents: 1, Configure: func(cfg *config.Config) {
		on := true
		cfg.Agent.Containerd = &on
		cfg.Agent.ContainerdSocket = d.Address
		cfg.Agent.ContainerdNamespace = d.Namespace
		cfg.Agent.ContainerdSnapshotter = d.Snapshotter
		cfg.Agent.RestartBackoff = e.pullBackoff
		cfg.Agent.HostPathAllow = []string{e.hostDir}
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Registered after the daemon's cleanup, so it runs first: the agent
	// lets go of containerd before the daemon stops.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
	})
	e.c = c
	return e
}

func (e *containerEnv) create(t *testing.T, name string, mutate func(*api.Container), args ...string) {
	t.Helper()
	ctr := api.Container{Name: "main", Image: e.probe, Args: args}
	if mutate != nil {
		mutate(&ctr)
	}
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       api.PodSpec{RestartPolicy: api.RestartPolicyNever, Containers: []api.Container{ctr}},
	}
	if _, err := e.c.Client.CreatePod(t.Context(), p); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
}

func (e *containerEnv) logs(t *testing.T, name string) string {
	t.Helper()
	b, err := e.c.Client.PodLogs(t.Context(), "default", name, api.LogRequest{})
	if err != nil {
		t.Fatalf("logs of %s: %v", name, err)
	}
	return string(b)
}

func mainState(p *api.Pod) api.ContainerState {
	if len(p.Status.ContainerStatuses) == 0 {
		return api.ContainerState{}
	}
	return p.Status.ContainerStatuses[0].State
}

func waitingWith(reason string) func(*api.Pod) bool {
	return func(p *api.Pod) bool {
		w := mainState(p).Waiting
		return w != nil && w.Reason == reason
	}
}

// TestContainerPodsThroughContainerd runs container pods end to end: the
// API, the scheduler, dispatch, the agent and a real containerd.
func TestContainerPodsThroughContainerd(t *testing.T) {
	e := startContainerEnv(t)
	c := e.c

	t.Run("node offers wasm and containerd", func(t *testing.T) {
		n, err := c.Client.GetNode(t.Context(), "node-1")
		if err != nil {
			t.Fatal(err)
		}
		if !n.Status.HasRuntime(api.RuntimeHandlerWasm) || !n.Status.HasRuntime(api.RuntimeHandlerContainerd) {
			t.Fatalf("node runtimeHandlers %+v, want wasm and containerd", n.Status.Runtimes)
		}
	})

	t.Run("runs, then succeeds with its exit code and logs", func(t *testing.T) {
		t.Parallel()
		e.create(t, "hello", nil, "sleep", "1s")
		running := waitPod(t, c, "default", "hello", "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
		if cs := running.Status.ContainerStatuses[0]; !strings.HasPrefix(cs.ContainerID, "containerd://") || !cs.Ready {
			t.Errorf("running container status %+v, want a containerd:// ID and ready", cs)
		}
		done := waitPod(t, c, "default", "hello", "Succeeded", func(p *api.Pod) bool { return p.Status.Phase == api.PodSucceeded })
		if term := mainState(done).Terminated; term == nil || term.ExitCode != 0 || term.Reason != runtimes.ReasonCompleted {
			t.Errorf("terminated %+v, want exit 0 Completed", term)
		}
		if out := e.logs(t, "hello"); out != "started\n" {
			t.Errorf("logs %q, want the probe's \"started\" line", out)
		}
	})

	t.Run("stdout and stderr both reach the log", func(t *testing.T) {
		t.Parallel()
		e.create(t, "streams", nil, "hello")
		waitPod(t, c, "default", "streams", "Succeeded", func(p *api.Pod) bool { return p.Status.Phase == api.PodSucceeded })
		if out := e.logs(t, "streams"); !strings.Contains(out, "hello from skiff\n") || !strings.Contains(out, "hello on stderr\n") {
			t.Errorf("logs %q, want the stdout and the stderr line", out)
		}
	})

	t.Run("exit 3 fails the pod with exit code 3", func(t *testing.T) {
		t.Parallel()
		e.create(t, "exit-three", nil, "exit", "3")
		p := waitPod(t, c, "default", "exit-three", "Failed", func(p *api.Pod) bool { return p.Status.Phase == api.PodFailed })
		if term := mainState(p).Terminated; term == nil || term.ExitCode != 3 || term.Reason != runtimes.ReasonError {
			t.Errorf("terminated %+v, want exit 3 Error", term)
		}
	})

	t.Run("missing image is ErrImagePull then ImagePullBackOff", func(t *testing.T) {
		t.Parallel()
		e.create(t, "no-image", func(c *api.Container) { c.Image = "skiff.test/does-not-exist:1" })
		p := waitPod(t, c, "default", "no-image", "ErrImagePull", waitingWith(edge.ReasonErrImagePull))
		if msg := mainState(p).Waiting.Message; !strings.Contains(msg, "skiff.test/does-not-exist:1") || !strings.Contains(msg, "skiff image import") {
			t.Errorf("ErrImagePull message %q should name the image and how to import it", msg)
		}
		p = waitPod(t, c, "default", "no-image", "ImagePullBackOff", waitingWith(edge.ReasonImagePullBackOff))
		if p.Status.Phase != api.PodPending {
			t.Errorf("phase %s, want Pending while the image is missing", p.Status.Phase)
		}
	})

	t.Run("image for another architecture is ErrImagePull naming both platforms", func(t *testing.T) {
		t.Parallel()
		e.create(t, "foreign", func(c *api.Container) { c.Image = e.foreignRef }, "hello")
		p := waitPod(t, c, "default", "foreign", "ErrImagePull or ImagePullBackOff", func(p *api.Pod) bool {
			return waitingWith(edge.ReasonErrImagePull)(p) || waitingWith(edge.ReasonImagePullBackOff)(p)
		})
		msg := mainState(p).Waiting.Message
		node := platforms.Format(platforms.DefaultSpec())
		if !strings.Contains(msg, "linux/"+e.foreignArch) || !strings.Contains(msg, node) {
			t.Errorf("message %q should name linux/%s and this node's %s", msg, e.foreignArch, node)
		}
	})

	t.Run("command not found is ContainerCannotRun", func(t *testing.T) {
		t.Parallel()
		e.create(t, "no-command", func(c *api.Container) { c.Command = []string{"/no/such/program"} })
		p := waitPod(t, c, "default", "no-command", "Failed", func(p *api.Pod) bool { return p.Status.Phase == api.PodFailed })
		term := mainState(p).Terminated
		if term == nil || term.Reason != edge.ReasonContainerCannotRun || term.ExitCode != 128 || !strings.Contains(term.Message, "/no/such/program") {
			t.Errorf("terminated %+v, want ContainerCannotRun, exit 128, a message naming the program", term)
		}
	})

	t.Run("memory limit hit is OOMKilled", func(t *testing.T) {
		t.Parallel()
		e.create(t, "oom", func(c *api.Container) {
			c.Resources.Limits = api.ResourceList{api.ResourceMemory: "32Mi"}
		}, "alloc", "256")
		p := waitPod(t, c, "default", "oom", "Failed", func(p *api.Pod) bool { return p.Status.Phase == api.PodFailed })
		if term := mainState(p).Terminated; term == nil || term.Reason != runtimes.ReasonOOMKilled || term.ExitCode != 137 {
			t.Errorf("terminated %+v, want OOMKilled with exit 137", term)
		}
	})

	t.Run("deleting a running pod stops its container and removes it", func(t *testing.T) {
		t.Parallel()
		e.create(t, "ticker", nil, "forever")
		p := waitPod(t, c, "default", "ticker", "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
		id, pid := e.podTask(t, p.UID)
		grace := int64(2)
		if _, err := c.Client.DeletePod(t.Context(), "default", "ticker", client.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
			t.Fatal(err)
		}
		err := testbed.Poll(t.Context(), 30*time.Second, 20*time.Millisecond, func() (bool, error) {
			_, err := c.Client.GetPod(t.Context(), "default", "ticker")
			if client.IsNotFound(err) {
				return true, nil
			}
			return false, err
		})
		if err != nil {
			t.Fatalf("pod never left the API: %v", err)
		}
		cl := e.d.Client(t)
		if _, err := cl.LoadContainer(t.Context(), id); !errdefs.IsNotFound(err) {
			t.Errorf("container %s of the deleted pod: err %v, want it gone", id, err)
		}
		if _, err := cl.TaskService().Get(t.Context(), &tasks.GetRequest{ContainerID: id}); !errdefs.IsNotFound(errgrpc.ToNative(err)) {
			t.Errorf("task of %s after the delete: err %v, want it gone", id, err)
		}
		if err := syscall.Kill(int(pid), 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("the container's process %d: kill -0 says %v, want it gone", pid, err)
		}
	})
}

// podTask returns the ID of the pod's one container in containerd and the
// PID of its running task.
func (e *containerEnv) podTask(t *testing.T, uid string) (string, uint32) {
	t.Helper()
	cs, err := e.d.Client(t).Containers(t.Context(), fmt.Sprintf("labels.%q==%q", containerd.LabelPodUID, uid))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("%d containers of pod %s in containerd, want 1", len(cs), uid)
	}
	tk, err := cs[0].Task(t.Context(), nil)
	if err != nil {
		t.Fatalf("task of the running pod: %v", err)
	}
	return cs[0].ID(), tk.Pid()
}
