package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/skiff-sh/skiff/internal/atomicfile"
)

// KeyringFile is the keyring's file name in a control plane's data
// directory (config.Config.SecretsKeyringPath).
const KeyringFile = "secrets-encryption.json"

// keySize is AES-256's key length.
const keySize = 32

// Keyring holds the AES-256 keys that encrypt Secrets at rest, kept in one
// file (mode 0600) that only the control plane reads. The first key
// encrypts every write; every key decrypts, so values written under an
// older key stay readable until a rotation has re-encrypted them.
//
// # Notes
//
// The keys live beside the JetStream files on purpose, as k3s keeps its
// encryption config in its data directory: what this protects against is
// the bucket's contents leaving the host (a NATS client with read access
// to the bucket, a copied stream, a backup, an external NATS cluster run
// by someone else), not an attacker who reads the control plane's data
// directory.
type Keyring struct {
	path string

	// writers is held for reading by every Secret write from the moment
	// it is sealed until the bucket has answered, and for writing when
	// the write key changes, so that a rotation knows no write under the
	// old key is still in flight once the new key is in place.
	writers sync.RWMutex
	// rotating allows one rotation at a time.
	rotating sync.Mutex

	mu    sync.RWMutex
	keys  []keyringKey // keys[0] encrypts
	aeads map[string]cipher.AEAD
}

// keyringFile is the file's JSON.
type keyringFile struct {
	// Keys: the first encrypts, all decrypt.
	Keys []keyringKey `json:"keys"`
}

type keyringKey struct {
	ID      string    `json:"id"`
	Secret  []byte    `json:"secret"` // base64 in the file
	Created time.Time `json:"created"`
}

// OpenKeyring reads the keyring at path, creating it with one new key when
// there is no file (first start). A file that group or others may read is
// refused: the keys would be worth no more than the data they protect.
func OpenKeyring(path string) (*Keyring, error) {
	k, err := loadKeyring(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	key, err := newKey(nil)
	if err != nil {
		return nil, err
	}
	if err := writeKeyringFile(path, []keyringKey{key}); err != nil {
		return nil, fmt.Errorf("create secrets encryption keyring %s: %w", path, err)
	}
	return loadKeyring(path)
}

func loadKeyring(path string) (*Keyring, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("secrets encryption keyring: %w", err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secrets encryption keyring %s has mode %04o: group or others may read the keys; run chmod 600 %s",
			path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets encryption keyring: %w", err)
	}
	var f keyringFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("secrets encryption keyring %s: %w", path, err)
	}
	k := &Keyring{path: path}
	if err := k.set(f.Keys); err != nil {
		return nil, fmt.Errorf("secrets encryption keyring %s: %w", path, err)
	}
	return k, nil
}

// set checks keys and makes them the keyring's.
func (k *Keyring) set(keys []keyringKey) error {
	if len(keys) == 0 {
		return errors.New("keys: no key (the first key encrypts; restore the file from a backup, or remove it only if no Secret was stored under its keys)")
	}
	aeads := make(map[string]cipher.AEAD, len(keys))
	for i, key := range keys {
		if !validKeyID(key.ID) {
			return fmt.Errorf("keys[%d].id: %q is not a key id (1 to 32 letters, digits and '-')", i, key.ID)
		}
		if _, dup := aeads[key.ID]; dup {
			return fmt.Errorf("keys[%d].id: %q appears twice", i, key.ID)
		}
		if len(key.Secret) != keySize {
			return fmt.Errorf("keys[%d].secret: %d bytes, want %d (AES-256)", i, len(key.Secret), keySize)
		}
		block, err := aes.NewCipher(key.Secret)
		if err != nil {
			return fmt.Errorf("keys[%d].secret: %w", i, err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			return fmt.Errorf("keys[%d].secret: %w", i, err)
		}
		aeads[key.ID] = gcm
	}
	k.mu.Lock()
	k.keys, k.aeads = slices.Clone(keys), aeads
	k.mu.Unlock()
	return nil
}

// Path is the keyring's file.
func (k *Keyring) Path() string { return k.path }

// KeyIDs lists the keys' ids, the write key first.
func (k *Keyring) KeyIDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ids := make([]string, len(k.keys))
	for i, key := range k.keys {
		ids[i] = key.ID
	}
	return ids
}

// writeKey returns the id and cipher of the key that encrypts.
func (k *Keyring) writeKey() (string, cipher.AEAD) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	id := k.keys[0].ID
	return id, k.aeads[id]
}

// key returns the cipher of key id.
func (k *Keyring) key(id string) (cipher.AEAD, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	a, ok := k.aeads[id]
	return a, ok
}

// created returns when each key was made.
func (k *Keyring) created() map[string]time.Time {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make(map[string]time.Time, len(k.keys))
	for _, key := range k.keys {
		out[key.ID] = key.Created
	}
	return out
}

// addWriteKey makes a new key the write key, keeping the others for
// decryption, first in the file and then in memory. It waits for Secret
// writes sealed under the old key to finish.
func (k *Keyring) addWriteKey() (string, error) {
	k.writers.Lock()
	defer k.writers.Unlock()
	k.mu.RLock()
	keys := slices.Clone(k.keys)
	k.mu.RUnlock()
	key, err := newKey(keys)
	if err != nil {
		return "", err
	}
	keys = append([]keyringKey{key}, keys...)
	if err := writeKeyringFile(k.path, keys); err != nil {
		return "", fmt.Errorf("add a key to %s: %w", k.path, err)
	}
	return key.ID, k.set(keys)
}

// dropOldKeys keeps only the write key and returns the ids it removed.
func (k *Keyring) dropOldKeys() ([]string, error) {
	k.mu.RLock()
	keys := slices.Clone(k.keys)
	k.mu.RUnlock()
	var removed []string
	for _, key := range keys[1:] {
		removed = append(removed, key.ID)
	}
	if len(removed) == 0 {
		return nil, nil
	}
	if err := writeKeyringFile(k.path, keys[:1]); err != nil {
		return nil, fmt.Errorf("remove old keys from %s: %w", k.path, err)
	}
	return removed, k.set(keys[:1])
}

// newKey makes a random key with an id none of keys has.
func newKey(keys []keyringKey) (keyringKey, error) {
	secret := make([]byte, keySize)
	if _, err := rand.Read(secret); err != nil {
		return keyringKey{}, fmt.Errorf("make a key: %w", err)
	}
	for {
		b := make([]byte, 4)
		if _, err := rand.Read(b); err != nil {
			return keyringKey{}, fmt.Errorf("make a key id: %w", err)
		}
		id := "k" + hex.EncodeToString(b)
		if !slices.ContainsFunc(keys, func(k keyringKey) bool { return k.ID == id }) {
			return keyringKey{ID: id, Secret: secret, Created: time.Now().UTC().Truncate(time.Second)}, nil
		}
	}
}

func validKeyID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// writeKeyringFile writes the keyring with mode 0600, atomically (temp
// file, fsync, rename, fsync of the directory), creating the directory
// (0700).
func writeKeyringFile(path string, keys []keyringKey) error {
	b, err := json.MarshalIndent(keyringFile{Keys: keys}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteDir(path, append(b, '\n'), 0o600, 0o700)
}
