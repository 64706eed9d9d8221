package api

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// JoinTokenPrefix starts every join token:
// skf1::<CA fingerprint>::<join account>.<secret>.
const JoinTokenPrefix = "skf1"

// JoinToken is a parsed join token: the SHA-256 fingerprint of the cluster
// CA's certificate (which the agent pins before it sends anything), the
// public key of the token's join account, and the secret: the seed of a
// scoped signing key of that account, with which a device signs its own
// short-lived user, limited by the server to asking to join. See
// docs/security.md.
type JoinToken struct {
	CAFingerprint [32]byte
	Account       string
	Secret        string
}

// String formats the token.
func (t JoinToken) String() string {
	return JoinTokenPrefix + "::" + hex.EncodeToString(t.CAFingerprint[:]) + "::" + t.Account + "." + t.Secret
}

// ParseJoinToken reads a token made by `skiff token create --join`. It
// checks the shape only; the secret is checked by the control plane.
func ParseJoinToken(s string) (JoinToken, error) {
	var t JoinToken
	parts := strings.Split(strings.TrimSpace(s), "::")
	if len(parts) != 3 || parts[0] != JoinTokenPrefix {
		return t, fmt.Errorf("join token: want %s::<CA sha256>::<secret>, as `skiff token create --join` prints it", JoinTokenPrefix)
	}
	fp, err := hex.DecodeString(parts[1])
	if err != nil || len(fp) != len(t.CAFingerprint) {
		return t, fmt.Errorf("join token: the CA fingerprint %q is not 64 hex digits", parts[1])
	}
	copy(t.CAFingerprint[:], fp)
	account, secret, ok := strings.Cut(parts[2], ".")
	// An nkey account public key ('A' + base32, 56 characters), then an
	// account seed ('S', 'A', base32; 58 characters).
	if !ok || len(account) != 56 || !strings.HasPrefix(account, "A") {
		return t, fmt.Errorf("join token: the secret does not start with a join account key (56 characters starting with A, then '.')")
	}
	if len(secret) != 58 || !strings.HasPrefix(secret, "SA") {
		return t, fmt.Errorf("join token: the secret is not a join key (58 characters starting with SA after the '.')")
	}
	t.Account, t.Secret = account, secret
	return t, nil
}
