// Package scheduler binds unscheduled pods to nodes, as kube-scheduler
// does: for each pod, filter the nodes through a list of plugins, score the
// ones left, and bind to the best with a compare-and-swap on the pod, so two
// schedulers can never bind the same pod twice.
//
// Filters, in order (a node's first failing filter gives its reasons):
// NodeReady, NodeUnschedulable, RuntimeClass (a Wasm pod needs the wasm
// runtime; Wasm pods are architecture-neutral), NodeSelector, NodeAffinity
// (required terms), TaintToleration (NoSchedule, NoExecute), NodePorts
// (host ports), NodeResourcesFit (cpu and memory requests against
// allocatable minus what is bound, and allocatable pods),
// InterPodAntiAffinity (required terms, both ways) and PodTopologySpread
// (DoNotSchedule). Scores, each 0–100 and
// weighted as in Kubernetes: LeastAllocated, NodeAffinity (preferred),
// TaintToleration (PreferNoSchedule), InterPodAntiAffinity (preferred) and
// PodTopologySpread (ScheduleAnyway); ties go to the node with fewer pods,
// then to the first name.
//
// A pod no node fits stays Pending with a PodScheduled=False condition
// whose message reads like kube-scheduler's ("0/5 nodes are available:
// 2 node(s) had untolerated taint {edge: true}, 3 node(s) had insufficient
// memory."), and is tried again when the cluster changes (at most once per
// Options.RetryInterval) and at every resync.
//
// The scheduler is fed by watches on pods and nodes and keeps its own
// cache, and decides nothing until both watches have delivered what
// exists. The cache counts each node's pods and requests as pods come, go
// and are bound (its own binds at once, before the watch echoes them), and
// keeps per-node counts of pods matching the label selectors that
// anti-affinity and spread constraints use, built the first time a pod
// asks and kept up to date after, so a decision costs O(nodes), never
// O(pods). A bind first writes the cached version of the pod with one
// compare-and-swap and no read; when the cache was behind it reads the pod
// and tries again, and binds nothing if the pod was bound meanwhile.
//
// Package scheduler imports api and store only.
package scheduler
