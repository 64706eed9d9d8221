package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/skiff-sh/skiff/api"
)

// Identity is a node's NATS credential and the cluster CA it trusts,
// kept in the agent's data dir (IdentityDir) after it joined.
type Identity struct {
	NodeName string
	// JWT is the node's user JWT; Seed the seed of its nkey, which never
	// leaves the device.
	JWT  string
	Seed []byte
	// CAPEM is the cluster CA the agent verifies the server with.
	CAPEM []byte
}

// Files of an identity under its directory.
const (
	identitySeedFile = "node.nk"
	identityJWTFile  = "node.jwt"
	identityCAFile   = "ca.crt"
)

// IdentityDir is where an agent with data dir dataDir keeps its identity.
func IdentityDir(dataDir string) string { return filepath.Join(dataDir, "identity") }

// LoadIdentity reads the identity in dir; (nil, nil) when there is none.
func LoadIdentity(dir string) (*Identity, error) {
	seed, err := os.ReadFile(filepath.Join(dir, identitySeedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node identity: %w", err)
	}
	if st, err := os.Stat(filepath.Join(dir, identitySeedFile)); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("node identity: %s is readable by others: chmod 600 it", filepath.Join(dir, identitySeedFile))
	}
	tok, err := os.ReadFile(filepath.Join(dir, identityJWTFile))
	if err != nil {
		return nil, fmt.Errorf("node identity: %w (remove %s and join again)", err, dir)
	}
	ca, err := os.ReadFile(filepath.Join(dir, identityCAFile))
	if err != nil {
		return nil, fmt.Errorf("node identity: %w (remove %s and join again)", err, dir)
	}
	uc, err := jwt.DecodeUserClaims(string(bytes.TrimSpace(tok)))
	if err != nil {
		return nil, fmt.Errorf("node identity %s: %w", filepath.Join(dir, identityJWTFile), err)
	}
	return &Identity{NodeName: uc.Name, JWT: string(bytes.TrimSpace(tok)), Seed: bytes.TrimSpace(seed), CAPEM: ca}, nil
}

// Save writes the identity to dir (0700), each file 0600; the seed last,
// since LoadIdentity takes a seed as the sign of a whole identity.
func (id *Identity) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save node identity: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{identityCAFile, id.CAPEM}, {identityJWTFile, []byte(id.JWT)}, {identitySeedFile, id.Seed}} {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("save node identity: %w", err)
		}
	}
	return nil
}

// NATSOptions connect with the identity: TLS verified against its CA, the
// user JWT, and the nonce signed with its seed.
func (id *Identity) NATSOptions() ([]nats.Option, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(id.CAPEM) {
		return nil, errors.New("node identity: the CA file holds no certificate")
	}
	return []nats.Option{nats.Secure(VerifyByCA(pool)), nats.UserJWTAndSeed(id.JWT, string(id.Seed))}, nil
}

// VerifyByCA accepts a server whose certificate chains to a CA in pool.
// It does not check the host name: the cluster CA signs only control-plane
// serving certificates, and devices reach the control plane by whatever
// address their network gives them (NAT, VPN, DNS).
func VerifyByCA(pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyChain(cs.PeerCertificates, pool)
		},
	}
}

// PinnedCA accepts a server only if the chain it sends contains a CA
// certificate whose SHA-256 is fingerprint and the server's certificate
// verifies against that CA; found receives the CA. This is the join's
// first contact: nothing is sent before the handshake succeeded.
func PinnedCA(fingerprint [32]byte, found func(*x509.Certificate)) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			for _, c := range cs.PeerCertificates {
				if sha256.Sum256(c.Raw) != fingerprint || !c.IsCA {
					continue
				}
				pool := x509.NewCertPool()
				pool.AddCert(c)
				if err := verifyChain(cs.PeerCertificates, pool); err != nil {
					return err
				}
				if found != nil {
					found(c)
				}
				return nil
			}
			return fmt.Errorf("the server's certificate chain has no CA with the join token's fingerprint %x: this is not the cluster the token was made for", fingerprint[:8])
		},
	}
}

func verifyChain(certs []*x509.Certificate, roots *x509.CertPool) error {
	if len(certs) == 0 {
		return errors.New("the server sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("the server's certificate is not signed by the cluster CA: %w", err)
	}
	return nil
}

// Join exchanges a join token for a node identity at the NATS server url:
// it pins the CA the token names, makes the node's nkey, and asks the
// control plane for the node's credential (docs/security.md). labels are
// the ones the node asks for at its first join.
func Join(ctx context.Context, url string, token api.JoinToken, node string, labels map[string]string) (*Identity, error) {
	if err := api.ValidateName(node); err != nil {
		return nil, fmt.Errorf("join: node name: %w", err)
	}
	tokenKey, err := nkeys.FromSeed([]byte(token.Secret))
	if err != nil {
		return nil, fmt.Errorf("join: the token's secret is not a key: %w", err)
	}
	tokenPub, _ := tokenKey.PublicKey()
	if !nkeys.IsValidPublicAccountKey(tokenPub) {
		return nil, errors.New("join: the token's secret is not a join key")
	}
	nodeKey, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	nodePub, _ := nodeKey.PublicKey()
	if !nkeys.IsValidPublicAccountKey(token.Account) {
		return nil, errors.New("join: the token names no join account")
	}
	// A short-lived user of the token's join account, signed with the
	// token's scoped key: whatever it says, the server lets it only ask to
	// join and hear the answer in its own inbox (scoped users carry no
	// permissions of their own).
	uc := jwt.NewUserClaims(nodePub)
	uc.Name = "joining-" + node
	uc.IssuerAccount = token.Account
	uc.UserPermissionLimits = jwt.UserPermissionLimits{}
	uc.Expires = time.Now().Add(10 * time.Minute).Unix()
	joinJWT, err := uc.Encode(tokenKey)
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	nodeSeed, _ := nodeKey.Seed()
	var ca *x509.Certificate
	nc, err := nats.Connect(url,
		nats.Name("skiff-join-"+node),
		nats.Secure(PinnedCA(token.CAFingerprint, func(c *x509.Certificate) { ca = c })),
		nats.UserJWTAndSeed(joinJWT, string(nodeSeed)),
		nats.CustomInboxPrefix(api.JoinInboxPrefix(nodePub)),
		nats.Timeout(10*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", url, err)
	}
	defer nc.Close()
	req := api.JoinRequest{NodeName: node, NodePublicKey: nodePub, TokenPublicKey: tokenPub, Labels: labels, Time: time.Now().UTC()}
	sig, err := tokenKey.Sign(api.JoinSigningPayload(req))
	if err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	req.Signature = base64.RawURLEncoding.EncodeToString(sig)
	b, _ := json.Marshal(req)
	tok, err := awaitNodeJWT(ctx, nc, b, node, nodePub, tokenPub, token.Account)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", url, err)
	}
	if ca == nil {
		return nil, errors.New("join: the CA was not seen in the handshake")
	}
	return &Identity{NodeName: node, JWT: tok, Seed: nodeSeed,
		CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})}, nil
}

// awaitNodeJWT sends the JoinRequest req and waits for the node's
// credential. Every holder of the join token shares the token's account
// and can answer the request too: an answer whose JWT the cluster did not
// issue (checkNodeJWT) is skipped, and the wait goes on for the control
// plane's; a refusal ends the join (a token holder can make a join fail,
// not take the device over).
func awaitNodeJWT(ctx context.Context, nc *nats.Conn, req []byte, node, nodePub, tokenPub, tokenAccount string) (string, error) {
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return "", err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(api.JoinSubject, inbox, req); err != nil {
		return "", err
	}
	var skipped error
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if skipped != nil {
				return "", fmt.Errorf("no valid answer (%w): %w", skipped, err)
			}
			return "", err
		}
		if msg.Header.Get("Status") == "503" {
			return "", nats.ErrNoResponders
		}
		var resp api.JoinResponse
		if err := json.Unmarshal(msg.Data, &resp); err != nil {
			skipped = fmt.Errorf("answer: %w", err)
			continue
		}
		if resp.Error != "" {
			return "", fmt.Errorf("refused: %s", resp.Error)
		}
		if err := checkNodeJWT(resp.JWT, node, nodePub, tokenPub, tokenAccount); err != nil {
			skipped = err
			continue
		}
		return resp.JWT, nil
	}
}

// checkNodeJWT checks that tok is a credential the cluster could have
// issued to the node: a user JWT for its key and name, signed by a signing
// key on behalf of another account than the join token's. Only the
// cluster's account has signing keys, so the NATS server accepts such a
// JWT only if the control plane signed it. A JWT signed by an account's
// own key — the token's, which every holder of the token has — would put
// the node in that account, where the token's other holders could send
// it pods.
func checkNodeJWT(tok, node, nodePub, tokenPub, tokenAccount string) error {
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		return fmt.Errorf("the answer's credential is not a user JWT: %w", err)
	}
	switch {
	case uc.Subject != nodePub:
		return fmt.Errorf("the answer's credential is for key %s, not this node's", uc.Subject)
	case uc.Name != node:
		return fmt.Errorf("the answer's credential is for node %q, not %q", uc.Name, node)
	case uc.IssuerAccount == "" || uc.IssuerAccount == uc.Issuer || uc.Issuer == tokenPub || uc.IssuerAccount == tokenPub || uc.IssuerAccount == tokenAccount:
		return fmt.Errorf("the answer's credential was not issued by the cluster (issuer %s, account %q)", uc.Issuer, uc.IssuerAccount)
	}
	return nil
}
