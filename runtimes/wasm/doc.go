// Package wasm is the Wasm driver: it runs each task as a WASI preview1
// command module on wazero, inside the agent's process.
//
// The public face is small: New builds a Driver from Options, the Driver
// implements runtimes.Driver, and Close releases it. Decisions are written
// down in the "# Notes" sections of Driver and Options.
//
// Package wasm owns the wazero runtime, the compiled modules and the running
// module instances. It must never import NATS, the store, the control plane
// or the agent (edge/); it knows only runtimes and the standard library
// besides wazero.
package wasm
