// Package containerd is the container driver: it runs each task as an OCI
// container through a containerd daemon (1.6 or later, with runc), using
// the containerd v2 Go client.
//
// The public face is small: New builds a Driver from Options, the Driver
// implements runtimes.Driver, ImportArchive loads OCI image archives into
// the daemon's image store, and Close releases the connection while the
// containers keep running. Decisions are written down in the "# Notes"
// sections of Driver and Options.
//
// Package containerd owns the containers, tasks and snapshots it creates in
// its containerd namespace. It must never import NATS, the store, the
// control plane or the agent (edge/); it knows only runtimes, the standard
// library and the containerd client.
package containerd
