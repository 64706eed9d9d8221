package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/skiff-sh/skiff/api"
)

// Errors of the token store. The REST API maps ErrUnauthenticated to 401,
// ErrForbidden to 403, ErrNotFound to 404 and ErrAlreadyExists to 409.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
	ErrNotFound        = errors.New("token not found")
	ErrAlreadyExists   = errors.New("token already exists")
)

// TokenPrefix starts every token, so that a leaked token is recognisable
// (secret scanners, logs).
const TokenPrefix = "skiff_"

// secretBytes is the randomness of a token: 256 bits.
const secretBytes = 32

// Options configure the token store.
type Options struct {
	// Replicas of the bucket's stream: 1 for the embedded server, 3 on an
	// external NATS cluster.
	Replicas int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Tokens is the token store over api.TokensBucket. Build it with Open;
// Start keeps an in-memory copy of the records for Authenticate.
type Tokens struct {
	kv  jetstream.KeyValue
	now func() time.Time
	log *slog.Logger

	mu     sync.RWMutex
	cache  map[string]record // by name; nil until Start
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// record is what the bucket holds for one token.
type record struct {
	Name                string     `json:"name"`
	SHA256              string     `json:"sha256"` // hex of sha256(token)
	Role                api.Role   `json:"role"`
	Namespace           string     `json:"namespace,omitempty"`
	CreationTimestamp   time.Time  `json:"creationTimestamp"`
	ExpirationTimestamp *time.Time `json:"expirationTimestamp,omitempty"`

	hash []byte // SHA256 decoded, filled when read
}

func (r record) token() api.Token {
	return api.Token{
		TypeMeta: api.TypeMeta{Kind: "Token", APIVersion: "v1"},
		Name:     r.Name, Role: r.Role, Namespace: r.Namespace,
		CreationTimestamp: r.CreationTimestamp, ExpirationTimestamp: r.ExpirationTimestamp,
	}
}

func (r record) identity() Identity {
	return Identity{Name: r.Name, Role: r.Role, Namespace: r.Namespace}
}

// Open creates or updates the tokens bucket and returns a store over it.
func Open(ctx context.Context, js jetstream.JetStream, opts Options, log *slog.Logger) (*Tokens, error) {
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      api.TokensBucket,
		Description: "Skiff API bearer tokens: SHA-256, role, namespace and expiry, keyed by name",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", api.TokensBucket, err)
	}
	return &Tokens{kv: kv, now: opts.Now, log: log}, nil
}

// Start keeps an in-memory copy of every record, fed by a watch of the
// bucket, and returns once the copy holds what the bucket held (or ctx
// ends). Stop ends the watch. Without Start, Authenticate reads the bucket
// on every call.
func (t *Tokens) Start(ctx context.Context) error {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w, err := t.kv.WatchAll(wctx)
	if err != nil {
		cancel()
		return fmt.Errorf("watch %s: %w", api.TokensBucket, err)
	}
	t.mu.Lock()
	t.cache = map[string]record{}
	t.cancel = cancel
	t.mu.Unlock()
	synced := make(chan struct{})
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer func() { _ = w.Stop() }()
		t.follow(wctx, w, synced)
	}()
	select {
	case <-synced:
		return nil
	case <-ctx.Done():
		t.Stop()
		return fmt.Errorf("watch %s: %w", api.TokensBucket, ctx.Err())
	}
}

// follow applies the watch's entries to the cache until ctx ends.
func (t *Tokens) follow(ctx context.Context, w jetstream.KeyWatcher, synced chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				if synced != nil {
					close(synced)
					synced = nil
				}
				continue
			}
			t.mu.Lock()
			if e.Operation() == jetstream.KeyValuePut {
				if r, err := decodeRecord(e.Value()); err == nil {
					t.cache[e.Key()] = r
				} else {
					t.log.Warn("unreadable token record", "name", e.Key(), "err", err)
					delete(t.cache, e.Key())
				}
			} else {
				delete(t.cache, e.Key())
			}
			t.mu.Unlock()
		}
	}
}

// Stop ends the watch Start began and waits for it.
func (t *Tokens) Stop() {
	t.mu.Lock()
	cancel := t.cancel
	t.cancel = nil
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	t.wg.Wait()
	t.mu.Lock()
	t.cache = nil
	t.mu.Unlock()
}

func decodeRecord(b []byte) (record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, err
	}
	h, err := hex.DecodeString(r.SHA256)
	if err != nil || len(h) != sha256.Size {
		return record{}, errors.New("sha256 is not 64 hex digits")
	}
	r.hash = h
	return r, nil
}

// read gets one record from the bucket.
func (t *Tokens) read(ctx context.Context, name string) (record, error) {
	e, err := t.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return record{}, fmt.Errorf("token %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return record{}, fmt.Errorf("read token %q: %w", name, err)
	}
	r, err := decodeRecord(e.Value())
	if err != nil {
		return record{}, fmt.Errorf("read token %q: %w", name, err)
	}
	return r, nil
}

// Create makes a token and returns it with its secret (api.Token.Token),
// which is stored nowhere: the caller shows it once. A name already taken
// is ErrAlreadyExists; a request that does not validate is api.FieldErrors.
func (t *Tokens) Create(ctx context.Context, req api.TokenRequest) (api.Token, error) {
	if err := req.Validate(); err != nil {
		return api.Token{}, err
	}
	now := t.now().UTC().Truncate(time.Second)
	r := record{Role: req.Role, Namespace: req.Namespace, CreationTimestamp: now}
	if s := req.ExpirationSeconds; s != nil && *s > 0 {
		exp := now.Add(time.Duration(*s) * time.Second)
		r.ExpirationTimestamp = &exp
	}
	const attempts = 5 // for generated names that happen to be taken
	for range attempts {
		r.Name = req.Name
		if r.Name == "" {
			r.Name = "token-" + randomSuffix()
		}
		secret, err := newSecret(r.Name)
		if err != nil {
			return api.Token{}, err
		}
		sum := sha256.Sum256([]byte(secret))
		r.SHA256, r.hash = hex.EncodeToString(sum[:]), sum[:]
		b, err := json.Marshal(r)
		if err != nil {
			return api.Token{}, fmt.Errorf("encode token %q: %w", r.Name, err)
		}
		_, err = t.kv.Create(ctx, r.Name, b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			if req.Name != "" {
				return api.Token{}, fmt.Errorf("token %q: %w", r.Name, ErrAlreadyExists)
			}
			continue
		}
		if err != nil {
			return api.Token{}, fmt.Errorf("create token %q: %w", r.Name, err)
		}
		t.remember(r)
		t.log.Info("token created", "name", r.Name, "role", r.Role, "namespace", r.Namespace, "expires", r.ExpirationTimestamp)
		tok := r.token()
		tok.Token = secret
		return tok, nil
	}
	return api.Token{}, fmt.Errorf("create token: %d generated names were taken: %w", attempts, ErrAlreadyExists)
}

func (t *Tokens) remember(r record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cache != nil {
		t.cache[r.Name] = r
	}
}

func (t *Tokens) forget(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cache != nil {
		delete(t.cache, name)
	}
}

// Get returns one token's description (no secret); ErrNotFound if none.
func (t *Tokens) Get(ctx context.Context, name string) (api.Token, error) {
	r, err := t.read(ctx, name)
	if err != nil {
		return api.Token{}, err
	}
	return r.token(), nil
}

// List returns every token (no secrets), sorted by name, expired ones
// included until they are revoked.
func (t *Tokens) List(ctx context.Context) ([]api.Token, error) {
	keys, err := t.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	var names []string
	seen := map[string]bool{}
	for k := range keys.Keys() {
		if !seen[k] { // a lister may repeat a key written meanwhile
			seen[k] = true
			names = append(names, k)
		}
	}
	_ = keys.Stop() // the lister stopped itself when it was done
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	sort.Strings(names)
	out := make([]api.Token, 0, len(names))
	for _, n := range names {
		r, err := t.read(ctx, n)
		if errors.Is(err, ErrNotFound) {
			continue // revoked meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r.token())
	}
	return out, nil
}

// Revoke deletes a token and returns what it was; ErrNotFound if there is
// none. This replica refuses the token at once; others within the time
// their watch takes to deliver the deletion (milliseconds).
func (t *Tokens) Revoke(ctx context.Context, name string) (api.Token, error) {
	e, err := t.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return api.Token{}, fmt.Errorf("token %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return api.Token{}, fmt.Errorf("revoke token %q: %w", name, err)
	}
	r, err := decodeRecord(e.Value())
	if err != nil {
		r = record{Name: name} // revoke an unreadable record all the same
	}
	if err := t.kv.Delete(ctx, name, jetstream.LastRevision(e.Revision())); err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return api.Token{}, fmt.Errorf("token %q: %w", name, ErrNotFound)
		}
		return api.Token{}, fmt.Errorf("revoke token %q: %w", name, err)
	}
	t.forget(name)
	t.log.Info("token revoked", "name", name)
	return r.token(), nil
}

// Authenticate returns the identity of a token. A token that is malformed,
// unknown, revoked or forged is an error wrapping ErrUnauthenticated, as is
// an expired one (whose message says so). Errors reading the bucket are
// returned as they are.
func (t *Tokens) Authenticate(ctx context.Context, token string) (Identity, error) {
	name, ok := parseToken(token)
	if !ok {
		return Identity{}, invalidToken()
	}
	sum := sha256.Sum256([]byte(token))
	r, cached := t.cached(name)
	if !cached || subtle.ConstantTimeCompare(sum[:], r.hash) != 1 {
		// Not seen by the watch yet (made on another replica a moment
		// ago), or replaced since: the bucket decides.
		var err error
		r, err = t.read(ctx, name)
		if errors.Is(err, ErrNotFound) {
			return Identity{}, invalidToken()
		}
		if err != nil {
			return Identity{}, err
		}
		if subtle.ConstantTimeCompare(sum[:], r.hash) != 1 {
			return Identity{}, invalidToken()
		}
	}
	if r.ExpirationTimestamp != nil && !t.now().Before(*r.ExpirationTimestamp) {
		return Identity{}, fmt.Errorf("the bearer token %q expired at %s; ask an admin for a new one (skiff token create): %w",
			r.Name, r.ExpirationTimestamp.UTC().Format(time.RFC3339), ErrUnauthenticated)
	}
	return r.identity(), nil
}

func invalidToken() error {
	return fmt.Errorf("the bearer token is not valid: unknown, revoked, or not issued by this cluster: %w", ErrUnauthenticated)
}

func (t *Tokens) cached(name string) (record, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.cache[name]
	return r, ok
}

// newSecret returns a fresh token for name: skiff_<name>_<43 base64url
// characters of randomness>.
func newSecret(name string) (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token randomness: %w", err)
	}
	return TokenPrefix + name + "_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// parseToken returns the name a token claims, if it has a token's shape.
// Names are DNS labels (no '_'); the secret may contain '_'.
func parseToken(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, TokenPrefix)
	if !ok {
		return "", false
	}
	name, secret, ok := strings.Cut(rest, "_")
	if !ok || api.ValidateName(name) != nil || len(secret) != base64.RawURLEncoding.EncodedLen(secretBytes) {
		return "", false
	}
	return name, true
}

const suffixChars = "bcdfghjklmnpqrstvwxz2456789"

func randomSuffix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = suffixChars[int(b[i])%len(suffixChars)]
	}
	return string(b)
}
