package testbed_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/web/client"
)

// volumeMount returns the mountinfo line of the mount whose mount point
// ends in suffix, if any.
func volumeMount(t *testing.T, suffix string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasSuffix(f[4], suffix) {
			return line, true
		}
	}
	return "", false
}

// TestSecretVolumeReachesAContainerFromATmpfs: a container reads its
// secret volume through containerd's bind mount of the agent's tmpfs, and
// the tmpfs goes when the pod is deleted.
func TestSecretVolumeReachesAContainerFromATmpfs(t *testing.T) {
	// containerd needs root on Linux (containerdtest skips, or fails in
	// CI, elsewhere), which is where the agent mounts tmpfs.
	e := startContainerEnv(t)
	c := e.c
	ctx := t.Context()
	sec := &api.Secret{ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "default"}, StringData: map[string]string{"password": "hunter2-in-ram"}}
	if _, err := c.Client.CreateObject(ctx, sec); err != nil {
		t.Fatal(err)
	}
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "reads-secret", Namespace: "default"},
		Spec: api.PodSpec{
			RestartPolicy: api.RestartPolicyNever,
			Volumes:       []api.Volume{{Name: "creds", VolumeSource: api.VolumeSource{Secret: &api.SecretVolumeSource{SecretName: "db"}}}},
			Containers: []api.Container{{Name: "main", Image: e.probe, Args: []string{"cat", "/creds/password"},
				VolumeMounts: []api.VolumeMount{{Name: "creds", MountPath: "/creds"}}}},
		},
	}
	created, err := c.Client.CreatePod(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Client.DeletePod(t.Context(), "default", "reads-secret", client.DeleteOptions{}) })
	waitPod(t, c, "default", "reads-secret", "Succeeded", func(p *api.Pod) bool { return p.Status.Phase == api.PodSucceeded })
	if out := e.logs(t, "reads-secret"); out != "hunter2-in-ram" {
		t.Fatalf("the container read %q from its secret volume, want the Secret's value", out)
	}
	suffix := "/pods/" + created.UID + "/volumes/creds"
	line, ok := volumeMount(t, suffix)
	if !ok || !strings.Contains(line, " - tmpfs ") {
		t.Fatalf("the secret volume is not a tmpfs mount: %q", line)
	}

	zero := int64(0)
	if _, err := c.Client.DeletePod(ctx, "default", "reads-secret", client.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if err := testbed.Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		_, mounted := volumeMount(t, suffix)
		return !mounted, nil
	}); err != nil {
		t.Fatalf("the secret volume's tmpfs is still mounted after the pod was deleted: %v", err)
	}
}
