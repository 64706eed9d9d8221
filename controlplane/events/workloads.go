package events

import (
	"context"
	"fmt"
	"reflect"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// watchWorkloads follows the kinds other than pods and nodes, with
// WorkloadEvents as the difference.
func (w *Watcher) watchWorkloads(ctx context.Context) error {
	starts := []func() error{
		watchKind[*api.Deployment](ctx, w), watchKind[*api.ReplicaSet](ctx, w), watchKind[*api.DaemonSet](ctx, w),
		watchKind[*api.Job](ctx, w), watchKind[*api.CronJob](ctx, w), watchKind[*api.Namespace](ctx, w),
		watchKind[*api.ResourceQuota](ctx, w), watchKind[*api.ConfigMap](ctx, w), watchKind[*api.Secret](ctx, w),
	}
	for _, start := range starts {
		if err := start(); err != nil {
			return err
		}
	}
	return nil
}

func watchKind[T api.Object](ctx context.Context, w *Watcher) func() error {
	return func() error {
		r := store.For[T](w.st)
		ch, err := r.Watch(ctx, store.WatchOptions{})
		if err != nil {
			return err
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			follow(w, r.Info(), ch, func(old, cur T) []api.EventData { return WorkloadEvents(old, cur) })
		}()
		return nil
	}
}

// WorkloadEvents lists what changed between two versions of an object of
// any kind but Pod and Node (old is nil for a new object): Created; Scaled
// when spec.replicas changed; Updated when the spec otherwise changed
// (metadata.generation grew); and each status condition whose status or
// reason changed, under the condition's reason (ReplicaSetUpdated,
// NewReplicaSetAvailable, ProgressDeadlineExceeded, BackoffLimitExceeded,
// …). Secrets' contents never appear in an event.
func WorkloadEvents[T api.Object](old, cur T) []api.EventData {
	var out []api.EventData
	info := api.KindOf(cur)
	oldNil := reflect.ValueOf(old).IsNil()
	if oldNil {
		out = append(out, api.EventData{Reason: "Created", Message: fmt.Sprintf("%s created", info.Singular)})
	} else {
		om, cm := old.GetObjectMeta(), cur.GetObjectMeta()
		or, cr := replicas(old), replicas(cur)
		switch {
		case or != nil && cr != nil && *or != *cr:
			out = append(out, api.EventData{Reason: "Scaled", Message: fmt.Sprintf("replicas %d → %d", *or, *cr)})
		case cm.Generation > om.Generation:
			out = append(out, api.EventData{Reason: "Updated", Message: fmt.Sprintf("spec changed (generation %d)", cm.Generation)})
		}
		if om.DeletionTimestamp == nil && cm.DeletionTimestamp != nil {
			out = append(out, api.EventData{Reason: "Terminating", Message: "deletion requested"})
		}
	}
	var oldConds []api.Condition
	if !oldNil {
		oldConds = conditions(old)
	}
	for _, c := range conditions(cur) {
		prev := api.FindCondition(oldConds, c.Type)
		if prev != nil && prev.Status == c.Status && prev.Reason == c.Reason {
			continue
		}
		reason := c.Reason
		if reason == "" {
			reason = c.Type
		}
		msg := c.Message
		if msg == "" {
			msg = fmt.Sprintf("%s is %s", c.Type, c.Status)
		}
		out = append(out, api.EventData{Reason: reason, Message: msg})
	}
	return out
}

// replicas is spec.replicas of kinds that have it.
func replicas(obj api.Object) *int32 {
	v := reflect.ValueOf(obj).Elem().FieldByName("Spec")
	if !v.IsValid() {
		return nil
	}
	r := v.FieldByName("Replicas")
	if !r.IsValid() || r.IsNil() {
		return nil
	}
	n, _ := r.Interface().(*int32)
	return n
}

// conditions is status.conditions of kinds that have the workload shape.
func conditions(obj api.Object) []api.Condition {
	v := reflect.ValueOf(obj).Elem().FieldByName("Status")
	if !v.IsValid() {
		return nil
	}
	c := v.FieldByName("Conditions")
	if !c.IsValid() {
		return nil
	}
	out, _ := c.Interface().([]api.Condition)
	return out
}
