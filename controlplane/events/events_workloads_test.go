package events_test

import (
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/events"
)

func reasonsOnly(ds []api.EventData) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Reason)
	}
	return out
}

func TestWorkloadEvents(t *testing.T) {
	three, five := int32(3), int32(5)
	d1 := &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Generation: 1}, Spec: api.DeploymentSpec{Replicas: &three}}
	if got := reasonsOnly(events.WorkloadEvents[*api.Deployment](nil, d1)); len(got) != 1 || got[0] != "Created" {
		t.Fatalf("new deployment: %v", got)
	}
	d2 := *d1
	d2.Spec.Replicas, d2.Generation = &five, 2
	if got := events.WorkloadEvents(d1, &d2); len(got) != 1 || got[0].Reason != "Scaled" || got[0].Message != "replicas 3 → 5" {
		t.Fatalf("scaled deployment: %+v", got)
	}
	d3 := d2
	d3.Generation = 3
	d3.Status.Conditions = []api.Condition{{Type: api.DeploymentProgressing, Status: api.ConditionTrue, Reason: "ReplicaSetUpdated", Message: "ReplicaSet \"web-1\" is progressing."}}
	if got := reasonsOnly(events.WorkloadEvents(&d2, &d3)); len(got) != 2 || got[0] != "Updated" || got[1] != "ReplicaSetUpdated" {
		t.Fatalf("updated deployment: %v", got)
	}
	if got := events.WorkloadEvents(&d3, &d3); len(got) != 0 {
		t.Fatalf("no change gave events %v", got)
	}
	j := &api.Job{ObjectMeta: api.ObjectMeta{Name: "j", Generation: 1}}
	jf := *j
	jf.Status.Conditions = []api.Condition{{Type: api.JobFailed, Status: api.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}
	if got := reasonsOnly(events.WorkloadEvents(j, &jf)); len(got) != 1 || got[0] != "BackoffLimitExceeded" {
		t.Fatalf("failed job: %v", got)
	}
}
