// Package natsauth holds Skiff's NATS trust: the operator, the SYS,
// SKIFF and EVENTS accounts and their signing keys, the JWTs built from
// them, and the identity service that joins nodes, issues events readers'
// credentials and revokes them. docs/security.md explains the model; in
// short, NATS runs in operator mode (decentralised JWTs with nkeys), every
// identity proves it holds its nkey, and permissions are enforced by the
// NATS servers from scoped signing keys (nodes' in SKIFF, events readers'
// in EVENTS).
//
// Package natsauth imports api, internal/atomicfile, nats.go, nats-io/jwt
// and nkeys, never another controlplane package.
package natsauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/internal/atomicfile"
)

// KeysFile is the file under the PKI directory that holds the seeds.
const KeysFile = "nats.json"

// Names of the accounts, as NATS tools show them.
const (
	OperatorName = "skiff"
	SystemName   = "SYS"
	AccountName  = "SKIFF"
	// EventsAccountName is the account of events readers: it imports the
	// events and direct gets on their stream from SKIFF and holds nothing
	// else (see EventsAccountJWT for why it is not SKIFF).
	EventsAccountName = "EVENTS"
)

// Roles of the SKIFF account's scoped signing keys.
const (
	RoleNode   = "node"
	RoleEvents = "events"
)

// Keys are the seeds of the trust chain. The file holding them is the
// cluster's master secret: whoever reads it can mint any identity.
type Keys struct {
	operator, system, account, nodeSigner, eventsSigner, eventsAccount nkeys.KeyPair
}

type keysFile struct {
	Operator     string `json:"operator"`
	System       string `json:"system"`
	Account      string `json:"account"`
	NodeSigner   string `json:"nodeSigner"`
	EventsSigner string `json:"eventsSigner"`
	// EventsAccount was added after the others: a file without it gets
	// one (LoadOrCreateKeys).
	EventsAccount string `json:"eventsAccount,omitempty"`
}

// LoadKeys reads the keys from dir/KeysFile; (nil, nil) when there is no
// such file.
func LoadKeys(dir string) (*Keys, error) {
	if _, err := os.Stat(filepath.Join(dir, KeysFile)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return LoadOrCreateKeys(dir)
}

// LoadOrCreateKeys reads the keys from dir/KeysFile, or makes new ones
// there (mode 0600) when there is no such file.
func LoadOrCreateKeys(dir string) (*Keys, error) {
	path := filepath.Join(dir, KeysFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKeys(path)
	}
	if err != nil {
		return nil, fmt.Errorf("nats keys: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("nats keys: %s is readable by others (mode %v): chmod 600 %s", path, st.Mode().Perm(), path)
	}
	var f keysFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("nats keys %s: %w", path, err)
	}
	if f.EventsAccount == "" {
		if f.EventsAccount, err = addEventsAccount(path, f); err != nil {
			return nil, err
		}
	}
	k := &Keys{}
	for _, s := range []struct {
		seed string
		dst  *nkeys.KeyPair
		name string
	}{{f.Operator, &k.operator, "operator"}, {f.System, &k.system, "system"}, {f.Account, &k.account, "account"},
		{f.NodeSigner, &k.nodeSigner, "nodeSigner"}, {f.EventsSigner, &k.eventsSigner, "eventsSigner"},
		{f.EventsAccount, &k.eventsAccount, "eventsAccount"}} {
		kp, err := nkeys.FromSeed([]byte(s.seed))
		if err != nil {
			return nil, fmt.Errorf("nats keys %s: %s: %w", path, s.name, err)
		}
		*s.dst = kp
	}
	return k, nil
}

func createKeys(path string) (*Keys, error) {
	k := &Keys{}
	var err error
	if k.operator, err = nkeys.CreateOperator(); err != nil {
		return nil, err
	}
	for _, dst := range []*nkeys.KeyPair{&k.system, &k.account, &k.nodeSigner, &k.eventsSigner, &k.eventsAccount} {
		if *dst, err = nkeys.CreateAccount(); err != nil {
			return nil, err
		}
	}
	seed := func(kp nkeys.KeyPair) string { s, _ := kp.Seed(); return string(s) }
	b, err := json.MarshalIndent(keysFile{
		Operator: seed(k.operator), System: seed(k.system), Account: seed(k.account),
		NodeSigner: seed(k.nodeSigner), EventsSigner: seed(k.eventsSigner), EventsAccount: seed(k.eventsAccount),
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("nats keys: %w", err)
	}
	// O_EXCL: two processes starting on one data dir never overwrite each
	// other's keys.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("nats keys: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("nats keys: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("nats keys: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("nats keys: %w", err)
	}
	return k, nil
}

// addEventsAccount makes the events account's key for a keys file written
// before it existed, and writes the file anew (atomically, mode 0600).
func addEventsAccount(path string, f keysFile) (string, error) {
	kp, err := nkeys.CreateAccount()
	if err != nil {
		return "", err
	}
	s, _ := kp.Seed()
	f.EventsAccount = string(s)
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", err
	}
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return "", fmt.Errorf("nats keys: %w", err)
	}
	return f.EventsAccount, nil
}

func pub(kp nkeys.KeyPair) string { p, _ := kp.PublicKey(); return p }

// OperatorPublicKey, SystemAccount and Account are the public keys.
func (k *Keys) OperatorPublicKey() string { return pub(k.operator) }

// SystemAccount is the SYS account's public key.
func (k *Keys) SystemAccount() string { return pub(k.system) }

// Account is the SKIFF account's public key.
func (k *Keys) Account() string { return pub(k.account) }

// EventsAccount is the EVENTS account's public key.
func (k *Keys) EventsAccount() string { return pub(k.eventsAccount) }

// Operator is the operator's claims, as a server trusts them.
func (k *Keys) Operator() (*jwt.OperatorClaims, string, error) {
	oc := jwt.NewOperatorClaims(k.OperatorPublicKey())
	oc.Name = OperatorName
	oc.SystemAccount = k.SystemAccount()
	tok, err := oc.Encode(k.operator)
	if err != nil {
		return nil, "", fmt.Errorf("operator jwt: %w", err)
	}
	return oc, tok, nil
}

// SystemAccountJWT is the SYS account.
func (k *Keys) SystemAccountJWT() (string, error) {
	ac := jwt.NewAccountClaims(k.SystemAccount())
	ac.Name = SystemName
	return ac.Encode(k.operator)
}

// Revocation says that credentials for Key issued before At no longer work.
type Revocation struct {
	Key string
	At  time.Time
}

// AccountJWT is the SKIFF account: JetStream on, the join service
// exported to the join accounts, the events and the reads of their stream
// (eventsRead) exported to the EVENTS account, the node scoped signing
// key, and the revocations.
func (k *Keys) AccountJWT(revocations []Revocation) (string, error) {
	ac := jwt.NewAccountClaims(k.Account())
	ac.Name = AccountName
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: jwt.NoLimit, DiskStorage: jwt.NoLimit, Streams: jwt.NoLimit, Consumer: jwt.NoLimit}
	ac.Exports.Add(&jwt.Export{Name: "join", Subject: jwt.Subject(api.JoinSubject), Type: jwt.Service, ResponseType: jwt.ResponseTypeSingleton})
	ac.Exports.Add(&jwt.Export{Name: "events", Subject: jwt.Subject(api.EventsSubjects), Type: jwt.Stream})
	for _, subj := range eventsRead() {
		ac.Exports.Add(&jwt.Export{Name: "events-read", Subject: jwt.Subject(subj), Type: jwt.Service, ResponseType: jwt.ResponseTypeSingleton})
	}
	ac.SigningKeys.AddScopedSigner(nodeScope(pub(k.nodeSigner)))
	for _, r := range revocations {
		ac.RevokeAt(r.Key, r.At)
	}
	tok, err := ac.Encode(k.operator)
	if err != nil {
		return "", fmt.Errorf("account jwt: %w", err)
	}
	return tok, nil
}

// nodeScope is what every node may do, whatever its JWT says: publish under
// skiff.agent.<its name>.>, receive skiff.node.<its name>.> and its inbox,
// answer requests once each.
func nodeScope(key string) *jwt.UserScope {
	s := jwt.NewUserScope()
	s.Key, s.Role = key, RoleNode
	s.Description = "edge agents: only their own subjects, no JetStream"
	s.Template.Pub.Allow.Add(api.AgentSubject("{{name()}}", ">"))
	s.Template.Sub.Allow.Add(api.NodeSubjects("{{name()}}"), api.NodeInboxPrefix("{{name()}}")+".>")
	s.Template.Resp = &jwt.ResponsePermission{MaxMsgs: 1}
	return s
}

// eventsRead are the JetStream API subjects an events reader may request
// (what `nats stream get` and `nats stream info` send): account and
// stream info, and direct gets on the events stream.
func eventsRead() []string {
	st := api.EventsStream
	return []string{"$JS.API.INFO", "$JS.API.STREAM.INFO." + st, "$JS.API.DIRECT.GET." + st, "$JS.API.DIRECT.GET." + st + ".>"}
}

// joinScope is what a joining device may do: ask to join, and hear the
// answer in the inbox named by its own nkey (which the server checked).
func joinScope(key string) *jwt.UserScope {
	s := jwt.NewUserScope()
	s.Key, s.Role = key, "join"
	s.Description = "joining devices: only ask to join"
	s.Template.Pub.Allow.Add(api.JoinSubject)
	s.Template.Sub.Allow.Add(api.JoinInboxPrefix("{{subject()}}") + ".>")
	return s
}

// eventsScope lets a reader follow events live, see the stream's info and
// read its messages by direct get; nothing else (no consumers: a push
// consumer's deliver subject could point anywhere).
func eventsScope(key string) *jwt.UserScope {
	s := jwt.NewUserScope()
	s.Key, s.Role = key, RoleEvents
	s.Description = "events readers (skiff nats context): read-only"
	s.Template.Sub.Allow.Add(api.EventsSubjects, api.EventsInboxPrefix("{{subject()}}")+".>")
	s.Template.Pub.Allow.Add(eventsRead()...)
	return s
}

// EventsAccountJWT is the account of events readers. It imports the
// events (a stream) and the reads of SKIFF_EVENTS (eventsRead, services)
// from SKIFF, has no JetStream of its own, and holds the events scoped
// signing key.
//
// # Why not in SKIFF
//
// The JetStream API answers a request on the request's reply subject,
// which the requester chooses freely, in the requester's account. In
// SKIFF a reader's stream info or direct get with the reply subject
// "$KV.skiff-objects.<key>" would have the answer stored over that
// object. Through a service import the answer goes back to the
// requester's own account, where there is nothing to overwrite.
func (k *Keys) EventsAccountJWT() (string, error) {
	ac := jwt.NewAccountClaims(k.EventsAccount())
	ac.Name = EventsAccountName
	ac.Imports.Add(&jwt.Import{Name: "events", Subject: jwt.Subject(api.EventsSubjects), Account: k.Account(), Type: jwt.Stream})
	for _, subj := range eventsRead() {
		ac.Imports.Add(&jwt.Import{Name: "events-read", Subject: jwt.Subject(subj), Account: k.Account(), Type: jwt.Service})
	}
	ac.Limits.AccountLimits.Exports = 0
	ac.Limits.AccountLimits.LeafNodeConn = 0
	ac.SigningKeys.AddScopedSigner(eventsScope(pub(k.eventsSigner)))
	tok, err := ac.Encode(k.operator)
	if err != nil {
		return "", fmt.Errorf("events account jwt: %w", err)
	}
	return tok, nil
}

// JoinAccountJWT is the account of one join token: it may only request
// the SKIFF account's join service, has no JetStream, and ends with the
// token (expires; revoked = every user of it revoked). Its only signing key
// is the token's key (signer), scoped so that a user it signs — which the
// device holding the token makes itself — may publish only on the join
// subject and receive only in the inbox named by its own nkey: holders of
// one token cannot see or answer each other's joins.
func (k *Keys) JoinAccountJWT(account, signer, name string, expires time.Time, revokedAt *time.Time) (string, error) {
	ac := jwt.NewAccountClaims(account)
	ac.SigningKeys.AddScopedSigner(joinScope(signer))
	ac.Name = "join-" + name
	if !expires.IsZero() {
		ac.Expires = expires.Unix()
	}
	ac.Imports.Add(&jwt.Import{Name: "join", Subject: jwt.Subject(api.JoinSubject), Account: k.Account(), Type: jwt.Service})
	ac.Limits.NatsLimits = jwt.NatsLimits{Subs: 100, Data: jwt.NoLimit, Payload: 64 << 10}
	ac.Limits.AccountLimits = jwt.AccountLimits{Imports: 1, Exports: 0, Conn: 1000, LeafNodeConn: 0, DisallowBearer: true}
	if revokedAt != nil {
		// Every user, whatever time it says it was issued at: the token's
		// holder signs its users itself and could date them after the
		// revocation.
		ac.Revocations = jwt.RevocationList{jwt.All: math.MaxInt64}
	}
	tok, err := ac.Encode(k.operator)
	if err != nil {
		return "", fmt.Errorf("join account jwt: %w", err)
	}
	return tok, nil
}

// Credential is a user JWT and the seed of its nkey.
type Credential struct {
	JWT  string
	Seed []byte
}

// ControlPlaneUser makes a fresh credential for a control-plane process:
// everything in the SKIFF account.
func (k *Keys) ControlPlaneUser() (Credential, error) {
	return k.newUser(k.account, "", "skiff-controlplane")
}

// SystemUser makes a fresh credential in the SYS account, for pushing
// account updates.
func (k *Keys) SystemUser() (Credential, error) {
	return k.newUser(k.system, "", "skiff-system")
}

func (k *Keys) newUser(signer nkeys.KeyPair, issuerAccount, name string) (Credential, error) {
	u, err := nkeys.CreateUser()
	if err != nil {
		return Credential{}, err
	}
	tok, err := signUser(signer, issuerAccount, pub(u), name)
	if err != nil {
		return Credential{}, err
	}
	seed, _ := u.Seed()
	return Credential{JWT: tok, Seed: seed}, nil
}

// NodeJWT is the user JWT of node name for the nkey userKey, signed by the
// node scoped key (so the node scope's permissions apply).
func (k *Keys) NodeJWT(name, userKey string) (string, error) {
	if err := api.ValidateName(name); err != nil {
		return "", fmt.Errorf("node name: %w", err)
	}
	if !nkeys.IsValidPublicUserKey(userKey) {
		return "", fmt.Errorf("node key %q is not an nkey user public key", userKey)
	}
	return signScopedUser(k.nodeSigner, k.Account(), userKey, name)
}

// EventsJWT is an events reader's user JWT for the nkey userKey.
func (k *Keys) EventsJWT(name, userKey string) (string, error) {
	if !nkeys.IsValidPublicUserKey(userKey) {
		return "", fmt.Errorf("key %q is not an nkey user public key", userKey)
	}
	return signScopedUser(k.eventsSigner, k.EventsAccount(), userKey, name)
}

// signScopedUser signs a user of a scoped key: its permissions and limits
// must be empty (the scope's template applies), which the server checks.
func signScopedUser(signer nkeys.KeyPair, issuerAccount, userKey, name string) (string, error) {
	uc := jwt.NewUserClaims(userKey)
	uc.Name = name
	uc.IssuerAccount = issuerAccount
	uc.UserPermissionLimits = jwt.UserPermissionLimits{}
	tok, err := uc.Encode(signer)
	if err != nil {
		return "", fmt.Errorf("user jwt %s: %w", name, err)
	}
	return tok, nil
}

func signUser(signer nkeys.KeyPair, issuerAccount, userKey, name string) (string, error) {
	uc := jwt.NewUserClaims(userKey)
	uc.Name = name
	uc.IssuerAccount = issuerAccount
	tok, err := uc.Encode(signer)
	if err != nil {
		return "", fmt.Errorf("user jwt %s: %w", name, err)
	}
	return tok, nil
}

// NewJoinKey makes the key of a new join token: an account nkey whose
// seed is the token's secret.
func NewJoinKey() (publicKey, seed string, err error) {
	kp, err := nkeys.CreateAccount()
	if err != nil {
		return "", "", err
	}
	s, _ := kp.Seed()
	return pub(kp), string(s), nil
}
