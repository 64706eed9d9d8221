// Package dispatch sends each node its pods. It watches the store and, when
// the part of a bound pod the agent acts on changes (spec, deletion, uid),
// publishes an api.PodAssignment on the node's own subject
// (api.NodePodsSubject). It answers each node's full-sync request
// (api.AgentSync) with every pod bound to it, which agents send on start,
// on reconnect and periodically, so a missed push is repaired. Pushes and
// sync answers carry the ConfigMaps and Secrets the node's pods reference
// (and no others), and a changed one is pushed to the nodes that use it
// (configs.go). It also relays log requests from the API to the pod's node.
//
// Dispatch uses core NATS toward agents (no JetStream on the device) and
// imports api and store only.
package dispatch
