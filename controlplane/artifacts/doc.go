// Package artifacts keeps uploaded Wasm modules in a JetStream object store
// (api.ArtifactsBucket), each named by its sha256 digest, and serves them to
// agents over core NATS in chunks (api.AgentArtifact requests), because an
// agent has no JetStream. Agents verify the digest of what they receive.
//
// Package artifacts imports api only (besides nats.go).
package artifacts
