// Package controlplane groups Skiff's control plane: the embedded NATS
// server, the store over JetStream KV, the scheduler, dispatch to agents,
// status ingest, events and the artifact store. Its subpackages meet in the
// store and on NATS subjects; none calls another's goroutines directly.
//
// The control plane must never import edge/ or runtimes/.
package controlplane
