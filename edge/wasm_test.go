package edge

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/runtimes/wasm"
	"github.com/skiff-sh/skiff/testbed/fixtures"
)

// TestWasmPodsRunOnTheRealDriver runs the probe fixture through the agent
// and the wazero driver: from a node file and from the artifact store over
// NATS, to completion, to failure, until deleted, and refused when the
// module is not Wasm.
func TestWasmPodsRunOnTheRealDriver(t *testing.T) {
	probe := fixtures.BuildWasm(t, "probe")
	bin, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	d, err := wasm.New(wasm.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	digest := digestOf(bin)
	e.cp.mu.Lock()
	e.cp.artifacts[digest] = bin
	e.cp.mu.Unlock()
	e.startAgent(d)

	garbage := filepath.Join(t.TempDir(), "garbage.wasm")
	if err := os.WriteFile(garbage, []byte("this is not a module"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cp.pushPod(wasmPod("hello", "uid-hello", "file://"+probe, api.RestartPolicyNever, "hello"))
	e.cp.pushPod(wasmPod("exit", "uid-exit", api.ArtifactRef(digest), api.RestartPolicyNever, "exit", "3"))
	forever := wasmPod("forever", "uid-forever", api.ArtifactRef(digest), api.RestartPolicyAlways, "forever")
	e.cp.pushPod(forever)
	e.cp.pushPod(wasmPod("garbage", "uid-garbage", "file://"+garbage, api.RestartPolicyAlways))

	hello := e.cp.waitReport(t, "uid-hello", "hello Succeeded", phaseIs(api.PodSucceeded))
	if term := hello.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 0 {
		t.Errorf("hello terminated = %+v", term)
	}
	b, _ := json.Marshal(api.LogRequest{UID: "uid-hello"})
	msg, err := e.cp.nc.Request(api.NodeLogsSubject(testNode), b, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var logs api.LogResponse
	_ = json.Unmarshal(msg.Data, &logs)
	if !strings.Contains(string(logs.Data), "hello from skiff") {
		t.Errorf("hello log = %q (err %q)", logs.Data, logs.Error)
	}

	exit := e.cp.waitReport(t, "uid-exit", "exit Failed", phaseIs(api.PodFailed))
	if term := exit.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 3 {
		t.Errorf("exit terminated = %+v, want exit code 3", term)
	}
	if id := exit.Status.ContainerStatuses[0].ImageID; id != digest {
		t.Errorf("exit imageID = %q, want %s", id, digest)
	}

	bad := e.cp.waitReport(t, "uid-garbage", "garbage InvalidModule", waitingReason(ReasonInvalidModule))
	if msg := bad.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, "garbage.wasm") {
		t.Errorf("invalid module message = %q", msg)
	}

	e.cp.waitReport(t, "uid-forever", "forever Running", phaseIs(api.PodRunning))
	del := *forever
	now := time.Now().UTC()
	one := int64(1)
	del.DeletionTimestamp, del.DeletionGracePeriodSeconds = &now, &one
	e.cp.pushPod(&del)
	e.cp.waitReport(t, "uid-forever", "forever Removed", removed)
	if exists(podDir(e.dataDir, "uid-forever")) {
		t.Error("deleted pod's local state is still there")
	}
}
