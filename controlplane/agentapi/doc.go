// Package agentapi is the control plane's side of what agents send: node
// registration (api.AgentRegister), lease heartbeats (api.AgentLease, kept
// in the api.LeasesBucket KV bucket) and pod status reports
// (api.AgentStatus), which it writes into the store with compare-and-swap.
// A status report with Removed ends a graceful deletion: the pod's key is
// deleted.
//
// Every subscription is in the api.ControlPlaneQueue group, so with several
// control-plane replicas each message is handled once. The node a message
// is about is always taken from its subject, never from its body, so a
// node limited to its own subjects cannot speak for another.
//
// Package agentapi imports api and store only.
package agentapi
