package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
)

func TestLogsPrintsTheContainerLog(t *testing.T) {
	e := startCLIEnv(t)
	e.putPod("default", "app", true, "edge-1", api.PodStatus{Phase: api.PodRunning})
	if out := e.mustRun("logs", "app"); out != "log of default/app container main tail all\n" {
		t.Fatalf("logs = %q", out)
	}
	if out := e.mustRun("logs", "app", "-c", "main", "--tail", "5"); out != "log of default/app container main tail 5\n" {
		t.Fatalf("logs --tail = %q", out)
	}
}

// ReadPodLog makes cliLogs a web.LogFollower: one "line N" per offset,
// and the container terminates after three lines.
func (cliLogs) ReadPodLog(_ context.Context, _ *api.Pod, req api.LogRequest) (api.LogResponse, error) {
	var n int64
	if req.SinceOffset != nil {
		n = *req.SinceOffset
	}
	if n >= 3 {
		return api.LogResponse{Offset: n, Terminated: true}, nil
	}
	return api.LogResponse{Data: fmt.Appendf(nil, "line %d\n", n), Offset: n + 1}, nil
}

func TestLogsFollowAndPrevious(t *testing.T) {
	e := startCLIEnv(t)
	e.putPod("default", "app", true, "edge-1", api.PodStatus{Phase: api.PodRunning})
	if out := e.mustRun("logs", "app", "-f"); out != "line 0\nline 1\nline 2\n" {
		t.Errorf("logs -f = %q, want the log until the container terminated", out)
	}
	if out := e.mustRun("logs", "app", "--previous"); out != "log of default/app container main tail all previous run\n" {
		t.Errorf("logs --previous = %q", out)
	}
}

func TestLogsErrors(t *testing.T) {
	e := startCLIEnv(t)
	e.putPod("default", "unscheduled", false, "", api.PodStatus{})
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"logs", "missing"}, want: "not found"},
		{args: []string{"logs", "unscheduled"}, want: "not scheduled to a node yet"},
		{args: []string{"logs", "unscheduled", "-c", "side"}, want: `"side" is not a container`},
		{args: []string{"logs", "x", "--tail", "-2"}, want: "--tail"},
		{args: []string{"logs"}, want: "accepts 1 arg"},
	}
	for _, tt := range tests {
		_, _, err := e.run(tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("skiff %s: %v, want one line containing %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}
