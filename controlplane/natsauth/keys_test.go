package natsauth_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/skiff-sh/skiff/controlplane/natsauth"
)

// A keys file written before the EVENTS account existed gets its key, and
// keeps every other key and its mode.
func TestLoadOrCreateKeysAddsTheEventsAccountToAnOlderFile(t *testing.T) {
	dir := t.TempDir()
	keys, err := natsauth.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, natsauth.KeysFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]string
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if f["eventsAccount"] == "" {
		t.Fatalf("a new keys file has no eventsAccount: %v", f)
	}
	delete(f, "eventsAccount")
	b, _ = json.Marshal(f)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	again, err := natsauth.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Account() != keys.Account() || again.OperatorPublicKey() != keys.OperatorPublicKey() {
		t.Fatal("the other keys changed")
	}
	if again.EventsAccount() == "" || again.EventsAccount() == keys.EventsAccount() {
		t.Fatalf("events account %q, want a new one", again.EventsAccount())
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("keys file mode %v, want 0600", st.Mode().Perm())
	}
	third, err := natsauth.LoadOrCreateKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if third.EventsAccount() != again.EventsAccount() {
		t.Error("the added events account was not kept")
	}
}
