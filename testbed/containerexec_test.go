package testbed_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/testbed"
)

// An exec readiness probe runs in the container through containerd (the
// driver's Execer) and decides the pod's Ready condition through the real
// agent: not ready while the file it reads is missing, ready once the test
// writes it, not ready again once it is removed.
func TestContainerExecReadinessProbeFlipsReady(t *testing.T) {
	e := startContainerEnv(t)
	c := e.c
	state := filepath.Join(e.hostDir, "exec-gate")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	pod := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "exec-gate", Namespace: "default"},
		Spec: api.PodSpec{
			RestartPolicy: api.RestartPolicyNever,
			Volumes: []api.Volume{{Name: "state", VolumeSource: api.VolumeSource{
				HostPath: &api.HostPathVolumeSource{Path: state, Type: api.HostPathDirectory}}}},
			Containers: []api.Container{{
				Name: "main", Image: e.probe, Args: []string{"forever"},
				VolumeMounts: []api.VolumeMount{{Name: "state", MountPath: "/state", ReadOnly: true}},
				ReadinessProbe: &api.Probe{
					ProbeHandler:  api.ProbeHandler{Exec: &api.ExecAction{Command: []string{"/probe", "cat", "/state/ready"}}},
					PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 5,
				},
			}},
		},
	}
	if _, err := c.Client.CreatePod(t.Context(), pod); err != nil {
		t.Fatal(err)
	}
	ready := func(p *api.Pod) *api.PodCondition { return p.Status.Condition(api.PodReady) }
	readyIs := func(want api.ConditionStatus) func(*api.Pod) bool {
		return func(p *api.Pod) bool {
			r := ready(p)
			return p.Status.Phase == api.PodRunning && r != nil && r.Status == want
		}
	}

	p := waitPod(t, c, "default", "exec-gate", "Running and not Ready", readyIs(api.ConditionFalse))
	if msg := ready(p).Message; strings.Contains(msg, "cannot exec") {
		t.Fatalf("the exec probe was not run: %q", msg)
	}
	// A few periods more: without the file the probe keeps failing.
	if err := testbed.Poll(t.Context(), 3*time.Second, 100*time.Millisecond, func() (bool, error) {
		p, err := c.Client.GetPod(t.Context(), "default", "exec-gate")
		if err != nil {
			return false, err
		}
		return readyIs(api.ConditionTrue)(p), nil
	}); err == nil {
		t.Fatal("the pod became Ready without the file its probe reads")
	}

	if err := os.WriteFile(filepath.Join(state, "ready"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	p = waitPod(t, c, "default", "exec-gate", "Ready", readyIs(api.ConditionTrue))
	if cs := p.Status.ContainerStatuses; len(cs) != 1 || !cs[0].Ready || cs[0].RestartCount != 0 {
		t.Errorf("container statuses %+v, want one ready container, never restarted", cs)
	}

	if err := os.Remove(filepath.Join(state, "ready")); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "default", "exec-gate", "not Ready again", readyIs(api.ConditionFalse))
}
