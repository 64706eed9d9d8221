package admission

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// How quota is kept.
//
// status.used of a ResourceQuota is a ledger that admission writes with a
// compare-and-swap: to admit a pod it reads the quota, adds the pod's
// charge to status.used, checks it against spec.hard and writes the quota
// back at the revision it read. Two admissions in one namespace cannot both
// win the same revision, so they are serialized and cannot overshoot.
//
// The QuotaController (package controllers) recomputes status.used from
// the pods (RecomputeQuota), which releases what finished or deleted pods
// held. A pod admitted but not created yet is in no list of pods, so each
// reservation is also remembered under PendingAnnotation until the pod is
// seen (or PendingTTL passes, for a create that failed after admission):
// a recompute counts those too and never gives away a reservation. A pod
// created and deleted between two recomputes is in neither list; the
// QuotaController, which sees every pod its informer is told about, says
// so through RecomputeQuota's seen function.

// PendingAnnotation holds, on a ResourceQuota, the reservations of pods
// admitted and not yet seen in the store: JSON {"<pod name>": {"at": time,
// "rev": revision, "usage": {"<resource>": amount}}}, amounts in bytes,
// millicores or pods; rev is the quota's revision the reservation was made
// on, so any write of the pod after it has a higher revision.
const PendingAnnotation = "skiff.sh/quota-pending"

// PendingTTL is how long a reservation is kept for a pod that never
// appears (its create failed after admission).
const PendingTTL = 30 * time.Second

// pending is one reservation.
type pending struct {
	At    time.Time        `json:"at"`
	Rev   uint64           `json:"rev,omitempty"`
	Usage map[string]int64 `json:"usage"`
}

// usage is amounts by quota resource name, in bytes for memory,
// millicores for cpu and a count for pods.
type usage map[api.ResourceName]int64

func isCPU(n api.ResourceName) bool {
	return n == api.ResourceCPU || n == api.ResourceRequestsCPU || n == api.ResourceLimitsCPU
}

// chargedAs maps a quota resource name to the pod charge it limits: cpu
// and memory without a prefix mean requests.
func chargedAs(n api.ResourceName) api.ResourceName {
	switch n {
	case api.ResourceCPU:
		return api.ResourceRequestsCPU
	case api.ResourceMemory:
		return api.ResourceRequestsMemory
	}
	return n
}

// amount reads a quantity in the units of n.
func amount(n api.ResourceName, q api.Quantity) int64 {
	if isCPU(n) {
		return q.MilliValue()
	}
	return q.Value()
}

// formatAmount writes an amount of n as a quantity: whole cores or
// millicores for cpu; the largest binary (then decimal) suffix that is
// exact for memory.
func formatAmount(n api.ResourceName, v int64) string {
	switch {
	case isCPU(n):
		if v%1000 == 0 {
			return strconv.FormatInt(v/1000, 10)
		}
		return strconv.FormatInt(v, 10) + "m"
	case n == api.ResourcePods || v == 0:
		return strconv.FormatInt(v, 10)
	}
	for _, s := range []struct {
		suffix string
		mult   int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}, {"T", 1e12}, {"G", 1e9}, {"M", 1e6}, {"k", 1e3}} {
		if v%s.mult == 0 {
			return strconv.FormatInt(v/s.mult, 10) + s.suffix
		}
	}
	return strconv.FormatInt(v, 10)
}

// PodCharge is what a pod counts against quotas, as Kubernetes counts it:
// pods 1, and per resource (requests and limits of cpu and memory) the sum
// over its containers, or the largest init container's amount when that is
// more (init containers run one at a time, before the others). A container
// that states a limit and no request requests its limit, as Kubernetes'
// defaulting makes it. missing lists the resources some container does not
// state (requests.cpu, limits.memory, …). A pod in a terminal phase is
// charged nothing.
func PodCharge(p *api.Pod) (charge map[api.ResourceName]int64, missing map[api.ResourceName]bool) {
	charge = map[api.ResourceName]int64{}
	missing = map[api.ResourceName]bool{}
	if p.Status.Phase.Terminal() {
		return charge, missing
	}
	charge[api.ResourcePods] = 1
	sum, initMax := map[api.ResourceName]int64{}, map[api.ResourceName]int64{}
	add := func(c api.Container, init bool) {
		for _, r := range []api.ResourceName{api.ResourceCPU, api.ResourceMemory} {
			limit, hasLimit := c.Resources.Limits[r]
			req, hasReq := c.Resources.Requests[r]
			if !hasReq && hasLimit {
				req, hasReq = limit, true
			}
			for _, x := range []struct {
				name  api.ResourceName
				q     api.Quantity
				given bool
			}{{"requests." + r, req, hasReq}, {"limits." + r, limit, hasLimit}} {
				switch {
				case !x.given:
					missing[x.name] = true
				case init:
					initMax[x.name] = max(initMax[x.name], amount(x.name, x.q))
				default:
					sum[x.name] += amount(x.name, x.q)
				}
			}
		}
	}
	for _, c := range p.Spec.InitContainers {
		add(c, true)
	}
	for _, c := range p.Spec.Containers {
		add(c, false)
	}
	for _, n := range []api.ResourceName{api.ResourceRequestsCPU, api.ResourceRequestsMemory, api.ResourceLimitsCPU, api.ResourceLimitsMemory} {
		if v := max(sum[n], initMax[n]); v > 0 {
			charge[n] = v
		}
	}
	return charge, missing
}

func readPending(q *api.ResourceQuota) map[string]pending {
	out := map[string]pending{}
	if s := q.Annotations[PendingAnnotation]; s != "" {
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return map[string]pending{} // unreadable: the pods themselves count
		}
	}
	return out
}

func writePending(q *api.ResourceQuota, p map[string]pending) {
	if len(p) == 0 {
		delete(q.Annotations, PendingAnnotation)
		if len(q.Annotations) == 0 {
			q.Annotations = nil
		}
		return
	}
	b, _ := json.Marshal(p) // a map of strings, times and numbers always marshals
	if q.Annotations == nil {
		q.Annotations = map[string]string{}
	}
	q.Annotations[PendingAnnotation] = string(b)
}

// hardNames are the quota's limited resources that Skiff knows, sorted.
func hardNames(q *api.ResourceQuota) []api.ResourceName {
	var out []api.ResourceName
	for n := range q.Spec.Hard {
		switch n {
		case api.ResourcePods, api.ResourceCPU, api.ResourceMemory, api.ResourceRequestsCPU,
			api.ResourceRequestsMemory, api.ResourceLimitsCPU, api.ResourceLimitsMemory:
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// RecomputeQuota sets q.Status from pods (the pods of q's namespace):
// status.hard from spec.hard, status.used from the pods not in a terminal
// phase plus the reservations of pods not among them. Reservations of pods
// that are among them, older than PendingTTL, or that seen (may be nil)
// reports as written at a revision after rev (so created, and maybe
// deleted since), are dropped. It returns when the next reservation
// expires (zero when none is left), for a recompute then.
func RecomputeQuota(q *api.ResourceQuota, pods []*api.Pod, now time.Time, seen func(pod string, rev uint64) bool) (nextExpiry time.Time) {
	listed := make(map[string]bool, len(pods))
	total := usage{}
	for _, p := range pods {
		if p.Namespace != q.Namespace {
			continue
		}
		listed[p.Name] = true
		charge, _ := PodCharge(p)
		for n, v := range charge {
			total[n] += v
		}
	}
	res := readPending(q)
	for name, r := range res {
		if listed[name] || now.Sub(r.At) > PendingTTL || (seen != nil && seen(name, r.Rev)) {
			delete(res, name)
			continue
		}
		for n, v := range r.Usage {
			total[api.ResourceName(n)] += v
		}
		if exp := r.At.Add(PendingTTL); nextExpiry.IsZero() || exp.Before(nextExpiry) {
			nextExpiry = exp
		}
	}
	writePending(q, res)
	setStatus(q, total)
	return nextExpiry
}

// setStatus writes status.hard and status.used for the quota's names.
func setStatus(q *api.ResourceQuota, total usage) {
	names := hardNames(q)
	if len(names) == 0 {
		q.Status = api.ResourceQuotaStatus{}
		return
	}
	q.Status.Hard = api.ResourceList{}
	q.Status.Used = api.ResourceList{}
	for _, n := range names {
		q.Status.Hard[n] = q.Spec.Hard[n]
		q.Status.Used[n] = api.Quantity(formatAmount(n, total[chargedAs(n)]))
	}
}

// statusCurrent reports whether status.used was computed for the current
// spec.hard, so that admission may start from it.
func statusCurrent(q *api.ResourceQuota) bool {
	names := hardNames(q)
	if len(q.Status.Hard) != len(names) || len(q.Status.Used) != len(names) {
		return false
	}
	for _, n := range names {
		if q.Status.Hard[n] != q.Spec.Hard[n] {
			return false
		}
		if _, err := q.Status.Used[n].Parse(); err != nil {
			return false
		}
	}
	return true
}

// usedFromStatus reads status.used into charge names.
func usedFromStatus(q *api.ResourceQuota) usage {
	out := usage{}
	for _, n := range hardNames(q) {
		out[chargedAs(n)] = amount(n, q.Status.Used[n])
	}
	return out
}

// admitQuota charges pod against every ResourceQuota of its namespace,
// reserving on each in turn; a refusal by one gives back what the others
// reserved.
func admitQuota(ctx context.Context, st *store.Store, pod *api.Pod, cached []*api.ResourceQuota) error {
	if cached == nil {
		info := api.KindOf(&api.ResourceQuota{})
		objs, _, err := st.ListObjects(ctx, info, pod.Namespace)
		if err != nil {
			return fmt.Errorf("admit pod %s/%s: list quotas: %w", pod.Namespace, displayName(&pod.ObjectMeta), err)
		}
		cached = make([]*api.ResourceQuota, 0, len(objs))
		for _, o := range objs {
			cached = append(cached, o.(*api.ResourceQuota))
		}
	}
	var quotas []string
	for _, q := range cached {
		if q.Namespace == pod.Namespace && len(hardNames(q)) > 0 {
			quotas = append(quotas, q.Name)
		}
	}
	if len(quotas) == 0 {
		return nil
	}
	charge, missing := PodCharge(pod)
	if len(charge) == 0 {
		return nil // terminal: counts for nothing
	}
	if pod.Name == "" {
		// The reservation names the pod, so it needs its name now.
		pod.Name = pod.GenerateName + nameSuffix()
	} else if _, err := st.GetObject(ctx, api.KindOf(pod), pod.Namespace, pod.Name); err == nil {
		return nil // the create will fail with AlreadyExists: reserve nothing
	}
	quotaRes := store.For[*api.ResourceQuota](st)
	var reserved []string
	for _, name := range quotas {
		if err := reserve(ctx, st, quotaRes, pod, name, charge, missing); err != nil {
			for _, r := range reserved {
				release(ctx, quotaRes, pod, r, charge)
			}
			return err
		}
		reserved = append(reserved, name)
	}
	return nil
}

// reserve adds pod's charge to one quota's status.used with a
// compare-and-swap, or refuses the pod.
func reserve(ctx context.Context, st *store.Store, quotas *store.Resource[*api.ResourceQuota], pod *api.Pod, name string, charge map[api.ResourceName]int64, missing map[api.ResourceName]bool) error {
	_, err := quotas.Mutate(ctx, pod.Namespace, name, func(q *api.ResourceQuota) error {
		names := hardNames(q)
		if len(names) == 0 {
			return store.ErrSkip
		}
		var unstated []string
		for _, n := range names {
			if missing[chargedAs(n)] {
				unstated = append(unstated, string(chargedAs(n)))
			}
		}
		if len(unstated) > 0 {
			return &ForbiddenError{Resource: "pods", Name: pod.Name,
				Reason: fmt.Sprintf("failed quota: %s: must specify %s", q.Name, strings.Join(dedupe(unstated), ","))}
		}
		now := time.Now()
		var used usage
		fresh := false
		if statusCurrent(q) {
			used = usedFromStatus(q)
		} else {
			if err := recomputeFromStore(ctx, st, q, now); err != nil {
				return err
			}
			used, fresh = usedFromStatus(q), true
		}
		over := exceeded(q, names, used, charge)
		if len(over) > 0 && !fresh {
			// status.used may still hold pods that are gone: count again.
			if err := recomputeFromStore(ctx, st, q, now); err != nil {
				return err
			}
			used = usedFromStatus(q)
			over = exceeded(q, names, used, charge)
		}
		if len(over) > 0 {
			return quotaExceeded(q, pod.Name, over, used, charge)
		}
		total := usage{}
		for n, v := range used {
			total[n] = v
		}
		for n, v := range charge {
			total[n] += v
		}
		setStatus(q, total)
		res := readPending(q)
		u := make(map[string]int64, len(charge))
		for n, v := range charge {
			u[string(n)] = v
		}
		rev, _ := store.ParseResourceVersion(q.ResourceVersion)
		res[pod.Name] = pending{At: now.UTC(), Rev: rev, Usage: u}
		writePending(q, res)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil // the quota was deleted meanwhile
	}
	var fe *ForbiddenError
	if err != nil && !errors.As(err, &fe) {
		return fmt.Errorf("admit pod %s/%s: reserve on quota %s: %w", pod.Namespace, pod.Name, name, err)
	}
	return err
}

func dedupe(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// recomputeFromStore recomputes q's status from the pods in the store.
func recomputeFromStore(ctx context.Context, st *store.Store, q *api.ResourceQuota, now time.Time) error {
	pods, err := store.For[*api.Pod](st).List(ctx, q.Namespace)
	if err != nil {
		return fmt.Errorf("count pods for quota %s/%s: %w", q.Namespace, q.Name, err)
	}
	RecomputeQuota(q, pods, now, nil)
	return nil
}

// exceeded lists the quota names that used plus charge would take over
// the hard limit.
func exceeded(q *api.ResourceQuota, names []api.ResourceName, used usage, charge map[api.ResourceName]int64) []api.ResourceName {
	var over []api.ResourceName
	for _, n := range names {
		c := chargedAs(n)
		if charge[c] == 0 {
			continue
		}
		if used[c]+charge[c] > amount(n, q.Spec.Hard[n]) {
			over = append(over, n)
		}
	}
	return over
}

// quotaExceeded words a refusal as Kubernetes does.
func quotaExceeded(q *api.ResourceQuota, pod string, over []api.ResourceName, used usage, charge map[api.ResourceName]int64) error {
	var req, use, lim []string
	for _, n := range over {
		c := chargedAs(n)
		req = append(req, fmt.Sprintf("%s=%s", n, formatAmount(n, charge[c])))
		use = append(use, fmt.Sprintf("%s=%s", n, formatAmount(n, used[c])))
		lim = append(lim, fmt.Sprintf("%s=%s", n, q.Spec.Hard[n]))
	}
	return &ForbiddenError{Resource: "pods", Name: pod, Reason: fmt.Sprintf("exceeded quota: %s, requested: %s, used: %s, limited: %s",
		q.Name, strings.Join(req, ","), strings.Join(use, ","), strings.Join(lim, ","))}
}

// release gives back a reservation made for pod on one quota, when a later
// quota refused it. It is best effort: a reservation not given back expires
// after PendingTTL.
func release(ctx context.Context, quotas *store.Resource[*api.ResourceQuota], pod *api.Pod, name string, charge map[api.ResourceName]int64) {
	_, _ = quotas.Mutate(ctx, pod.Namespace, name, func(q *api.ResourceQuota) error {
		res := readPending(q)
		if _, ok := res[pod.Name]; !ok || !statusCurrent(q) {
			return store.ErrSkip
		}
		delete(res, pod.Name)
		writePending(q, res)
		used := usedFromStatus(q)
		for n, v := range charge {
			used[n] = max(used[n]-v, 0)
		}
		setStatus(q, used)
		return nil
	})
}

const nameSuffixChars = "bcdfghjklmnpqrstvwxz2456789"

// nameSuffix is five random characters, as the store appends to a
// generateName.
func nameSuffix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = nameSuffixChars[int(b[i])%len(nameSuffixChars)]
	}
	return string(b)
}
