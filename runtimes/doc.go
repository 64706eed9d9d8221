// Package runtimes defines the Driver interface every workload runtime
// implements (shaped like Nomad's task drivers) and the errors drivers
// return. Subpackages hold the drivers: wasm (wazero) and, later,
// containerd; runtimetest is the conformance suite every driver passes.
//
// Package runtimes knows nothing of NATS, the store or the agent's sync loop;
// it imports only the standard library.
package runtimes
