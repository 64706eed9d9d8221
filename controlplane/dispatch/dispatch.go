package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Options configure a Dispatcher.
type Options struct {
	// RequestTimeout bounds requests to agents (logs). Default 5s.
	RequestTimeout time.Duration
	// Observer, if set, hears of every push (metrics).
	Observer Observer
}

// Observer hears how long each push to a node took (encode and publish).
// It must be cheap and must not block.
type Observer interface {
	ObservePush(kind string, d time.Duration, err error)
}

// Kinds of push an Observer hears of.
const (
	PushPod     = "pod"     // a pod to run, or its changed spec or deletion
	PushRemoved = "removed" // a pod the node must drop
)

// Dispatcher pushes pods to nodes and answers their sync requests.
type Dispatcher struct {
	opts Options
	nc   *nats.Conn
	pods *store.Resource[*api.Pod]
	cfg  *configs
	log  *slog.Logger

	mu     sync.Mutex
	byNode map[string]map[string]*entry // node → pod key → entry
	where  map[string]string            // pod key → node
	synced chan struct{}

	sub    *nats.Subscription
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type entry struct {
	pod *api.Pod
	// pushed is the digest of what the agent acts on, as last published.
	pushed [32]byte
}

// New returns a Dispatcher; Start runs it.
func New(nc *nats.Conn, st *store.Store, opts Options, log *slog.Logger) *Dispatcher {
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 5 * time.Second
	}
	return &Dispatcher{
		opts: opts, nc: nc, pods: store.For[*api.Pod](st), cfg: newConfigs(st), log: log,
		byNode: map[string]map[string]*entry{}, where: map[string]string{}, synced: make(chan struct{}),
	}
}

// Start watches pods and serves sync requests.
func (d *Dispatcher) Start(ctx context.Context) error {
	ctx, d.cancel = context.WithCancel(context.WithoutCancel(ctx))
	events, err := d.pods.Watch(ctx, store.WatchOptions{})
	if err != nil {
		d.cancel()
		return err
	}
	if err := d.cfg.start(ctx, &d.wg, d.onConfig); err != nil {
		d.cancel()
		d.wg.Wait()
		return err
	}
	d.sub, err = d.nc.QueueSubscribe(api.AgentSubjectAll(api.AgentSync), api.ControlPlaneQueue, d.onSync)
	if err != nil {
		d.cancel()
		return fmt.Errorf("subscribe to sync requests: %w", err)
	}
	// Once Start returns, the server knows the subscription: a sync right
	// after is answered, not met with "no responders".
	if err := d.nc.FlushTimeout(5 * time.Second); err != nil {
		_ = d.sub.Unsubscribe()
		d.cancel()
		return fmt.Errorf("subscribe to sync requests: %w", err)
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for ev := range events {
			d.onPod(ev)
		}
	}()
	return nil
}

// Stop ends dispatching and waits for it.
func (d *Dispatcher) Stop() {
	if d.sub != nil {
		_ = d.sub.Unsubscribe()
	}
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
}

// agentView is the digest of what an agent acts on: identity, spec,
// deletion. Status changes (mostly written by the agent itself) are not
// pushed back to it.
func agentView(p *api.Pod) [32]byte {
	b, _ := json.Marshal(struct {
		UID      string
		Spec     api.PodSpec
		Deletion *time.Time
		Grace    *int64
		Labels   map[string]string
	}{p.UID, p.Spec, p.DeletionTimestamp, p.DeletionGracePeriodSeconds, p.Labels})
	return sha256.Sum256(b)
}

func (d *Dispatcher) onPod(ev store.Event[*api.Pod]) {
	switch ev.Type {
	case store.Synced:
		close(d.synced)
	case store.Added, store.Modified:
		p := ev.Object
		key := p.Namespace + "/" + p.Name
		d.mu.Lock()
		if old, ok := d.where[key]; ok && old != p.Spec.NodeName {
			// Rebound elsewhere (only possible after a delete+create with
			// the same name): the old node must drop it.
			oldEntry := d.byNode[old][key]
			delete(d.byNode[old], key)
			d.mu.Unlock()
			if oldEntry != nil {
				d.push(old, api.PodAssignment{Removed: true, Namespace: p.Namespace, Name: p.Name, UID: oldEntry.pod.UID})
			}
			d.mu.Lock()
			delete(d.where, key)
		}
		if p.Spec.NodeName == "" {
			d.mu.Unlock()
			return
		}
		node := p.Spec.NodeName
		m := d.byNode[node]
		if m == nil {
			m = map[string]*entry{}
			d.byNode[node] = m
		}
		view := agentView(p)
		e := m[key]
		changed := e == nil || e.pushed != view
		if e == nil {
			e = &entry{}
			m[key] = e
		}
		e.pod = p
		e.pushed = view
		d.where[key] = node
		d.mu.Unlock()
		if changed {
			cms, secs := d.cfg.forPods(p)
			d.push(node, api.PodAssignment{Pod: p, ConfigMaps: cms, Secrets: secs})
		}
	case store.Deleted:
		key := ev.Namespace + "/" + ev.Name
		d.mu.Lock()
		node, ok := d.where[key]
		var e *entry
		if ok {
			e = d.byNode[node][key]
			delete(d.byNode[node], key)
			delete(d.where, key)
		}
		d.mu.Unlock()
		if e != nil {
			d.push(node, api.PodAssignment{Removed: true, Namespace: ev.Namespace, Name: ev.Name, UID: e.pod.UID})
		}
	}
}

func (d *Dispatcher) push(node string, a api.PodAssignment) {
	start := time.Now()
	b, err := json.Marshal(a)
	if err != nil {
		d.log.Error("encode pod assignment", "node", node, "err", err)
		return
	}
	// Core NATS publish: if the node is away the message is dropped, and
	// the node's full sync on reconnect repairs it.
	err = d.nc.Publish(api.NodePodsSubject(node), b)
	if err != nil {
		d.log.Warn("push pod", "node", node, "err", err)
	}
	if d.opts.Observer != nil {
		kind := PushPod
		if a.Removed {
			kind = PushRemoved
		}
		d.opts.Observer.ObservePush(kind, time.Since(start), err)
	}
}

// onConfig pushes a changed ConfigMap or Secret to each node with a pod
// that references it.
func (d *Dispatcher) onConfig(ns, name string, a api.PodAssignment, isSecret bool) {
	d.mu.Lock()
	var nodes []string
	for node, pods := range d.byNode {
		for _, e := range pods {
			if references(e.pod, ns, name, isSecret) {
				nodes = append(nodes, node)
				break
			}
		}
	}
	d.mu.Unlock()
	for _, node := range nodes {
		d.push(node, a)
	}
}

// PodsFor returns every pod bound to node, sorted by namespace/name.
func (d *Dispatcher) PodsFor(node string) []api.Pod {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]api.Pod, 0, len(d.byNode[node]))
	for _, e := range d.byNode[node] {
		out = append(out, *e.pod)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func (d *Dispatcher) onSync(msg *nats.Msg) {
	node := api.NodeFromAgentSubject(msg.Subject)
	if !api.AgentReplyAllowed(msg.Subject, msg.Reply) {
		d.log.Warn("sync request dropped: its reply subject is outside the node's inbox", "node", node, "reply", msg.Reply)
		return
	}
	var resp api.SyncResponse
	timeout := time.NewTimer(d.opts.RequestTimeout)
	defer timeout.Stop()
	loaded := true
	for _, ch := range []<-chan struct{}{d.synced, d.cfg.ready} {
		if !loaded {
			break
		}
		select {
		case <-ch:
		case <-timeout.C:
			loaded = false
		}
	}
	if loaded {
		resp.Pods = d.PodsFor(node)
		ptrs := make([]*api.Pod, len(resp.Pods))
		for i := range resp.Pods {
			ptrs[i] = &resp.Pods[i]
		}
		resp.ConfigMaps, resp.Secrets = d.cfg.forPods(ptrs...)
	} else {
		resp.Error = "control plane is still loading pods; retry"
	}
	b, err := json.Marshal(resp)
	if err != nil {
		d.log.Error("encode sync response", "node", node, "err", err)
		return
	}
	if err := msg.Respond(b); err != nil {
		d.log.Warn("answer sync", "node", node, "err", err)
	}
}

// PodLogs asks the pod's node for a container's log.
func (d *Dispatcher) PodLogs(ctx context.Context, pod *api.Pod, req api.LogRequest) ([]byte, error) {
	resp, err := d.ReadPodLog(ctx, pod, req)
	if err != nil {
		return nil, err
	}
	return resp.Data, nil
}

// ReadPodLog asks the pod's node for a container's log and returns the
// whole answer: with the offset where the data ends and whether the
// container terminated, which a follower needs. Errors are as PodLogs's.
func (d *Dispatcher) ReadPodLog(ctx context.Context, pod *api.Pod, req api.LogRequest) (api.LogResponse, error) {
	if pod.Spec.NodeName == "" {
		return api.LogResponse{}, fmt.Errorf("pod %s/%s is not scheduled yet, so it has no logs: %w", pod.Namespace, pod.Name, store.ErrNotFound)
	}
	req.Namespace, req.Name, req.UID = pod.Namespace, pod.Name, pod.UID
	b, err := json.Marshal(req)
	if err != nil {
		return api.LogResponse{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.RequestTimeout)
	defer cancel()
	msg, err := d.nc.RequestWithContext(ctx, api.NodeLogsSubject(pod.Spec.NodeName), b)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			return api.LogResponse{}, fmt.Errorf("logs of pod %s/%s: node %s did not answer: %w", pod.Namespace, pod.Name, pod.Spec.NodeName, api.ErrNodeUnreachable)
		}
		return api.LogResponse{}, fmt.Errorf("logs of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	var resp api.LogResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return api.LogResponse{}, fmt.Errorf("logs of pod %s/%s: bad answer from node %s: %w", pod.Namespace, pod.Name, pod.Spec.NodeName, err)
	}
	if resp.NotFound {
		return api.LogResponse{}, fmt.Errorf("logs of pod %s/%s: %s: %w", pod.Namespace, pod.Name, resp.Error, store.ErrNotFound)
	}
	if resp.Error != "" {
		return api.LogResponse{}, fmt.Errorf("logs of pod %s/%s: %s", pod.Namespace, pod.Name, resp.Error)
	}
	return resp, nil
}
