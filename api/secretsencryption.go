package api

import "time"

// Secrets encryption at rest: the control plane encrypts every Secret with
// AES-256-GCM before it reaches the objects bucket (see
// controlplane/store). These paths let an admin of all namespaces see which
// keys the stored Secrets are under and rotate the key.
const (
	// SecretsEncryptionResource is the resource name, for authorization.
	SecretsEncryptionResource = "secrets-encryption"
	// SecretsEncryptionPath answers GET with a SecretsEncryptionStatus.
	SecretsEncryptionPath = "/api/v1/" + SecretsEncryptionResource
	// SecretsEncryptionRotatePath: POST (no body) adds a new key, re-encrypts
	// every Secret with it and removes the old keys; it answers with a
	// SecretsEncryptionRotation.
	SecretsEncryptionRotatePath = SecretsEncryptionPath + "/rotate"
)

// SecretsEncryptionProvider names the cipher and envelope version of
// encrypted values.
const SecretsEncryptionProvider = "aesgcm/v1"

// SecretsEncryptionStatus says which keys the server holds and how many
// stored Secrets are under each.
type SecretsEncryptionStatus struct {
	TypeMeta `json:",inline"`
	// Provider is the cipher: SecretsEncryptionProvider, or "" when the
	// server stores Secrets unencrypted.
	Provider string `json:"provider"`
	// Keys are the keyring's keys; the first encrypts, all decrypt.
	Keys []SecretsEncryptionKey `json:"keys"`
	// Plaintext counts Secrets stored before encryption was on; they are
	// encrypted on their next write or by a rotation.
	Plaintext int `json:"plaintext"`
	// UnknownKey counts Secrets under a key the keyring does not hold: the
	// server cannot read them.
	UnknownKey int `json:"unknownKey,omitempty"`
	// Total is every stored Secret.
	Total int `json:"total"`
}

// SecretsEncryptionKey is one key of the keyring (never its secret).
type SecretsEncryptionKey struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	// Write says this key encrypts new writes.
	Write bool `json:"write,omitempty"`
	// Secrets counts stored Secrets encrypted with this key.
	Secrets int `json:"secrets"`
}

// SecretsEncryptionRotation is the answer to a rotation.
type SecretsEncryptionRotation struct {
	TypeMeta `json:",inline"`
	// NewKey encrypts from now on.
	NewKey string `json:"newKey"`
	// RemovedKeys were dropped from the keyring after every Secret was
	// re-encrypted.
	RemovedKeys []string `json:"removedKeys,omitempty"`
	// Reencrypted counts the Secrets written again under NewKey.
	Reencrypted int `json:"reencrypted"`
	// Status is the state after the rotation.
	Status SecretsEncryptionStatus `json:"status"`
}
