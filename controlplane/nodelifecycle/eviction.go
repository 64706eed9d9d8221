package nodelifecycle

import (
	"context"
	"errors"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// The NoExecute taints the controller puts on nodes that are not Ready.
const (
	TaintUnreachable = api.TaintNodeUnreachable // Ready is Unknown: the agent is silent
	TaintNotReady    = api.TaintNodeNotReady    // Ready is False
)

// wantTaint is the NoExecute taint a node should carry for its Ready
// condition ("" for none).
func wantTaint(n *api.Node) string {
	c := n.Status.Condition(api.NodeReady)
	switch {
	case c == nil || c.Status == api.ConditionTrue:
		return ""
	case c.Status == api.ConditionUnknown:
		return TaintUnreachable
	default:
		return TaintNotReady
	}
}

func isLifecycleTaint(t api.Taint) bool {
	return t.Effect == "NoExecute" && (t.Key == TaintUnreachable || t.Key == TaintNotReady)
}

// reconcileTaints makes the node's lifecycle taints match its Ready
// condition and returns the node as stored.
func (c *Controller) reconcileTaints(ctx context.Context, n *api.Node, now time.Time) (*api.Node, error) {
	want := wantTaint(n)
	have := ""
	for _, t := range n.Spec.Taints {
		if isLifecycleTaint(t) {
			have = t.Key
		}
	}
	if want == have {
		return n, nil
	}
	return c.nodes.Mutate(ctx, "", n.Name, func(cur *api.Node) error {
		want := wantTaint(cur)
		var kept []api.Taint
		for _, t := range cur.Spec.Taints {
			if !isLifecycleTaint(t) || t.Key == want {
				kept = append(kept, t)
			}
		}
		present := false
		for _, t := range kept {
			if isLifecycleTaint(t) {
				present = true
			}
		}
		if want != "" && !present {
			at := now.UTC().Truncate(time.Second)
			kept = append(kept, api.Taint{Key: want, Effect: "NoExecute", TimeAdded: &at})
		}
		if len(kept) == len(cur.Spec.Taints) && present == (want != "") {
			return store.ErrSkip
		}
		cur.Spec.Taints = kept
		return nil
	})
}

// evictionTime says when a pod on a node with taint t must go: never (ok
// false) if it tolerates the taint without a time limit, at once if it does
// not tolerate it, or at timeAdded + tolerationSeconds.
func evictionTime(p *api.Pod, t api.Taint) (at time.Time, ok bool) {
	added := time.Time{}
	if t.TimeAdded != nil {
		added = *t.TimeAdded
	}
	for _, tol := range p.Spec.Tolerations {
		if tol.Effect != "" && tol.Effect != t.Effect {
			continue
		}
		match := (tol.Operator == "Exists" && (tol.Key == "" || tol.Key == t.Key)) ||
			((tol.Operator == "" || tol.Operator == "Equal") && tol.Key == t.Key && tol.Value == t.Value)
		if !match {
			continue
		}
		if tol.TolerationSeconds == nil {
			return time.Time{}, false
		}
		return added.Add(time.Duration(max(*tol.TolerationSeconds, 0)) * time.Second), true
	}
	return added, true
}

// evict deletes, from the store, the pods of NoExecute-tainted nodes whose
// tolerations have run out. The agent cannot confirm (it is away), so the
// delete is forced; when the node returns, its full sync no longer lists
// the pod and the agent stops it. That is the rule that resolves
// duplicates: the store never holds an evicted pod and its replacement at
// once, so a returning node never adds replicas.
func (c *Controller) evict(ctx context.Context, tainted map[string]api.Taint, now time.Time) {
	if len(tainted) == 0 {
		return
	}
	pods, err := c.pods.List(ctx, "")
	if err != nil {
		c.log.Warn("list pods for eviction", "err", err)
		return
	}
	force := int64(0)
	for _, p := range pods {
		t, ok := tainted[p.Spec.NodeName]
		if !ok || p.Status.Phase.Terminal() {
			continue
		}
		at, evict := evictionTime(p, t)
		if !evict || now.Before(at) {
			continue
		}
		if _, err := store.DeletePod(ctx, c.pods, p.Namespace, p.Name, &force, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			c.log.Warn("evict pod", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName, "err", err)
			continue
		}
		c.log.Info("evicted pod from an unreachable node", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName, "taint", t.Key)
	}
}
