// Package client is the Go client of Skiff's REST API, used by the skiff
// CLI, the end-to-end tests and the benchmarks. Errors from the server come
// back as *StatusError carrying the server's Status (IsNotFound,
// IsConflict… test them); a server that cannot be reached is a
// *ConnectionError whose message says how to start or point to one.
// WithToken sends a bearer token with every request (IsUnauthorized,
// IsForbidden test the refusals); CreateToken, ListTokens, RevokeToken and
// WhoAmI manage tokens. The package also reads and writes the client
// configuration file (server and NATS URLs and the token, like a
// kubeconfig), and ResolveServer and ResolveToken pick them as the CLI does.
//
// Package client imports only api and the standard library (plus YAML for
// the config file); it must never import the server side (web, controlplane).
package client
