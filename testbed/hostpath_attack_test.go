package testbed_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/edge"
	"github.com/skiff-sh/skiff/runtimes/containerd"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/web/client"
)

// Attacks on the node through volumes, through the whole cluster.

// An edit token of a namespace asks for a pod, and a Deployment, that
// mount the node's root: the API refuses both (403 naming the field) and
// stores nothing, so no controller or agent ever sees them.
func TestAnEditTokenCannotAdmitAHostPathPodOrTemplate(t *testing.T) {
	c := startCluster(t, 1)
	ctx := t.Context()
	tok, err := c.Client.CreateToken(ctx, api.TokenRequest{Name: "intruder", Role: api.RoleEdit, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	edit := client.New(c.Server.API.URL(), client.WithToken(tok.Token), client.WithCA(c.Server.CA.PEM))
	root := []api.Volume{{Name: "root", VolumeSource: api.VolumeSource{HostPath: &api.HostPathVolumeSource{Path: "/"}}}}
	spec := api.PodSpec{
		Volumes: root,
		Containers: []api.Container{{Name: "main", Image: "busybox:1", Args: []string{"cat", "/host/etc/shadow"},
			VolumeMounts: []api.VolumeMount{{Name: "root", MountPath: "/host"}}}},
	}
	one := int32(1)
	labels := map[string]string{"app": "steal"}
	for _, tt := range []struct {
		obj   api.Object
		field string
	}{
		{&api.Pod{ObjectMeta: api.ObjectMeta{Name: "steal", Namespace: "default"}, Spec: spec}, "spec.volumes[0].hostPath"},
		{&api.Deployment{ObjectMeta: api.ObjectMeta{Name: "steal", Namespace: "default"}, Spec: api.DeploymentSpec{
			Replicas: &one, Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels}, Spec: spec},
		}}, "spec.template.spec.volumes[0].hostPath"},
	} {
		_, err := edit.CreateObject(ctx, tt.obj)
		var se *client.StatusError
		if !errors.As(err, &se) || se.Status.Code != 403 || !strings.Contains(se.Status.Message, tt.field) {
			t.Fatalf("create %T with hostPath / by an edit token: %v, want 403 naming %s", tt.obj, err, tt.field)
		}
	}
	// Nothing was stored: no pod, no Deployment, no ReplicaSet made from it.
	for _, kind := range []string{"Pod", "Deployment", "ReplicaSet"} {
		info, _ := api.LookupKind(kind)
		list, err := c.Client.ListObjects(ctx, info, "default")
		if err != nil {
			t.Fatal(err)
		}
		if n := len(list.Items); n != 0 {
			t.Errorf("%d %s objects stored, want none", n, kind)
		}
	}
}

// An admin's pod whose hostPath is outside the agent's allowlist never
// runs: it stays Pending with HostPathNotAllowed, saying how to allow it,
// and no container is ever created for it.
func TestAHostPathOutsideTheAgentsAllowlistNeverRuns(t *testing.T) {
	e := startContainerEnv(t)
	outside := t.TempDir() // not under e.hostDir
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("the node's secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "outside", Namespace: "default"}, Spec: api.PodSpec{
		RestartPolicy: api.RestartPolicyNever,
		Volumes:       []api.Volume{{Name: "data", VolumeSource: api.VolumeSource{HostPath: &api.HostPathVolumeSource{Path: outside}}}},
		Containers: []api.Container{{Name: "main", Image: e.probe, Args: []string{"cat", "/data/secret"},
			VolumeMounts: []api.VolumeMount{{Name: "data", MountPath: "/data"}}}},
	}}
	_, err := e.c.Client.CreatePod(t.Context(), p)
	if err != nil {
		t.Fatalf("an admin's hostPath pod is admitted by the API: %v", err)
	}
	got := waitPod(t, e.c, "default", "outside", "waiting with HostPathNotAllowed", waitingWith(edge.ReasonHostPathNotAllowed))
	msg := mainState(got).Waiting.Message
	for _, want := range []string{`volume "data"`, outside, "--host-path-allow"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	// It stays that way: the agent retries with back-off, never runs it.
	err = testbed.Poll(t.Context(), 3*time.Second, 100*time.Millisecond, func() (bool, error) {
		p, err := e.c.Client.GetPod(t.Context(), "default", "outside")
		if err != nil {
			return false, err
		}
		return p.Status.Phase != api.PodPending || !waitingWith(edge.ReasonHostPathNotAllowed)(p), nil
	})
	if err == nil {
		t.Fatal("the pod left Pending/HostPathNotAllowed")
	}
	cs, err := e.d.Client(t).Containers(t.Context(), fmt.Sprintf("labels.%q==%q", containerd.LabelPodUID, got.UID))
	if err != nil || len(cs) != 0 {
		t.Errorf("%d containers of the pod in containerd (%v), want none", len(cs), err)
	}
}

// CVE-2017-1002101: an init container leaves `escape -> /` in the pod's
// emptyDir, and the app container mounts `subPath: escape`. The agent
// resolves the subPath beneath the volume and refuses it: the app
// container never runs, and the node's file is neither read nor changed.
func TestASubPathSymlinkCannotEscapeItsVolume(t *testing.T) {
	e := startContainerEnv(t)
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret")
	if err := os.WriteFile(secret, []byte("the node's secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	work := func(sub string) []api.VolumeMount {
		return []api.VolumeMount{{Name: "work", MountPath: "/work", SubPath: sub}}
	}
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "escape", Namespace: "default"}, Spec: api.PodSpec{
		RestartPolicy: api.RestartPolicyNever,
		Volumes:       []api.Volume{{Name: "work", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}}},
		InitContainers: []api.Container{{Name: "plant", Image: e.probe, Args: []string{"symlink", "/", "/work/escape"},
			VolumeMounts: work("")}},
		Containers: []api.Container{
			{Name: "main", Image: e.probe, Args: []string{"cat", "/work" + secret}, VolumeMounts: work("escape")},
			{Name: "vandal", Image: e.probe, Args: []string{"write", "/work" + secret, "owned"}, VolumeMounts: work("escape")},
		},
	}}
	if _, err := e.c.Client.CreatePod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	refused := func(p *api.Pod) bool {
		if len(p.Status.ContainerStatuses) != 2 {
			return false
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w == nil || w.Reason != edge.ReasonCreateContainerConfigErr {
				return false
			}
		}
		return true
	}
	got := waitPod(t, e.c, "default", "escape", "both app containers refused", refused)
	if init := got.Status.InitContainerStatuses; len(init) != 1 || init[0].State.Terminated == nil || init[0].State.Terminated.ExitCode != 0 {
		t.Fatalf("the init container did not plant the symlink: %+v", init)
	}
	for _, cs := range got.Status.ContainerStatuses {
		if msg := cs.State.Waiting.Message; !strings.Contains(msg, `subPath "escape"`) || !strings.Contains(msg, "leads out of the volume") {
			t.Errorf("%s: message %q", cs.Name, msg)
		}
		if cs.RestartCount != 0 || cs.LastState.Terminated != nil {
			t.Errorf("%s ran: %+v", cs.Name, cs)
		}
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "the node's secret" {
		t.Errorf("the node's file is now %q (%v)", b, err)
	}
	for _, name := range []string{"main", "vandal"} {
		b, _ := e.c.Client.PodLogs(t.Context(), "default", "escape", api.LogRequest{Container: name})
		if strings.Contains(string(b), "secret") {
			t.Errorf("%s's log shows the node's file: %q", name, b)
		}
	}
}
