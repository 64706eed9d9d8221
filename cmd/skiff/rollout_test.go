package main

import (
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
)

func TestRolloutStatusMessages(t *testing.T) {
	d := func(gen, observed int64, replicas, updated, total, available int32) *api.Deployment {
		return &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Generation: gen},
			Spec:   api.DeploymentSpec{Replicas: int32p(replicas)},
			Status: api.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, Replicas: total, AvailableReplicas: available}}
	}
	tests := []struct {
		give     *api.Deployment
		want     string
		wantDone bool
	}{
		{d(2, 1, 4, 4, 4, 4), "Waiting for deployment spec update to be observed...", false},
		{d(2, 2, 4, 1, 5, 3), `Waiting for deployment "web" rollout to finish: 1 out of 4 new replicas have been updated...`, false},
		{d(2, 2, 4, 4, 5, 3), `Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...`, false},
		{d(2, 2, 4, 4, 4, 2), `Waiting for deployment "web" rollout to finish: 2 of 4 updated replicas are available...`, false},
		{d(2, 2, 4, 4, 4, 4), `deployment "web" successfully rolled out`, true},
	}
	for _, tt := range tests {
		got, done, err := rolloutStatus(tt.give)
		if err != nil || got != tt.want || done != tt.wantDone {
			t.Errorf("rolloutStatus(%+v) = %q, %v, %v; want %q, %v", tt.give.Status, got, done, err, tt.want, tt.wantDone)
		}
	}
	stalled := d(2, 2, 4, 1, 4, 3)
	stalled.Status.Conditions = []api.Condition{{Type: api.DeploymentProgressing, Status: api.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-1" has timed out progressing.`}}
	if _, done, err := rolloutStatus(stalled); !done || err == nil || !strings.Contains(err.Error(), "exceeded its progress deadline") {
		t.Errorf("stalled: %v %v", done, err)
	}
}

func TestRolloutNeedsOneDeployment(t *testing.T) {
	e := startCLIEnv(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"rollout", "status", "deployment"}, "name one object, like deployment/web"},
		{[]string{"rollout", "history", "pod/x"}, `unknown resource type "pod": use one of deployments (deploy)`},
		{[]string{"rollout", "undo", "deployment/missing"}, "not found"},
		{[]string{"rollout", "status", "deployment/missing"}, "not found"},
		{[]string{"rollout", "undo", "deployment/web", "--to-revision", "-1"}, "--to-revision must be a revision number"},
	} {
		if _, _, err := e.run(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.want)
		}
	}
	e.put(webDeployment("web"))
	if _, _, err := e.run("rollout", "undo", "deployment/web"); err == nil || !strings.Contains(err.Error(), "no earlier revision to roll back to") {
		t.Errorf("undo without history: %v", err)
	}
}
