package store_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

const secretValue = "hunter2-correct-horse-battery"

func newSecret(name string) *api.Secret {
	return &api.Secret{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "db"}},
		Data:       map[string]api.Bytes{"password": api.Bytes(secretValue + "-" + name)},
		Type:       api.SecretTypeOpaque,
	}
}

// encryptedStore is a store with a keyring in its own file, and the bucket
// to read values as stored.
func encryptedStore(t *testing.T) (*store.Store, *store.Keyring, jetstream.KeyValue, jetstream.JetStream) {
	t.Helper()
	_, js := natstest.Connect(t, natstest.Start(t))
	ring := natstest.Keyring(t)
	st, err := store.Open(t.Context(), js, store.Options{Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	return st, ring, st.KV(), js
}

func rawValue(t *testing.T, kv jetstream.KeyValue, key string) []byte {
	t.Helper()
	e, err := kv.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("raw get %s: %v", key, err)
	}
	return e.Value()
}

// assertSealed fails unless value is an aesgcm envelope under keyID that
// shows nothing of the Secret.
func assertSealed(t *testing.T, key string, value []byte, keyID string) {
	t.Helper()
	prefix := "skiff:enc:aesgcm:v1:" + keyID + ":"
	if !bytes.HasPrefix(value, []byte(prefix)) {
		t.Fatalf("%s is stored as %.60q, want the prefix %q", key, value, prefix)
	}
	for _, leak := range []string{secretValue, base64.StdEncoding.EncodeToString([]byte(secretValue)), "password", `"data"`, "labels"} {
		if bytes.Contains(value, []byte(leak)) {
			t.Fatalf("%s as stored contains %q: %q", key, leak, value)
		}
	}
}

func TestSecretIsEncryptedInTheBucketAndReadBackUnchanged(t *testing.T) {
	ctx := t.Context()
	st, ring, kv, _ := encryptedStore(t)
	secrets := store.For[*api.Secret](st)
	s := newSecret("db")
	if err := secrets.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	assertSealed(t, "secrets.default.db", rawValue(t, kv, "secrets.default.db"), ring.KeyIDs()[0])

	got, err := secrets.Get(ctx, "default", "db")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data["password"]) != secretValue+"-db" || got.UID != s.UID || got.ResourceVersion != s.ResourceVersion || got.Labels["app"] != "db" {
		t.Fatalf("get = %+v, want the Secret as created (%+v)", got, s)
	}

	// An update is sealed again, with a new nonce.
	before := rawValue(t, kv, "secrets.default.db")
	got.Data["password"] = api.Bytes(secretValue + "-db")
	got.Labels["v"] = "2"
	if err := secrets.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	after := rawValue(t, kv, "secrets.default.db")
	assertSealed(t, "secrets.default.db", after, ring.KeyIDs()[0])
	if bytes.Equal(before[:len(before)-16], after[:len(after)-16]) {
		t.Fatal("two writes of a Secret were sealed identically: the nonce is not fresh")
	}
	if _, err := secrets.Mutate(ctx, "default", "db", func(s *api.Secret) error { s.Labels["v"] = "3"; return nil }); err != nil {
		t.Fatal(err)
	}
	assertSealed(t, "secrets.default.db", rawValue(t, kv, "secrets.default.db"), ring.KeyIDs()[0])

	// Other kinds stay plain JSON.
	cms := store.For[*api.ConfigMap](st)
	if err := cms.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	if v := rawValue(t, kv, "configmaps.default.cfg"); !bytes.HasPrefix(v, []byte("{")) {
		t.Fatalf("a ConfigMap is stored as %q, want plain JSON", v)
	}
}

func TestListAndWatchDecryptSecrets(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st, _, _, _ := encryptedStore(t)
	secrets := store.For[*api.Secret](st)
	for _, n := range []string{"a", "b"} {
		if err := secrets.Create(ctx, newSecret(n)); err != nil {
			t.Fatal(err)
		}
	}
	list, err := secrets.List(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || string(list[0].Data["password"]) != secretValue+"-a" || string(list[1].Data["password"]) != secretValue+"-b" {
		t.Fatalf("list = %+v", list)
	}
	info := secrets.Info()
	snap, _, err := st.ListSnapshot(ctx, info, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap) != 2 || string(snap[1].(*api.Secret).Data["password"]) != secretValue+"-b" {
		t.Fatalf("list snapshot = %+v", snap)
	}

	events, err := secrets.Watch(ctx, store.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	changes, err := st.WatchChanges(ctx, info, store.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := secrets.Create(ctx, newSecret("c")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for len(seen) < 3 {
		select {
		case ev := <-events:
			if ev.Object != nil {
				seen[ev.Name] = string(ev.Object.Data["password"])
			}
		case <-ctx.Done():
			t.Fatalf("watch delivered %v, want a, b and c", seen)
		}
	}
	changed := map[string]string{}
	for len(changed) < 3 {
		select {
		case c := <-changes:
			if c.Object != nil {
				changed[c.Name] = string(c.Object.(*api.Secret).Data["password"])
			}
		case <-ctx.Done():
			t.Fatalf("WatchChanges delivered %v, want a, b and c", changed)
		}
	}
	for _, n := range []string{"a", "b", "c"} {
		if seen[n] != secretValue+"-"+n || changed[n] != secretValue+"-"+n {
			t.Fatalf("secret %s: watch saw %q, WatchChanges %q, want %q", n, seen[n], changed[n], secretValue+"-"+n)
		}
	}
}

func TestSecretValueMovedToAnotherKeyDoesNotDecrypt(t *testing.T) {
	ctx := t.Context()
	st, _, kv, js := encryptedStore(t)
	secrets := store.For[*api.Secret](st)
	if err := secrets.Create(ctx, newSecret("a")); err != nil {
		t.Fatal(err)
	}
	// Someone with write access to the bucket copies a's ciphertext over b.
	if _, err := kv.Put(ctx, "secrets.default.b", rawValue(t, kv, "secrets.default.a")); err != nil {
		t.Fatal(err)
	}
	_, err := secrets.Get(ctx, "default", "b")
	if !errors.Is(err, store.ErrUndecryptable) || !strings.Contains(err.Error(), "does not authenticate") || !strings.Contains(err.Error(), "secrets.default.b") {
		t.Fatalf("get of a moved value: err = %v, want ErrUndecryptable saying it does not authenticate for secrets.default.b", err)
	}
	if _, err := secrets.List(ctx, "default"); !errors.Is(err, store.ErrUndecryptable) {
		t.Fatalf("list with a moved value: err = %v, want ErrUndecryptable", err)
	}
	if got, err := secrets.Get(ctx, "default", "a"); err != nil || string(got.Data["password"]) != secretValue+"-a" {
		t.Fatalf("get a = %+v, %v", got, err)
	}
	// A value under a key the keyring does not hold says which key.
	foreign, err := store.Open(ctx, js, store.Options{Keyring: natstest.Keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.For[*api.Secret](foreign).Get(ctx, "default", "a"); !errors.Is(err, store.ErrUndecryptable) || !strings.Contains(err.Error(), "does not hold") {
		t.Fatalf("get under a foreign keyring: err = %v, want ErrUndecryptable naming the missing key", err)
	}
}

func TestPlainLegacySecretIsReadAndEncryptedByRotation(t *testing.T) {
	ctx := t.Context()
	st, ring, kv, js := encryptedStore(t)
	plainStore, err := store.Open(ctx, js, store.Options{PlaintextSecrets: true})
	if err != nil {
		t.Fatal(err)
	}
	// Written before encryption was on.
	for _, n := range []string{"old", "touched"} {
		if err := store.For[*api.Secret](plainStore).Create(ctx, newSecret(n)); err != nil {
			t.Fatal(err)
		}
	}
	if v := rawValue(t, kv, "secrets.default.old"); !bytes.Contains(v, []byte(base64.StdEncoding.EncodeToString([]byte(secretValue+"-old")))) {
		t.Fatalf("the legacy value is not plain JSON: %q", v)
	}
	secrets := store.For[*api.Secret](st)
	if err := secrets.Create(ctx, newSecret("new")); err != nil {
		t.Fatal(err)
	}
	// The next write of a legacy value encrypts it.
	if _, err := secrets.Mutate(ctx, "default", "touched", func(s *api.Secret) error { s.Labels["v"] = "2"; return nil }); err != nil {
		t.Fatal(err)
	}
	assertSealed(t, "secrets.default.touched", rawValue(t, kv, "secrets.default.touched"), ring.KeyIDs()[0])
	got, err := secrets.Get(ctx, "default", "old")
	if err != nil || string(got.Data["password"]) != secretValue+"-old" {
		t.Fatalf("get of a plain legacy Secret = %+v, %v", got, err)
	}
	status, err := st.SecretsEncryptionStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status.Plaintext != 1 || status.Total != 3 || len(status.Keys) != 1 || status.Keys[0].Secrets != 2 || !status.Keys[0].Write {
		t.Fatalf("status = %+v, want 1 plain and 2 under the one key", status)
	}
	// The plain store cannot read an encrypted value, and says why.
	if _, err := store.For[*api.Secret](plainStore).Get(ctx, "default", "new"); !errors.Is(err, store.ErrUndecryptable) {
		t.Fatalf("a store without keyring reading an encrypted Secret: err = %v, want ErrUndecryptable", err)
	}

	rot, err := st.RotateSecretsKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Reencrypted != 3 || rot.Status.Plaintext != 0 || rot.Status.Total != 3 || ring.KeyIDs()[0] != rot.NewKey {
		t.Fatalf("rotation = %+v, keyring %v", rot, ring.KeyIDs())
	}
	assertSealed(t, "secrets.default.old", rawValue(t, kv, "secrets.default.old"), rot.NewKey)
	if got, err := secrets.Get(ctx, "default", "old"); err != nil || string(got.Data["password"]) != secretValue+"-old" || got.UID == "" {
		t.Fatalf("get after rotation = %+v, %v", got, err)
	}
}

func TestRotationReencryptsEverySecretAndRemovesTheOldKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	st, ring, kv, js := encryptedStore(t)
	secrets := store.For[*api.Secret](st)
	names := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "busy"}
	for _, n := range names {
		if err := secrets.Create(ctx, newSecret(n)); err != nil {
			t.Fatal(err)
		}
	}
	oldKey := ring.KeyIDs()[0]

	// A writer keeps changing one Secret while the rotation runs: its
	// writes race the re-encryption's compare-and-swap.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes int
	var writeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, err := secrets.Mutate(ctx, "default", "busy", func(s *api.Secret) error {
				s.Labels["n"] = time.Now().Format(time.RFC3339Nano)
				return nil
			})
			if err != nil {
				writeErr = err
				return
			}
			writes++
		}
	}()
	rot, err := st.RotateSecretsKey(ctx)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if writeErr != nil {
		t.Fatalf("a write during the rotation failed: %v", writeErr)
	}
	if rot.NewKey == oldKey || !slices.Equal(rot.RemovedKeys, []string{oldKey}) {
		t.Fatalf("rotation = %+v, want a new key and %s removed", rot, oldKey)
	}
	if ids := ring.KeyIDs(); !slices.Equal(ids, []string{rot.NewKey}) {
		t.Fatalf("keyring after rotation = %v, want only %s", ids, rot.NewKey)
	}
	for _, n := range names {
		key := "secrets.default." + n
		assertSealed(t, key, rawValue(t, kv, key), rot.NewKey)
		got, err := secrets.Get(ctx, "default", n)
		if err != nil || string(got.Data["password"]) != secretValue+"-"+n {
			t.Fatalf("get %s after rotation = %+v, %v", n, got, err)
		}
	}
	if rot.Status.Total != len(names) || len(rot.Status.Keys) != 1 || rot.Status.Keys[0].Secrets != len(names) {
		t.Fatalf("status after rotation = %+v", rot.Status)
	}
	t.Logf("%d writes raced the rotation", writes)

	// The file holds only the new key: a restarted control plane reads
	// every Secret with it, and a keyring with only the old key reads none.
	reopened, err := store.OpenKeyring(ring.Path())
	if err != nil {
		t.Fatal(err)
	}
	if ids := reopened.KeyIDs(); !slices.Equal(ids, []string{rot.NewKey}) {
		t.Fatalf("keyring file after rotation holds %v, want only %s", ids, rot.NewKey)
	}
	st2, err := store.Open(ctx, js, store.Options{Keyring: reopened})
	if err != nil {
		t.Fatal(err)
	}
	list, err := store.For[*api.Secret](st2).List(ctx, "")
	if err != nil || len(list) != len(names) {
		t.Fatalf("list with the reopened keyring = %d Secrets, %v", len(list), err)
	}

	// A second rotation works on the first one's result.
	rot2, err := st.RotateSecretsKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rot2.RemovedKeys, []string{rot.NewKey}) || rot2.Reencrypted != len(names) {
		t.Fatalf("second rotation = %+v", rot2)
	}
}

func TestKeyringReadableByOthersIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.KeyringFile)
	ring, err := store.OpenKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || len(ring.KeyIDs()) != 1 {
		t.Fatalf("a new keyring has mode %04o and keys %v, want 0600 and one key", st.Mode().Perm(), ring.KeyIDs())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = store.OpenKeyring(path)
	if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("open a 0644 keyring: err = %v, want a refusal saying chmod 600 %s", err, path)
	}
}

func TestKeyringFileErrorsNameTheField(t *testing.T) {
	for _, tt := range []struct {
		give string
		want string
	}{
		{give: `{"keys":[]}`, want: "keys: no key"},
		{give: `{"keys":[{"id":"a:b","secret":"AAAA"}]}`, want: `keys[0].id: "a:b" is not a key id`},
		{give: `{"keys":[{"id":"k1","secret":"AAAA"}]}`, want: "keys[0].secret: 3 bytes, want 32"},
		{give: `not json`, want: "invalid character"},
	} {
		path := filepath.Join(t.TempDir(), store.KeyringFile)
		if err := os.WriteFile(path, []byte(tt.give), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := store.OpenKeyring(path)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("keyring %s: err = %v, want one naming the file and %q", tt.give, err, tt.want)
		}
	}
}

func TestStoreWithoutKeyringIsRefusedUnlessAskedFor(t *testing.T) {
	_, js := natstest.Connect(t, natstest.Start(t))
	if _, err := store.Open(t.Context(), js, store.Options{}); err == nil || !strings.Contains(err.Error(), "keyring") {
		t.Fatalf("open without a keyring: err = %v, want a refusal", err)
	}
	st, err := store.Open(t.Context(), js, store.Options{PlaintextSecrets: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.RotateSecretsKey(t.Context()); !errors.Is(err, store.ErrNoKeyring) {
		t.Fatalf("rotate without a keyring: err = %v, want ErrNoKeyring", err)
	}
}
