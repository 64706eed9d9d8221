package events

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Watcher derives events from store changes: it keeps the last version of
// each object and records the difference when a new one arrives.
type Watcher struct {
	st  *store.Store
	rec *Recorder
	log *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewWatcher returns a Watcher; Start begins watching.
func NewWatcher(st *store.Store, rec *Recorder, log *slog.Logger) *Watcher {
	return &Watcher{st: st, rec: rec, log: log}
}

// Start begins watching pods, nodes and every other kind. Existing objects
// at start produce no events (they were recorded when they happened).
func (w *Watcher) Start(ctx context.Context) error {
	ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	pods, err := store.For[*api.Pod](w.st).Watch(ctx, store.WatchOptions{})
	if err != nil {
		w.cancel()
		return err
	}
	nodes, err := store.For[*api.Node](w.st).Watch(ctx, store.WatchOptions{})
	if err != nil {
		w.cancel()
		return err
	}
	w.wg.Add(2)
	go func() { defer w.wg.Done(); follow(w, api.KindOf(&api.Pod{}), pods, PodEvents) }()
	go func() { defer w.wg.Done(); follow(w, api.KindOf(&api.Node{}), nodes, NodeEvents) }()
	if err := w.watchWorkloads(ctx); err != nil {
		w.Stop()
		return err
	}
	return nil
}

// Stop ends the watches and waits for them.
func (w *Watcher) Stop() {
	if w.cancel != nil {
		w.cancel()
	}
	w.wg.Wait()
}

func follow[T api.Object](w *Watcher, info api.KindInfo, ch <-chan store.Event[T], diff func(old, cur T) []api.EventData) {
	last := map[string]T{}
	synced := false
	for ev := range ch {
		key := ev.Namespace + "/" + ev.Name
		switch ev.Type {
		case store.Synced:
			synced = true
		case store.Added, store.Modified:
			key = ev.Object.GetObjectMeta().Namespace + "/" + ev.Object.GetObjectMeta().Name
			old := last[key] // nil for a new object
			last[key] = ev.Object
			if !synced {
				continue
			}
			for _, d := range diff(old, ev.Object) {
				if err := w.rec.Record(ev.Object, d); err != nil {
					w.log.Warn("record event", "err", err)
				}
			}
		case store.Deleted:
			old, had := last[key]
			delete(last, key)
			d := api.EventData{Reason: "Deleted", Message: "deleted from the store"}
			if had {
				if err := w.rec.Record(old, d); err != nil {
					w.log.Warn("record event", "err", err)
				}
				continue
			}
			if err := w.rec.RecordDeleted(info, ev.Namespace, ev.Name, d); err != nil {
				w.log.Warn("record event", "err", err)
			}
		}
	}
}

// PodEvents lists what changed between two versions of a pod (old is nil
// for a new pod), as event data in the order it happened.
func PodEvents(old, cur *api.Pod) []api.EventData {
	var out []api.EventData
	add := func(reason, msg string) {
		out = append(out, api.EventData{Reason: reason, Message: msg, Node: cur.Spec.NodeName, Phase: cur.Status.Phase})
	}
	if old == nil {
		add("Created", fmt.Sprintf("pod created (runtime %s)", runtimeOf(cur)))
		old = &api.Pod{}
	}
	if old.Spec.NodeName == "" && cur.Spec.NodeName != "" {
		add("Scheduled", "assigned to node "+cur.Spec.NodeName)
	}
	if c := cur.Status.Condition(api.PodScheduled); c != nil && c.Status == api.ConditionFalse {
		if oc := old.Status.Condition(api.PodScheduled); oc == nil || oc.Message != c.Message || oc.Status != c.Status {
			add("FailedScheduling", c.Message)
		}
	}
	waiting := func(p *api.Pod) map[string]string {
		m := map[string]string{}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
				m[cs.Name] = cs.State.Waiting.Reason + "\x00" + cs.State.Waiting.Message
			}
		}
		return m
	}
	ow := waiting(old)
	restarts := map[string]int32{}
	for _, cs := range old.Status.ContainerStatuses {
		restarts[cs.Name] = cs.RestartCount
	}
	for _, cs := range cur.Status.ContainerStatuses {
		if cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "ContainerCreating" {
			if ow[cs.Name] != cs.State.Waiting.Reason+"\x00"+cs.State.Waiting.Message {
				add(cs.State.Waiting.Reason, fmt.Sprintf("container %s: %s", cs.Name, cs.State.Waiting.Message))
			}
		}
		if cs.RestartCount > restarts[cs.Name] {
			add("Restarted", fmt.Sprintf("container %s restarted (restart %d)", cs.Name, cs.RestartCount))
		}
	}
	if old.Status.Phase != cur.Status.Phase && cur.Status.Phase != "" {
		add(string(cur.Status.Phase), phaseMessage(cur))
	}
	if old.DeletionTimestamp == nil && cur.DeletionTimestamp != nil {
		add("Terminating", "deletion requested; the agent is stopping the pod")
	}
	return out
}

func phaseMessage(p *api.Pod) string {
	var parts []string
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			parts = append(parts, fmt.Sprintf("container %s exited with code %d (%s)", cs.Name, t.ExitCode, t.Reason))
		}
	}
	if len(parts) == 0 {
		return "pod is " + string(p.Status.Phase)
	}
	return fmt.Sprint(parts)
}

func runtimeOf(p *api.Pod) string {
	if p.Spec.IsWasm() {
		return "wasm"
	}
	return "container"
}

// NodeEvents lists what changed between two versions of a node.
func NodeEvents(old, cur *api.Node) []api.EventData {
	var out []api.EventData
	if old == nil {
		out = append(out, api.EventData{Reason: "Registered", Message: fmt.Sprintf("node joined (%s/%s)", cur.Status.NodeInfo.OperatingSystem, cur.Status.NodeInfo.Architecture)})
		old = &api.Node{}
	}
	if old.IsReady() != cur.IsReady() {
		if cur.IsReady() {
			out = append(out, api.EventData{Reason: "NodeReady", Message: "node is Ready"})
		} else {
			msg := "node is NotReady"
			if c := cur.Status.Condition(api.NodeReady); c != nil && c.Message != "" {
				msg += ": " + c.Message
			}
			out = append(out, api.EventData{Reason: "NodeNotReady", Message: msg})
		}
	}
	return out
}
