package testbed_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/testbed/bench"
	"github.com/skiff-sh/skiff/web/client"
)

// TestMixedArchFleetRunsOneWasmDaemonSet is the fleet-wide deploy to ARM
// devices: the real agent binaries for arm64 and armv7, cross-built and
// run under qemu-user-static, join a control plane with a join token next
// to an amd64 agent. One Wasm DaemonSet runs on all three — compiled by
// wazero on amd64 and arm64, interpreted on armv7, which the nodes show as
// a label — and a pod pinned by nodeSelector to kubernetes.io/arch=arm
// runs on the armv7 node only.
func TestMixedArchFleetRunsOneWasmDaemonSet(t *testing.T) {
	type device struct{ node, goarch, goarm, engine, emulator, bin string }
	devices := []*device{
		{node: "pi-arm64", goarch: "arm64", engine: "compiler"},
		{node: "pi-armv7", goarch: "arm", goarm: "7", engine: "interpreter"},
	}
	for _, d := range devices {
		d.emulator = testbed.Emulator(t, d.goarch)
		d.bin = testbed.BuildSkiffFor(t, d.goarch, d.goarm)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: t.TempDir(), Agents: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	tok, err := c.JoinToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devices {
		args := []string{"agent", "--server", c.Server.NATS.ClientURL, "--node-name", d.node, "--token", tok,
			"--data-dir", filepath.Join(t.TempDir(), d.node), "--containerd=false", "--label", "fleet=edge"}
		if d.emulator != "" {
			testbed.StartProcess(t, d.emulator, nil, append([]string{d.bin}, args...)...)
		} else {
			testbed.StartProcess(t, d.bin, nil, args...)
		}
	}
	nodes, _ := api.LookupKind("Node")
	if err := testbed.Poll(ctx, 3*time.Minute, 200*time.Millisecond, func() (bool, error) {
		for _, d := range devices {
			obj, err := c.Client.GetObject(ctx, nodes, "", d.node)
			if err != nil || !obj.(*api.Node).IsReady() {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatalf("the ARM agents did not join and turn Ready: %v", err)
	}
	for _, d := range append(devices, &device{node: "node-1", goarch: "amd64", engine: "compiler"}) {
		obj, err := c.Client.GetObject(ctx, nodes, "", d.node)
		if err != nil {
			t.Fatal(err)
		}
		l := obj.(*api.Node).Labels
		if l[api.LabelArch] != d.goarch || l[api.AgentLabelPrefix+"wasm-engine"] != d.engine {
			t.Errorf("node %s: arch %q, wasm engine %q; want %s, %s", d.node, l[api.LabelArch], l[api.AgentLabelPrefix+"wasm-engine"], d.goarch, d.engine)
		}
	}

	// One Wasm DaemonSet, from a pushed module, on every node.
	dir := t.TempDir()
	sensor := testbed.BuildExample(t, "sensor", dir)
	mod, err := os.ReadFile(sensor)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := c.Client.UploadArtifact(ctx, bytes.NewReader(mod))
	if err != nil {
		t.Fatal(err)
	}
	ds := fmt.Sprintf(`apiVersion: apps/v1
kind: DaemonSet
metadata: {name: sensor, namespace: default}
spec:
  selector: {matchLabels: {app: sensor}}
  template:
    metadata: {labels: {app: sensor}}
    spec:
      runtimeClassName: wasm
      containers:
      - name: sensor
        image: %s
        env:
        - {name: INTERVAL, value: 1s}
        - name: NODE_NAME
          valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
`, ref)
	obj, err := api.Decode([]byte(ds))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CreateObject(ctx, obj); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"node-1": true}
	for _, d := range devices {
		want[d.node] = true
	}
	// Each node's pod runs and logs a reading: the module works on the
	// compiler (amd64, arm64) and on the interpreter (armv7).
	if err := testbed.Poll(ctx, 3*time.Minute, 500*time.Millisecond, func() (bool, error) {
		pods, err := c.Client.ListPods(ctx, "default", client.ListOptions{LabelSelector: "app=sensor"})
		if err != nil {
			return false, nil
		}
		reading := map[string]bool{}
		for _, p := range pods {
			if p.Status.Phase != api.PodRunning {
				continue
			}
			log, err := c.Client.PodLogs(ctx, "default", p.Name, api.LogRequest{Container: "sensor"})
			if err == nil && strings.Contains(string(log), "reading 1 node="+p.Spec.NodeName) {
				reading[p.Spec.NodeName] = true
			}
		}
		return len(reading) == len(want), nil
	}); err != nil {
		pods, _ := c.Client.ListPods(ctx, "default", client.ListOptions{LabelSelector: "app=sensor"})
		for _, p := range pods {
			t.Logf("pod %s on %s: %s %+v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.ContainerStatuses)
		}
		t.Fatalf("the sensor DaemonSet does not run on every node: %v", err)
	}

	// A pod for armv7 only.
	hello, err := c.Client.UploadArtifact(ctx, bytes.NewReader(bench.HelloModule()))
	if err != nil {
		t.Fatal(err)
	}
	pod, err := api.Decode([]byte(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: only-armv7, namespace: default}
spec:
  runtimeClassName: wasm
  restartPolicy: Never
  nodeSelector: {kubernetes.io/arch: arm}
  containers: [{name: hello, image: %s}]
`, hello)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CreateObject(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if err := testbed.Poll(ctx, 2*time.Minute, 200*time.Millisecond, func() (bool, error) {
		p, err := c.Client.GetPod(ctx, "default", "only-armv7")
		return err == nil && p.Status.Phase == api.PodSucceeded, nil
	}); err != nil {
		t.Fatalf("the armv7 pod did not succeed: %v", err)
	}
	p, _ := c.Client.GetPod(ctx, "default", "only-armv7")
	if p.Spec.NodeName != "pi-armv7" {
		t.Errorf("the pod for kubernetes.io/arch=arm ran on %s", p.Spec.NodeName)
	}
	if log, err := c.Client.PodLogs(ctx, "default", "only-armv7", api.LogRequest{Container: "hello"}); err != nil || !strings.Contains(string(log), "hello from skiff") {
		t.Errorf("armv7 pod log = %q, %v", log, err)
	}
}
