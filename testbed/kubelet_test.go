package testbed_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/testbed"
)

// Pods as a kubelet runs them, through the whole cluster (API, scheduler,
// dispatch, agent, real Wasm driver).

func podLog(t *testing.T, c *testbed.Cluster, name, container string) string {
	t.Helper()
	b, err := c.Client.PodLogs(context.Background(), "default", name, api.LogRequest{Container: container})
	if err != nil {
		t.Fatalf("logs of %s/%s: %v", name, container, err)
	}
	return string(b)
}

func createObject(t *testing.T, c *testbed.Cluster, obj api.Object) {
	t.Helper()
	if _, err := c.Client.CreateObject(context.Background(), obj); err != nil {
		t.Fatalf("create %T: %v", obj, err)
	}
}

// The second init container reads what the first wrote, so it ran after
// the first completed; the app container runs after both.
func TestKubeletInitContainersRunInOrderBeforeTheApp(t *testing.T) {
	c := startCluster(t, 1)
	image := uploadProbe(t, c)
	work := []api.VolumeMount{{Name: "work", MountPath: "/work"}}
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "ordered", Namespace: "default"}, Spec: api.PodSpec{
		RuntimeClassName: api.RuntimeClassWasm, RestartPolicy: api.RestartPolicyNever,
		Volumes: []api.Volume{{Name: "work", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}}},
		InitContainers: []api.Container{
			{Name: "first", Image: image, Args: []string{"write", "/work/order", "first was here"}, VolumeMounts: work},
			{Name: "second", Image: image, Args: []string{"cat", "/work/order"}, VolumeMounts: work},
		},
		Containers: []api.Container{{Name: "app", Image: image, Args: []string{"cat", "/work/order"}, VolumeMounts: work}},
	}}
	if _, err := c.Client.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, c, "default", "ordered", "Succeeded", func(p *api.Pod) bool { return p.Status.Phase.Terminal() })
	if p.Status.Phase != api.PodSucceeded {
		t.Fatalf("phase %s: %+v", p.Status.Phase, p.Status)
	}
	if len(p.Status.InitContainerStatuses) != 2 {
		t.Fatalf("initContainerStatuses %+v", p.Status.InitContainerStatuses)
	}
	first, second := p.Status.InitContainerStatuses[0].State.Terminated, p.Status.InitContainerStatuses[1].State.Terminated
	if first == nil || second == nil || first.ExitCode != 0 || second.ExitCode != 0 || second.StartedAt.Before(first.FinishedAt) {
		t.Errorf("init containers %+v then %+v: want both completed, the second after the first", first, second)
	}
	if c := p.Status.Condition(api.PodInitialized); c == nil || c.Status != api.ConditionTrue {
		t.Errorf("Initialized = %+v", c)
	}
	if got := podLog(t, c, "ordered", "second"); got != "first was here" {
		t.Errorf("second init container read %q", got)
	}
	if got := podLog(t, c, "ordered", "app"); got != "first was here" {
		t.Errorf("app read %q", got)
	}
}

func TestKubeletRunsSeveralContainersOfOnePod(t *testing.T) {
	c := startCluster(t, 1)
	image := uploadProbe(t, c)
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "pair", Namespace: "default"}, Spec: api.PodSpec{
		RuntimeClassName: api.RuntimeClassWasm,
		Containers: []api.Container{
			{Name: "ticker", Image: image, Args: []string{"forever"}},
			{Name: "helper", Image: image, Args: []string{"forever"}},
		},
	}}
	if _, err := c.Client.CreatePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, c, "default", "pair", "Ready", func(p *api.Pod) bool {
		r := p.Status.Condition(api.PodReady)
		return r != nil && r.Status == api.ConditionTrue
	})
	if len(p.Status.ContainerStatuses) != 2 {
		t.Fatalf("container statuses %+v", p.Status.ContainerStatuses)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil || !cs.Ready || !strings.HasPrefix(cs.ContainerID, "wasm://") {
			t.Errorf("%s = %+v", cs.Name, cs)
		}
	}
	err := testbed.Poll(context.Background(), 10*time.Second, 50*time.Millisecond, func() (bool, error) {
		return strings.Contains(podLog(t, c, "pair", "ticker"), "tick 2") && strings.Contains(podLog(t, c, "pair", "helper"), "tick 2"), nil
	})
	if err != nil {
		t.Fatalf("both containers should tick: %v", err)
	}
}

// A readiness probe (exec, run as a new instance of the module) decides
// the pod's Ready condition, and the Deployment counts ready replicas from
// it.
func TestKubeletReadinessProbeFlipsReadyAndTheDeploymentCountsIt(t *testing.T) {
	state := t.TempDir()
	c := startClusterWith(t, 1, func(cfg *config.Config) { cfg.Agent.HostPathAllow = []string{state} })
	image := uploadProbe(t, c)
	one := int32(1)
	labels := map[string]string{"app": "gate"}
	d := &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "gate", Namespace: "default"}, Spec: api.DeploymentSpec{
		Replicas: &one, Selector: &api.LabelSelector{MatchLabels: labels},
		Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels}, Spec: api.PodSpec{
			RuntimeClassName: api.RuntimeClassWasm,
			Volumes:          []api.Volume{{Name: "state", VolumeSource: api.VolumeSource{HostPath: &api.HostPathVolumeSource{Path: state, Type: api.HostPathDirectory}}}},
			Containers: []api.Container{{Name: "main", Image: image, Args: []string{"forever"},
				VolumeMounts: []api.VolumeMount{{Name: "state", MountPath: "/state", ReadOnly: true}},
				ReadinessProbe: &api.Probe{ProbeHandler: api.ProbeHandler{Exec: &api.ExecAction{Command: []string{"probe", "cat", "/state/ready"}}},
					PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 5},
			}},
		}},
	}}
	createObject(t, c, d)
	ctx := context.Background()
	deployment := func() *api.Deployment {
		obj, err := c.Client.GetObject(ctx, api.KindOf(&api.Deployment{}), "default", "gate")
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*api.Deployment)
	}
	podOf := func() *api.Pod {
		pods, err := c.Client.ListPods(ctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			if p.Labels["app"] == "gate" && p.DeletionTimestamp == nil {
				return p
			}
		}
		return nil
	}
	readyIs := func(want api.ConditionStatus) func() (bool, error) {
		return func() (bool, error) {
			p := podOf()
			if p == nil || p.Status.Phase != api.PodRunning {
				return false, nil
			}
			r := p.Status.Condition(api.PodReady)
			return r != nil && r.Status == want, nil
		}
	}
	if err := testbed.Poll(ctx, 30*time.Second, 50*time.Millisecond, readyIs(api.ConditionFalse)); err != nil {
		t.Fatalf("the pod never ran unready: %v", err)
	}
	// Give the probe a few periods: it must keep failing.
	<-time.After(2 * time.Second)
	if p := podOf(); p.Status.Condition(api.PodReady).Status != api.ConditionFalse || p.Status.ContainerStatuses[0].Ready {
		t.Fatalf("ready without the file: %+v", p.Status)
	}
	if d := deployment(); d.Status.ReadyReplicas != 0 {
		t.Errorf("readyReplicas %d while the pod is not ready", d.Status.ReadyReplicas)
	}
	if err := os.WriteFile(filepath.Join(state, "ready"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := testbed.Poll(ctx, 30*time.Second, 50*time.Millisecond, readyIs(api.ConditionTrue)); err != nil {
		t.Fatalf("the pod never became Ready: %v", err)
	}
	if err := testbed.Poll(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		return deployment().Status.ReadyReplicas == 1, nil
	}); err != nil {
		t.Fatalf("the Deployment never counted the ready pod: %+v", deployment().Status)
	}
	if err := os.Remove(filepath.Join(state, "ready")); err != nil {
		t.Fatal(err)
	}
	if err := testbed.Poll(ctx, 30*time.Second, 50*time.Millisecond, readyIs(api.ConditionFalse)); err != nil {
		t.Fatalf("Ready did not flip back: %v", err)
	}
	if err := testbed.Poll(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		return deployment().Status.ReadyReplicas == 0, nil
	}); err != nil {
		t.Fatalf("the Deployment still counts the unready pod: %+v", deployment().Status)
	}
}

// A ConfigMap becomes files a Wasm module reads (cat /config/key); a
// Secret becomes its environment.
func TestKubeletConfigMapVolumeAndSecretEnvReachAWasmModule(t *testing.T) {
	c := startCluster(t, 1)
	image := uploadProbe(t, c)
	createObject(t, c, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "settings", Namespace: "default"}, Data: map[string]string{"key": "value from the configmap"}})
	createObject(t, c, &api.Secret{ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "default"}, StringData: map[string]string{"password": "hunter2"}})
	ctx := context.Background()
	reader := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "reader", Namespace: "default"}, Spec: api.PodSpec{
		RuntimeClassName: api.RuntimeClassWasm, RestartPolicy: api.RestartPolicyNever,
		Volumes: []api.Volume{{Name: "config", VolumeSource: api.VolumeSource{ConfigMap: &api.ConfigMapVolumeSource{Name: "settings"}}}},
		Containers: []api.Container{{Name: "main", Image: image, Args: []string{"cat", "/config/key"},
			VolumeMounts: []api.VolumeMount{{Name: "config", MountPath: "/config"}}}},
	}}
	envPod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "env", Namespace: "default"}, Spec: api.PodSpec{
		RuntimeClassName: api.RuntimeClassWasm, RestartPolicy: api.RestartPolicyNever,
		Containers: []api.Container{{Name: "main", Image: image, Args: []string{"env"}, Env: []api.EnvVar{
			{Name: "DB_PASSWORD", ValueFrom: &api.EnvVarSource{SecretKeyRef: &api.SecretKeySelector{Name: "db", Key: "password"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &api.EnvVarSource{FieldRef: &api.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		}}},
	}}
	for _, p := range []*api.Pod{reader, envPod} {
		if _, err := c.Client.CreatePod(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"reader", "env"} {
		p := waitPod(t, c, "default", name, "done", func(p *api.Pod) bool { return p.Status.Phase.Terminal() })
		if p.Status.Phase != api.PodSucceeded {
			t.Fatalf("%s: phase %s: %+v", name, p.Status.Phase, p.Status.ContainerStatuses)
		}
	}
	if got := podLog(t, c, "reader", "main"); got != "value from the configmap" {
		t.Errorf("cat /config/key printed %q", got)
	}
	env := podLog(t, c, "env", "main")
	if !strings.Contains(env, "DB_PASSWORD=hunter2\n") || !strings.Contains(env, "POD_NAMESPACE=default\n") {
		t.Errorf("env printed:\n%s", env)
	}

	// A pod whose ConfigMap does not exist waits with the reason, and
	// starts once it is created.
	waiting := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "waiting", Namespace: "default"}, Spec: api.PodSpec{
		RuntimeClassName: api.RuntimeClassWasm, RestartPolicy: api.RestartPolicyNever,
		Containers: []api.Container{{Name: "main", Image: image, Args: []string{"env"}, EnvFrom: []api.EnvFromSource{
			{Prefix: "LATE_", ConfigMapRef: &api.ConfigMapEnvSource{Name: "late"}},
		}}},
	}}
	if _, err := c.Client.CreatePod(ctx, waiting); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, c, "default", "waiting", "waiting for its ConfigMap", func(p *api.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "CreateContainerConfigError"
	})
	if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, `configmap "late" not found`) {
		t.Errorf("waiting message %q", msg)
	}
	createObject(t, c, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "late", Namespace: "default"}, Data: map[string]string{"greeting": "at last"}})
	waitPod(t, c, "default", "waiting", "Succeeded", func(p *api.Pod) bool { return p.Status.Phase == api.PodSucceeded })
	if got := podLog(t, c, "waiting", "main"); !strings.Contains(got, "LATE_greeting=at last\n") {
		t.Errorf("env printed:\n%s", got)
	}
}

// The API refuses what a Wasm module cannot do, naming the field.
func TestKubeletRefusesSocketProbesForWasmPods(t *testing.T) {
	c := startCluster(t, 1)
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"}, Spec: api.PodSpec{
		RuntimeClassName: api.RuntimeClassWasm,
		Containers: []api.Container{{Name: "main", Image: "file:///x.wasm",
			LivenessProbe: &api.Probe{ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{Port: api.FromInt(8080)}}}}},
	}}
	_, err := c.Client.CreatePod(context.Background(), pod)
	if err == nil || !strings.Contains(err.Error(), "spec.containers[0].livenessProbe.httpGet") || !strings.Contains(err.Error(), "no sockets") {
		t.Fatalf("create: %v, want the httpGet probe refused for a Wasm pod", err)
	}
}
