package store

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/skiff-sh/skiff/api"
)

// Secrets are encrypted at rest, here and nowhere else: every value the
// store writes passes through sealValue and every value it reads through
// openValue, which change only Secrets. An encrypted value is
//
//	skiff:enc:aesgcm:v1:<key id>:<12-byte nonce><AES-256-GCM ciphertext and tag>
//
// with the KV key (secrets.<namespace>.<name>) as additional authenticated
// data, so a value copied to another key does not decrypt. A value without
// the "skiff:enc:" prefix is plain JSON written before encryption was on:
// it is read as it is and encrypted on its next write or by a rotation.

// Envelope prefixes of encrypted values.
const (
	envelopePrefix = "skiff:enc:"
	aesgcmV1Prefix = envelopePrefix + "aesgcm:v1:"
)

// Errors of Secrets encryption.
var (
	// ErrUndecryptable: a stored Secret cannot be decrypted (a key the
	// keyring lacks, a value moved to another key, corruption).
	ErrUndecryptable = errors.New("cannot decrypt the stored Secret")
	// ErrNoKeyring: the store was opened without a keyring
	// (Options.PlaintextSecrets) and stores Secrets unencrypted.
	ErrNoKeyring = errors.New("this store keeps Secrets unencrypted: it has no secrets encryption keyring")
	// ErrRotationInProgress: another rotation runs in this process.
	ErrRotationInProgress = errors.New("a secrets encryption key rotation is already running; wait for it to finish")
)

// encryptedKind says whether values of the kind are encrypted: Secrets
// only.
func encryptedKind(info api.KindInfo) bool { return info.Kind == "Secret" }

// sealValue turns an object's JSON into the value stored under key. The
// caller must call done once the bucket has answered the write (it lets a
// rotation wait for writes under the old key).
func (s *Store) sealValue(info api.KindInfo, key string, plain []byte) (stored []byte, done func(), err error) {
	if !encryptedKind(info) || s.keyring == nil {
		return plain, func() {}, nil
	}
	s.keyring.writers.RLock()
	id, aead := s.keyring.writeKey()
	stored, err = seal(id, aead, key, plain)
	if err != nil {
		s.keyring.writers.RUnlock()
		return nil, nil, err
	}
	return stored, s.keyring.writers.RUnlock, nil
}

// seal encrypts plain for key under the key id with a fresh random nonce.
func seal(id string, aead cipher.AEAD, key string, plain []byte) ([]byte, error) {
	prefix := aesgcmV1Prefix + id + ":"
	out := make([]byte, len(prefix)+aead.NonceSize(), len(prefix)+aead.NonceSize()+len(plain)+aead.Overhead())
	copy(out, prefix)
	nonce := out[len(prefix):]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("encrypt %s: nonce: %w", key, err)
	}
	return aead.Seal(out, nonce, plain, []byte(key)), nil
}

// openValue returns the JSON of a value stored under key.
func (s *Store) openValue(info api.KindInfo, key string, stored []byte) ([]byte, error) {
	if !encryptedKind(info) {
		return stored, nil
	}
	plain, _, err := s.openSecret(key, stored)
	return plain, err
}

// openSecret decrypts a stored Secret and says which key it was under (""
// for a plain value).
func (s *Store) openSecret(key string, stored []byte) (plain []byte, keyID string, err error) {
	if !bytes.HasPrefix(stored, []byte(envelopePrefix)) {
		return stored, "", nil
	}
	rest, ok := bytes.CutPrefix(stored, []byte(aesgcmV1Prefix))
	if !ok {
		head, _, _ := bytes.Cut(stored[len(envelopePrefix):], []byte(":"))
		return nil, "", fmt.Errorf("decrypt %s: %w: provider %q is not one this server knows (aesgcm)", key, ErrUndecryptable, head)
	}
	idb, sealed, ok := bytes.Cut(rest, []byte(":"))
	id := string(idb)
	if !ok || !validKeyID(id) {
		return nil, "", fmt.Errorf("decrypt %s: %w: the value's envelope has no key id", key, ErrUndecryptable)
	}
	if s.keyring == nil {
		return nil, id, fmt.Errorf("decrypt %s: %w: it is encrypted with key %q but this store has no keyring", key, ErrUndecryptable, id)
	}
	aead, ok := s.keyring.key(id)
	if !ok {
		return nil, id, fmt.Errorf("decrypt %s: %w: it is encrypted with key %q, which the keyring %s does not hold (restore that key into the file)",
			key, ErrUndecryptable, id, s.keyring.Path())
	}
	n := aead.NonceSize()
	if len(sealed) < n+aead.Overhead() {
		return nil, id, fmt.Errorf("decrypt %s: %w: the value is too short to be a ciphertext", key, ErrUndecryptable)
	}
	plain, err = aead.Open(nil, sealed[:n], sealed[n:], []byte(key))
	if err != nil {
		return nil, id, fmt.Errorf("decrypt %s: %w: the value does not authenticate under key %q for this key (it was written under another key, or changed)",
			key, ErrUndecryptable, id)
	}
	return plain, id, nil
}
