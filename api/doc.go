// Package api holds Skiff's resource types, with Kubernetes' field names and
// JSON/YAML shape, and the wire contract between the control plane and the
// edge agents (every NATS subject, bucket and stream name, and the message
// types sent on them).
//
// A Kubernetes manifest of the supported subset decodes unchanged. Decoding is
// strict: an unknown field is an error naming its path
// ("spec.containers[0].imagePullPolicyy: unknown field"). Validation returns
// every bad field at once.
//
// Package api imports only the standard library and a YAML converter; it must
// never import any other Skiff package.
package api
