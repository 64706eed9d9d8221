package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// DaemonSetRevisionLabel is the label on a DaemonSet's pods that holds the
// hash of the template they were made from, as in Kubernetes.
const DaemonSetRevisionLabel = "controller-revision-hash"

// DaemonSetController runs one pod of each DaemonSet on every node that
// should run it, binding the pod itself (spec.nodeName set at creation, so
// the scheduler leaves it alone).
//
// # Rules
//
//   - A node should run the pod when it matches the template's nodeSelector
//     and required node affinity, offers the pod's runtime (wasm or
//     containerd, api.RuntimeHandlerFor), tolerates every NoSchedule and
//     NoExecute taint, and is not cordoned. A pod already on a node may
//     stay while only a NoSchedule taint or a cordon is in the way (that is
//     what NoSchedule means); it is deleted when the node stops matching,
//     loses the runtime, gets an untolerated NoExecute taint, or is deleted.
//   - Every pod tolerates node.kubernetes.io/unreachable and
//     node.kubernetes.io/not-ready (NoExecute) without tolerationSeconds:
//     a DaemonSet's pods stay where they are while their node is away,
//     because the pod belongs to that node and nowhere else.
//   - More than one pod on a node: the newest are deleted and the oldest
//     kept (equal creation times: a ready pod before one that is not, then
//     by name). During a surge update one old and one new pod may share a
//     node.
//   - A finished pod (Failed or Succeeded) is deleted and replaced; after a
//     failure the replacement on that node waits a back-off (1 s doubling to
//     5 min, reset once a pod there is ready).
//   - RollingUpdate replaces pods whose controller-revision-hash differs
//     from the template's: with maxSurge 0 it deletes old pods while fewer
//     than maxUnavailable nodes lack an available pod (old pods that are not
//     available go first and count as unavailable already); with maxSurge
//     it starts the new pod beside the old and deletes the old once the new
//     is available. OnDelete only replaces pods that someone deleted.
//   - Orphan pods that match the selector and are bound to a node are
//     adopted.
type DaemonSetController struct {
	inf *informer.Set
	dss *store.Resource[*api.DaemonSet]
	pc  podControl
	exp *Expectations
	q   *Queue
	log *slog.Logger
	now func() time.Time

	// failBase and failMax bound the wait before a failed pod is
	// replaced on the same node.
	failBase, failMax time.Duration
	failures          *nodeBackoff
}

// NewDaemonSetController wires the controller to the informers.
func NewDaemonSetController(inf *informer.Set, st *store.Store, log *slog.Logger) *DaemonSetController {
	c := &DaemonSetController{
		inf: inf, dss: store.For[*api.DaemonSet](st), pc: newPodControl(inf, st),
		exp: NewExpectations(), q: NewQueue(5*time.Millisecond, time.Minute), log: log, now: time.Now,
		failBase: time.Second, failMax: 5 * time.Minute, failures: &nodeBackoff{m: map[string]backoffEntry{}},
	}
	enqueue := func(ds *api.DaemonSet) { c.q.Add(informer.KeyOf(ds)) }
	inf.DaemonSets.AddHandler(informer.Handler[*api.DaemonSet]{
		OnAdd:    enqueue,
		OnUpdate: func(_, cur *api.DaemonSet) { enqueue(cur) },
		OnDelete: func(ds *api.DaemonSet) {
			key := informer.KeyOf(ds)
			c.exp.Forget(key)
			c.failures.forget(key)
		},
	})
	inf.Pods.AddHandler(ownedPodHandler(c.ownerKey, c.enqueueMatching, c.exp, c.q))
	// Every DaemonSet looks at every node: a node that is added, changes
	// its labels, taints, cordon or runtimes, or goes away may gain or
	// lose pods. This is how a fleet-wide deploy follows the fleet.
	inf.Nodes.AddHandler(informer.Handler[*api.Node]{
		OnAdd: func(*api.Node) { c.enqueueAll() },
		OnUpdate: func(old, cur *api.Node) {
			if !equalJSON(nodePlacementView(old), nodePlacementView(cur)) {
				c.enqueueAll()
			}
		},
		OnDelete: func(*api.Node) { c.enqueueAll() },
	})
	return c
}

// nodePlacementView is what of a node decides where DaemonSet pods go and
// how they are counted.
func nodePlacementView(n *api.Node) any {
	return struct {
		Labels   map[string]string
		Spec     api.NodeSpec
		Runtimes []api.NodeRuntimeHandler
		Ready    bool
	}{n.Labels, n.Spec, n.Status.Runtimes, n.IsReady()}
}

func (c *DaemonSetController) enqueueAll() {
	for _, ds := range c.inf.DaemonSets.List("", nil) {
		c.q.Add(informer.KeyOf(ds))
	}
}

func (c *DaemonSetController) ownerKey(p *api.Pod) (string, bool) {
	r := ControllerOf(p)
	if r == nil || r.Kind != "DaemonSet" {
		return "", false
	}
	return informer.Key(p.Namespace, r.Name), true
}

func (c *DaemonSetController) enqueueMatching(p *api.Pod) {
	if !isActive(p) || p.Spec.NodeName == "" {
		return
	}
	for _, ds := range c.inf.DaemonSets.List(p.Namespace, func(ds *api.DaemonSet) bool { return ds.Spec.Selector.Matches(p.Labels) }) {
		c.q.Add(informer.KeyOf(ds))
	}
}

// Runner returns the controller's runner.
func (c *DaemonSetController) Runner(workers int) *Runner {
	return &Runner{Name: "daemonset", Queue: c.q, R: c, Workers: workers, Resync: 30 * time.Second, Log: c.log,
		Keys: func() []string { return keysOf(c.inf.DaemonSets.List("", nil)) }}
}

// DaemonSetHash is the hash of a DaemonSet's template, the value of
// DaemonSetRevisionLabel on its up-to-date pods.
func DaemonSetHash(ds *api.DaemonSet) string {
	t := ds.Spec.Template
	if _, ok := t.Labels[DaemonSetRevisionLabel]; ok {
		t.Labels = copyMap(t.Labels)
		delete(t.Labels, DaemonSetRevisionLabel)
	}
	return TemplateHash(&t)
}

// daemonTolerations are the template's tolerations with the two that keep
// a DaemonSet pod on a node that is away: unreachable and not-ready
// (NoExecute) without tolerationSeconds. A template toleration of those
// taints with a time limit is replaced, as Kubernetes does.
func daemonTolerations(ts []api.Toleration) []api.Toleration {
	away := []string{api.TaintNodeUnreachable, api.TaintNodeNotReady}
	out := slices.DeleteFunc(slices.Clone(ts), func(t api.Toleration) bool {
		return slices.Contains(away, t.Key) && (t.Effect == "" || t.Effect == api.TaintEffectNoExecute)
	})
	for _, key := range away {
		out = append(out, api.Toleration{Key: key, Operator: "Exists", Effect: api.TaintEffectNoExecute})
	}
	return out
}

// NodeShouldRunDaemonPod reports whether a new pod of ds may start on node
// (shouldRun) and whether a pod already there may stay (shouldContinue).
// See DaemonSetController for the rules.
func NodeShouldRunDaemonPod(ds *api.DaemonSet, node *api.Node) (shouldRun, shouldContinue bool) {
	spec := &ds.Spec.Template.Spec
	for k, v := range spec.NodeSelector {
		if got, ok := node.Labels[k]; !ok || got != v {
			return false, false
		}
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil &&
		!a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.Matches(node.Name, node.Labels) {
		return false, false
	}
	if !node.Status.HasRuntime(api.RuntimeHandlerFor(spec)) {
		return false, false
	}
	tols := daemonTolerations(spec.Tolerations)
	shouldRun, shouldContinue = !node.Spec.Unschedulable, true
	for _, t := range node.Spec.Taints {
		switch t.Effect {
		case api.TaintEffectNoExecute:
			if !api.TolerationsTolerateTaint(tols, t) {
				return false, false
			}
		case api.TaintEffectNoSchedule:
			if !api.TolerationsTolerateTaint(tols, t) {
				shouldRun = false
			}
		}
	}
	return shouldRun, shouldContinue
}

// newDaemonPod is ds's pod for node.
func newDaemonPod(ds *api.DaemonSet, node, hash string, now time.Time) *api.Pod {
	p := PodFromTemplate(&ds.Spec.Template, ds, ds.Name+"-")
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[DaemonSetRevisionLabel] = hash
	p.Spec.NodeName = node
	p.Spec.Tolerations = daemonTolerations(ds.Spec.Template.Spec.Tolerations)
	p.Status.SetCondition(api.PodCondition{Type: api.PodScheduled, Status: api.ConditionTrue,
		Reason: "DaemonSet", LastTransitionTime: now.UTC().Truncate(time.Second)})
	return p
}

// nodePods are a DaemonSet's pods on one node.
type nodePods struct {
	running  []*api.Pod // not finished, not being deleted; oldest first
	alive    int        // not finished (running or terminating)
	finished []*api.Pod
}

// olderDaemonPod orders pods oldest first; equal creation times put a
// ready pod first, then the lower name.
func olderDaemonPod(a, b *api.Pod) int {
	if !a.CreationTimestamp.Equal(b.CreationTimestamp) {
		return a.CreationTimestamp.Compare(b.CreationTimestamp)
	}
	if ra, rb := isReady(a), isReady(b); ra != rb {
		if ra {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Name, b.Name)
}

func groupByNode(pods []*api.Pod) map[string]*nodePods {
	out := map[string]*nodePods{}
	for _, p := range pods {
		np := out[p.Spec.NodeName]
		if np == nil {
			np = &nodePods{}
			out[p.Spec.NodeName] = np
		}
		switch {
		case p.Status.Phase.Terminal():
			np.finished = append(np.finished, p)
		case p.DeletionTimestamp != nil:
			np.alive++
		default:
			np.alive++
			np.running = append(np.running, p)
		}
	}
	for _, np := range out {
		slices.SortFunc(np.running, olderDaemonPod)
	}
	return out
}

// dsPlan is what one reconcile will do.
type dsPlan struct {
	create  []string   // node names
	delete  []*api.Pod // graceful
	force   []*api.Pod // removed at once (their node is gone)
	requeue time.Duration
}

func (pl *dsPlan) empty() bool {
	return len(pl.create) == 0 && len(pl.delete) == 0 && len(pl.force) == 0
}

func (pl *dsPlan) after(d time.Duration) {
	if d > 0 && (pl.requeue == 0 || d < pl.requeue) {
		pl.requeue = d
	}
}

// Reconcile brings one DaemonSet's pods in line with the nodes.
func (c *DaemonSetController) Reconcile(ctx context.Context, key string) (time.Duration, error) {
	ns, name := splitKey(key)
	ds, ok := c.inf.DaemonSets.Get(ns, name)
	if !ok {
		c.exp.Forget(key)
		c.failures.forget(key)
		return 0, nil
	}
	// Expectations are checked before the pods are listed: checked after,
	// the last awaited event could land in between, and the reconcile
	// would act on a list that still holds a pod it already deleted.
	satisfied := c.exp.Satisfied(key)
	pods := c.inf.Pods.ControlledBy(ds.UID)
	adopted, err := c.adopt(ctx, ds)
	pods = append(pods, adopted...)
	nodes := c.inf.Nodes.List("", nil)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	hash := DaemonSetHash(ds)
	now := c.now()

	var plan dsPlan
	if err == nil && ds.DeletionTimestamp == nil && satisfied {
		byNode := groupByNode(pods)
		plan = c.placement(key, ds, nodes, byNode, hash, now)
		if plan.empty() && ds.Spec.UpdateStrategy.Type != api.OnDeleteDaemonSetStrategyType {
			c.rollingUpdate(ds, nodes, byNode, hash, now, &plan)
		}
		err = c.execute(ctx, key, ds, hash, &plan)
	}
	gone := map[string]bool{}
	for _, p := range append(slices.Clone(plan.delete), plan.force...) {
		gone[p.Name] = true
	}
	pods = slices.DeleteFunc(pods, func(p *api.Pod) bool { return gone[p.Name] })
	requeue, serr := c.updateStatus(ctx, ds, nodes, groupByNode(pods), hash, now)
	if plan.requeue > 0 && (requeue == 0 || plan.requeue < requeue) {
		requeue = plan.requeue
	}
	return requeue, errors.Join(err, serr)
}

// placement decides which nodes get a pod and which pods go, leaving
// template updates to rollingUpdate.
func (c *DaemonSetController) placement(key string, ds *api.DaemonSet, nodes []*api.Node, byNode map[string]*nodePods, hash string, now time.Time) dsPlan {
	var plan dsPlan
	surge := daemonSetSurges(ds)
	known := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		known[n.Name] = true
		np := byNode[n.Name]
		if np == nil {
			np = &nodePods{}
		}
		shouldRun, shouldContinue := NodeShouldRunDaemonPod(ds, n)
		failed := false
		for _, p := range np.finished {
			failed = failed || p.Status.Phase == api.PodFailed
			plan.delete = append(plan.delete, p)
		}
		bkey := key + "|" + n.Name
		if failed {
			c.failures.failed(bkey, now, c.failBase, c.failMax)
		}
		switch {
		case !shouldContinue:
			plan.delete = append(plan.delete, np.running...)
		case len(np.running) == 0:
			if !shouldRun {
				break
			}
			if wait := c.failures.wait(bkey, now); wait > 0 {
				plan.after(wait)
				break
			}
			plan.create = append(plan.create, n.Name)
		default:
			if slices.ContainsFunc(np.running, isReady) {
				c.failures.reset(bkey)
			}
			plan.delete = append(plan.delete, duplicates(np.running, hash, surge)...)
		}
	}
	// Pods bound to a node that no longer exists: no agent will confirm
	// their end, so they are removed at once.
	for node, np := range byNode {
		if known[node] {
			continue
		}
		plan.force = append(plan.force, np.running...)
		plan.force = append(plan.force, np.finished...)
	}
	if len(plan.create) > burstReplicas {
		plan.create = plan.create[:burstReplicas]
	}
	return plan
}

// duplicates returns the pods to delete from a node's running pods (oldest
// first): all but the oldest, or with surge all but the oldest of the
// current template and the oldest of any other.
func duplicates(running []*api.Pod, hash string, surge bool) []*api.Pod {
	var out []*api.Pod
	keptNew, keptOld := false, false
	for i, p := range running {
		switch {
		case !surge:
			if i > 0 {
				out = append(out, p)
			}
		case p.Labels[DaemonSetRevisionLabel] == hash:
			if keptNew {
				out = append(out, p)
			}
			keptNew = true
		default:
			if keptOld {
				out = append(out, p)
			}
			keptOld = true
		}
	}
	return out
}

func daemonSetSurges(ds *api.DaemonSet) bool {
	s := ds.Spec.UpdateStrategy
	if s.Type == api.OnDeleteDaemonSetStrategyType || s.RollingUpdate == nil || s.RollingUpdate.MaxSurge == nil {
		return false
	}
	v, err := s.RollingUpdate.MaxSurge.Scaled(100, true)
	return err == nil && v > 0
}

// daemonSetBounds resolves maxSurge and maxUnavailable against the number
// of nodes that should run the pod (percentages round up, as in
// Kubernetes); both zero means one unavailable.
func daemonSetBounds(ds *api.DaemonSet, desired int) (surge, unavailable int) {
	unavailable = int(api.DefaultDaemonSetMaxUnavailable)
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.MaxUnavailable != nil {
			unavailable, _ = ru.MaxUnavailable.Scaled(desired, true)
		}
		if ru.MaxSurge != nil {
			surge, _ = ru.MaxSurge.Scaled(desired, true)
		}
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

// splitByHash returns a node's one new and one old running pod; ok is
// false while the node has more than one of either (placement removes the
// extra first).
func splitByHash(running []*api.Pod, hash string) (newPod, oldPod *api.Pod, ok bool) {
	for _, p := range running {
		if p.Labels[DaemonSetRevisionLabel] == hash {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = p
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = p
		}
	}
	return newPod, oldPod, true
}

// rollingUpdate adds to plan the old pods to delete (and, with surge, the
// nodes to start a new pod on beside the old one).
func (c *DaemonSetController) rollingUpdate(ds *api.DaemonSet, nodes []*api.Node, byNode map[string]*nodePods, hash string, now time.Time, plan *dsPlan) {
	minReady := time.Duration(ds.Spec.MinReadySeconds) * time.Second
	available := func(p *api.Pod) bool { return isAvailable(p, minReady, now) }
	var inSet []string
	for _, n := range nodes {
		shouldRun, shouldContinue := NodeShouldRunDaemonPod(ds, n)
		np := byNode[n.Name]
		if shouldContinue && (shouldRun || (np != nil && len(np.running) > 0)) {
			inSet = append(inSet, n.Name)
		}
	}
	maxSurge, maxUnavailable := daemonSetBounds(ds, len(inSet))
	running := func(node string) []*api.Pod {
		if np := byNode[node]; np != nil {
			return np.running
		}
		return nil
	}

	if maxSurge == 0 {
		unavailable := 0
		var replace, candidates []*api.Pod
		for _, node := range inSet {
			newPod, oldPod, ok := splitByHash(running(node), hash)
			switch {
			case !ok, newPod == nil && oldPod == nil, newPod != nil && oldPod != nil:
				unavailable++
			case newPod != nil:
				if !available(newPod) {
					unavailable++
				}
			case !available(oldPod):
				replace = append(replace, oldPod)
				unavailable++
			default:
				candidates = append(candidates, oldPod)
			}
		}
		room := min(max(maxUnavailable-unavailable, 0), len(candidates))
		plan.delete = append(plan.delete, replace...)
		plan.delete = append(plan.delete, candidates[:room]...)
		if room < len(candidates) {
			plan.after(minReadyRequeue(byNode, inSet, minReady, now))
		}
		return
	}

	surged := 0
	var allowed, candidates []string
	for _, node := range inSet {
		newPod, oldPod, ok := splitByHash(running(node), hash)
		switch {
		case !ok:
			surged++
		case oldPod == nil:
		case newPod == nil:
			switch {
			case !available(oldPod):
				allowed = append(allowed, node)
				surged++
			case surged < maxSurge:
				candidates = append(candidates, node)
			}
		case !available(newPod):
			surged++
		default:
			plan.delete = append(plan.delete, oldPod)
		}
	}
	room := min(max(maxSurge-surged, 0), len(candidates))
	plan.create = append(plan.create, allowed...)
	plan.create = append(plan.create, candidates[:room]...)
	plan.after(minReadyRequeue(byNode, inSet, minReady, now))
}

// minReadyRequeue is how long until the next ready pod becomes available
// under minReadySeconds (0 when none is waiting).
func minReadyRequeue(byNode map[string]*nodePods, nodes []string, minReady time.Duration, now time.Time) time.Duration {
	if minReady <= 0 {
		return 0
	}
	var wait time.Duration
	for _, node := range nodes {
		np := byNode[node]
		if np == nil {
			continue
		}
		for _, p := range np.running {
			c := p.Status.Condition(api.PodReady)
			if c == nil || c.Status != api.ConditionTrue || isAvailable(p, minReady, now) {
				continue
			}
			if d := c.LastTransitionTime.Add(minReady).Sub(now) + time.Second; wait == 0 || d < wait {
				wait = d
			}
		}
	}
	return wait
}

// execute carries the plan out under expectations, so that the next
// reconcile does not act again before the informer has seen it all.
func (c *DaemonSetController) execute(ctx context.Context, key string, ds *api.DaemonSet, hash string, plan *dsPlan) error {
	if plan.empty() {
		return nil
	}
	c.exp.Expect(key, len(plan.create), len(plan.delete)+len(plan.force))
	var next atomic.Int64
	created, cerr := slowStart(ctx, len(plan.create), func(ctx context.Context) error {
		node := plan.create[next.Add(1)-1]
		return c.pc.create(ctx, newDaemonPod(ds, node, hash, c.now()))
	})
	for i := created; i < len(plan.create); i++ {
		c.exp.Observed(key, true) // never coming
	}
	if created > 0 {
		c.log.Debug("daemon pods created", "daemonset", key, "count", created)
	}
	derr := parallel(ctx, plan.delete, func(ctx context.Context, p *api.Pod) error {
		err := c.pc.delete(ctx, p)
		if err != nil {
			c.exp.Observed(key, false)
		}
		return err
	})
	zero := int64(0)
	ferr := parallel(ctx, plan.force, func(ctx context.Context, p *api.Pod) error {
		_, err := store.DeletePod(ctx, c.pc.pods, p.Namespace, p.Name, &zero, c.now())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			c.exp.Observed(key, false)
			return fmt.Errorf("remove pod %s/%s of a deleted node: %w", p.Namespace, p.Name, err)
		}
		return nil
	})
	return errors.Join(cerr, derr, ferr)
}

// adopt takes matching orphan pods bound to a node into the DaemonSet.
func (c *DaemonSetController) adopt(ctx context.Context, ds *api.DaemonSet) ([]*api.Pod, error) {
	if ds.DeletionTimestamp != nil {
		return nil, nil
	}
	keep := func(p *api.Pod) bool {
		return ControllerOf(p) == nil && isActive(p) && p.Spec.NodeName != "" && ds.Spec.Selector.Matches(p.Labels)
	}
	var out []*api.Pod
	for _, o := range c.inf.Pods.Orphans(ds.Namespace, keep) {
		p, err := c.pc.pods.Mutate(ctx, o.Namespace, o.Name, func(p *api.Pod) error {
			if !keep(p) {
				return store.ErrSkip
			}
			p.OwnerReferences = append(p.OwnerReferences, ControllerRef(ds))
			return nil
		})
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return out, fmt.Errorf("adopt pod %s/%s: %w", o.Namespace, o.Name, err)
		}
		if isControlledBy(p, ds.UID) {
			out = append(out, p)
		}
	}
	return out, nil
}

// updateStatus writes the DaemonSet's counts as the pods stand after this
// reconcile's deletes. A node is desired when the pod should run there or
// may stay and is there; a node with a pod that may not stay counts as
// misscheduled until the pod is gone.
func (c *DaemonSetController) updateStatus(ctx context.Context, ds *api.DaemonSet, nodes []*api.Node, byNode map[string]*nodePods, hash string, now time.Time) (time.Duration, error) {
	minReady := time.Duration(ds.Spec.MinReadySeconds) * time.Second
	st := api.DaemonSetStatus{ObservedGeneration: ds.Generation, Conditions: ds.Status.Conditions}
	known := make(map[string]bool, len(nodes))
	var inSet []string
	for _, n := range nodes {
		known[n.Name] = true
		np := byNode[n.Name]
		if np == nil {
			np = &nodePods{}
		}
		shouldRun, shouldContinue := NodeShouldRunDaemonPod(ds, n)
		switch {
		case shouldContinue && (shouldRun || len(np.running) > 0):
			inSet = append(inSet, n.Name)
			st.DesiredNumberScheduled++
			if len(np.running) == 0 {
				continue
			}
			st.CurrentNumberScheduled++
			if slices.ContainsFunc(np.running, isReady) {
				st.NumberReady++
			}
			if slices.ContainsFunc(np.running, func(p *api.Pod) bool { return isAvailable(p, minReady, now) }) {
				st.NumberAvailable++
			}
			if slices.ContainsFunc(np.running, func(p *api.Pod) bool { return p.Labels[DaemonSetRevisionLabel] == hash }) {
				st.UpdatedNumberScheduled++
			}
		case np.alive > 0:
			st.NumberMisscheduled++
		}
	}
	for node, np := range byNode {
		if !known[node] && np.alive > 0 {
			st.NumberMisscheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	requeue := minReadyRequeue(byNode, inSet, minReady, now)
	if equalJSON(st, ds.Status) {
		return requeue, nil
	}
	_, err := c.dss.Mutate(ctx, ds.Namespace, ds.Name, func(cur *api.DaemonSet) error {
		if cur.UID != ds.UID {
			return store.ErrSkip
		}
		cur.Status = st
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	return requeue, err
}

// nodeBackoff remembers failed pods per DaemonSet and node.
type nodeBackoff struct {
	mu sync.Mutex
	m  map[string]backoffEntry // "<ds key>|<node>"
}

type backoffEntry struct {
	failures int
	until    time.Time
}

func (b *nodeBackoff) failed(key string, now time.Time, base, limit time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.m[key]
	d := base
	for i := 0; i < e.failures && d < limit; i++ {
		d *= 2
	}
	e.failures++
	e.until = now.Add(min(d, limit))
	b.m[key] = e
}

func (b *nodeBackoff) wait(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[key]
	if !ok {
		return 0
	}
	return max(e.until.Sub(now), 0)
}

func (b *nodeBackoff) reset(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
}

// forget drops every entry of one DaemonSet.
func (b *nodeBackoff) forget(dsKey string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.m {
		if strings.HasPrefix(k, dsKey+"|") {
			delete(b.m, k)
		}
	}
}
