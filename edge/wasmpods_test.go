package edge

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/runtimes/wasm"
	"github.com/skiff-sh/skiff/testbed/fixtures"
)

// wasmEnv runs an agent with the real Wasm driver; hostPaths lists the
// directories its pods may mount as hostPath volumes.
func wasmEnv(t *testing.T, hostPaths ...string) (*testEnv, string) {
	t.Helper()
	probe := fixtures.BuildWasm(t, "probe")
	e := newEnv(t)
	d, err := wasm.New(wasm.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	opts := e.options()
	opts.HostPathAllow = hostPaths
	e.startAgentWith(opts, d)
	return e, "file://" + probe
}

func readLog(t *testing.T, dataDir, uid, container string) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(podDir(dataDir, uid), "logs", container+".log"))
	return string(b)
}

// An init container writes into an emptyDir, the app container reads it
// from its configMap volume and the shared emptyDir: Wasm modules see
// volumes as preopened directories.
func TestWasmModulesSeeVolumesAndRunAfterTheirInitContainers(t *testing.T) {
	e, image := wasmEnv(t)
	cm := api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "settings", Namespace: "default"}, Data: map[string]string{"key": "from the configmap\n"}}
	p := wasmPod("vols", "uid-wasmvol", image, api.RestartPolicyNever, "cat", "/config/key")
	p.Spec.Volumes = []api.Volume{
		{Name: "work", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}},
		{Name: "config", VolumeSource: api.VolumeSource{ConfigMap: &api.ConfigMapVolumeSource{Name: "settings"}}},
	}
	p.Spec.InitContainers = []api.Container{{Name: "prepare", Image: image, Args: []string{"write", "/work/msg", "written by init"},
		VolumeMounts: []api.VolumeMount{{Name: "work", MountPath: "/work"}}}}
	p.Spec.Containers[0].VolumeMounts = []api.VolumeMount{{Name: "config", MountPath: "/config"}}
	p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: "reader", Image: image, Args: []string{"cat", "/work/msg"},
		VolumeMounts: []api.VolumeMount{{Name: "work", MountPath: "/work", ReadOnly: true}}})
	e.cp.push(api.PodAssignment{Pod: p, ConfigMaps: []api.ConfigMap{cm}})

	r := e.cp.waitReport(t, "uid-wasmvol", "Succeeded", phaseIs(api.PodSucceeded))
	if got := readLog(t, e.dataDir, "uid-wasmvol", "app"); got != "from the configmap\n" {
		t.Errorf("app (cat /config/key) printed %q", got)
	}
	if got := readLog(t, e.dataDir, "uid-wasmvol", "reader"); got != "written by init" {
		t.Errorf("reader (cat /work/msg) printed %q", got)
	}
	if cs := r.Status.InitContainerStatuses; len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 0 {
		t.Errorf("init container status %+v", cs)
	}
}

// A Wasm module's exec readiness probe runs the module again with the
// probe's command: here it checks a file, and Ready follows the file.
func TestWasmExecReadinessProbeFollowsAFile(t *testing.T) {
	dir := t.TempDir()
	e, image := wasmEnv(t, dir)
	p := wasmPod("ready", "uid-wasmready", image, api.RestartPolicyAlways, "forever")
	p.Spec.Volumes = []api.Volume{{Name: "state", VolumeSource: api.VolumeSource{HostPath: &api.HostPathVolumeSource{Path: dir, Type: api.HostPathDirectory}}}}
	p.Spec.Containers[0].VolumeMounts = []api.VolumeMount{{Name: "state", MountPath: "/state", ReadOnly: true}}
	p.Spec.Containers[0].ReadinessProbe = &api.Probe{ProbeHandler: api.ProbeHandler{Exec: &api.ExecAction{Command: []string{"probe", "cat", "/state/ready"}}},
		PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 5}
	e.cp.pushPod(p)

	r := e.cp.waitLatest(t, "uid-wasmready", "Running, not ready", func(r api.PodStatusReport) bool {
		return r.Status.Phase == api.PodRunning
	})
	if c := condition(r, api.PodReady); c.Status != api.ConditionFalse {
		t.Fatalf("Ready = %+v before the file exists", c)
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cp.waitLatest(t, "uid-wasmready", "Ready", conditionIs(api.PodReady, api.ConditionTrue))
	if err := os.Remove(filepath.Join(dir, "ready")); err != nil {
		t.Fatal(err)
	}
	r = e.cp.waitLatest(t, "uid-wasmready", "not ready again", conditionIs(api.PodReady, api.ConditionFalse))
	if cs := r.Status.ContainerStatuses[0]; cs.RestartCount != 0 || cs.State.Running == nil {
		t.Errorf("the module itself must keep running: %+v", cs)
	}
}

// A busy loop under limits.cpu is stopped with CPULimitExceeded.
func TestWasmModuleOverItsCPULimitIsStopped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU limits need Linux")
	}
	e, image := wasmEnv(t)
	p := wasmPod("spin", "uid-wasmspin", image, api.RestartPolicyNever, "spin")
	p.Spec.Containers[0].Resources.Limits = api.ResourceList{api.ResourceCPU: "100m"}
	e.cp.pushPod(p)
	r := e.cp.waitReport(t, "uid-wasmspin", "Failed", phaseIs(api.PodFailed))
	term := r.Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.Reason != wasm.ReasonCPULimitExceeded || term.ExitCode != 137 || !strings.Contains(term.Message, "CPU limit of 100m") {
		t.Errorf("terminated %+v, want CPULimitExceeded", term)
	}
}
