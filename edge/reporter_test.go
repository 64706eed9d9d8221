package edge

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

// reportSink answers status reports like the control plane and keeps them.
func reportSink(t *testing.T) (*nats.Conn, func() []api.PodStatusReport) {
	t.Helper()
	s := natstest.Start(t)
	cp, _ := natstest.Connect(t, s)
	var mu sync.Mutex
	var got []api.PodStatusReport
	if _, err := cp.Subscribe(api.AgentSubject(testNode, api.AgentStatus), func(m *nats.Msg) {
		var r api.PodStatusReport
		_ = json.Unmarshal(m.Data, &r)
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
		_ = m.Respond([]byte(`{}`))
	}); err != nil {
		t.Fatal(err)
	}
	_ = cp.Flush()
	agent, _ := natstest.Connect(t, s)
	return agent, func() []api.PodStatusReport {
		mu.Lock()
		defer mu.Unlock()
		return append([]api.PodStatusReport(nil), got...)
	}
}

func phaseReport(uid string, phase api.PodPhase) api.PodStatusReport {
	return api.PodStatusReport{Namespace: "default", Name: uid, UID: uid, Status: api.PodStatus{Phase: phase}}
}

func TestAQuickStartIsReportedOnceAsRunning(t *testing.T) {
	nc, reports := reportSink(t)
	r := newStatusReporter(nc, testNode, time.Second, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	r.Enqueue(phaseReport("quick", api.PodPending))
	r.Enqueue(phaseReport("quick", api.PodRunning)) // started within the hold
	r.Enqueue(phaseReport("slow", api.PodPending))  // nothing follows
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(reports()) < 2 {
		time.Sleep(10 * time.Millisecond) // polling the sink
	}
	got := reports()
	byPod := map[string][]api.PodPhase{}
	for _, rep := range got {
		byPod[rep.UID] = append(byPod[rep.UID], rep.Status.Phase)
	}
	if len(byPod["quick"]) != 1 || byPod["quick"][0] != api.PodRunning {
		t.Errorf("quick pod reported %v, want one Running report", byPod["quick"])
	}
	if len(byPod["slow"]) != 1 || byPod["slow"][0] != api.PodPending {
		t.Errorf("slow pod reported %v, want its Pending report after the hold", byPod["slow"])
	}
	// After a pod's first report, Pending goes out at once (no hold).
	r.Enqueue(phaseReport("slow", api.PodPending))
	start := time.Now()
	for len(reports()) < 3 && time.Since(start) < 5*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	if len(reports()) < 3 {
		t.Fatal("a second Pending report of a pod was never sent")
	}
}
