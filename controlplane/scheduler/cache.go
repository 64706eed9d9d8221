package scheduler

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/skiff-sh/skiff/api"
)

// Resources are the amounts the scheduler counts: cpu in millicores,
// memory in bytes.
type Resources struct {
	MilliCPU int64
	Memory   int64
}

func (r *Resources) add(o Resources, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
}

// Requests counted for a container that asks for none, for scoring only
// (as kube-scheduler does), so that pods without requests still spread by
// how full nodes are.
const (
	DefaultMilliCPURequest int64 = 100
	DefaultMemoryRequest   int64 = 200 << 20
)

// PodRequests is what a pod asks of a node, as Kubernetes counts it: the
// sum of its containers' requests, or the largest init container's request
// when that is more (init containers run one at a time, before the rest),
// per resource; a request missing where a limit is set counts as the limit
// (Kubernetes defaults requests to limits). nonZero counts a container
// without a cpu or memory request as DefaultMilliCPURequest or
// DefaultMemoryRequest.
func PodRequests(p *api.Pod) (req, nonZero Resources) {
	for i := range p.Spec.Containers {
		r, nz := containerRequests(&p.Spec.Containers[i])
		req.add(r, 1)
		nonZero.add(nz, 1)
	}
	for i := range p.Spec.InitContainers {
		r, nz := containerRequests(&p.Spec.InitContainers[i])
		req = Resources{max(req.MilliCPU, r.MilliCPU), max(req.Memory, r.Memory)}
		nonZero = Resources{max(nonZero.MilliCPU, nz.MilliCPU), max(nonZero.Memory, nz.Memory)}
	}
	return req, nonZero
}

func containerRequests(c *api.Container) (req, nonZero Resources) {
	req = Resources{
		MilliCPU: requestOrLimit(c.Resources, api.ResourceCPU).MilliValue(),
		Memory:   requestOrLimit(c.Resources, api.ResourceMemory).Value(),
	}
	nonZero = req
	if nonZero.MilliCPU == 0 {
		nonZero.MilliCPU = DefaultMilliCPURequest
	}
	if nonZero.Memory == 0 {
		nonZero.Memory = DefaultMemoryRequest
	}
	return req, nonZero
}

// hostPort is a port a container takes on its node's network.
type hostPort struct {
	ip       string // "" for every address
	protocol string
	port     int32
}

// hostPorts are the host ports a pod's containers ask for.
func hostPorts(p *api.Pod) []hostPort {
	var out []hostPort
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.HostPort <= 0 {
				continue
			}
			hp := hostPort{ip: cp.HostIP, protocol: cp.Protocol, port: cp.HostPort}
			if hp.ip == "0.0.0.0" || hp.ip == "::" {
				hp.ip = ""
			}
			if hp.protocol == "" {
				hp.protocol = "TCP"
			}
			out = append(out, hp)
		}
	}
	return out
}

func requestOrLimit(r api.ResourceRequirements, name api.ResourceName) api.Quantity {
	if q, ok := r.Requests[name]; ok {
		return q
	}
	return r.Limits[name]
}

// NodeInfo is a node with what the scheduler knows is bound to it. Make
// one with NewNodeInfo; the scheduler keeps the counts up to date as pods
// come and go.
type NodeInfo struct {
	Node *api.Node
	// Pods is the number of non-terminal pods bound to the node.
	Pods int
	// Requested is the sum of those pods' requests.
	Requested Resources
	// NonZeroRequested is the same with DefaultMilliCPURequest and
	// DefaultMemoryRequest for containers that request nothing.
	NonZeroRequested Resources
	// Allocatable is status.allocatable: what the node offers pods. A
	// resource the node does not report is 0, as in Kubernetes.
	Allocatable Resources
	// MaxPods is status.allocatable.pods; 0 means no limit.
	MaxPods int64

	ready     bool
	usedPorts map[hostPort]int
}

// portTaken reports whether a pod bound here holds the port: the same
// port and protocol on the same address, or either on every address.
func (ni *NodeInfo) portTaken(want hostPort) bool {
	for used := range ni.usedPorts {
		if used.port == want.port && used.protocol == want.protocol && (used.ip == want.ip || used.ip == "" || want.ip == "") {
			return true
		}
	}
	return false
}

// NewNodeInfo returns the NodeInfo of a node with no pods.
func NewNodeInfo(n *api.Node) *NodeInfo {
	ni := &NodeInfo{}
	ni.setNode(n)
	return ni
}

func (ni *NodeInfo) setNode(n *api.Node) {
	ni.Node = n
	if n == nil {
		return
	}
	a := n.Status.Allocatable
	ni.Allocatable = Resources{MilliCPU: a[api.ResourceCPU].MilliValue(), Memory: a[api.ResourceMemory].Value()}
	ni.MaxPods = 0
	if q, ok := a[api.ResourcePods]; ok {
		ni.MaxPods = q.Value()
	}
	ni.ready = n.IsReady()
}

// AddPod counts a bound pod on the node, for callers (tests, simulations)
// that build NodeInfos themselves.
func (ni *NodeInfo) AddPod(p *api.Pod) { ni.account(newPodInfo(p), +1) }

func (ni *NodeInfo) account(pi *podInfo, sign int64) {
	ni.Pods += int(sign)
	ni.Requested.add(pi.req, sign)
	ni.NonZeroRequested.add(pi.nonZero, sign)
	for _, hp := range pi.ports {
		if ni.usedPorts == nil {
			ni.usedPorts = map[hostPort]int{}
		}
		if n := ni.usedPorts[hp] + int(sign); n > 0 {
			ni.usedPorts[hp] = n
		} else {
			delete(ni.usedPorts, hp)
		}
	}
}

// topologyValue is the node's domain for a topology key: the label's value.
// A node without a kubernetes.io/hostname label is its own domain under
// that key, named after the node.
func topologyValue(n *api.Node, key string) (string, bool) {
	if v, ok := n.Labels[key]; ok {
		return v, true
	}
	if key == api.LabelHostname {
		return n.Name, true
	}
	return "", false
}

// podInfo is a cached pod with what the scheduler derives from it once.
type podInfo struct {
	pod          *api.Pod
	req, nonZero Resources
	ports        []hostPort
	// terms are the pod's own anti-affinity terms, under their index keys;
	// counted on its node while it is bound (for the symmetric check).
	terms []antiTerm
}

// antiTerm is an anti-affinity term with its namespaces resolved (the
// pod's own when the term names none) and weight 0 when required.
type antiTerm struct {
	key         string
	namespaces  []string
	selector    *api.LabelSelector
	topologyKey string
	weight      int64
}

func newPodInfo(p *api.Pod) *podInfo {
	pi := &podInfo{pod: p}
	pi.req, pi.nonZero = PodRequests(p)
	pi.ports = hostPorts(p)
	if a := p.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, t := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			pi.terms = append(pi.terms, newAntiTerm(p, t, 0))
		}
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			if w.Weight > 0 {
				pi.terms = append(pi.terms, newAntiTerm(p, w.PodAffinityTerm, int64(w.Weight)))
			}
		}
	}
	return pi
}

func newAntiTerm(p *api.Pod, t api.PodAffinityTerm, weight int64) antiTerm {
	ns := termNamespaces(p, t.Namespaces)
	sel, _ := json.Marshal(t.LabelSelector)
	return antiTerm{
		key:        strings.Join(ns, ",") + "|" + string(sel) + "|" + t.TopologyKey + "|" + strconv.FormatInt(weight, 10),
		namespaces: ns, selector: t.LabelSelector, topologyKey: t.TopologyKey, weight: weight,
	}
}

// termNamespaces are the namespaces a term looks in: those it names, or
// the pod's own; sorted and without duplicates.
func termNamespaces(p *api.Pod, ns []string) []string {
	if len(ns) == 0 {
		return []string{p.Namespace}
	}
	out := slices.Clone(ns)
	sort.Strings(out)
	return slices.Compact(out)
}

// counted reports whether a pod holds a place on its node: bound and not
// finished. Terminating pods still hold theirs until they are gone.
func counted(p *api.Pod) bool {
	return p.Spec.NodeName != "" && !p.Status.Phase.Terminal()
}

// matchIndex counts, per node, the counted pods in some namespaces whose
// labels match a selector. It is built the first time a pod's constraints
// ask for it and kept up to date as pods change.
type matchIndex struct {
	namespaces []string
	selector   *api.LabelSelector
	perNode    map[string]int
	lastUse    uint64
}

func (m *matchIndex) selects(p *api.Pod) bool {
	return slices.Contains(m.namespaces, p.Namespace) && m.selector.Matches(p.Labels)
}

// existingTerm counts, per node, the counted pods that carry one
// anti-affinity term.
type existingTerm struct {
	antiTerm
	perNode map[string]int
	pods    int
}

// maxMatchIndexes bounds the selector indexes kept; the least recently
// used goes first.
const maxMatchIndexes = 256

// cache is the scheduler's picture of the cluster: nodes with the pods
// bound to them, and indexes over bound pods. It is owned by one goroutine.
type cache struct {
	pods map[string]*podInfo
	// nodes holds every node, and a NodeInfo with a nil Node for a node
	// name that bound pods name but that is not (or no longer) registered,
	// so its counts are right if it comes back.
	nodes  map[string]*NodeInfo
	sorted []*NodeInfo // registered nodes by name; nil when stale

	indexes map[string]*matchIndex
	terms   map[string]*existingTerm
	uses    uint64
	// hostnameNotName counts the registered nodes whose
	// kubernetes.io/hostname label is not their name.
	hostnameNotName int
	// nodeGen changes when a node is added, removed or relabelled.
	nodeGen  uint64
	eligible map[string]*eligibleDomains
}

// eligibleDomains are the nodes a pod may use for topology spreading —
// those matching its nodeSelector and required node affinity that have
// every one of some topology keys — with their domain under each key.
type eligibleDomains struct {
	gen  uint64
	node map[string][]string // node name → its domain under each key
	// domains counts the distinct domains under each key.
	domains []int
}

// maxEligible bounds the eligibleDomains kept; all go when it is reached.
const maxEligible = 64

// eligibleFor returns the eligible nodes of a pod for keys, computed once
// per pod placement constraints until the nodes change.
func (c *cache) eligibleFor(p *api.Pod, keys []string) *eligibleDomains {
	var req *api.NodeSelector
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		req = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	sig, _ := json.Marshal([]any{keys, p.Spec.NodeSelector, req})
	if e := c.eligible[string(sig)]; e != nil && e.gen == c.nodeGen {
		return e
	}
	if len(c.eligible) >= maxEligible {
		clear(c.eligible)
	}
	e := &eligibleDomains{gen: c.nodeGen, node: map[string][]string{}, domains: make([]int, len(keys))}
	seen := make([]map[string]bool, len(keys))
	for i := range seen {
		seen[i] = map[string]bool{}
	}
	for _, ni := range c.nodeList() {
		n := ni.Node
		if !matchesNodeSelector(p, n) || !req.Matches(n.Name, n.Labels) {
			continue
		}
		vals := make([]string, len(keys))
		ok := true
		for i, k := range keys {
			if vals[i], ok = topologyValue(n, k); !ok {
				break
			}
		}
		if !ok {
			continue
		}
		e.node[n.Name] = vals
		for i, v := range vals {
			if !seen[i][v] {
				seen[i][v] = true
				e.domains[i]++
			}
		}
	}
	if c.eligible == nil {
		c.eligible = map[string]*eligibleDomains{}
	}
	c.eligible[string(sig)] = e
	return e
}

func hostnameNotName(n *api.Node) int {
	if v, ok := n.Labels[api.LabelHostname]; ok && v != n.Name {
		return 1
	}
	return 0
}

func newCache() *cache {
	return &cache{
		pods: map[string]*podInfo{}, nodes: map[string]*NodeInfo{},
		indexes: map[string]*matchIndex{}, terms: map[string]*existingTerm{},
	}
}

func (c *cache) pod(key string) *podInfo { return c.pods[key] }

// setPod records the current version of a pod and returns the one it
// replaced (nil if none).
func (c *cache) setPod(key string, p *api.Pod) *podInfo {
	old := c.pods[key]
	if old != nil {
		c.account(old, -1)
	}
	pi := newPodInfo(p)
	c.pods[key] = pi
	c.account(pi, +1)
	return old
}

func (c *cache) deletePod(key string) *podInfo {
	old := c.pods[key]
	if old != nil {
		c.account(old, -1)
		delete(c.pods, key)
	}
	return old
}

// account adds (sign +1) or removes (-1) a pod's claim on its node and
// its place in the indexes.
func (c *cache) account(pi *podInfo, sign int) {
	p := pi.pod
	if !counted(p) {
		return
	}
	name := p.Spec.NodeName
	ni := c.nodes[name]
	if ni == nil {
		ni = &NodeInfo{}
		c.nodes[name] = ni
	}
	ni.account(pi, int64(sign))
	for _, idx := range c.indexes {
		if idx.selects(p) {
			addCount(idx.perNode, name, sign)
		}
	}
	for _, t := range pi.terms {
		et := c.terms[t.key]
		if et == nil {
			et = &existingTerm{antiTerm: t, perNode: map[string]int{}}
			c.terms[t.key] = et
		}
		et.pods += sign
		addCount(et.perNode, name, sign)
		if et.pods <= 0 {
			delete(c.terms, t.key)
		}
	}
	if ni.Node == nil && ni.Pods <= 0 {
		delete(c.nodes, name)
	}
}

func addCount(m map[string]int, k string, d int) {
	if n := m[k] + d; n > 0 {
		m[k] = n
	} else {
		delete(m, k)
	}
}

// setNode records a node's current version and returns the previous one.
func (c *cache) setNode(n *api.Node) *api.Node {
	ni := c.nodes[n.Name]
	if ni == nil {
		ni = &NodeInfo{}
		c.nodes[n.Name] = ni
	}
	old := ni.Node
	if old == nil || !maps.Equal(old.Labels, n.Labels) {
		c.nodeGen++
	}
	if old == nil {
		c.sorted = nil
	} else {
		c.hostnameNotName -= hostnameNotName(old)
	}
	c.hostnameNotName += hostnameNotName(n)
	ni.setNode(n)
	return old
}

func (c *cache) deleteNode(name string) {
	ni := c.nodes[name]
	if ni == nil || ni.Node == nil {
		return
	}
	c.sorted = nil
	c.nodeGen++
	c.hostnameNotName -= hostnameNotName(ni.Node)
	if ni.Pods <= 0 {
		delete(c.nodes, name)
		return
	}
	ni.setNode(nil) // keep the counts of pods still bound to it
}

// nodeList is every registered node, by name.
func (c *cache) nodeList() []*NodeInfo {
	if c.sorted == nil {
		c.sorted = make([]*NodeInfo, 0, len(c.nodes))
		for _, ni := range c.nodes {
			if ni.Node != nil {
				c.sorted = append(c.sorted, ni)
			}
		}
		sort.Slice(c.sorted, func(i, j int) bool { return c.sorted[i].Node.Name < c.sorted[j].Node.Name })
	}
	return c.sorted
}

// matching counts, per node name, the counted pods in namespaces whose
// labels match sel. The first call for a selector walks every pod; later
// ones read an index kept up to date by account. The result must not be
// changed.
func (c *cache) matching(namespaces []string, sel *api.LabelSelector) map[string]int {
	sb, _ := json.Marshal(sel)
	key := strings.Join(namespaces, ",") + "|" + string(sb)
	c.uses++
	if idx := c.indexes[key]; idx != nil {
		idx.lastUse = c.uses
		return idx.perNode
	}
	if len(c.indexes) >= maxMatchIndexes {
		c.evictIndex()
	}
	idx := &matchIndex{namespaces: slices.Clone(namespaces), selector: sel, perNode: map[string]int{}, lastUse: c.uses}
	for _, pi := range c.pods {
		if counted(pi.pod) && idx.selects(pi.pod) {
			idx.perNode[pi.pod.Spec.NodeName]++
		}
	}
	c.indexes[key] = idx
	return idx.perNode
}

func (c *cache) evictIndex() {
	oldest, key := uint64(0), ""
	for k, idx := range c.indexes {
		if key == "" || idx.lastUse < oldest {
			oldest, key = idx.lastUse, k
		}
	}
	delete(c.indexes, key)
}

// nodeSchedulingChanged reports whether a node changed in a way that can
// make a pod fit that did not (heartbeats alone do not).
func nodeSchedulingChanged(a, b *api.Node) bool {
	return !maps.Equal(a.Labels, b.Labels) ||
		a.Spec.Unschedulable != b.Spec.Unschedulable ||
		a.IsReady() != b.IsReady() ||
		!slices.EqualFunc(a.Spec.Taints, b.Spec.Taints, func(x, y api.Taint) bool {
			return x.Key == y.Key && x.Value == y.Value && x.Effect == y.Effect
		}) ||
		!maps.Equal(a.Status.Allocatable, b.Status.Allocatable) ||
		!slices.Equal(a.Status.Runtimes, b.Status.Runtimes)
}
