package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
)

// Options configure the Server.
type Options struct {
	// Workers handle status reports in parallel, each pod always on the
	// same worker so its reports stay in order. Default 32: each write
	// waits for an fsync, and the store takes many at once.
	Workers int
	// Replicas of the leases bucket. Default 1.
	Replicas int
	// JoinLabels, when set, are the labels a node joined with, which its
	// Node gets when it registers for the first time (after it joined, or
	// after it was deleted).
	JoinLabels func(ctx context.Context, node string) (map[string]string, error)
}

// Server handles agents' messages.
type Server struct {
	opts   Options
	nc     *nats.Conn
	pods   *store.Resource[*api.Pod]
	nodes  *store.Resource[*api.Node]
	leases jetstream.KeyValue
	log    *slog.Logger
	now    func() time.Time

	subs   []*nats.Subscription
	queues []chan *nats.Msg
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// OpenLeases creates or updates the leases bucket.
func OpenLeases(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	if replicas == 0 {
		replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      api.LeasesBucket,
		Description: "Skiff node leases, keyed by node name",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", api.LeasesBucket, err)
	}
	return kv, nil
}

// New returns a Server; Start subscribes it.
func New(nc *nats.Conn, st *store.Store, leases jetstream.KeyValue, opts Options, log *slog.Logger) *Server {
	if opts.Workers == 0 {
		opts.Workers = 32
	}
	return &Server{
		opts: opts, nc: nc, pods: store.For[*api.Pod](st), nodes: store.For[*api.Node](st),
		leases: leases, log: log, now: time.Now,
	}
}

// Start subscribes to the agents' subjects.
func (s *Server) Start(ctx context.Context) error {
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for i := 0; i < s.opts.Workers; i++ {
		q := make(chan *nats.Msg, 256)
		s.queues = append(s.queues, q)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				select {
				case <-s.ctx.Done():
					return
				case m := <-q:
					s.handle(m)
				}
			}
		}()
	}
	for _, verb := range []string{api.AgentRegister, api.AgentLease, api.AgentStatus} {
		sub, err := s.nc.QueueSubscribe(api.AgentSubjectAll(verb), api.ControlPlaneQueue, s.dispatch)
		if err != nil {
			s.Stop()
			return fmt.Errorf("subscribe to %s: %w", verb, err)
		}
		_ = sub.SetPendingLimits(-1, -1)
		s.subs = append(s.subs, sub)
	}
	// Once Start returns, the server knows the subscriptions: a request
	// right after is answered, not met with "no responders".
	if err := s.nc.FlushTimeout(5 * time.Second); err != nil {
		s.Stop()
		return fmt.Errorf("subscribe to agent subjects: %w", err)
	}
	return nil
}

// Stop unsubscribes and waits for in-flight messages.
func (s *Server) Stop() {
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	s.subs = nil
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// dispatch hands a message to its worker: one worker per node (register,
// lease) or per pod (status), so messages about one object stay in order.
func (s *Server) dispatch(m *nats.Msg) {
	if !api.AgentReplyAllowed(m.Subject, m.Reply) {
		s.log.Warn("agent message dropped: its reply subject is outside the node's inbox", "subject", m.Subject, "reply", m.Reply)
		return
	}
	h := fnv.New32a()
	h.Write([]byte(m.Subject))
	if verbOf(m.Subject) == api.AgentStatus {
		var ref struct{ Namespace, Name string }
		_ = json.Unmarshal(m.Data, &ref)
		h.Write([]byte(ref.Namespace + "/" + ref.Name))
	}
	select {
	case s.queues[h.Sum32()%uint32(len(s.queues))] <- m:
	case <-s.ctx.Done():
	}
}

func verbOf(subject string) string {
	for i := len(subject) - 1; i >= 0; i-- {
		if subject[i] == '.' {
			return subject[i+1:]
		}
	}
	return subject
}

func (s *Server) handle(m *nats.Msg) {
	node := api.NodeFromAgentSubject(m.Subject)
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	var err error
	var warnings []string
	switch verbOf(m.Subject) {
	case api.AgentRegister:
		warnings, err = s.register(ctx, node, m.Data)
	case api.AgentLease:
		err = s.renew(ctx, node, m.Data)
	case api.AgentStatus:
		err = s.status(ctx, node, m.Data)
	}
	if err != nil {
		s.log.Warn("agent message", "subject", m.Subject, "err", err)
	}
	if m.Reply != "" {
		ack := api.Ack{Warnings: warnings}
		if err != nil {
			ack.Error = err.Error()
		}
		b, _ := json.Marshal(ack)
		_ = m.Respond(b)
	}
}

func (s *Server) register(ctx context.Context, node string, data []byte) ([]string, error) {
	var reg api.NodeRegistration
	if err := json.Unmarshal(data, &reg); err != nil {
		return nil, fmt.Errorf("register %s: bad message: %w", node, err)
	}
	n := &reg.Node
	if n.Name != node {
		return nil, fmt.Errorf("register %s: the message names node %q; a node registers itself only", node, n.Name)
	}
	api.SetDefaults(n)
	if err := api.Validate(n); err != nil {
		return nil, fmt.Errorf("register %s: %w", node, err)
	}
	now := s.now().UTC().Truncate(time.Second)
	ready := api.NodeCondition{Type: api.NodeReady, Status: api.ConditionTrue, Reason: "AgentReady", Message: "agent registered", LastHeartbeatTime: now, LastTransitionTime: now}
	var warnings []string
	_, err := s.nodes.Mutate(ctx, "", node, func(cur *api.Node) error {
		// Node restriction: the agent sets only the labels it owns; the
		// rest (what the node joined with, what administrators set) belong
		// to the API. Spec and annotations are never the agent's.
		var labels map[string]string
		labels, warnings = agentLabels(cur.Labels, n.Labels)
		cur.Labels = labels
		conds := cur.Status.Conditions
		cur.Status = n.Status
		cur.Status.Conditions = conds
		cur.Status.SetCondition(ready)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		var joined map[string]string
		if s.opts.JoinLabels != nil {
			if joined, err = s.opts.JoinLabels(ctx, node); err != nil {
				return nil, fmt.Errorf("register %s: %w", node, err)
			}
		}
		fresh := &api.Node{TypeMeta: n.TypeMeta, ObjectMeta: api.ObjectMeta{Name: node}, Status: n.Status}
		fresh.Labels, warnings = agentLabels(joined, n.Labels)
		fresh.Status.SetCondition(ready)
		err = s.nodes.Create(ctx, fresh)
		if errors.Is(err, store.ErrAlreadyExists) {
			return s.register(ctx, node, data) // raced with another replica
		}
	}
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", node, err)
	}
	if len(warnings) > 0 {
		s.log.Warn("node registration: labels not applied", "node", node, "labels", warnings)
	}
	s.log.Info("node registered", "node", node, "arch", n.Status.NodeInfo.Architecture)
	return warnings, s.putLease(ctx, node, api.Lease{Node: node, RenewTime: now})
}

// agentLabels are a Node's labels after its agent registered with want:
// the labels the agent owns (api.AgentOwnsLabel) follow want, every other
// label stays as it is. A label of want that the agent does not own and
// that differs from the stored one is named in warnings.
func agentLabels(cur, want map[string]string) (map[string]string, []string) {
	out := map[string]string{}
	for k, v := range cur {
		if !api.AgentOwnsLabel(k) {
			out[k] = v
		}
	}
	var warnings []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		v := want[k]
		if api.AgentOwnsLabel(k) {
			out[k] = v
			continue
		}
		if cv, ok := out[k]; !ok || cv != v {
			warnings = append(warnings, fmt.Sprintf("%s=%s: an agent sets only kubernetes.io/arch, kubernetes.io/os, kubernetes.io/hostname and %s* labels after it joined; set others through the API", k, v, api.AgentLabelPrefix))
		}
	}
	if len(out) == 0 {
		out = nil
	}
	return out, warnings
}

func (s *Server) putLease(ctx context.Context, node string, l api.Lease) error {
	b, _ := json.Marshal(l)
	if _, err := s.leases.Put(ctx, node, b); err != nil {
		return fmt.Errorf("lease %s: %w", node, err)
	}
	return nil
}

func (s *Server) renew(ctx context.Context, node string, data []byte) error {
	var r api.LeaseRenewal
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("lease %s: bad message: %w", node, err)
	}
	now := s.now().UTC()
	if err := s.putLease(ctx, node, api.Lease{Node: node, RenewTime: now, LeaseDurationSeconds: r.LeaseDurationSeconds}); err != nil {
		return err
	}
	// A node that was NotReady is Ready again as soon as it renews.
	_, err := s.nodes.Mutate(ctx, "", node, func(cur *api.Node) error {
		if cur.IsReady() {
			return store.ErrSkip
		}
		t := now.Truncate(time.Second)
		cur.Status.SetCondition(api.NodeCondition{Type: api.NodeReady, Status: api.ConditionTrue, Reason: "AgentReady", Message: "agent renewed its lease", LastHeartbeatTime: t, LastTransitionTime: t})
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil // not registered yet; the agent registers first
	}
	return err
}

func (s *Server) status(ctx context.Context, node string, data []byte) error {
	var r api.PodStatusReport
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("status from %s: bad message: %w", node, err)
	}
	deleted := false
	pod, err := s.pods.Mutate(ctx, r.Namespace, r.Name, func(cur *api.Pod) error {
		if cur.UID != r.UID || cur.Spec.NodeName != node {
			return store.ErrSkip // a report about a pod that is no longer this one
		}
		if r.Removed {
			if cur.DeletionTimestamp == nil {
				return store.ErrSkip // the agent dropped a pod nobody deleted; sync repairs it
			}
			deleted = true
			return store.ErrSkip
		}
		merged := r.Status
		// The scheduler owns PodScheduled; the agent owns the rest.
		if c := cur.Status.Condition(api.PodScheduled); c != nil {
			merged.SetCondition(*c)
		}
		if statusEqual(cur.Status, merged) {
			return store.ErrSkip
		}
		cur.Status = merged
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil // already gone
	}
	if err != nil {
		return fmt.Errorf("status of pod %s/%s from %s: %w", r.Namespace, r.Name, node, err)
	}
	if deleted {
		err := s.pods.Delete(ctx, pod.Namespace, pod.Name, pod.ResourceVersion)
		if errors.Is(err, store.ErrConflict) {
			return s.status(ctx, node, data) // changed meanwhile; look again
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("finish deleting pod %s/%s: %w", r.Namespace, r.Name, err)
		}
	}
	return nil
}

func statusEqual(a, b api.PodStatus) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
