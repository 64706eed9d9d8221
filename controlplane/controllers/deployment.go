package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Labels and annotations of Deployment-made ReplicaSets, as in Kubernetes.
const (
	PodTemplateHashLabel = "pod-template-hash"
	RevisionAnnotation   = "deployment.kubernetes.io/revision"
)

// DeploymentController rolls a Deployment's template out through
// ReplicaSets, one per template (named <deployment>-<template hash>):
// RollingUpdate within maxSurge and maxUnavailable, or Recreate. It keeps
// revisionHistoryLimit old ReplicaSets for rollback, honours paused and
// minReadySeconds, and reports Available and Progressing conditions
// (ProgressDeadlineExceeded after progressDeadlineSeconds without
// progress). It follows kube-controller-manager's algorithm; the numbers it
// reads are the ReplicaSets' status, written by the ReplicaSet controller.
type DeploymentController struct {
	inf  *informer.Set
	deps *store.Resource[*api.Deployment]
	rss  *store.Resource[*api.ReplicaSet]
	q    *Queue
	log  *slog.Logger
	now  func() time.Time
}

// NewDeploymentController wires the controller to the informers.
func NewDeploymentController(inf *informer.Set, st *store.Store, log *slog.Logger) *DeploymentController {
	c := &DeploymentController{inf: inf, deps: store.For[*api.Deployment](st), rss: store.For[*api.ReplicaSet](st),
		q: NewQueue(5*time.Millisecond, time.Minute), log: log, now: time.Now}
	enqueue := func(d *api.Deployment) { c.q.Add(informer.KeyOf(d)) }
	inf.Deployments.AddHandler(informer.Handler[*api.Deployment]{
		OnAdd: enqueue, OnUpdate: func(_, cur *api.Deployment) { enqueue(cur) },
	})
	owner := func(rs *api.ReplicaSet) {
		if r := ControllerOf(rs); r != nil && r.Kind == "Deployment" {
			c.q.Add(informer.Key(rs.Namespace, r.Name))
		}
	}
	inf.ReplicaSets.AddHandler(informer.Handler[*api.ReplicaSet]{
		OnAdd: owner, OnUpdate: func(_, cur *api.ReplicaSet) { owner(cur) }, OnDelete: owner,
	})
	return c
}

// Runner returns the controller's runner.
func (c *DeploymentController) Runner(workers int) *Runner {
	return &Runner{Name: "deployment", Queue: c.q, R: c, Workers: workers, Resync: 30 * time.Second, Log: c.log,
		Keys: func() []string { return keysOf(c.inf.Deployments.List("", nil)) }}
}

// TemplateHash is the hash of a pod template that names its ReplicaSet.
func TemplateHash(t *api.PodTemplateSpec) string {
	cp := *t
	cp.Labels = copyMap(t.Labels)
	delete(cp.Labels, PodTemplateHashLabel)
	b, _ := json.Marshal(cp)
	h := fnv.New32a()
	h.Write(b)
	return fmt.Sprintf("%08x", h.Sum32())
}

// Revision is the revision annotation of a ReplicaSet (0 when missing).
func Revision(rs *api.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations[RevisionAnnotation], 10, 64)
	return n
}

// Reconcile moves one Deployment a step toward its template.
func (c *DeploymentController) Reconcile(ctx context.Context, key string) (time.Duration, error) {
	ns, name := splitKey(key)
	d, ok := c.inf.Deployments.Get(ns, name)
	if !ok || d.DeletionTimestamp != nil {
		return 0, nil
	}
	// Shallow copies: scale records a new spec.replicas on them for the
	// rest of this reconcile, and the informer's objects are shared.
	rsList := c.inf.ReplicaSets.ControlledBy(d.UID)
	for i, rs := range rsList {
		cp := *rs
		rsList[i] = &cp
	}
	hash := TemplateHash(&d.Spec.Template)
	var newRS *api.ReplicaSet
	var old []*api.ReplicaSet
	for _, rs := range rsList {
		if rs.Labels[PodTemplateHashLabel] == hash {
			newRS = rs
		} else {
			old = append(old, rs)
		}
	}
	sort.Slice(old, func(i, j int) bool { return Revision(old[i]) < Revision(old[j]) })
	if d.Spec.Paused {
		return 0, c.syncStatus(ctx, d, newRS, old)
	}
	var err error
	if newRS == nil || Revision(newRS) <= maxRevision(old) {
		newRS, err = c.ensureNewRS(ctx, d, newRS, old, hash)
		if err != nil {
			return 0, err
		}
	}
	if d.Spec.Strategy.Type == api.RecreateDeploymentStrategyType {
		err = c.recreate(ctx, d, newRS, old)
	} else {
		err = c.rollingUpdate(ctx, d, newRS, old)
	}
	if err != nil {
		return 0, err
	}
	if err := c.cleanup(ctx, d, old); err != nil {
		return 0, err
	}
	return c.progressRequeue(d), c.syncStatus(ctx, d, newRS, old)
}

func maxRevision(rss []*api.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, Revision(rs))
	}
	return m
}

// ensureNewRS creates the ReplicaSet of the current template, or — after a
// rollback to an old template — gives the existing one the newest revision.
func (c *DeploymentController) ensureNewRS(ctx context.Context, d *api.Deployment, existing *api.ReplicaSet, old []*api.ReplicaSet, hash string) (*api.ReplicaSet, error) {
	rev := strconv.FormatInt(maxRevision(old)+1, 10)
	if existing != nil {
		return c.rss.Mutate(ctx, existing.Namespace, existing.Name, func(rs *api.ReplicaSet) error {
			if rs.Annotations == nil {
				rs.Annotations = map[string]string{}
			}
			rs.Annotations[RevisionAnnotation] = rev
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			return nil
		})
	}
	tmpl := d.Spec.Template
	tmpl.Labels = copyMap(d.Spec.Template.Labels)
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[PodTemplateHashLabel] = hash
	sel := &api.LabelSelector{MatchLabels: copyMap(d.Spec.Selector.MatchLabels), MatchExpressions: d.Spec.Selector.MatchExpressions}
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[PodTemplateHashLabel] = hash
	var zero int32
	rs := &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{
			Name: truncate(d.Name, 54) + "-" + hash, Namespace: d.Namespace, Labels: tmpl.Labels,
			Annotations:     map[string]string{RevisionAnnotation: rev},
			OwnerReferences: []api.OwnerReference{ControllerRef(d)},
		},
		Spec: api.ReplicaSetSpec{Replicas: &zero, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: tmpl},
	}
	api.SetDefaults(rs)
	rs.Spec.Replicas = &zero
	if err := c.rss.Create(ctx, rs); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return c.rss.Get(ctx, rs.Namespace, rs.Name)
		}
		return nil, fmt.Errorf("create replicaset for deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	c.log.Info("new replicaset", "deployment", d.Namespace+"/"+d.Name, "replicaset", rs.Name, "revision", rev)
	return rs, nil
}

func (c *DeploymentController) scale(ctx context.Context, rs *api.ReplicaSet, n int32) error {
	if replicasOf(rs.Spec.Replicas) == n {
		return nil
	}
	_, err := c.rss.Mutate(ctx, rs.Namespace, rs.Name, func(cur *api.ReplicaSet) error {
		if cur.UID != rs.UID {
			return store.ErrSkip
		}
		cur.Spec.Replicas = &n
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("scale replicaset %s/%s to %d: %w", rs.Namespace, rs.Name, n, err)
	}
	rs.Spec.Replicas = &n // the rest of this reconcile reads the new value (rs is this reconcile's copy)
	return nil
}

// recreate scales every old ReplicaSet to zero and, once their pods are
// gone, the new one up.
func (c *DeploymentController) recreate(ctx context.Context, d *api.Deployment, newRS *api.ReplicaSet, old []*api.ReplicaSet) error {
	for _, rs := range old {
		if err := c.scale(ctx, rs, 0); err != nil {
			return err
		}
	}
	for _, rs := range old {
		for _, p := range c.inf.Pods.ControlledBy(rs.UID) {
			if !p.Status.Phase.Terminal() {
				return nil // wait for the old pods to be gone
			}
		}
	}
	return c.scale(ctx, newRS, replicasOf(d.Spec.Replicas))
}

// surgeAndUnavailable resolves the rolling update bounds against replicas.
func surgeAndUnavailable(d *api.Deployment) (surge, unavailable int32) {
	replicas := int(replicasOf(d.Spec.Replicas))
	ru := d.Spec.Strategy.RollingUpdate
	s, u := api.FromString("25%"), api.FromString("25%")
	if ru != nil && ru.MaxSurge != nil {
		s = *ru.MaxSurge
	}
	if ru != nil && ru.MaxUnavailable != nil {
		u = *ru.MaxUnavailable
	}
	sv, _ := s.Scaled(replicas, true)
	uv, _ := u.Scaled(replicas, false)
	if sv == 0 && uv == 0 {
		uv = 1
	}
	return int32(sv), int32(min(uv, replicas))
}

func sumSpec(rss []*api.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += replicasOf(rs.Spec.Replicas)
		}
	}
	return n
}

func sumAvailable(rss []*api.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += rs.Status.AvailableReplicas
		}
	}
	return n
}

// rollingUpdate scales the new ReplicaSet up within maxSurge and old ones
// down while at least replicas-maxUnavailable pods stay available.
func (c *DeploymentController) rollingUpdate(ctx context.Context, d *api.Deployment, newRS *api.ReplicaSet, old []*api.ReplicaSet) error {
	replicas := replicasOf(d.Spec.Replicas)
	surge, unavailable := surgeAndUnavailable(d)
	all := append(append([]*api.ReplicaSet{}, old...), newRS)

	// Scale up the new ReplicaSet.
	if cur := replicasOf(newRS.Spec.Replicas); cur > replicas {
		if err := c.scale(ctx, newRS, replicas); err != nil {
			return err
		}
	} else if cur < replicas {
		room := replicas + surge - sumSpec(all)
		if up := min(room, replicas-cur); up > 0 {
			if err := c.scale(ctx, newRS, cur+up); err != nil {
				return err
			}
		}
	}

	// Scale down old ReplicaSets, but only on numbers that describe every
	// ReplicaSet's latest spec: a status older than its ReplicaSet's
	// generation may still count pods that are already being deleted.
	if sumSpec(old) == 0 {
		return nil
	}
	for _, rs := range all {
		if rs.Status.ObservedGeneration < rs.Generation {
			return nil // the ReplicaSet's update requeues this Deployment
		}
	}
	minAvailable := replicas - unavailable
	newUnavailable := replicasOf(newRS.Spec.Replicas) - newRS.Status.AvailableReplicas
	maxScaledDown := sumSpec(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return nil
	}
	// Unhealthy old pods first: they take nothing from availability.
	cleaned := int32(0)
	for _, rs := range old {
		if cleaned >= maxScaledDown {
			break
		}
		spec := replicasOf(rs.Spec.Replicas)
		unhealthy := spec - rs.Status.AvailableReplicas
		if unhealthy <= 0 {
			continue
		}
		down := min(unhealthy, maxScaledDown-cleaned)
		if err := c.scale(ctx, rs, spec-down); err != nil {
			return err
		}
		cleaned += down
	}
	// Then available ones, as far as availability allows.
	available := sumAvailable(all)
	if available <= minAvailable {
		return nil
	}
	budget := available - minAvailable
	for _, rs := range old {
		if budget <= 0 {
			break
		}
		spec := replicasOf(rs.Spec.Replicas)
		if spec == 0 {
			continue
		}
		down := min(spec, budget)
		if err := c.scale(ctx, rs, spec-down); err != nil {
			return err
		}
		budget -= down
	}
	return nil
}

// cleanup deletes the oldest scaled-down ReplicaSets beyond
// revisionHistoryLimit.
func (c *DeploymentController) cleanup(ctx context.Context, d *api.Deployment, old []*api.ReplicaSet) error {
	limit := int32(10)
	if d.Spec.RevisionHistoryLimit != nil {
		limit = *d.Spec.RevisionHistoryLimit
	}
	var idle []*api.ReplicaSet
	for _, rs := range old {
		if replicasOf(rs.Spec.Replicas) == 0 && rs.Status.Replicas == 0 && rs.DeletionTimestamp == nil {
			idle = append(idle, rs)
		}
	}
	for i := 0; i < len(idle)-int(limit); i++ {
		rs := idle[i]
		if err := c.rss.Delete(ctx, rs.Namespace, rs.Name, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete old replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
		}
	}
	return nil
}

func (c *DeploymentController) progressRequeue(d *api.Deployment) time.Duration {
	if d.Spec.ProgressDeadlineSeconds == nil {
		return 0
	}
	return time.Duration(*d.Spec.ProgressDeadlineSeconds)*time.Second/4 + time.Second
}

// syncStatus computes the Deployment's status from its ReplicaSets.
func (c *DeploymentController) syncStatus(ctx context.Context, d *api.Deployment, newRS *api.ReplicaSet, old []*api.ReplicaSet) error {
	now := c.now().UTC().Truncate(time.Second)
	all := append(append([]*api.ReplicaSet{}, old...), newRS)
	replicas := replicasOf(d.Spec.Replicas)
	st := api.DeploymentStatus{ObservedGeneration: d.Generation, Conditions: append([]api.Condition(nil), d.Status.Conditions...)}
	for _, rs := range all {
		if rs == nil {
			continue
		}
		st.Replicas += rs.Status.Replicas
		st.ReadyReplicas += rs.Status.ReadyReplicas
		st.AvailableReplicas += rs.Status.AvailableReplicas
	}
	if newRS != nil {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	st.UnavailableReplicas = max(replicas-st.AvailableReplicas, 0)
	_, unavailable := surgeAndUnavailable(d)

	avail := api.Condition{Type: api.DeploymentAvailable, Status: api.ConditionFalse, Reason: "MinimumReplicasUnavailable",
		Message: "Deployment does not have minimum availability.", LastUpdateTime: now, LastTransitionTime: now}
	if st.AvailableReplicas >= replicas-unavailable {
		avail.Status, avail.Reason, avail.Message = api.ConditionTrue, "MinimumReplicasAvailable", "Deployment has minimum availability."
	}
	keepTimes(&avail, api.FindCondition(st.Conditions, api.DeploymentAvailable))
	api.SetCondition(&st.Conditions, avail)

	prev := api.FindCondition(d.Status.Conditions, api.DeploymentProgressing)
	complete := newRS != nil && st.UpdatedReplicas == replicas && st.AvailableReplicas >= replicas && st.Replicas == replicas
	prog := api.Condition{Type: api.DeploymentProgressing, Status: api.ConditionTrue, LastUpdateTime: now, LastTransitionTime: now}
	switch {
	case d.Spec.Paused:
		prog.Status, prog.Reason, prog.Message = api.ConditionUnknown, "DeploymentPaused", "Deployment is paused"
	case complete:
		prog.Reason, prog.Message = "NewReplicaSetAvailable", fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS.Name)
	case progressed(d.Status, st) || prev == nil || prev.Reason == "NewReplicaSetAvailable" || prev.Reason == "DeploymentPaused":
		prog.Reason, prog.Message = "ReplicaSetUpdated", fmt.Sprintf("ReplicaSet %q is progressing.", nameOf(newRS))
	case prev.Reason == "ProgressDeadlineExceeded":
		prog = *prev
	default:
		prog = *prev // no progress: keep LastUpdateTime
		if d.Spec.ProgressDeadlineSeconds != nil && now.Sub(prev.LastUpdateTime) > time.Duration(*d.Spec.ProgressDeadlineSeconds)*time.Second {
			prog.Status, prog.Reason = api.ConditionFalse, "ProgressDeadlineExceeded"
			prog.Message = fmt.Sprintf("ReplicaSet %q has timed out progressing.", nameOf(newRS))
			prog.LastUpdateTime, prog.LastTransitionTime = now, now
		}
	}
	keepTimes(&prog, prev)
	api.SetCondition(&st.Conditions, prog)

	if equalJSON(st, d.Status) {
		return nil
	}
	_, err := c.deps.Mutate(ctx, d.Namespace, d.Name, func(cur *api.Deployment) error {
		if cur.UID != d.UID {
			return store.ErrSkip
		}
		cur.Status = st
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// keepTimes keeps a condition's times when nothing about it changed, so a
// status write is not made for the clock alone.
func keepTimes(c *api.Condition, prev *api.Condition) {
	if prev == nil {
		return
	}
	if prev.Status == c.Status && prev.Reason == c.Reason && prev.Message == c.Message {
		c.LastUpdateTime, c.LastTransitionTime = prev.LastUpdateTime, prev.LastTransitionTime
	} else if prev.Status == c.Status {
		c.LastTransitionTime = prev.LastTransitionTime
	}
}

func progressed(old, cur api.DeploymentStatus) bool {
	return cur.UpdatedReplicas != old.UpdatedReplicas || cur.AvailableReplicas > old.AvailableReplicas ||
		cur.ReadyReplicas > old.ReadyReplicas || cur.Replicas != old.Replicas
}

func nameOf(rs *api.ReplicaSet) string {
	if rs == nil {
		return ""
	}
	return rs.Name
}
