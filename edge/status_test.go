package edge

import (
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
)

func TestPodPhaseFollowsTheKubeletRule(t *testing.T) {
	waiting := api.ContainerStatus{State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: ReasonContainerCreating}}}
	running := api.ContainerStatus{State: api.ContainerState{Running: &api.ContainerStateRunning{}}}
	ok := api.ContainerStatus{State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 0}}}
	failed := api.ContainerStatus{State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 1}}}
	backingOff := api.ContainerStatus{
		State:     api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: ReasonCrashLoopBackOff}},
		LastState: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 1}},
	}
	tests := []struct {
		name   string
		policy api.RestartPolicy
		give   []api.ContainerStatus
		want   api.PodPhase
	}{
		{"not started yet", api.RestartPolicyAlways, []api.ContainerStatus{waiting, running}, api.PodPending},
		{"all running", api.RestartPolicyNever, []api.ContainerStatus{running, running}, api.PodRunning},
		{"one still running", api.RestartPolicyNever, []api.ContainerStatus{running, failed}, api.PodRunning},
		{"crash looping under Always", api.RestartPolicyAlways, []api.ContainerStatus{backingOff}, api.PodRunning},
		{"crash looping under OnFailure", api.RestartPolicyOnFailure, []api.ContainerStatus{backingOff}, api.PodRunning},
		{"all succeeded", api.RestartPolicyNever, []api.ContainerStatus{ok, ok}, api.PodSucceeded},
		{"all succeeded under OnFailure", api.RestartPolicyOnFailure, []api.ContainerStatus{ok}, api.PodSucceeded},
		{"one failed under Never", api.RestartPolicyNever, []api.ContainerStatus{ok, failed}, api.PodFailed},
		{"exited under Always", api.RestartPolicyAlways, []api.ContainerStatus{ok}, api.PodRunning},
		{"no containers", api.RestartPolicyAlways, nil, api.PodPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := podPhase(tt.policy, tt.give); got != tt.want {
				t.Errorf("phase = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestReadyConditionKeepsTransitionTimeWhileUnchanged(t *testing.T) {
	pod := testPod("p", "uid-p", api.RestartPolicyAlways)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	recs := map[string]*containerRecord{"app": {State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: start}}}}
	first := computePodStatus(podStatusInput{pod: pod, records: recs, startTime: &start, now: start})
	later := computePodStatus(podStatusInput{pod: pod, records: recs, startTime: &start, prev: &first, now: start.Add(time.Hour)})
	c := later.Condition(api.PodReady)
	if c == nil || c.Status != api.ConditionTrue || !c.LastTransitionTime.Equal(start) {
		t.Fatalf("Ready = %+v, want True since %v", c, start)
	}
	if !statusEqual(first, later) {
		t.Error("an unchanged pod's status changed with time alone; it would be reported again and again")
	}
}

func TestBackoffDoublesUpToTheLimit(t *testing.T) {
	tests := []struct {
		give int
		want time.Duration
	}{
		{0, 10 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second},
		{6, 5 * time.Minute}, {100, 5 * time.Minute},
	}
	for _, tt := range tests {
		if got := backoffDelay(10*time.Second, 5*time.Minute, tt.give); got != tt.want {
			t.Errorf("backoffDelay(%d) = %v, want %v", tt.give, got, tt.want)
		}
	}
}
