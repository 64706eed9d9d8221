package store

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
)

// secretsInfo is the Secret kind.
func secretsInfo() api.KindInfo {
	info, _ := api.LookupKind("Secret")
	return info
}

// secretEntries reads every stored Secret's KV entry, as stored.
func (s *Store) secretEntries(ctx context.Context) ([]jetstream.KeyValueEntry, error) {
	w, err := s.kv.Watch(ctx, api.ObjectKeyPrefix(secretsInfo().Resource, ""), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	defer stopWatcher(w)
	var out []jetstream.KeyValueEntry
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("list secrets: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("list secrets: watcher closed")
			}
			if e == nil {
				return out, nil
			}
			out = append(out, e)
		}
	}
}

// SecretsEncryptionStatus says which keys the keyring holds and how many
// stored Secrets are under each, unencrypted, or under a key it lacks.
func (s *Store) SecretsEncryptionStatus(ctx context.Context) (api.SecretsEncryptionStatus, error) {
	st := api.SecretsEncryptionStatus{TypeMeta: api.TypeMeta{Kind: "SecretsEncryptionStatus", APIVersion: "v1"}}
	entries, err := s.secretEntries(ctx)
	if err != nil {
		return st, err
	}
	count := map[string]int{}
	for _, e := range entries {
		_, id, err := s.openSecret(e.Key(), e.Value())
		switch {
		case id == "" && err == nil:
			st.Plaintext++
		case id != "" && s.keyring != nil:
			if _, ok := s.keyring.key(id); ok {
				count[id]++
				continue
			}
			st.UnknownKey++
		default:
			st.UnknownKey++
		}
	}
	st.Total = len(entries)
	if s.keyring == nil {
		return st, nil
	}
	st.Provider = api.SecretsEncryptionProvider
	created := s.keyring.created()
	for i, id := range s.keyring.KeyIDs() {
		st.Keys = append(st.Keys, api.SecretsEncryptionKey{ID: id, Created: created[id], Write: i == 0, Secrets: count[id]})
	}
	return st, nil
}

// maxRotationPasses bounds the re-encryption passes of a rotation. One
// pass normally suffices (writes use the new key once it is in place); a
// second finds nothing and confirms it.
const maxRotationPasses = 5

// RotateSecretsKey adds a new key to the keyring and makes it the write
// key, re-encrypts every stored Secret that is not under it (plain values
// included) with a compare-and-swap (retried when another writer won), and
// then removes the other keys from the keyring. Every step is written to
// the keyring file first, so a rotation cut short (crash, error) leaves
// every key still needed in the file and can simply be run again.
//
// It refuses with ErrNoKeyring on a store without one and with
// ErrRotationInProgress while another rotation runs. A Secret it cannot
// decrypt (ErrUndecryptable) stops it before any key is removed.
//
// # Notes
//
// The keyring is this process's: with several control-plane replicas,
// each reads its own file, so the others must be stopped while it runs and
// given the new file before they start again (see docs/architecture.md).
func (s *Store) RotateSecretsKey(ctx context.Context) (api.SecretsEncryptionRotation, error) {
	out := api.SecretsEncryptionRotation{TypeMeta: api.TypeMeta{Kind: "SecretsEncryptionRotation", APIVersion: "v1"}}
	if s.keyring == nil {
		return out, ErrNoKeyring
	}
	if !s.keyring.rotating.TryLock() {
		return out, ErrRotationInProgress
	}
	defer s.keyring.rotating.Unlock()
	id, err := s.keyring.addWriteKey()
	if err != nil {
		return out, err
	}
	out.NewKey = id
	for pass := 0; ; pass++ {
		if pass == maxRotationPasses {
			return out, fmt.Errorf("rotate secrets encryption key: Secrets were still written under old keys after %d passes; run the rotation again", pass)
		}
		n, err := s.reencryptSecrets(ctx, id)
		out.Reencrypted += n
		if err != nil {
			return out, fmt.Errorf("rotate secrets encryption key (the keyring keeps its old keys; run the rotation again): %w", err)
		}
		if n == 0 {
			break
		}
	}
	if out.RemovedKeys, err = s.keyring.dropOldKeys(); err != nil {
		return out, err
	}
	sort.Strings(out.RemovedKeys)
	if out.Status, err = s.SecretsEncryptionStatus(ctx); err != nil {
		return out, err
	}
	return out, nil
}

// reencryptSecrets writes every Secret not under key id again under it and
// returns how many it wrote.
func (s *Store) reencryptSecrets(ctx context.Context, id string) (int, error) {
	entries, err := s.secretEntries(ctx)
	if err != nil {
		return 0, err
	}
	aead, ok := s.keyring.key(id)
	if !ok {
		return 0, fmt.Errorf("the keyring lost its write key %q", id)
	}
	n := 0
	for _, e := range entries {
		key := e.Key()
		for {
			plain, kid, err := s.openSecret(key, e.Value())
			if err != nil {
				return n, err
			}
			if kid == id {
				break
			}
			sealed, err := seal(id, aead, key, plain)
			if err != nil {
				return n, err
			}
			_, err = s.kv.Update(ctx, key, sealed, e.Revision())
			if err == nil {
				n++
				break
			}
			if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongLastSequence(err) {
				return n, fmt.Errorf("re-encrypt %s: %w", key, err)
			}
			// Another writer won: read the new value and try again.
			e, err = s.kv.Get(ctx, key)
			if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
				break
			}
			if err != nil {
				return n, fmt.Errorf("re-encrypt %s: %w", key, err)
			}
		}
	}
	return n, nil
}
