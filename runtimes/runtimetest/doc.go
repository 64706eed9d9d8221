// Package runtimetest is the conformance suite every runtimes.Driver
// passes: Run starts the probe program (testbed/fixtures/probe) through the
// driver under test and checks the Driver contract — exit codes, argv, env,
// captured output, Stop of a busy task, Destroy, Inspect, duplicate IDs,
// Recover by a new driver once the first closed (as after an agent restart),
// mounts and memory limits.
//
// A driver's tests supply a Harness that knows how to build the driver and a
// TaskConfig running the probe (a .wasm path for the Wasm driver, an image
// for containerd). Package runtimetest imports only runtimes and the
// standard library; it never imports a driver.
package runtimetest
