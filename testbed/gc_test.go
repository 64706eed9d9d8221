package testbed_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/testbed"
	"github.com/skiff-sh/skiff/web/client"
)

func kindInfo(obj api.Object) api.KindInfo { return api.KindOf(obj) }

// countIn lists a kind in a namespace through the API.
func countIn(t *testing.T, c *testbed.Cluster, obj api.Object, ns string) int {
	t.Helper()
	l, err := c.Client.ListObjects(context.Background(), kindInfo(obj), ns)
	if err != nil {
		t.Fatal(err)
	}
	return len(l.Items)
}

func gone(t *testing.T, c *testbed.Cluster, obj api.Object, ns, name string) bool {
	t.Helper()
	_, err := c.Client.GetObject(context.Background(), kindInfo(obj), ns, name)
	if err != nil && !client.IsNotFound(err) {
		t.Fatal(err)
	}
	return client.IsNotFound(err)
}

func createNamespaceViaAPI(t *testing.T, c *testbed.Cluster, name string) {
	t.Helper()
	if _, err := c.Client.CreateObject(context.Background(), &api.Namespace{ObjectMeta: api.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

func TestDeletingANamespaceThroughTheAPIDeletesWhatIsInIt(t *testing.T) {
	c := startHollowCluster(t, 2)
	ctx := context.Background()

	// Nothing can be made in a namespace that does not exist.
	d := webDeployment(3, "v1")
	d.Namespace = "team-a"
	_, err := c.Client.CreateObject(ctx, d)
	if st, ok := client.StatusOf(err); !ok || st.Code != http.StatusNotFound || !strings.Contains(st.Message, "metadata.namespace") {
		t.Fatalf("create in a missing namespace: got %v, want 404 naming metadata.namespace", err)
	}

	createNamespaceViaAPI(t, c, "team-a")
	if _, err := c.Client.CreateObject(ctx, d); err != nil {
		t.Fatal(err)
	}
	q := &api.ResourceQuota{ObjectMeta: api.ObjectMeta{Name: "q", Namespace: "team-a"}, Spec: api.ResourceQuotaSpec{Hard: api.ResourceList{api.ResourcePods: "10"}}}
	if _, err := c.Client.CreateObject(ctx, q); err != nil {
		t.Fatal(err)
	}
	keep := webDeployment(1, "v1") // in default: must survive
	if _, err := c.Client.CreateObject(ctx, keep); err != nil {
		t.Fatal(err)
	}
	pod := &api.Pod{}
	err = testbed.Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		return countIn(t, c, pod, "team-a") == 3 && countIn(t, c, pod, "default") == 1, nil
	})
	if err != nil {
		t.Fatalf("the Deployments' pods never appeared: %v", err)
	}

	nsInfo := kindInfo(&api.Namespace{})
	obj, err := c.Client.DeleteObject(ctx, nsInfo, "", "team-a", client.DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns := obj.(*api.Namespace); ns.DeletionTimestamp == nil || ns.Status.Phase != api.NamespaceTerminating {
		t.Fatalf("DELETE answered %+v, want the namespace marked Terminating", ns)
	}
	err = testbed.Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		return gone(t, c, &api.Namespace{}, "", "team-a"), nil
	})
	if err != nil {
		t.Fatalf("namespace team-a was never removed: %v", err)
	}
	for _, k := range []api.Object{&api.Pod{}, &api.Deployment{}, &api.ReplicaSet{}, &api.ResourceQuota{}} {
		if n := countIn(t, c, k, "team-a"); n != 0 {
			t.Errorf("%d %s left in the deleted namespace", n, kindInfo(k).Resource)
		}
	}
	if countIn(t, c, pod, "default") != 1 || gone(t, c, &api.Deployment{}, "default", "web") {
		t.Fatal("the namespace's deletion reached into default")
	}
	_, err = c.Client.DeleteObject(ctx, nsInfo, "", "default", client.DeleteOptions{})
	if st, ok := client.StatusOf(err); !ok || st.Code != http.StatusForbidden {
		t.Fatalf("deleting default: got %v, want 403", err)
	}
}

func quotaPod(name, memory string) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "team-a"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "web", Image: "registry.local/web:1",
			Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceMemory: api.Quantity(memory)}}}}},
	}
}

func TestQuotaOverrunThroughTheAPIIsForbidden(t *testing.T) {
	c := startHollowCluster(t, 1)
	ctx := context.Background()
	createNamespaceViaAPI(t, c, "team-a")
	q := &api.ResourceQuota{ObjectMeta: api.ObjectMeta{Name: "team-a-quota", Namespace: "team-a"},
		Spec: api.ResourceQuotaSpec{Hard: api.ResourceList{api.ResourceRequestsMemory: "2Gi", api.ResourcePods: "10"}}}
	if _, err := c.Client.CreateObject(ctx, q); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"web-a", "web-b", "web-c"} {
		if _, err := c.Client.CreateObject(ctx, quotaPod(name, "512Mi")); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	_, err := c.Client.CreateObject(ctx, quotaPod("web-1", "1Gi"))
	st, ok := client.StatusOf(err)
	want := `pods "web-1" is forbidden: exceeded quota: team-a-quota, requested: requests.memory=1Gi, used: requests.memory=1536Mi, limited: requests.memory=2Gi`
	if !ok || st.Code != http.StatusForbidden || st.Reason != api.StatusReasonForbidden || st.Message != want {
		qo, _ := c.Client.GetObject(ctx, kindInfo(q), "team-a", "team-a-quota")
		t.Fatalf("got %v (%+v)\nwant 403 Forbidden: %s\nquota now: %+v", err, st, want, qo)
	}
	if !gone(t, c, &api.Pod{}, "team-a", "web-1") {
		t.Fatal("the refused pod was stored")
	}
	_, err = c.Client.CreateObject(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: "bare", Namespace: "team-a"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "web", Image: "registry.local/web:1"}}}})
	if st, ok := client.StatusOf(err); !ok || st.Code != http.StatusForbidden || !strings.Contains(st.Message, "must specify requests.memory") {
		t.Fatalf("pod without a memory request: got %v", err)
	}
	// The quota's status shows what is used.
	obj, err := c.Client.GetObject(ctx, kindInfo(q), "team-a", "team-a-quota")
	if err != nil {
		t.Fatal(err)
	}
	if used := obj.(*api.ResourceQuota).Status.Used; used[api.ResourceRequestsMemory] != "1536Mi" || used[api.ResourcePods] != "3" {
		t.Fatalf("status.used = %v", used)
	}
}

// deleteWithPolicy sends DELETE with a propagationPolicy, which the
// client's DeleteOptions do not carry.
func deleteWithPolicy(t *testing.T, c *testbed.Cluster, obj api.Object, ns, name, policy string) (int, api.Status) {
	t.Helper()
	url := c.Client.Server() + api.ResourcePath(kindInfo(obj), ns, name) + "?propagationPolicy=" + policy
	req, err := http.NewRequestWithContext(context.Background(), http.MethodDelete, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(api.AuthorizationHeader, api.BearerPrefix+c.Token)
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	var st api.Status
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("DELETE %s: %d %s", url, resp.StatusCode, body)
		}
	}
	return resp.StatusCode, st
}

func TestDeletingADeploymentRemovesItsReplicaSetsAndPods(t *testing.T) {
	c := startHollowCluster(t, 2)
	ctx := context.Background()
	if _, err := c.Client.CreateObject(ctx, webDeployment(4, "v1")); err != nil {
		t.Fatal(err)
	}
	err := testbed.Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		n, _ := readyPods(t, c.Server.Store)
		return n == 4, nil
	})
	if err != nil {
		t.Fatalf("4 pods never became ready: %v", err)
	}
	if code, st := deleteWithPolicy(t, c, &api.Deployment{}, "default", "web", "Sideways"); code != http.StatusBadRequest || st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Field != "propagationPolicy" {
		t.Fatalf("bad propagationPolicy: %d %+v, want 400 naming propagationPolicy", code, st)
	}

	// Background (the default): the Deployment goes at once, the garbage
	// collector takes its ReplicaSet, then the pods.
	if _, err := c.Client.DeleteObject(ctx, kindInfo(&api.Deployment{}), "default", "web", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = testbed.Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		return countIn(t, c, &api.ReplicaSet{}, "default") == 0 && countIn(t, c, &api.Pod{}, "default") == 0, nil
	})
	if err != nil {
		t.Fatalf("ReplicaSets %d and pods %d left after the Deployment was deleted: %v",
			countIn(t, c, &api.ReplicaSet{}, "default"), countIn(t, c, &api.Pod{}, "default"), err)
	}

	// Foreground: the Deployment stays, marked, until its dependents are
	// gone.
	if _, err := c.Client.CreateObject(ctx, webDeployment(2, "v2")); err != nil {
		t.Fatal(err)
	}
	err = testbed.Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		n, _ := readyPods(t, c.Server.Store)
		return n == 2, nil
	})
	if err != nil {
		t.Fatalf("2 pods never became ready: %v", err)
	}
	if code, st := deleteWithPolicy(t, c, &api.Deployment{}, "default", "web", "Foreground"); code != http.StatusOK {
		t.Fatalf("foreground delete: %d %+v", code, st)
	}
	sawOwnerAfterPods := false
	err = testbed.Poll(ctx, 30*time.Second, 10*time.Millisecond, func() (bool, error) {
		ownerGone := gone(t, c, &api.Deployment{}, "default", "web")
		pods := countIn(t, c, &api.Pod{}, "default")
		if ownerGone && pods > 0 {
			return false, errors.New("the Deployment went before its pods")
		}
		if !ownerGone && pods == 0 {
			sawOwnerAfterPods = true
		}
		return ownerGone && countIn(t, c, &api.ReplicaSet{}, "default") == 0, nil
	})
	if err != nil {
		t.Fatalf("foreground delete: %v", err)
	}
	t.Logf("observed the Deployment still present after its pods were gone: %v", sawOwnerAfterPods)
}
