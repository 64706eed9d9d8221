package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/admission"
	"github.com/skiff-sh/skiff/controlplane/informer"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// ControllerOf returns the owner reference with controller: true, or nil.
func ControllerOf(obj api.Object) *api.OwnerReference {
	for i, r := range obj.GetObjectMeta().OwnerReferences {
		if r.Controller != nil && *r.Controller {
			return &obj.GetObjectMeta().OwnerReferences[i]
		}
	}
	return nil
}

// ControllerRef is the owner reference a controller puts on what it makes.
func ControllerRef(owner api.Object) api.OwnerReference {
	info := api.KindOf(owner)
	yes := true
	return api.OwnerReference{
		APIVersion: info.APIVersion(), Kind: info.Kind, Name: owner.GetObjectMeta().Name,
		UID: owner.GetObjectMeta().UID, Controller: &yes, BlockOwnerDeletion: &yes,
	}
}

// isControlledBy reports whether obj's controller is the object with uid.
func isControlledBy(obj api.Object, uid string) bool {
	r := ControllerOf(obj)
	return r != nil && r.UID == uid
}

// PodFromTemplate builds a pod for owner from a template.
func PodFromTemplate(t *api.PodTemplateSpec, owner api.Object, namePrefix string) *api.Pod {
	m := owner.GetObjectMeta()
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{
			GenerateName:    truncate(namePrefix, 58), // + 5 random characters ≤ 63
			Namespace:       m.Namespace,
			Labels:          copyMap(t.Labels),
			Annotations:     copyMap(t.Annotations),
			OwnerReferences: []api.OwnerReference{ControllerRef(owner)},
		},
	}
	// The spec is copied by value; slices inside it are shared with the
	// template but never modified before the pod is encoded.
	p.Spec = t.Spec
	api.SetDefaults(p)
	return p
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// isActive reports whether a pod counts toward a controller's replicas.
func isActive(p *api.Pod) bool {
	return p.DeletionTimestamp == nil && !p.Status.Phase.Terminal()
}

// isReady reports whether the pod's Ready condition is true.
func isReady(p *api.Pod) bool {
	c := p.Status.Condition(api.PodReady)
	return c != nil && c.Status == api.ConditionTrue
}

// isAvailable reports whether the pod has been ready for minReady at now.
func isAvailable(p *api.Pod, minReady time.Duration, now time.Time) bool {
	c := p.Status.Condition(api.PodReady)
	if c == nil || c.Status != api.ConditionTrue {
		return false
	}
	return minReady <= 0 || !c.LastTransitionTime.Add(minReady).After(now)
}

// rankForDeletion sorts pods so that the first ones are the best to delete,
// as Kubernetes does: not yet scheduled, then on a node that is not ready,
// then pending, then not ready, then the most restarted, then the newest.
func rankForDeletion(pods []*api.Pod, nodeReady func(string) bool) {
	score := func(p *api.Pod) [4]int {
		var s [4]int
		switch {
		case p.Spec.NodeName == "":
			s[0] = 0
		case !nodeReady(p.Spec.NodeName):
			s[0] = 1
		default:
			s[0] = 2
		}
		switch p.Status.Phase {
		case api.PodPending, "":
			s[1] = 0
		case api.PodUnknown:
			s[1] = 1
		default:
			s[1] = 2
		}
		if isReady(p) {
			s[2] = 1
		}
		var restarts int
		for _, cs := range p.Status.ContainerStatuses {
			restarts += int(cs.RestartCount)
		}
		s[3] = -restarts
		return s
	}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := score(pods[i]), score(pods[j])
		if a != b {
			for k := range a {
				if a[k] != b[k] {
					return a[k] < b[k]
				}
			}
		}
		return pods[i].CreationTimestamp.After(pods[j].CreationTimestamp)
	})
}

// podControl creates and deletes pods for controllers.
type podControl struct {
	pods *store.Resource[*api.Pod]
	now  func() time.Time
	// quotas lists a namespace's ResourceQuotas from the informer, for
	// admission.
	quotas *informer.Informer[*api.ResourceQuota]
}

func newPodControl(inf *informer.Set, st *store.Store) podControl {
	return podControl{pods: store.For[*api.Pod](st), now: time.Now, quotas: inf.ResourceQuotas}
}

func (pc podControl) create(ctx context.Context, p *api.Pod) error {
	var quotas []*api.ResourceQuota // nil: admission reads the store
	if pc.quotas != nil {
		quotas = pc.quotas.List(p.Namespace, nil)
	}
	if err := admission.AdmitPod(ctx, pc.pods.Store(), p, quotas); err != nil {
		return fmt.Errorf("create pod for %s: %w", p.GenerateName, err)
	}
	if err := pc.pods.Create(ctx, p); err != nil {
		return fmt.Errorf("create pod for %s: %w", p.GenerateName, err)
	}
	return nil
}

func (pc podControl) delete(ctx context.Context, p *api.Pod) error {
	_, err := store.DeletePod(ctx, pc.pods, p.Namespace, p.Name, nil, pc.now())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}

// Expectations remember how many creates and deletes a controller has
// issued for a key that its informer has not seen yet, so a reconcile does
// not act twice on a stale cache (client-go's ControllerExpectations). An
// expectation older than five minutes is dropped: the cache is then trusted
// again.
type Expectations struct {
	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	adds, dels int
	at         time.Time
}

// NewExpectations returns empty expectations.
func NewExpectations() *Expectations { return &Expectations{m: map[string]*expectation{}} }

// Expect records n adds and d deletes for key.
func (e *Expectations) Expect(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: adds, dels: dels, at: time.Now()}
}

// Observed lowers key's expectation by one add or one delete.
func (e *Expectations) Observed(key string, add bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	if x == nil {
		return
	}
	if add {
		x.adds--
	} else {
		x.dels--
	}
}

// Satisfied reports whether everything expected for key was seen.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	if x == nil || (x.adds <= 0 && x.dels <= 0) || time.Since(x.at) > 5*time.Minute {
		delete(e.m, key)
		return true
	}
	return false
}

// Forget drops key's expectation.
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// truncate shortens s to n bytes (names are ASCII).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ownedPodHandler turns pod changes into work for the controller that owns
// the pods (ownerKey finds it): its key is queued, and its expectations
// learn of each create and delete it is waiting for. A pod with no such
// owner goes to enqueueMatching, for adoption.
func ownedPodHandler(ownerKey func(*api.Pod) (string, bool), enqueueMatching func(*api.Pod), exp *Expectations, q *Queue) informer.Handler[*api.Pod] {
	return informer.Handler[*api.Pod]{
		OnAdd: func(p *api.Pod) {
			if key, ok := ownerKey(p); ok {
				exp.Observed(key, true)
				q.Add(key)
				return
			}
			enqueueMatching(p)
		},
		OnUpdate: func(old, cur *api.Pod) {
			if key, ok := ownerKey(cur); ok {
				if old.DeletionTimestamp == nil && cur.DeletionTimestamp != nil {
					exp.Observed(key, false)
				}
				q.Add(key)
			} else {
				enqueueMatching(cur)
			}
			if key, ok := ownerKey(old); ok {
				q.Add(key)
			}
		},
		OnDelete: func(p *api.Pod) {
			if key, ok := ownerKey(p); ok {
				if p.DeletionTimestamp == nil {
					exp.Observed(key, false)
				}
				q.Add(key)
			}
		},
	}
}
