package auth_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/auth"
	"github.com/skiff-sh/skiff/testbed/natstest"
)

// clock is a settable time for expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openTokens(t *testing.T, js jetstream.JetStream, now func() time.Time) *auth.Tokens {
	t.Helper()
	tk, err := auth.Open(t.Context(), js, auth.Options{Now: now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tk.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tk.Stop)
	return tk
}

func newJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	_, js := natstest.Connect(t, natstest.Start(t))
	return js
}

func TestCreatedTokenAuthenticatesWithItsRoleAndNamespace(t *testing.T) {
	tk := openTokens(t, newJS(t), nil)
	tok, err := tk.Create(t.Context(), api.TokenRequest{Name: "ci", Role: api.RoleView, Namespace: "team-a"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.Token, "skiff_ci_") || tok.Name != "ci" || tok.Role != api.RoleView || tok.Namespace != "team-a" {
		t.Fatalf("created %+v", tok)
	}
	id, err := tk.Authenticate(t.Context(), tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	if id != (auth.Identity{Name: "ci", Role: api.RoleView, Namespace: "team-a"}) {
		t.Fatalf("identity = %+v", id)
	}
}

func TestBucketKeepsOnlyTheHashNeverTheToken(t *testing.T) {
	js := newJS(t)
	tk := openTokens(t, js, nil)
	tok, err := tk.Create(t.Context(), api.TokenRequest{Name: "ci", Role: api.RoleEdit})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(t.Context(), api.TokensBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(t.Context(), "ci")
	if err != nil {
		t.Fatal(err)
	}
	secret := tok.Token[strings.LastIndex(tok.Token, "_")+1:]
	if strings.Contains(string(e.Value()), secret) || !strings.Contains(string(e.Value()), `"sha256":"`) {
		t.Fatalf("stored record %s holds the secret or no hash", e.Value())
	}
}

func TestForgedMalformedAndUnknownTokensAreUnauthenticated(t *testing.T) {
	tk := openTokens(t, newJS(t), nil)
	tok, err := tk.Create(t.Context(), api.TokenRequest{Name: "ci", Role: api.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	// Same name and length, different secret.
	last := tok.Token[len(tok.Token)-1]
	flip := byte('A')
	if last == 'A' {
		flip = 'B'
	}
	forged := tok.Token[:len(tok.Token)-1] + string(flip)
	for _, give := range []string{
		"", "Bearer x", "skiff_", "skiff_ci_", "skiff_ci_short", forged,
		"skiff_nobody_" + strings.Repeat("a", 43), "skiff_CI_" + strings.Repeat("a", 43),
		strings.Replace(tok.Token, "skiff_", "kubernetes_", 1),
	} {
		if _, err := tk.Authenticate(t.Context(), give); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) = %v, want ErrUnauthenticated", give, err)
		}
	}
}

func TestExpiredTokenIsUnauthenticatedAndSaysSo(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)}
	tk := openTokens(t, newJS(t), clk.now)
	ttl := int64(3600)
	tok, err := tk.Create(t.Context(), api.TokenRequest{Name: "short", Role: api.RoleView, ExpirationSeconds: &ttl})
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpirationTimestamp == nil || !tok.ExpirationTimestamp.Equal(clk.now().Add(time.Hour)) {
		t.Fatalf("expirationTimestamp = %v", tok.ExpirationTimestamp)
	}
	if _, err := tk.Authenticate(t.Context(), tok.Token); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	clk.add(time.Hour)
	_, err = tk.Authenticate(t.Context(), tok.Token)
	if !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("after expiry: %v, want ErrUnauthenticated saying expired", err)
	}
}

func TestRevokedTokenIsRefusedAndListedNoMore(t *testing.T) {
	tk := openTokens(t, newJS(t), nil)
	a, err := tk.Create(t.Context(), api.TokenRequest{Name: "a", Role: api.RoleView})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Create(t.Context(), api.TokenRequest{Name: "b", Role: api.RoleEdit, Namespace: "team-b"}); err != nil {
		t.Fatal(err)
	}
	list, err := tk.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" || list[0].Token != "" || list[1].Namespace != "team-b" {
		t.Fatalf("list = %+v", list)
	}
	if _, err := tk.Revoke(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Authenticate(t.Context(), a.Token); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := tk.Revoke(t.Context(), "a"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("second revoke: %v, want ErrNotFound", err)
	}
	list, err = tk.List(t.Context())
	if err != nil || len(list) != 1 || list[0].Name != "b" {
		t.Fatalf("list after revoke = %+v, %v", list, err)
	}
}

func TestRevokeOnOneReplicaReachesAnother(t *testing.T) {
	js := newJS(t)
	one, other := openTokens(t, js, nil), openTokens(t, js, nil)
	tok, err := one.Create(t.Context(), api.TokenRequest{Name: "shared", Role: api.RoleView})
	if err != nil {
		t.Fatal(err)
	}
	// The other replica accepts it at once (read through on a miss).
	if _, err := other.Authenticate(t.Context(), tok.Token); err != nil {
		t.Fatalf("other replica: %v", err)
	}
	if _, err := one.Revoke(t.Context(), "shared"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := other.Authenticate(t.Context(), tok.Token)
		if errors.Is(err, auth.ErrUnauthenticated) {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("other replica still accepts the revoked token: %v", err)
		case <-tick.C:
		}
	}
}

func TestCreateRefusesTakenNamesAndBadRequests(t *testing.T) {
	tk := openTokens(t, newJS(t), nil)
	if _, err := tk.Create(t.Context(), api.TokenRequest{Name: "ci", Role: api.RoleView}); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Create(t.Context(), api.TokenRequest{Name: "ci", Role: api.RoleView}); !errors.Is(err, auth.ErrAlreadyExists) {
		t.Fatalf("taken name: %v", err)
	}
	neg := int64(-1)
	tests := []struct {
		give  api.TokenRequest
		field string
	}{
		{api.TokenRequest{}, "role"},
		{api.TokenRequest{Role: "root"}, "role"},
		{api.TokenRequest{Role: api.RoleView, Name: "Not_A_Label"}, "name"},
		{api.TokenRequest{Role: api.RoleView, Namespace: "team/a"}, "namespace"},
		{api.TokenRequest{Role: api.RoleView, ExpirationSeconds: &neg}, "expirationSeconds"},
	}
	for _, tt := range tests {
		_, err := tk.Create(t.Context(), tt.give)
		var fe api.FieldErrors
		if !errors.As(err, &fe) || fe[0].Field != tt.field {
			t.Errorf("Create(%+v) = %v, want a field error on %s", tt.give, err, tt.field)
		}
	}
	gen, err := tk.Create(t.Context(), api.TokenRequest{Role: api.RoleView})
	if err != nil || !strings.HasPrefix(gen.Name, "token-") {
		t.Fatalf("generated name: %+v %v", gen, err)
	}
}

func TestAuthenticateWithoutStartReadsTheBucket(t *testing.T) {
	js := newJS(t)
	tk, err := auth.Open(t.Context(), js, auth.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tk.Create(t.Context(), api.TokenRequest{Name: "ci", Role: api.RoleView})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Authenticate(t.Context(), tok.Token); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureAdminTokenCreatesOnceThenReusesWithMode0600(t *testing.T) {
	tk := openTokens(t, newJS(t), nil)
	path := filepath.Join(t.TempDir(), "data", auth.AdminTokenFile)
	first, err := tk.EnsureAdminToken(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v, want mode 0600", fi, err)
	}
	id, err := tk.Authenticate(t.Context(), first)
	if err != nil || id.Role != api.RoleAdmin || id.Namespace != "" {
		t.Fatalf("bootstrap token: %+v %v", id, err)
	}
	again, err := tk.EnsureAdminToken(t.Context(), path)
	if err != nil || again != first {
		t.Fatalf("second start: %q %v, want the same token", again, err)
	}
	// Revoked: the next start makes a new one.
	if _, err := tk.Revoke(t.Context(), id.Name); err != nil {
		t.Fatal(err)
	}
	third, err := tk.EnsureAdminToken(t.Context(), path)
	if err != nil || third == first {
		t.Fatalf("after revoke: %q %v, want a new token", third, err)
	}
	if _, err := tk.Authenticate(t.Context(), third); err != nil {
		t.Fatal(err)
	}
}

func TestWatchOutlivesTheStartContext(t *testing.T) {
	js := newJS(t)
	tk, err := auth.Open(t.Context(), js, auth.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := tk.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel() // Start's context bounds only the start
	tok, err := tk.Create(t.Context(), api.TokenRequest{Name: "late", Role: api.RoleView})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Authenticate(t.Context(), tok.Token); err != nil {
		t.Fatal(err)
	}
	tk.Stop()
	tk.Stop() // twice is fine
}
