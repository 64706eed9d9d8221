// Package testbed is Skiff's test harness: whole clusters in one process
// (wired by cmd/skiff/app exactly like the real binary), the skiff binary
// built and run as separate processes, polling helpers, and the end-to-end
// tests and benchmarks. Subpackage fixtures builds test programs (Wasm
// guests from Go source); bench holds the `skiff bench` workloads.
//
// Nothing outside tests, benchmarks and cmd/skiff's bench command imports
// testbed.
package testbed
