package api

import (
	"strings"
	"time"
)

// The wire contract: every NATS subject, KV bucket, object store and stream
// name Skiff uses is built here and nowhere else. docs/nats.md explains the
// layout; the rule that shapes it is that everything a node may publish
// starts with skiff.agent.<node>. and everything it may receive starts with
// skiff.node.<node>. or its own inbox prefix, so one node's NATS user can be
// limited to its own subjects.
const (
	// ObjectsBucket holds every API object under ObjectKey.
	ObjectsBucket = "skiff-objects"
	// LeasesBucket holds one Lease per node, keyed by node name.
	LeasesBucket = "skiff-leases"
	// LeaderBucket holds the control-plane leader key, with a TTL.
	LeaderBucket = "skiff-leader"
	// ArtifactsBucket is the JetStream object store of uploaded Wasm
	// modules, each named by its digest with ':' replaced by '-'.
	ArtifactsBucket = "skiff-artifacts"
	// TokensBucket holds one record per API bearer token, keyed by the
	// token's name: its SHA-256, role, namespace and expiry, never the
	// token itself.
	TokensBucket = "skiff-tokens"
	// IdentitiesBucket holds what the NATS account is built from: one
	// record per join token (join.<token public key>) and per node identity
	// (nodes.<node>), revocations included. See docs/security.md.
	IdentitiesBucket = "skiff-identities"
	// JoinSubject is where a joining device sends its JoinRequest; the only
	// subject a join token lets it publish on.
	JoinSubject = "skiff.join"
	// EventsStream keeps every CloudEvent published under EventsSubjects.
	EventsStream = "SKIFF_EVENTS"
	// EventsSubjects is the stream's subject filter.
	EventsSubjects = "skiff.events.>"
	// ControlPlaneQueue is the queue group control-plane replicas share, so
	// one agent message is handled by one replica.
	ControlPlaneQueue = "skiff-controlplane"
)

// ClusterScope stands in for the namespace token of cluster-scoped objects
// (nodes) in keys and subjects.
const ClusterScope = "_"

func scope(namespace string) string {
	if namespace == "" {
		return ClusterScope
	}
	return namespace
}

// ObjectKey is the KV key of an object: <resource>.<namespace>.<name>, so
// that `nats kv watch skiff-objects 'pods.default.>'` works.
func ObjectKey(resource, namespace, name string) string {
	return resource + "." + scope(namespace) + "." + name
}

// ObjectKeyPrefix filters keys of a resource, in one namespace or ("") all.
func ObjectKeyPrefix(resource, namespace string) string {
	if namespace == "" {
		return resource + ".>"
	}
	return resource + "." + namespace + ".>"
}

// EventSubject is where events about an object are published:
// skiff.events.<kind>.<namespace>.<name>, kind singular and lowercase.
func EventSubject(kind KindInfo, namespace, name string) string {
	return "skiff.events." + kind.Singular + "." + scope(namespace) + "." + name
}

// Subjects the control plane publishes to one node (the node subscribes
// to NodeSubjects(node)).

// NodePodsSubject carries PodAssignment messages to a node.
func NodePodsSubject(node string) string { return "skiff.node." + node + ".pods" }

// NodeLogsSubject carries LogRequest requests to a node.
func NodeLogsSubject(node string) string { return "skiff.node." + node + ".logs" }

// NodeSubjects is everything a node receives.
func NodeSubjects(node string) string { return "skiff.node." + node + ".>" }

// NodeInboxPrefix is the inbox prefix a node's NATS connection uses for
// replies, so its permissions can allow only its own inbox.
func NodeInboxPrefix(node string) string { return "_INBOX_" + node }

// JoinInboxPrefix is the inbox prefix of a joining device's connection,
// named by the device's node public key (an nkey, which the NATS server
// verified), so that one joining device cannot read another's answer.
func JoinInboxPrefix(nodePublicKey string) string { return "_INBOX_join_" + nodePublicKey }

// EventsInboxPrefix is the inbox prefix of an events reader's connection
// (the NATS CLI's inbox_prefix), named by its public key.
func EventsInboxPrefix(publicKey string) string { return "_INBOX_events_" + publicKey }

// AgentReplyAllowed reports whether the control plane may answer a
// request that came on subject (skiff.agent.<node>.<verb>) at reply: only
// in the node's own inbox (NodeInboxPrefix). A node's NATS permissions
// say where it may publish, not where the answers to its requests go, and
// the control plane answers with all its rights: a reply subject naming a
// bucket key ($KV.…), the JetStream API ($JS.API.…) or another node's
// subjects would have the control plane write there for the node. A
// request without a reply subject (a plain publish) is allowed.
func AgentReplyAllowed(subject, reply string) bool {
	if reply == "" {
		return true
	}
	node := NodeFromAgentSubject(subject)
	return node != "" && strings.HasPrefix(reply, NodeInboxPrefix(node)+".")
}

// Agent verbs: the last token of the subjects a node publishes to.
const (
	AgentRegister = "register" // request: NodeRegistration → Ack
	AgentLease    = "lease"    // publish: LeaseRenewal
	AgentSync     = "sync"     // request: SyncRequest → SyncResponse
	AgentStatus   = "status"   // request: PodStatusReport → Ack
	AgentArtifact = "artifact" // request: ArtifactChunkRequest → ArtifactChunk
)

// AgentSubject is the subject node publishes verb messages on:
// skiff.agent.<node>.<verb>.
func AgentSubject(node, verb string) string { return "skiff.agent." + node + "." + verb }

// AgentSubjectAll matches verb messages from every node.
func AgentSubjectAll(verb string) string { return "skiff.agent.*." + verb }

// NodeFromAgentSubject returns the node token of a skiff.agent.<node>.<verb> subject.
func NodeFromAgentSubject(subject string) string {
	const p = "skiff.agent."
	if len(subject) <= len(p) {
		return ""
	}
	rest := subject[len(p):]
	for i := 0; i < len(rest); i++ {
		if rest[i] == '.' {
			return rest[:i]
		}
	}
	return ""
}

// Messages.

// PodAssignment is pushed to a node whenever a pod bound to it changes. Pod
// carries the whole desired pod (with DeletionTimestamp set when it must
// stop); Removed with Namespace/Name/UID says the pod is gone from the
// store altogether and must be stopped at once.
type PodAssignment struct {
	Pod       *Pod   `json:"pod,omitempty"`
	Removed   bool   `json:"removed,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	UID       string `json:"uid,omitempty"`
	// ConfigMaps and Secrets the pod references (those that exist), or,
	// in an assignment without Pod, ones that changed and that pods of
	// the node reference.
	ConfigMaps []ConfigMap `json:"configMaps,omitempty"`
	Secrets    []Secret    `json:"secrets,omitempty"`
}

// NodeRegistration is an agent joining: its Node as it sees itself.
type NodeRegistration struct {
	Node Node `json:"node"`
}

// LeaseRenewal is an agent's heartbeat.
type LeaseRenewal struct {
	Node                 string    `json:"node"`
	RenewTime            time.Time `json:"renewTime"`
	LeaseDurationSeconds int32     `json:"leaseDurationSeconds"`
}

// Lease is the stored form of a node's last heartbeat (LeasesBucket).
type Lease struct {
	Node                 string    `json:"node"`
	RenewTime            time.Time `json:"renewTime"`
	LeaseDurationSeconds int32     `json:"leaseDurationSeconds"`
}

// SyncRequest asks for the full desired set of the node's pods.
type SyncRequest struct {
	Node string `json:"node"`
}

// SyncResponse is the full desired set: every pod bound to the node.
type SyncResponse struct {
	Pods  []Pod  `json:"pods"`
	Error string `json:"error,omitempty"`
	// ConfigMaps and Secrets are every one the pods reference that
	// exists: the node's whole set.
	ConfigMaps []ConfigMap `json:"configMaps,omitempty"`
	Secrets    []Secret    `json:"secrets,omitempty"`
}

// PodStatusReport is an agent's observation of one pod. Removed says the
// agent has stopped the pod and forgotten it (the end of a graceful delete).
type PodStatusReport struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	UID       string    `json:"uid"`
	Status    PodStatus `json:"status"`
	Removed   bool      `json:"removed,omitempty"`
}

// JoinRequest asks the control plane for a node identity, once per device.
// Signature is the join token's key's signature (nkeys, base64url) over
// JoinSigningPayload: it proves the sender holds the token's secret.
type JoinRequest struct {
	NodeName string `json:"nodeName"`
	// NodePublicKey is the nkey (user, "U…") the device made for itself;
	// its seed never leaves the device.
	NodePublicKey string `json:"nodePublicKey"`
	// TokenPublicKey names the join token (its key's public half, "A…").
	TokenPublicKey string `json:"tokenPublicKey"`
	// Labels the agent asks for at its first join (its --label flags);
	// the token's own labels win over them.
	Labels map[string]string `json:"labels,omitempty"`
	// Time is when the request was made; the control plane refuses
	// requests older or newer than a few minutes.
	Time      time.Time `json:"time"`
	Signature string    `json:"signature"`
}

// JoinSigningPayload is what a JoinRequest's signature covers.
func JoinSigningPayload(r JoinRequest) []byte {
	return []byte("skiff-join-v1\n" + r.NodeName + "\n" + r.NodePublicKey + "\n" + r.TokenPublicKey + "\n" + r.Time.UTC().Format(time.RFC3339Nano))
}

// JoinResponse carries the node's user JWT (the NATS credential for the
// nkey it sent), or why the join was refused.
type JoinResponse struct {
	JWT   string `json:"jwt,omitempty"`
	Error string `json:"error,omitempty"`
}

// Ack answers a request that returns nothing but success or an error.
type Ack struct {
	Error string `json:"error,omitempty"`
	// Warnings say what of the request was not applied, and why.
	Warnings []string `json:"warnings,omitempty"`
}

// LogRequest asks a node for a container's log.
type LogRequest struct {
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	Container  string `json:"container,omitempty"`
	TailLines  *int64 `json:"tailLines,omitempty"`
	LimitBytes int64  `json:"limitBytes,omitempty"`
	// Previous asks for the log of the container's previous run (the one
	// before its last restart) instead of the current one.
	Previous bool `json:"previous,omitempty"`
	// SinceOffset, when set, asks for the log from this byte offset on
	// (at most LimitBytes of it) instead of its end; TailLines is then
	// ignored. A follower passes the Offset of the last answer. An offset
	// beyond the file's end (the log was rotated by a restart) reads from 0.
	SinceOffset *int64 `json:"sinceOffset,omitempty"`
}

// LogResponse carries the log, or why there is none.
type LogResponse struct {
	Data  []byte `json:"data,omitempty"`
	Error string `json:"error,omitempty"`
	// NotFound says the node does not know the pod or container.
	NotFound bool `json:"notFound,omitempty"`
	// Offset is the byte offset in the log file where Data ends: the
	// SinceOffset of the next read.
	Offset int64 `json:"offset,omitempty"`
	// Terminated says the container was not running when the log was
	// read, so no more will be written to this log (a follower stops).
	Terminated bool `json:"terminated,omitempty"`
}

// ArtifactChunkRequest asks for bytes [Offset, Offset+Length) of the
// artifact with this digest.
type ArtifactChunkRequest struct {
	Digest string `json:"digest"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
}

// ArtifactChunk is one piece of an artifact; Size is the artifact's whole size.
type ArtifactChunk struct {
	Size     int64  `json:"size"`
	Data     []byte `json:"data,omitempty"`
	Error    string `json:"error,omitempty"`
	NotFound bool   `json:"notFound,omitempty"`
}

// ArtifactChunkSize is the most an agent asks for at once; it stays well
// under NATS' default 1 MB message limit after base64.
const ArtifactChunkSize = 512 * 1024

// ArtifactObjectName is the object store name of an artifact digest.
func ArtifactObjectName(digest string) string {
	out := []byte(digest)
	for i, c := range out {
		if c == ':' {
			out[i] = '-'
		}
	}
	return string(out)
}
