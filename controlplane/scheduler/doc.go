// Package scheduler binds unscheduled pods to nodes, as kube-scheduler
// does: for each pod, filter the nodes through a list of plugins, score the
// ones left, and bind to the best with a compare-and-swap on the pod, so two
// schedulers can never bind the same pod twice. A pod no node fits stays
// Pending with a PodScheduled=False condition that says why, per reason
// ("0/3 nodes are available: 2 node(s) have no wasm runtime, 1 node(s) are
// not ready"), and is retried when nodes change.
//
// The scheduler is fed by watches on pods and nodes and keeps its own
// cache; it imports api and store only.
package scheduler
