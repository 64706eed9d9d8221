package client_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/web/client"
)

// followTicks is how many lines the fake log has before its container
// terminates.
const followTicks = 5

// ReadPodLog makes memLogs a web.LogFollower: a log of one "tick N" line
// per offset, whose container terminates after followTicks lines.
func (m *memLogs) ReadPodLog(_ context.Context, _ *api.Pod, req api.LogRequest) (api.LogResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = req
	var n int64
	if req.SinceOffset != nil {
		n = *req.SinceOffset
	}
	if n >= followTicks {
		return api.LogResponse{Offset: n, Terminated: true}, nil
	}
	return api.LogResponse{Data: fmt.Appendf(nil, "tick %d\n", n), Offset: n + 1}, nil
}

func TestFollowLogsStreamsUntilTheContainerTerminates(t *testing.T) {
	e := startAPI(t)
	ctx := t.Context()
	p := newPod("followed")
	p.Spec.NodeName = "edge-1"
	if _, err := e.client.CreatePod(ctx, p); err != nil {
		t.Fatal(err)
	}
	tail := int64(3)
	rc, err := e.client.FollowLogs(ctx, "default", "followed", api.LogRequest{TailLines: &tail})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read the followed log: %v", err)
	}
	want := ""
	for i := range followTicks {
		want += fmt.Sprintf("tick %d\n", i)
	}
	if string(b) != want {
		t.Errorf("followed log = %q, want %q", b, want)
	}
	e.logs.mu.Lock()
	last := e.logs.last
	e.logs.mu.Unlock()
	if last.SinceOffset == nil || *last.SinceOffset != followTicks || last.TailLines != nil {
		t.Errorf("last node request = %+v, want sinceOffset %d and no tailLines", last, followTicks)
	}

	if _, err := e.client.PodLogs(ctx, "default", "followed", api.LogRequest{Previous: true}); err != nil {
		t.Fatal(err)
	}
	e.logs.mu.Lock()
	last = e.logs.last
	e.logs.mu.Unlock()
	if !last.Previous {
		t.Errorf("previous=true did not reach the log source: %+v", last)
	}

	if _, err := e.client.FollowLogs(ctx, "default", "nope", api.LogRequest{}); !client.IsNotFound(err) {
		t.Errorf("follow a missing pod: %v, want NotFound", err)
	}
}
