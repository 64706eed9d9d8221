package api

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// JoinTokenPrefix starts every join token: skf1::<CA fingerprint>::<secret>.
const JoinTokenPrefix = "skf1"

// JoinToken is a parsed join token: the SHA-256 fingerprint of the cluster
// CA's certificate (which the agent pins before it sends anything) and the
// secret, the seed of the token's own nkey. See docs/security.md.
type JoinToken struct {
	CAFingerprint [32]byte
	Secret        string
}

// String formats the token as skf1::<hex fingerprint>::<secret>.
func (t JoinToken) String() string {
	return JoinTokenPrefix + "::" + hex.EncodeToString(t.CAFingerprint[:]) + "::" + t.Secret
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
	// An nkey account seed: 'S', 'A', then base32; 58 characters.
	if len(parts[2]) != 58 || !strings.HasPrefix(parts[2], "SA") {
		return t, fmt.Errorf("join token: the secret is not a join key (58 characters starting with SA)")
	}
	t.Secret = parts[2]
	return t, nil
}
