// Package runtimes defines the Driver interface every workload runtime
// implements (shaped like Nomad's task drivers) and the errors drivers
// return. Subpackages hold the drivers: wasm (wazero), containerd (OCI
// containers through containerd) and hollow (the no-op runtime of hollow
// agents for scale tests); runtimetest is the conformance suite every real
// driver passes.
//
// Package runtimes knows nothing of NATS, the store or the agent's sync loop;
// it imports only the standard library.
package runtimes
