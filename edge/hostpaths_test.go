package edge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
)

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	sa, err := os.Stat(a)
	if err != nil {
		t.Errorf("stat %s: %v", a, err)
		return false
	}
	sb, err := os.Stat(b)
	if err != nil {
		t.Errorf("stat %s: %v", b, err)
		return false
	}
	return os.SameFile(sa, sb)
}

// waitingOf returns the first container's waiting state in a report.
func waitingOf(r api.PodStatusReport) *api.ContainerStateWaiting {
	if len(r.Status.ContainerStatuses) == 0 {
		return nil
	}
	return r.Status.ContainerStatuses[0].State.Waiting
}

// A hostPath outside the node's allowlist, named directly or through a
// symlink inside an allowed directory, is never started; the container
// waits with HostPathNotAllowed and a message saying how to allow it.
func TestAHostPathOutsideTheAllowlistIsNotRun(t *testing.T) {
	allowed, outside := t.TempDir(), t.TempDir()
	if err := os.Mkdir(allowed+"x", 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(allowed + "x") })
	if err := os.Symlink(outside, filepath.Join(allowed, "link")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"outside", outside, outside + " is not allowed"},
		{"root", "/", "hostPath / is not allowed"},
		{"a sibling sharing the prefix", allowed + "x", allowed + "x is not allowed"},
		{"symlink out of an allowed directory", filepath.Join(allowed, "link"), "resolves to " + outside},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			d := newFakeDriver("containerd")
			opts := e.options()
			opts.HostPathAllow = []string{allowed}
			e.startAgentWith(opts, d)
			uid := "uid-hp-" + string(rune('a'+i))
			p := testPod("web", uid, api.RestartPolicyAlways, "serve")
			p.Spec.Volumes = []api.Volume{{Name: "host", VolumeSource: api.VolumeSource{HostPath: &api.HostPathVolumeSource{Path: tt.path}}}}
			p.Spec.Containers[0].VolumeMounts = []api.VolumeMount{{Name: "host", MountPath: "/host"}}
			e.cp.pushPod(p)
			r := e.cp.waitReport(t, uid, "HostPathNotAllowed", func(r api.PodStatusReport) bool {
				w := waitingOf(r)
				return w != nil && w.Reason == ReasonHostPathNotAllowed
			})
			msg := waitingOf(r).Message
			for _, want := range []string{`volume "host"`, tt.want, "--host-path-allow", allowed} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
			if r.Status.Phase != api.PodPending {
				t.Errorf("phase %s, want Pending", r.Status.Phase)
			}
			if n := len(d.startsOf(uid)); n != 0 {
				t.Errorf("the driver was asked to start it %d times", n)
			}
		})
	}
}

// Without an allowlist no hostPath runs at all.
func TestNoHostPathIsAllowedByDefault(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	p := testPod("web", "uid-hp-none", api.RestartPolicyAlways, "serve")
	p.Spec.Volumes = []api.Volume{{Name: "host", VolumeSource: api.VolumeSource{HostPath: &api.HostPathVolumeSource{Path: t.TempDir()}}}}
	p.Spec.Containers[0].VolumeMounts = []api.VolumeMount{{Name: "host", MountPath: "/host"}}
	e.cp.pushPod(p)
	r := e.cp.waitReport(t, "uid-hp-none", "HostPathNotAllowed", func(r api.PodStatusReport) bool {
		w := waitingOf(r)
		return w != nil && w.Reason == ReasonHostPathNotAllowed
	})
	if msg := waitingOf(r).Message; !strings.Contains(msg, "(allowed: none)") {
		t.Errorf("message %q", msg)
	}
	if n := len(d.startsOf("uid-hp-none")); n != 0 {
		t.Errorf("the driver was asked to start it %d times", n)
	}
}

// A subPath is resolved beneath its volume: a symlink a container left in
// the volume that leads out of it (CVE-2017-1002101) is refused, one that
// stays inside is followed, and the driver gets the resolved directory
// pinned, not a name that could be swapped.
func TestASubPathThatLeadsOutOfItsVolumeIsRefused(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	// What an earlier container of the pod wrote into its emptyDir.
	vol := filepath.Join(podDir(e.dataDir, "uid-sub"), "volumes", "work")
	if err := os.MkdirAll(filepath.Join(vol, "data", "inner"), 0o777); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"escape": "/", "up": "../../../../..", "inside": "data/inner", "data/inner/escape-again": "../../escape"} {
		if err := os.Symlink(target, filepath.Join(vol, link)); err != nil {
			t.Fatal(err)
		}
	}
	p := testPod("web", "uid-sub", api.RestartPolicyAlways, "serve")
	p.Spec.Volumes = []api.Volume{{Name: "work", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}}}
	for _, sub := range []string{"escape", "escape/etc", "up", "inside/escape-again"} {
		t.Run(sub, func(t *testing.T) {
			p := *p
			p.Spec.Containers = []api.Container{p.Spec.Containers[0]}
			p.Spec.Containers[0].VolumeMounts = []api.VolumeMount{{Name: "work", MountPath: "/work", SubPath: sub}}
			e.cp.pushPod(&p)
			r := e.cp.waitReport(t, "uid-sub", "the subPath refused", func(r api.PodStatusReport) bool {
				w := waitingOf(r)
				return w != nil && w.Reason == ReasonCreateContainerConfigErr && strings.Contains(w.Message, sub)
			})
			if msg := waitingOf(r).Message; !strings.Contains(msg, "leads out of the volume") {
				t.Errorf("message %q", msg)
			}
			if n := len(d.startsOf("uid-sub")); n != 0 {
				t.Fatalf("the driver was asked to start it %d times", n)
			}
		})
	}
	p.Spec.Containers[0].VolumeMounts = []api.VolumeMount{{Name: "work", MountPath: "/work", SubPath: "inside"}}
	e.cp.pushPod(p)
	e.cp.waitReport(t, "uid-sub", "Running", phaseIs(api.PodRunning))
	m := d.startsOf("uid-sub")[0].cfg.Mounts[0]
	if !strings.HasPrefix(m.HostPath, "/proc/") || !sameFile(t, m.HostPath, filepath.Join(vol, "data", "inner")) {
		t.Errorf("mount %+v, want a /proc/<pid>/fd path to data/inner", m)
	}
}

// A DirectoryOrCreate or FileOrCreate path is created inside the allowed
// directory only: were a part of it swapped for a symlink leading out
// after the agent checked it, nothing is created outside.
func TestCreateHostPathCreatesNothingOutsideTheAllowedDirectory(t *testing.T) {
	allowed, outside := t.TempDir(), t.TempDir()
	// Checked as allowed/app/data; since then app became a symlink out.
	if err := os.Symlink(outside, filepath.Join(allowed, "app")); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []api.HostPathType{api.HostPathDirectoryOrCreate, api.HostPathFileOrCreate} {
		h := &api.HostPathVolumeSource{Path: filepath.Join(allowed, "app", "data"), Type: typ}
		if err := createHostPath(h, filepath.Join(allowed, "app", "data"), allowed); err == nil {
			t.Errorf("%s: created through a symlink leading out", typ)
		}
		if _, err := os.Lstat(filepath.Join(outside, "data")); err == nil {
			t.Fatalf("%s: %s/data was created", typ, outside)
		}
	}
	// Without a swap it creates what is missing.
	for typ, name := range map[api.HostPathType]string{api.HostPathDirectoryOrCreate: "dir/sub", api.HostPathFileOrCreate: "file"} {
		p := filepath.Join(allowed, name)
		if err := createHostPath(&api.HostPathVolumeSource{Path: p, Type: typ}, p, allowed); err != nil {
			t.Fatalf("%s %s: %v", typ, name, err)
		}
		if st, err := os.Stat(p); err != nil || st.IsDir() != (typ == api.HostPathDirectoryOrCreate) {
			t.Errorf("%s: %v %v", p, st, err)
		}
	}
}
