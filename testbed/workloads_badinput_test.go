package testbed_test

import (
	"context"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/web/client"
)

// TestBadWorkloadsAreRefusedWithTheFieldAndNothingWritten sends the bad
// inputs issue 4 names through the REST API: each gets a 4xx naming the
// field, and the store holds nothing of it afterwards.
func TestBadWorkloadsAreRefusedWithTheFieldAndNothingWritten(t *testing.T) {
	c := startHollowCluster(t, 1)
	ctx := context.Background()

	mismatch := webDeployment(2, "v1")
	mismatch.Name = "mismatch"
	mismatch.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "other"}}

	negative := webDeployment(-1, "v1")
	negative.Name = "negative"

	cron := &api.CronJob{
		ObjectMeta: api.ObjectMeta{Name: "nightly", Namespace: "default"},
		Spec: api.CronJobSpec{Schedule: "61 * * * *", JobTemplate: api.JobTemplateSpec{Spec: api.JobSpec{
			Template: api.PodTemplateSpec{Spec: api.PodSpec{RestartPolicy: api.RestartPolicyNever,
				Containers: []api.Container{{Name: "c", Image: "registry.local/c:1"}}}}}}},
	}

	tests := []struct {
		name      string
		give      api.Object
		wantCode  int
		wantField string
		wantText  string
	}{
		{"selector does not match template", mismatch, 422, "spec.template.metadata.labels", "selector does not match template labels"},
		{"negative replicas", negative, 422, "spec.replicas", "greater than or equal to 0"},
		{"unparseable cron schedule", cron, 422, "spec.schedule", "minute 61 is out of range 0-59"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Client.CreateObject(ctx, tt.give)
			st, ok := client.StatusOf(err)
			if !ok || int(st.Code) != tt.wantCode {
				t.Fatalf("err = %v (status %+v), want HTTP %d", err, st, tt.wantCode)
			}
			found := false
			if st.Details != nil {
				for _, cause := range st.Details.Causes {
					if cause.Field == tt.wantField && strings.Contains(cause.Message, tt.wantText) {
						found = true
					}
				}
			}
			if !found {
				t.Fatalf("no cause names %s with %q: %+v", tt.wantField, tt.wantText, st.Details)
			}
			m := tt.give.GetObjectMeta()
			if _, err := c.Client.GetObject(ctx, api.KindOf(tt.give), m.Namespace, m.Name); !client.IsNotFound(err) {
				t.Fatalf("the refused object was written anyway (get: %v)", err)
			}
		})
	}

	t.Run("quota overrun", func(t *testing.T) {
		q := &api.ResourceQuota{ObjectMeta: api.ObjectMeta{Name: "tiny", Namespace: "default"},
			Spec: api.ResourceQuotaSpec{Hard: api.ResourceList{api.ResourcePods: "0"}}}
		if _, err := c.Client.CreateObject(ctx, q); err != nil {
			t.Fatal(err)
		}
		pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "over", Namespace: "default"},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "registry.local/c:1"}}}}
		_, err := c.Client.CreatePod(ctx, pod)
		st, ok := client.StatusOf(err)
		if !ok || st.Code != 403 || !strings.Contains(st.Message, "exceeded quota: tiny") {
			t.Fatalf("err = %v (status %+v), want 403 exceeded quota", err, st)
		}
		if _, err := c.Client.GetPod(ctx, "default", "over"); !client.IsNotFound(err) {
			t.Fatalf("the refused pod was written anyway (get: %v)", err)
		}
	})

	t.Run("ownerReference cycle", func(t *testing.T) {
		a, err := c.Client.CreateObject(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "cm-a", Namespace: "default"}})
		if err != nil {
			t.Fatal(err)
		}
		b := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "cm-b", Namespace: "default", OwnerReferences: []api.OwnerReference{
			{APIVersion: "v1", Kind: "ConfigMap", Name: "cm-a", UID: a.GetObjectMeta().UID}}}}
		bo, err := c.Client.CreateObject(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		// a owned by b closes the cycle a → b → a.
		am := a.(*api.ConfigMap)
		am.OwnerReferences = []api.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "cm-b", UID: bo.GetObjectMeta().UID}}
		_, err = c.Client.UpdateObject(ctx, am)
		st, ok := client.StatusOf(err)
		if !ok || st.Code != 422 || st.Details == nil || len(st.Details.Causes) == 0 || !strings.HasPrefix(st.Details.Causes[0].Field, "metadata.ownerReferences") {
			t.Fatalf("err = %v (status %+v), want 422 naming metadata.ownerReferences", err, st)
		}
		stored, err := c.Client.GetObject(ctx, api.KindOf(am), "default", "cm-a")
		if err != nil || len(stored.GetObjectMeta().OwnerReferences) != 0 {
			t.Fatalf("the cycle was written anyway: %+v, %v", stored, err)
		}
	})
}
