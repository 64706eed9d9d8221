// Package client is the Go client of Skiff's REST API, used by the skiff
// CLI, the end-to-end tests and the benchmarks. Errors from the server come
// back as *StatusError carrying the server's Status (IsNotFound,
// IsConflict… test them); a server that cannot be reached is a
// *ConnectionError whose message says how to start or point to one. The
// package also reads and writes the client configuration file (server and
// NATS URLs, like a kubeconfig).
//
// Package client imports only api and the standard library (plus YAML for
// the config file); it must never import the server side (web, controlplane).
package client
