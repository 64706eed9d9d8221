package edge

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
)

func askLog(t *testing.T, e *testEnv, req api.LogRequest) api.LogResponse {
	t.Helper()
	b, _ := json.Marshal(req)
	msg, err := e.cp.nc.Request(api.NodeLogsSubject(testNode), b, 5*time.Second)
	if err != nil {
		t.Fatalf("log request: %v", err)
	}
	var resp api.LogResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestLogsPreviousRunIsKeptAcrossARestart(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	uid := "uid-prev"
	e.cp.pushPod(testPod("prev", uid, api.RestartPolicyAlways))
	e.cp.waitReport(t, uid, "Running", phaseIs(api.PodRunning))

	if resp := askLog(t, e, api.LogRequest{UID: uid, Previous: true}); !resp.NotFound || !strings.Contains(resp.Error, "previous terminated container") {
		t.Fatalf("previous before any restart = %+v, want NotFound naming the previous terminated container", resp)
	}
	first := askLog(t, e, api.LogRequest{UID: uid})
	if string(first.Data) != "start "+uid+"-app-0\n" || first.Offset != int64(len(first.Data)) || first.Terminated {
		t.Fatalf("first run's log = %+v", first)
	}

	d.exit(uid+"-app-0", 1)
	e.cp.waitReport(t, uid, "restarted and running", func(r api.PodStatusReport) bool {
		return phaseIs(api.PodRunning)(r) && r.Status.ContainerStatuses[0].RestartCount == 1 && r.Status.ContainerStatuses[0].State.Running != nil
	})
	prev := askLog(t, e, api.LogRequest{UID: uid, Previous: true})
	if prev.Error != "" || string(prev.Data) != "start "+uid+"-app-0\n" || !prev.Terminated {
		t.Errorf("previous log = %+v, want the first run's output", prev)
	}
	cur := askLog(t, e, api.LogRequest{UID: uid})
	if string(cur.Data) != "start "+uid+"-app-1\n" {
		t.Errorf("current log = %q, want only the second run's output", cur.Data)
	}
	if _, err := os.Stat(filepath.Join(podDir(e.dataDir, uid), "logs", "app.previous.log")); err != nil {
		t.Errorf("no previous log file beside the current one: %v", err)
	}

	// A follower asks for what came after its offset.
	f, err := os.OpenFile(filepath.Join(podDir(e.dataDir, uid), "logs", "app.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("more\n")
	f.Close()
	next := askLog(t, e, api.LogRequest{UID: uid, SinceOffset: &cur.Offset})
	if string(next.Data) != "more\n" || next.Offset != cur.Offset+5 {
		t.Errorf("read since %d = %+v, want the new line and offset %d", cur.Offset, next, cur.Offset+5)
	}
	empty := askLog(t, e, api.LogRequest{UID: uid, SinceOffset: &next.Offset})
	if len(empty.Data) != 0 || empty.Offset != next.Offset {
		t.Errorf("read at the end = %+v, want nothing and the same offset", empty)
	}
	limited := askLog(t, e, api.LogRequest{UID: uid, SinceOffset: new(int64), LimitBytes: 3})
	if string(limited.Data) != "sta" || limited.Offset != 3 {
		t.Errorf("limited read from 0 = %+v", limited)
	}
	beyond := int64(1 << 20)
	rotated := askLog(t, e, api.LogRequest{UID: uid, SinceOffset: &beyond})
	if string(rotated.Data) != "start "+uid+"-app-1\nmore\n" {
		t.Errorf("read beyond the end (rotated log) = %q, want the new file from its start", rotated.Data)
	}
}

func TestLogsSayWhenTheContainerTerminated(t *testing.T) {
	e := newEnv(t)
	d := newFakeDriver("containerd")
	e.startAgent(d)
	uid := "uid-done"
	e.cp.pushPod(testPod("done", uid, api.RestartPolicyNever, "exit", "0"))
	e.cp.waitReport(t, uid, "Succeeded", phaseIs(api.PodSucceeded))
	resp := askLog(t, e, api.LogRequest{UID: uid})
	if !resp.Terminated || string(resp.Data) != "start "+uid+"-app-0\n" {
		t.Errorf("log of a finished container = %+v, want its output and Terminated", resp)
	}
	if resp := askLog(t, e, api.LogRequest{UID: uid, Previous: true}); !resp.NotFound {
		t.Errorf("previous of a container that never restarted = %+v, want NotFound", resp)
	}
}
