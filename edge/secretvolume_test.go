package edge

import (
	"bufio"
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
)

// mountOf returns the mountinfo line of the mount at dir, if any.
func mountOf(t *testing.T, dir string) (fstype, options string, ok bool) {
	t.Helper()
	abs, err := realPath(dir)
	if err != nil {
		return "", "", false
	}
	b, err := os.ReadFile(mountInfoPath)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || unescapeMountPath(f[4]) != abs {
			continue
		}
		// After the separator: fstype, source, super options.
		i := slices.Index(f, "-")
		if i < 0 || i+3 >= len(f) {
			t.Fatalf("mountinfo line %q", sc.Text())
		}
		fstype, options, ok = f[i+1], f[i+3], true
	}
	return fstype, options, ok
}

func perm(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestSecretVolumeIsATmpfsWhileThePodLivesAndGoesWithIt(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	cm, sec := settingsAndDB()
	itemMode, defaultMode := int32(0o400), int32(0o640)
	p := testPod("web", "uid-secret-vol", api.RestartPolicyAlways, "serve")
	p.Spec.Volumes = []api.Volume{
		{Name: "creds", VolumeSource: api.VolumeSource{Secret: &api.SecretVolumeSource{SecretName: "db", DefaultMode: &defaultMode,
			Items: []api.KeyToPath{{Key: "password", Path: "pass", Mode: &itemMode}, {Key: "user", Path: "user"}}}}},
		{Name: "config", VolumeSource: api.VolumeSource{ConfigMap: &api.ConfigMapVolumeSource{Name: "settings"}}},
	}
	p.Spec.Containers[0].VolumeMounts = []api.VolumeMount{{Name: "creds", MountPath: "/creds"}, {Name: "config", MountPath: "/etc/app"}}
	e.cp.push(api.PodAssignment{Pod: p, ConfigMaps: []api.ConfigMap{cm}, Secrets: []api.Secret{sec}})
	e.cp.waitReport(t, "uid-secret-vol", "Running", phaseIs(api.PodRunning))

	vol := filepath.Join(podDir(e.dataDir, "uid-secret-vol"), "volumes", "creds")
	asRoot := runtime.GOOS == "linux" && os.Geteuid() == 0
	fstype, options, mounted := mountOf(t, vol)
	switch {
	case asRoot:
		if !mounted || fstype != "tmpfs" {
			t.Fatalf("the secret volume %s is not a tmpfs mount (mounted %v, type %q)", vol, mounted, fstype)
		}
		for _, want := range []string{"mode=755", "size=2112k"} {
			if !slices.Contains(strings.Split(options, ","), want) {
				t.Errorf("tmpfs options %q, want %s", options, want)
			}
		}
	case mounted:
		t.Fatalf("not root, yet %s is a mount (%s)", vol, fstype)
	}
	if _, _, ok := mountOf(t, filepath.Join(podDir(e.dataDir, "uid-secret-vol"), "volumes", "config")); ok {
		t.Error("a configMap volume got a mount; only secret volumes do")
	}
	if got := perm(t, vol); got != secretVolumeMode {
		t.Errorf("the secret volume's directory has mode %04o, want %04o", got, secretVolumeMode)
	}
	if got := perm(t, filepath.Dir(vol)); got != 0o750 {
		t.Errorf("volumes/ has mode %04o, want 0750 (other users of the node stay out)", got)
	}
	for _, dir := range []string{filepath.Dir(filepath.Dir(vol)), filepath.Join(e.dataDir, "pods")} {
		if got := perm(t, dir); got&0o007 != 0 {
			t.Errorf("%s has mode %04o: other users of the node could reach the secret volume", dir, got)
		}
	}
	for name, want := range map[string]fs.FileMode{"pass": 0o400, "user": 0o640} {
		path := filepath.Join(vol, name)
		if got := perm(t, path); got != want {
			t.Errorf("%s has mode %04o, want %04o", name, got, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(vol, "pass")); err != nil || string(b) != "hunter2" {
		t.Errorf("pass = %q, %v", b, err)
	}
	if got := perm(t, filepath.Join(e.dataDir, "configs")); got != 0o700 {
		t.Errorf("configs/ has mode %04o, want 0700", got)
	}
	if got := perm(t, filepath.Join(e.dataDir, "configs", "secret.default.db.json")); got != 0o600 {
		t.Errorf("the kept Secret has mode %04o, want 0600", got)
	}

	// A changed Secret is written into the same tmpfs.
	sec.ResourceVersion = "7"
	sec.Data["password"] = api.Bytes("hunter3")
	e.cp.push(api.PodAssignment{Secrets: []api.Secret{sec}})
	waitFor(t, "the secret volume to follow the Secret", func() bool {
		b, _ := os.ReadFile(filepath.Join(vol, "pass"))
		return string(b) == "hunter3"
	})
	if _, _, still := mountOf(t, vol); still != asRoot {
		t.Errorf("after the Secret changed: mounted %v, want %v", still, asRoot)
	}

	// The pod goes: the tmpfs is unmounted and the directory removed.
	del := *p
	now := time.Now().UTC()
	grace := int64(0)
	del.DeletionTimestamp, del.DeletionGracePeriodSeconds, del.ResourceVersion = &now, &grace, "2"
	e.cp.pushPod(&del)
	e.cp.waitReport(t, "uid-secret-vol", "a Removed report", removed)
	abs, _ := filepath.Abs(vol)
	b, err := os.ReadFile(mountInfoPath)
	if err == nil && strings.Contains(string(b), abs) {
		t.Errorf("a mount at %s is left after the pod was removed", abs)
	}
	if exists(podDir(e.dataDir, "uid-secret-vol")) {
		t.Error("the pod's directory is left after the pod was removed")
	}
}

func TestSecretVolumesOnDiskSayWhyOnce(t *testing.T) {
	var logs bytes.Buffer
	s := newSecretVolumes(slog.New(slog.NewTextHandler(&logs, nil)))
	s.tryMount, s.why = false, "the agent does not run as root, so it cannot mount a tmpfs"
	dir := t.TempDir()
	for _, v := range []string{"a", "b"} {
		if err := s.prepare(filepath.Join(dir, "volumes", v)); err != nil {
			t.Fatal(err)
		}
		if got := perm(t, filepath.Join(dir, "volumes", v)); got != secretVolumeMode {
			t.Errorf("volume %s has mode %04o", v, got)
		}
	}
	if n := strings.Count(logs.String(), "secret volumes are written to disk"); n != 1 || !strings.Contains(logs.String(), "does not run as root") {
		t.Fatalf("logged %d times, want once with the reason:\n%s", n, logs.String())
	}
}

func TestParseMountInfoUnescapesMountPoints(t *testing.T) {
	in := "22 27 0:21 / /proc rw,relatime - proc proc rw\n" +
		"45 27 0:40 / /var/lib/skiff/pods/u\\040v/volumes/a\\134b rw,relatime - tmpfs tmpfs rw,size=2112k,mode=755\n"
	got, err := parseMountInfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/proc", `/var/lib/skiff/pods/u v/volumes/a\b`}; !slices.Equal(got, want) {
		t.Fatalf("mount points = %q, want %q", got, want)
	}
}
