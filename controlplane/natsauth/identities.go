package natsauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/skiff-sh/skiff/api"
)

// Errors of the identity service; the REST API maps ErrNotFound to 404,
// ErrAlreadyExists to 409 and ErrUnavailable to 503.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrUnavailable   = errors.New("node identities need the embedded NATS server (an external NATS keeps its own trust)")
)

// JoinClockSkew bounds how far a JoinRequest's time may be from the
// control plane's clock.
const JoinClockSkew = 5 * time.Minute

// joinRecord is a join token as the identities bucket keeps it
// (join.<token public key>); never the secret. PublicKey is the token's
// scoped signing key, Account the join account it signs for.
type joinRecord struct {
	Name      string            `json:"name"`
	PublicKey string            `json:"publicKey"`
	Account   string            `json:"account"`
	Labels    map[string]string `json:"labels,omitempty"`
	Created   time.Time         `json:"created"`
	Expires   *time.Time        `json:"expires,omitempty"`
	RevokedAt *time.Time        `json:"revokedAt,omitempty"`
}

// nodeRecord is a node's identity (nodes.<name>).
type nodeRecord struct {
	Name      string            `json:"name"`
	PublicKey string            `json:"publicKey"`
	JoinToken string            `json:"joinToken,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Joined    time.Time         `json:"joined"`
}

// revocation is a revoked user key (revoked.<key>).
type revocation struct {
	Key  string    `json:"key"`
	Node string    `json:"node,omitempty"`
	At   time.Time `json:"at"`
}

// Options configure the identity service.
type Options struct {
	// Replicas of the bucket's stream.
	Replicas int
	// CAFingerprint goes into the join tokens.
	CAFingerprint [32]byte
	// ClientURL and CAPEM go into events credentials.
	ClientURL string
	CAPEM     []byte
	// Now is the clock (tests).
	Now func() time.Time
}

// Identities issues and revokes NATS identities: it keeps join tokens,
// node identities and revocations in api.IdentitiesBucket, pushes the
// accounts built from them to the NATS servers, and answers joining
// devices on api.JoinSubject.
type Identities struct {
	keys *Keys
	kv   jetstream.KeyValue
	nc   *nats.Conn // the control plane's, for the join service
	sys  *nats.Conn // the SYS user's, for pushing accounts
	opts Options
	log  *slog.Logger

	mu  sync.Mutex // serialises account pushes
	sub *nats.Subscription
}

// Open makes the bucket. Start begins serving joins.
func Open(ctx context.Context, keys *Keys, js jetstream.JetStream, nc, sys *nats.Conn, opts Options, log *slog.Logger) (*Identities, error) {
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
		Bucket:      api.IdentitiesBucket,
		Description: "Skiff NATS identities: join tokens (public keys), node identities, revocations",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", api.IdentitiesBucket, err)
	}
	return &Identities{keys: keys, kv: kv, nc: nc, sys: sys, opts: opts, log: log}, nil
}

// Start pushes the SKIFF account as the bucket describes it (a restarted
// server may hold an older one) and the EVENTS account, and subscribes to
// the join subject.
func (id *Identities) Start(ctx context.Context) error {
	if err := id.PushAccount(ctx); err != nil {
		return err
	}
	events, err := id.keys.EventsAccountJWT()
	if err != nil {
		return err
	}
	if err := id.pushClaims(ctx, events); err != nil {
		return err
	}
	sub, err := id.nc.QueueSubscribe(api.JoinSubject, api.ControlPlaneQueue, id.handleJoin)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", api.JoinSubject, err)
	}
	id.sub = sub
	return id.nc.Flush()
}

// Stop ends the join service.
func (id *Identities) Stop(context.Context) error {
	if id.sub != nil {
		return id.sub.Unsubscribe()
	}
	return nil
}

// PushAccount rebuilds the SKIFF account from the revocations in the
// bucket and sends it to the servers, which then drop revoked users.
func (id *Identities) PushAccount(ctx context.Context) error {
	id.mu.Lock()
	defer id.mu.Unlock()
	var revs []Revocation
	err := id.each(ctx, "revoked.", func(b []byte) error {
		var r revocation
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		revs = append(revs, Revocation{Key: r.Key, At: r.At})
		return nil
	})
	if err != nil {
		return err
	}
	tok, err := id.keys.AccountJWT(revs)
	if err != nil {
		return err
	}
	return id.pushClaims(ctx, tok)
}

// pushClaims sends an account JWT to every server that resolves accounts
// ($SYS.REQ.CLAIMS.UPDATE) and waits for the first answer.
func (id *Identities) pushClaims(ctx context.Context, accountJWT string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := id.sys.RequestWithContext(ctx, "$SYS.REQ.CLAIMS.UPDATE", []byte(accountJWT))
	if err != nil {
		return fmt.Errorf("push account to NATS: %w", err)
	}
	var resp struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err == nil && resp.Error != nil {
		return fmt.Errorf("push account to NATS: %s", resp.Error.Description)
	}
	return nil
}

func (id *Identities) each(ctx context.Context, prefix string, fn func([]byte) error) error {
	lister, err := id.kv.ListKeysFiltered(ctx, prefix+">")
	if err != nil {
		return fmt.Errorf("list %s: %w", api.IdentitiesBucket, err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		e, err := id.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", k, err)
		}
		if err := fn(e.Value()); err != nil {
			return fmt.Errorf("read %s: %w", k, err)
		}
	}
	return nil
}

// CreateJoinToken makes a join token: a new account key whose seed is the
// secret, recorded with its expiry and labels, and its account pushed to
// the servers. The answer carries the token; it is not kept.
func (id *Identities) CreateJoinToken(ctx context.Context, req api.JoinTokenRequest) (api.JoinTokenInfo, error) {
	if err := req.Validate(); err != nil {
		return api.JoinTokenInfo{}, err
	}
	name := req.Name
	if name == "" {
		name = "join-" + randomSuffix()
	}
	if _, _, err := id.joinByName(ctx, name); err == nil {
		return api.JoinTokenInfo{}, fmt.Errorf("join token %q: %w", name, ErrAlreadyExists)
	} else if !errors.Is(err, ErrNotFound) {
		return api.JoinTokenInfo{}, err
	}
	// The join account's own key is thrown away: accounts are signed by
	// the operator, and nobody signs users with it. Devices sign their
	// short-lived users with the token's scoped key, whose template is all
	// they may do.
	account, _, err := NewJoinKey()
	if err != nil {
		return api.JoinTokenInfo{}, err
	}
	pubKey, seed, err := NewJoinKey()
	if err != nil {
		return api.JoinTokenInfo{}, err
	}
	now := id.opts.Now().UTC().Truncate(time.Second)
	rec := joinRecord{Name: name, PublicKey: pubKey, Account: account, Labels: req.Labels, Created: now}
	secs := int64(api.DefaultJoinTokenExpirationSeconds)
	if req.ExpirationSeconds != nil {
		secs = *req.ExpirationSeconds
	}
	if secs > 0 {
		exp := now.Add(time.Duration(secs) * time.Second)
		rec.Expires = &exp
	}
	if err := id.putJoinAccount(ctx, rec); err != nil {
		return api.JoinTokenInfo{}, err
	}
	b, _ := json.Marshal(rec)
	if _, err := id.kv.Create(ctx, "join."+pubKey, b); err != nil {
		return api.JoinTokenInfo{}, fmt.Errorf("record join token: %w", err)
	}
	info := rec.info()
	info.Token = api.JoinToken{CAFingerprint: id.opts.CAFingerprint, Account: account, Secret: seed}.String()
	return info, nil
}

func (id *Identities) putJoinAccount(ctx context.Context, rec joinRecord) error {
	var exp time.Time
	if rec.Expires != nil {
		exp = *rec.Expires
	}
	tok, err := id.keys.JoinAccountJWT(rec.Account, rec.PublicKey, rec.Name, exp, rec.RevokedAt)
	if err != nil {
		return err
	}
	return id.pushClaims(ctx, tok)
}

func (r joinRecord) info() api.JoinTokenInfo {
	return api.JoinTokenInfo{
		TypeMeta: api.TypeMeta{Kind: "JoinToken", APIVersion: "v1"},
		Name:     r.Name, Labels: r.Labels, CreationTimestamp: r.Created,
		ExpirationTimestamp: r.Expires, Revoked: r.RevokedAt != nil,
	}
}

// ListJoinTokens lists the join tokens, by name.
func (id *Identities) ListJoinTokens(ctx context.Context) ([]api.JoinTokenInfo, error) {
	var out []api.JoinTokenInfo
	err := id.each(ctx, "join.", func(b []byte) error {
		var r joinRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		out = append(out, r.info())
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

func (id *Identities) joinByName(ctx context.Context, name string) (joinRecord, uint64, error) {
	var found *joinRecord
	err := id.each(ctx, "join.", func(b []byte) error {
		var r joinRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		if r.Name == name {
			found = &r
		}
		return nil
	})
	if err != nil {
		return joinRecord{}, 0, err
	}
	if found == nil {
		return joinRecord{}, 0, fmt.Errorf("join token %q: %w", name, ErrNotFound)
	}
	e, err := id.kv.Get(ctx, "join."+found.PublicKey)
	if err != nil {
		return joinRecord{}, 0, fmt.Errorf("join token %q: %w", name, ErrNotFound)
	}
	return *found, e.Revision(), nil
}

// RevokeJoinToken revokes a join token: its account revokes every user,
// so a device that has not joined with it cannot connect any more. Nodes
// that joined with it keep their identities.
func (id *Identities) RevokeJoinToken(ctx context.Context, name string) (api.JoinTokenInfo, error) {
	rec, rev, err := id.joinByName(ctx, name)
	if err != nil {
		return api.JoinTokenInfo{}, err
	}
	if rec.RevokedAt == nil {
		now := id.opts.Now().UTC()
		rec.RevokedAt = &now
		b, _ := json.Marshal(rec)
		if _, err := id.kv.Update(ctx, "join."+rec.PublicKey, b, rev); err != nil {
			return api.JoinTokenInfo{}, fmt.Errorf("revoke join token %q: %w", name, err)
		}
	}
	if err := id.putJoinAccount(ctx, rec); err != nil {
		return api.JoinTokenInfo{}, err
	}
	return rec.info(), nil
}

// IssueNode records node's identity for the nkey nodeKey and returns its
// user JWT. A name that already has an identity with another key is
// refused (ErrAlreadyExists): revoke it first. It is how `skiff up` gives
// its own agent an identity, and what a join ends with.
func (id *Identities) IssueNode(ctx context.Context, node, nodeKey, joinToken string, labels map[string]string) (string, error) {
	tok, err := id.keys.NodeJWT(node, nodeKey)
	if err != nil {
		return "", err
	}
	key := "nodes." + node
	rec := nodeRecord{Name: node, PublicKey: nodeKey, JoinToken: joinToken, Labels: labels, Joined: id.opts.Now().UTC()}
	b, _ := json.Marshal(rec)
	e, err := id.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		if _, err := id.kv.Create(ctx, key, b); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				return "", fmt.Errorf("node %q is joining from another device at the same time: %w", node, ErrAlreadyExists)
			}
			return "", fmt.Errorf("record node %q: %w", node, err)
		}
	case err != nil:
		return "", fmt.Errorf("read node %q: %w", node, err)
	default:
		var old nodeRecord
		if err := json.Unmarshal(e.Value(), &old); err != nil {
			return "", fmt.Errorf("read node %q: %w", node, err)
		}
		if old.PublicKey != nodeKey {
			return "", fmt.Errorf("node %q already joined with another key; revoke it first (skiff node revoke %s): %w", node, node, ErrAlreadyExists)
		}
		// A rejoin with the same key keeps the labels it joined with.
	}
	return tok, nil
}

// NodeLabels are the labels node joined with (its join token's over the
// ones its agent asked for), which its Node gets when it first registers;
// nil when the node has no identity.
func (id *Identities) NodeLabels(ctx context.Context, node string) (map[string]string, error) {
	e, err := id.kv.Get(ctx, "nodes."+node)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read node %q: %w", node, err)
	}
	var rec nodeRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, fmt.Errorf("read node %q: %w", node, err)
	}
	return rec.Labels, nil
}

// RevokeNode revokes node's credential: its key is added to the account's
// revocations, the account pushed (the servers disconnect it at once), and
// its identity forgotten, so the name can join again with a new key.
func (id *Identities) RevokeNode(ctx context.Context, node string) error {
	key := "nodes." + node
	e, err := id.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("node %q has no identity: %w", node, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read node %q: %w", node, err)
	}
	var rec nodeRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return fmt.Errorf("read node %q: %w", node, err)
	}
	b, _ := json.Marshal(revocation{Key: rec.PublicKey, Node: node, At: id.opts.Now().UTC()})
	if _, err := id.kv.Put(ctx, "revoked."+rec.PublicKey, b); err != nil {
		return fmt.Errorf("revoke node %q: %w", node, err)
	}
	if err := id.PushAccount(ctx); err != nil {
		return err
	}
	if err := id.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
		return fmt.Errorf("forget node %q: %w", node, err)
	}
	return nil
}

// EventsCredential issues a read-only events credential for the nkey
// userKey (which the caller made and keeps).
func (id *Identities) EventsCredential(name, userKey string) (api.NATSCredential, error) {
	tok, err := id.keys.EventsJWT(name, userKey)
	if err != nil {
		return api.NATSCredential{}, err
	}
	return api.NATSCredential{JWT: tok, URL: id.opts.ClientURL, CA: string(id.opts.CAPEM), InboxPrefix: api.EventsInboxPrefix(userKey)}, nil
}

// handleJoin answers a JoinRequest. It never says more than why a request
// was refused.
func (id *Identities) handleJoin(msg *nats.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var req api.JoinRequest
	resp := api.JoinResponse{}
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		resp.Error = "join request: " + err.Error()
	} else if tok, err := id.join(ctx, req); err != nil {
		resp.Error = err.Error()
		id.log.Warn("join refused", "node", req.NodeName, "token", req.TokenPublicKey, "err", err)
	} else {
		resp.JWT = tok
		id.log.Info("node joined", "node", req.NodeName)
	}
	b, _ := json.Marshal(resp)
	_ = msg.Respond(b)
}

func (id *Identities) join(ctx context.Context, req api.JoinRequest) (string, error) {
	if err := api.ValidateName(req.NodeName); err != nil {
		return "", fmt.Errorf("nodeName: %w", err)
	}
	if !nkeys.IsValidPublicUserKey(req.NodePublicKey) {
		return "", errors.New("nodePublicKey: not an nkey user public key")
	}
	if !nkeys.IsValidPublicAccountKey(req.TokenPublicKey) {
		return "", errors.New("join token: unknown")
	}
	now := id.opts.Now()
	if d := now.Sub(req.Time); d > JoinClockSkew || d < -JoinClockSkew {
		return "", fmt.Errorf("join request time %s is more than %s from the control plane's clock %s: set the device's clock", req.Time.UTC().Format(time.RFC3339), JoinClockSkew, now.UTC().Format(time.RFC3339))
	}
	sig, err := base64.RawURLEncoding.DecodeString(req.Signature)
	if err != nil {
		return "", errors.New("join token: bad signature")
	}
	tk, err := nkeys.FromPublicKey(req.TokenPublicKey)
	if err != nil || tk.Verify(api.JoinSigningPayload(req), sig) != nil {
		return "", errors.New("join token: bad signature")
	}
	e, err := id.kv.Get(ctx, "join."+req.TokenPublicKey)
	if err != nil {
		return "", errors.New("join token: unknown")
	}
	var rec joinRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return "", errors.New("join token: unreadable record")
	}
	if rec.RevokedAt != nil {
		return "", fmt.Errorf("join token %s: revoked", rec.Name)
	}
	if rec.Expires != nil && !now.Before(*rec.Expires) {
		return "", fmt.Errorf("join token %s: expired at %s", rec.Name, rec.Expires.Format(time.RFC3339))
	}
	labels := maps.Clone(req.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, rec.Labels)
	if err := api.ValidateLabelMap(labels, "labels"); err != nil {
		return "", err
	}
	return id.IssueNode(ctx, req.NodeName, req.NodePublicKey, rec.Name, labels)
}

func randomSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return sb.String()
}
