package metrics_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/metrics"
	"github.com/skiff-sh/skiff/controlplane/scheduler"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

func pod(name string, phase api.PodPhase) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "nginx:1"}}}}
	p.Status.Phase = phase
	return p
}

func node(name string, ready api.ConditionStatus) *api.Node {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name}}
	if ready != "" {
		n.Status.SetCondition(api.NodeCondition{Type: api.NodeReady, Status: ready})
	}
	return n
}

// sample is one gathered value: a gauge's or counter's value, or a
// histogram's count.
func sample(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Counter != nil:
				return m.GetCounter().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// want is one expected sample.
type want struct {
	name   string
	labels []string
	value  float64
}

// waitForSamples polls the registry until every sample has its value.
func waitForSamples(t *testing.T, reg *prometheus.Registry, wants ...want) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var wrong []string
		for _, w := range wants {
			if v, ok := sample(t, reg, w.name, w.labels...); !ok || v != w.value {
				wrong = append(wrong, fmt.Sprintf("%s%v = %v (present %v), want %v", w.name, w.labels, v, ok, w.value))
			}
		}
		if len(wrong) == 0 {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("series not as expected: %s", strings.Join(wrong, "; "))
		case <-tick.C:
		}
	}
}

func TestClusterCountsPodsByPhaseAndReadyNodesFromTheWatch(t *testing.T) {
	st, _, _ := natstest.Store(t)
	pods, nodes := store.For[*api.Pod](st), store.For[*api.Node](st)
	for i, ph := range []api.PodPhase{api.PodRunning, api.PodRunning, api.PodSucceeded, ""} {
		if err := pods.Create(t.Context(), pod(fmt.Sprintf("p%d", i), ph)); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range []api.ConditionStatus{api.ConditionTrue, api.ConditionTrue, api.ConditionFalse, ""} {
		if err := nodes.Create(t.Context(), node(fmt.Sprintf("n%d", i), r)); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	c := metrics.NewCluster(st, nil)
	reg.MustRegister(c)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(t.Context()) })
	waitForSamples(t, reg,
		want{metrics.Pods, []string{"phase", "Failed"}, 0}, want{metrics.Pods, []string{"phase", "Pending"}, 1},
		want{metrics.Pods, []string{"phase", "Running"}, 2}, want{metrics.Pods, []string{"phase", "Succeeded"}, 1},
		want{metrics.Pods, []string{"phase", "Unknown"}, 0}, want{metrics.AgentsConnected, nil, 2},
		want{metrics.Nodes, []string{"ready", "false"}, 1}, want{metrics.Nodes, []string{"ready", "unknown"}, 1})
	// Changes follow.
	if _, err := pods.Mutate(t.Context(), "default", "p0", func(p *api.Pod) error { p.Status.Phase = api.PodFailed; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(t.Context(), "default", "p2", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.Mutate(t.Context(), "", "n0", func(n *api.Node) error {
		n.Status.SetCondition(api.NodeCondition{Type: api.NodeReady, Status: api.ConditionUnknown})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitForSamples(t, reg,
		want{metrics.Pods, []string{"phase", "Failed"}, 1}, want{metrics.Pods, []string{"phase", "Running"}, 1},
		want{metrics.Pods, []string{"phase", "Succeeded"}, 0}, want{metrics.Pods, []string{"phase", "Pending"}, 1},
		want{metrics.Nodes, []string{"ready", "true"}, 1}, want{metrics.Nodes, []string{"ready", "unknown"}, 2},
		want{metrics.AgentsConnected, nil, 1})
}

func TestMetricsRecordObservationsAndShareARegistry(t *testing.T) {
	reg := metrics.NewRegistry()
	m := metrics.New(reg)
	m.ScheduleAttempt(scheduler.ResultBound, time.Millisecond)
	m.ScheduleAttempt(scheduler.ResultUnschedulable, time.Millisecond)
	m.ObservePush("pod", time.Microsecond, nil)
	m.ObservePush("pod", time.Microsecond, errors.New("closed"))
	m.ObserveKV(store.KVOpGet, store.KVResultOK, time.Millisecond)
	again := metrics.New(reg) // a second control plane in the process
	again.ScheduleAttempt(scheduler.ResultBound, time.Millisecond)

	waitForSamples(t, reg,
		want{metrics.SchedulingAttempts, []string{"result", "bound"}, 2},
		want{metrics.SchedulingAttempts, []string{"result", "unschedulable"}, 1},
		want{metrics.SchedulingAttempts, []string{"result", "error"}, 0},
		want{metrics.SchedulingAttemptDuration, []string{"result", "bound"}, 2},
		want{metrics.DispatchPushDuration, []string{"kind", "pod"}, 2},
		want{metrics.DispatchPushErrors, []string{"kind", "pod"}, 1},
		want{metrics.KVOperationDuration, []string{"op", "get", "result", "ok"}, 1})
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := sample(t, reg, name); !ok {
			t.Errorf("the registry has no %s", name)
		}
	}
}
