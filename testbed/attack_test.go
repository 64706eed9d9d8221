package testbed_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/config"
	"github.com/skiff-sh/skiff/controlplane/leader"
	"github.com/skiff-sh/skiff/controlplane/pki"
	"github.com/skiff-sh/skiff/controlplane/store"
	"github.com/skiff-sh/skiff/edge"
	"github.com/skiff-sh/skiff/testbed"
)

// The attack suite: an attacker with nats.go (what the NATS CLI would
// send, on the same subjects and buckets) and plain HTTP tries what
// docs/security.md says it must not be able to do. Each attack must be
// refused by the server — a permission violation the server reports, a
// refused connection, a refused join — and must leave the store as it was:
// the streams behind the buckets keep their last sequence and message
// count, the leader key its holder.

// attacker is one NATS connection of the attacker's; errs receives what
// the server reports asynchronously (permission violations).
type attacker struct {
	*nats.Conn
	errs chan error
}

// dialAttacker connects to url with opts; it never reconnects, so a
// connection the server drops stays closed.
func dialAttacker(t *testing.T, url string, opts ...nats.Option) (*attacker, error) {
	t.Helper()
	errs := make(chan error, 64)
	base := []nats.Option{
		nats.NoReconnect(), nats.Timeout(5 * time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}),
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	return &attacker{Conn: nc, errs: errs}, nil
}

// mustDial is dialAttacker for credentials that must be accepted.
func mustDial(t *testing.T, url string, opts ...nats.Option) *attacker {
	t.Helper()
	a, err := dialAttacker(t, url, opts...)
	if err != nil {
		t.Fatalf("connect with a valid credential: %v", err)
	}
	return a
}

// waitViolation waits until the server reports a permission violation for
// kind ("Publish" or "Subscription") to subject, or to a subject that
// starts with it (the JetStream client adds tokens).
func (a *attacker) waitViolation(t *testing.T, kind, subject string) {
	t.Helper()
	want := strings.ToLower(fmt.Sprintf("permissions violation for %s to \"%s", kind, subject))
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case err := <-a.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(strings.ToLower(err.Error()), want) {
				return
			}
		case <-timeout.C:
			t.Fatalf("ATTACK NOT REFUSED: the server reported no permission violation for %s to %q", kind, subject)
		}
	}
}

// refusedPublish publishes msg and waits for the server to refuse it.
func (a *attacker) refusedPublish(t *testing.T, msg *nats.Msg) {
	t.Helper()
	if err := a.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	a.waitViolation(t, "Publish", msg.Subject)
}

// refusedOp runs op (a request, a JetStream call) and waits for the server
// to refuse a publish to subject; op must then fail (it is cancelled once
// the violation came, since a refused request gets no answer).
func (a *attacker) refusedOp(t *testing.T, subject string, op func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- op(ctx) }()
	a.waitViolation(t, "Publish", subject)
	cancel()
	if err := <-done; err == nil {
		t.Fatalf("ATTACK SUCCEEDED: the operation on %s succeeded despite the violation", subject)
	}
}

// refusedRequest sends a request on subject that the server must refuse.
func (a *attacker) refusedRequest(t *testing.T, subject string, data []byte) {
	t.Helper()
	a.refusedOp(t, subject, func(ctx context.Context) error {
		_, err := a.RequestWithContext(ctx, subject, data)
		return err
	})
}

// refusedSubscribe subscribes to subject, which the server must refuse;
// the subscription is returned so the caller can check it stays empty.
func (a *attacker) refusedSubscribe(t *testing.T, subject string) *nats.Subscription {
	t.Helper()
	sub, err := a.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	a.waitViolation(t, "Subscription", subject)
	return sub
}

// storeState is what an attack must not change: the last sequence and
// message count of every stream behind Skiff's buckets (a purge keeps the
// last sequence), and who holds the leader key (renewals change its
// stream).
type storeState struct {
	streams map[string][2]uint64
	leader  string
}

func snapshotStore(t *testing.T, c *testbed.Cluster) storeState {
	t.Helper()
	ctx := t.Context()
	js := c.Server.NATS.JS
	s := storeState{streams: map[string][2]uint64{}}
	for _, name := range []string{"KV_" + api.ObjectsBucket, "KV_" + api.TokensBucket, "KV_" + api.IdentitiesBucket, "OBJ_" + api.ArtifactsBucket} {
		st, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			s.streams[name] = [2]uint64{0, 0}
			continue
		}
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		s.streams[name] = [2]uint64{info.State.LastSeq, info.State.Msgs}
	}
	kv, err := js.KeyValue(ctx, api.LeaderBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, leader.Key)
	if err != nil {
		t.Fatalf("leader key: %v", err)
	}
	s.leader = string(e.Value())
	return s
}

// unchanged fails the test if the store differs from before.
func (before storeState) unchanged(t *testing.T, c *testbed.Cluster) {
	t.Helper()
	after := snapshotStore(t, c)
	for name, b := range before.streams {
		if a := after.streams[name]; a != b {
			t.Errorf("ATTACK CHANGED THE STORE: stream %s went from last sequence %d (%d messages) to %d (%d messages)", name, b[0], b[1], a[0], a[1])
		}
	}
	if after.leader != before.leader {
		t.Errorf("ATTACK CHANGED THE LEADER: %q, was %q", after.leader, before.leader)
	}
}

// nodeOptions connect as a node with identity id, as the agent does.
func nodeOptions(t *testing.T, id *edge.Identity) []nats.Option {
	t.Helper()
	opts, err := id.NATSOptions()
	if err != nil {
		t.Fatal(err)
	}
	return append(opts, nats.CustomInboxPrefix(api.NodeInboxPrefix(id.NodeName)))
}

// issueNode makes a node identity for name directly (as `skiff up` does
// for its own agent): the attacker's stolen or fresh node credential.
func issueNode(t *testing.T, c *testbed.Cluster, name string) *edge.Identity {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	tok, err := c.Server.Identities.IssueNode(t.Context(), name, pub, "", nil)
	if err != nil {
		t.Fatalf("issue node %s: %v", name, err)
	}
	return &edge.Identity{NodeName: name, JWT: tok, Seed: seed, CAPEM: c.Server.CA.PEM}
}

// request sends a request the attacker is allowed to send and decodes the
// answer into out.
func request(t *testing.T, nc *nats.Conn, subject string, in, out any) {
	t.Helper()
	b, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, subject, b)
	if err != nil {
		t.Fatalf("request %s: %v", subject, err)
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		t.Fatalf("answer to %s: %v: %s", subject, err, msg.Data)
	}
}

// notDelivered checks that subs received nothing: the control plane
// publishes on each of subjects and then on probe, which the attacker does
// receive (on probeSub); messages from one connection reach another in
// order, so once the probe is in, anything the refused subscriptions were
// going to get would be in too.
func notDelivered(t *testing.T, c *testbed.Cluster, subjects []string, probe string, probeSub *nats.Subscription, subs ...*nats.Subscription) {
	t.Helper()
	cp := c.Server.NATS.NC
	for _, s := range subjects {
		if err := cp.Publish(s, []byte(`{"attack":"probe"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := cp.Publish(probe, []byte("probe")); err != nil {
		t.Fatal(err)
	}
	if err := cp.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := probeSub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("the probe on %s never came: %v", probe, err)
	}
	for _, sub := range subs {
		if m, err := sub.NextMsg(0); err == nil || !errors.Is(err, nats.ErrTimeout) {
			t.Errorf("ATTACK SUCCEEDED: the refused subscription %s received %v (err %v)", sub.Subject, m, err)
		}
	}
}

// joinDevice connects as a device holding the join token tok, with a user
// JWT for nodeKey signed by the token's key (as edge.Join does, or with
// whatever claims the attacker likes).
func joinDevice(t *testing.T, url string, tok api.JoinToken, nodeKey nkeys.KeyPair, userJWT string) (*attacker, error) {
	t.Helper()
	nodePub, _ := nodeKey.PublicKey()
	seed, _ := nodeKey.Seed()
	return dialAttacker(t, url,
		nats.Secure(edge.PinnedCA(tok.CAFingerprint, nil)),
		nats.UserJWTAndSeed(userJWT, string(seed)),
		nats.CustomInboxPrefix(api.JoinInboxPrefix(nodePub)))
}

// joinUserJWT is a user JWT for nodeKey signed by the token's key, asking
// for every permission: the token's scope must win over it.
func joinUserJWT(t *testing.T, tok api.JoinToken, nodeKey nkeys.KeyPair) string {
	t.Helper()
	tokenKey, err := nkeys.FromSeed([]byte(tok.Secret))
	if err != nil {
		t.Fatal(err)
	}
	nodePub, _ := nodeKey.PublicKey()
	uc := jwt.NewUserClaims(nodePub)
	uc.Name = "attacker"
	uc.IssuerAccount = tok.Account
	uc.UserPermissionLimits = jwt.UserPermissionLimits{}
	s, err := uc.Encode(tokenKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// forgeUserJWT signs claims with kp, then changes the issued-at time to
// the attacker's choice and signs again (jwt's Encode always stamps now).
func forgeUserJWT(t *testing.T, kp nkeys.KeyPair, uc *jwt.UserClaims, issuedAt time.Time) string {
	t.Helper()
	tok, err := uc.Encode(kp)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	enc := base64.RawURLEncoding
	body, err := enc.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(body, &claims); err != nil {
		t.Fatal(err)
	}
	claims["iat"] = issuedAt.Unix()
	if body, err = json.Marshal(claims); err != nil {
		t.Fatal(err)
	}
	signing := parts[0] + "." + enc.EncodeToString(body)
	sig, err := kp.Sign([]byte(signing))
	if err != nil {
		t.Fatal(err)
	}
	forged := signing + "." + enc.EncodeToString(sig)
	if back, err := jwt.DecodeUserClaims(forged); err != nil || back.IssuedAt != issuedAt.Unix() {
		t.Fatalf("forged JWT: %v", err)
	}
	return forged
}

// rawJoin sends a JoinRequest for name and nodePub signed with the token's
// key, as edge.Join does but without its client-side checks.
func rawJoin(t *testing.T, nc *nats.Conn, tok api.JoinToken, name, nodePub string, at time.Time) api.JoinResponse {
	t.Helper()
	tokenKey, err := nkeys.FromSeed([]byte(tok.Secret))
	if err != nil {
		t.Fatal(err)
	}
	tokenPub, _ := tokenKey.PublicKey()
	req := api.JoinRequest{NodeName: name, NodePublicKey: nodePub, TokenPublicKey: tokenPub, Time: at.UTC()}
	sig, err := tokenKey.Sign(api.JoinSigningPayload(req))
	if err != nil {
		t.Fatal(err)
	}
	req.Signature = base64.RawURLEncoding.EncodeToString(sig)
	var resp api.JoinResponse
	request(t, nc, api.JoinSubject, req, &resp)
	return resp
}

func parseToken(t *testing.T, s string) api.JoinToken {
	t.Helper()
	tok, err := api.ParseJoinToken(s)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func newUserKey(t *testing.T) nkeys.KeyPair {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// noIdentity fails if node has a recorded identity.
func noIdentity(t *testing.T, c *testbed.Cluster, node string) {
	t.Helper()
	kv, err := c.Server.NATS.JS.KeyValue(t.Context(), api.IdentitiesBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(t.Context(), "nodes."+node); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("ATTACK SUCCEEDED: node %q has an identity (err %v)", node, err)
	}
}

func startAttackCluster(t *testing.T) *testbed.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: t.TempDir(), Agents: 1, Hollow: true,
		Configure: func(cfg *config.Config) {
			// Nodes made for the attacks have no agent; the node
			// lifecycle must not write to them while the store is
			// compared.
			cfg.NodeLifecycle.GracePeriod = time.Hour
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
	})
	return c
}

// TestAttacksOnNATSAreRefusedAndChangeNothing attacks the cluster's NATS
// without a credential, with a node's, with join tokens and with an events
// reader's, one cluster for all.
func TestAttacksOnNATSAreRefusedAndChangeNothing(t *testing.T) {
	c := startAttackCluster(t)
	ctx := t.Context()
	url := c.Server.NATS.ClientURL
	caTLS := &tls.Config{RootCAs: c.Server.CA.Pool(), MinVersion: tls.VersionTLS12}

	// The victims: a Secret, and a pod using it bound to a node that has
	// no agent (so nothing but the attacker touches either).
	createObject(t, c, &api.Secret{ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "default"}, StringData: map[string]string{"password": "hunter2"}})
	issueNode(t, c, "bystander")
	victim := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "victim", Namespace: "default"}, Spec: api.PodSpec{
		NodeName: "bystander", RestartPolicy: api.RestartPolicyNever,
		Containers: []api.Container{{Name: "main", Image: "docker.io/library/busybox:1.36", Env: []api.EnvVar{
			{Name: "DB_PASSWORD", ValueFrom: &api.EnvVarSource{SecretKeyRef: &api.SecretKeySelector{Name: "db", Key: "password"}}}}}},
	}}
	victim, err := c.Client.CreatePod(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	pods, _ := api.LookupKind("Pod")
	podEvent := api.EventSubject(pods, "default", "victim")
	secretKey := secretKeyOf()

	// Without a credential no connection is made, so none of what an
	// anonymous attacker would try next (kv get skiff-objects secrets.…,
	// sub '>', req skiff.agent.<node>.sync, kv put skiff-tokens, kv del
	// skiff-objects, a put on skiff-leader) can be sent.
	anonymous := func(t *testing.T, url string, refused func(error) bool, opts ...nats.Option) {
		t.Helper()
		before := snapshotStore(t, c)
		nc, err := dialAttacker(t, url, opts...)
		if err == nil {
			js, _ := jetstream.New(nc.Conn)
			_, kvErr := js.KeyValue(ctx, api.ObjectsBucket)
			t.Fatalf("ATTACK SUCCEEDED: connected without a credential (opening skiff-objects: %v)", kvErr)
		}
		if !refused(err) {
			t.Errorf("connect: %v, not the refusal expected", err)
		}
		before.unchanged(t, c)
	}
	t.Run("no credentials: plain TCP is refused", func(t *testing.T) {
		// nats.go upgrades to TLS by itself when the server asks; the
		// attacker speaks the protocol in plain text instead.
		before := snapshotStore(t, c)
		conn, err := net.Dial("tcp", strings.TrimPrefix(url, "tls://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		info, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || !strings.Contains(info, `"tls_required":true`) {
			t.Fatalf("the server's INFO does not require TLS: %q %v", info, err)
		}
		if _, err := conn.Write([]byte("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB > 1\r\nPUB " + secretKey + " 2\r\n{}\r\nPING\r\n")); err != nil {
			t.Logf("write: %v", err)
		}
		rest, err := io.ReadAll(conn)
		var nerr net.Error
		if errors.As(err, &nerr) && nerr.Timeout() {
			t.Fatalf("the server kept a plain-text connection open: %q", rest)
		}
		if strings.Contains(string(rest), "PONG") || strings.Contains(string(rest), "MSG") {
			t.Fatalf("ATTACK SUCCEEDED: the server answered plain text: %q", rest)
		}
		before.unchanged(t, c)
	})
	t.Run("no credentials: TLS verified by the system roots is refused", func(t *testing.T) {
		anonymous(t, url, func(err error) bool {
			var unknown x509.UnknownAuthorityError
			return errors.As(err, &unknown)
		})
	})
	t.Run("no credentials: TLS with the cluster CA but no JWT is refused", func(t *testing.T) {
		before := snapshotStore(t, c)
		_, err := dialAttacker(t, url, nats.Secure(caTLS))
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("ATTACK NOT REFUSED AS EXPECTED: connect without a JWT: %v", err)
		}
		before.unchanged(t, c)
	})
	t.Run("no credentials: a user name and password are refused", func(t *testing.T) {
		_, err := dialAttacker(t, url, nats.Secure(caTLS), nats.UserInfo("admin", "admin"))
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("connect with user/password: %v", err)
		}
	})
	t.Run("a self-made operator, account and user chain is refused", func(t *testing.T) {
		before := snapshotStore(t, c)
		op, _ := nkeys.CreateOperator()
		acc, _ := nkeys.CreateAccount()
		accPub, _ := acc.PublicKey()
		ac := jwt.NewAccountClaims(accPub)
		if _, err := ac.Encode(op); err != nil {
			t.Fatal(err)
		}
		user := newUserKey(t)
		userPub, _ := user.PublicKey()
		seed, _ := user.Seed()
		uc := jwt.NewUserClaims(userPub)
		uc.Name = "attacker"
		userJWT, err := uc.Encode(acc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = dialAttacker(t, url, nats.Secure(caTLS), nats.UserJWTAndSeed(userJWT, string(seed)))
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("ATTACK NOT REFUSED AS EXPECTED: own trust chain: %v", err)
		}
		// The same with the SKIFF account's public key as the issuer
		// account, signed by the attacker's key.
		uc = jwt.NewUserClaims(userPub)
		uc.IssuerAccount = c.Server.NATS.Keys.Account()
		userJWT, err = uc.Encode(acc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = dialAttacker(t, url, nats.Secure(caTLS), nats.UserJWTAndSeed(userJWT, string(seed)))
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("ATTACK NOT REFUSED AS EXPECTED: own key posing as a SKIFF signer: %v", err)
		}
		before.unchanged(t, c)
	})
	t.Run("a real node's JWT without its seed is refused", func(t *testing.T) {
		id, err := edge.LoadIdentity(edge.IdentityDir(c.AgentDataDir("node-1")))
		if err != nil || id == nil {
			t.Fatalf("node-1's identity: %v", err)
		}
		other, _ := newUserKey(t).Seed()
		_, err = dialAttacker(t, url, nats.Secure(caTLS), nats.UserJWTAndSeed(id.JWT, string(other)))
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("ATTACK NOT REFUSED AS EXPECTED: a copied JWT with another seed: %v", err)
		}
	})

	// A real node's credential, as a thief copies it from the device.
	stolen, err := edge.LoadIdentity(edge.IdentityDir(c.AgentDataDir("node-1")))
	if err != nil || stolen == nil {
		t.Fatalf("node-1's identity: %v", err)
	}
	node := mustDial(t, url, nodeOptions(t, stolen)...)
	nodeJS, err := jetstream.New(node.Conn)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a node cannot read or write any bucket, stream or object store", func(t *testing.T) {
		before := snapshotStore(t, c)
		node.refusedOp(t, "$JS.API.STREAM.INFO.KV_"+api.ObjectsBucket, func(ctx context.Context) error {
			_, err := nodeJS.KeyValue(ctx, api.ObjectsBucket) // nats kv get/put start here
			return err
		})
		node.refusedRequest(t, "$JS.API.DIRECT.GET.KV_"+api.ObjectsBucket+"."+secretKey, nil)
		node.refusedRequest(t, "$JS.API.STREAM.MSG.GET.KV_"+api.ObjectsBucket, []byte(`{"last_by_subj":"`+secretKey+`"}`))
		node.refusedOp(t, "$KV."+api.TokensBucket+".attacker", func(ctx context.Context) error {
			_, err := nodeJS.Publish(ctx, "$KV."+api.TokensBucket+".attacker", []byte(`{"role":"admin"}`))
			return err
		})
		node.refusedOp(t, secretKey, func(ctx context.Context) error {
			msg := nats.NewMsg(secretKey)
			msg.Header.Set("KV-Operation", "DEL")
			_, err := nodeJS.PublishMsg(ctx, msg)
			return err
		})
		node.refusedOp(t, "$KV."+api.LeaderBucket+"."+leader.Key, func(ctx context.Context) error {
			_, err := nodeJS.Publish(ctx, "$KV."+api.LeaderBucket+"."+leader.Key, []byte("attacker"))
			return err
		})
		node.refusedRequest(t, "$JS.API.STREAM.PURGE.KV_"+api.ObjectsBucket, []byte(`{}`))
		node.refusedRequest(t, "$JS.API.STREAM.DELETE.KV_"+api.IdentitiesBucket, nil)
		node.refusedRequest(t, "$JS.API.CONSUMER.CREATE.KV_"+api.ObjectsBucket, []byte(`{"stream_name":"KV_`+api.ObjectsBucket+`","config":{"deliver_subject":"`+api.NodeInboxPrefix("node-1")+`.x"}}`))
		node.refusedOp(t, "$JS.API.STREAM.INFO.OBJ_"+api.ArtifactsBucket, func(ctx context.Context) error {
			_, err := nodeJS.ObjectStore(ctx, api.ArtifactsBucket)
			return err
		})
		node.refusedRequest(t, "$JS.API.STREAM.INFO.KV_"+api.IdentitiesBucket, nil)
		node.refusedRequest(t, "$JS.API.INFO", nil)
		before.unchanged(t, c)
	})

	t.Run("a node cannot subscribe to another node's subjects, other inboxes or everything", func(t *testing.T) {
		subs := []*nats.Subscription{
			node.refusedSubscribe(t, api.NodeSubjects("bystander")),
			node.refusedSubscribe(t, api.NodePodsSubject("bystander")),
			node.refusedSubscribe(t, "_INBOX.>"),
			node.refusedSubscribe(t, api.NodeInboxPrefix("bystander")+".>"),
			node.refusedSubscribe(t, ">"),
			node.refusedSubscribe(t, "skiff.>"),
			node.refusedSubscribe(t, api.AgentSubjectAll(api.AgentRegister)),
			node.refusedSubscribe(t, api.EventsSubjects),
			node.refusedSubscribe(t, "$KV."+api.ObjectsBucket+".>"),
			node.refusedSubscribe(t, "$JS.API.>"),
		}
		probe, err := node.SubscribeSync(api.NodeSubjects("node-1"))
		if err != nil {
			t.Fatal(err)
		}
		if err := node.Flush(); err != nil {
			t.Fatal(err)
		}
		notDelivered(t, c, []string{api.NodePodsSubject("bystander"), api.NodeInboxPrefix("bystander") + ".x", "_INBOX.x.y",
			podEvent, "$JS.API.INFO"},
			"skiff.node.node-1.attack-probe", probe, subs...)
	})

	t.Run("a node cannot push pods to a node, itself included", func(t *testing.T) {
		before := snapshotStore(t, c)
		evil := api.PodAssignment{Pod: &api.Pod{ObjectMeta: api.ObjectMeta{Name: "evil", Namespace: "default", UID: "evil-uid"}, Spec: api.PodSpec{
			NodeName: "node-1", Containers: []api.Container{{Name: "main", Image: "docker.io/library/busybox:1.36"}}}}}
		b, _ := json.Marshal(evil)
		node.refusedPublish(t, &nats.Msg{Subject: api.NodePodsSubject("node-1"), Data: b})
		node.refusedPublish(t, &nats.Msg{Subject: api.NodePodsSubject("bystander"), Data: b})
		node.refusedRequest(t, api.NodeLogsSubject("bystander"), []byte(`{"namespace":"default","name":"victim","uid":"`+victim.UID+`"}`))
		if _, err := os.Stat(filepath.Join(c.AgentDataDir("node-1"), "pods", "evil-uid")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ATTACK SUCCEEDED: node-1 keeps the pushed pod (%v)", err)
		}
		before.unchanged(t, c)
	})

	t.Run("a node cannot speak for another node or a ghost node", func(t *testing.T) {
		before := snapshotStore(t, c)
		for _, verb := range []string{api.AgentRegister, api.AgentStatus, api.AgentSync, api.AgentLease, api.AgentArtifact} {
			node.refusedRequest(t, api.AgentSubject("bystander", verb), []byte(`{}`))
		}
		ghost, _ := json.Marshal(api.NodeRegistration{Node: api.Node{ObjectMeta: api.ObjectMeta{Name: "ghost"}}})
		node.refusedRequest(t, api.AgentSubject("ghost", api.AgentRegister), ghost)
		node.refusedPublish(t, &nats.Msg{Subject: "skiff.agent.*.register", Data: ghost})
		node.refusedPublish(t, &nats.Msg{Subject: "skiff.agent.>", Data: ghost})
		node.refusedRequest(t, api.JoinSubject, []byte(`{}`))
		// Under its own name, a registration naming another node is
		// refused by the control plane.
		var ack api.Ack
		request(t, node.Conn, api.AgentSubject("node-1", api.AgentRegister), api.NodeRegistration{Node: api.Node{ObjectMeta: api.ObjectMeta{Name: "ghost"}}}, &ack)
		if ack.Error == "" {
			t.Errorf("ATTACK SUCCEEDED: node-1 registered a node named ghost: %+v", ack)
		}
		// A status report for a pod bound to another node is ignored.
		report := api.PodStatusReport{Namespace: "default", Name: "victim", UID: victim.UID, Status: api.PodStatus{Phase: api.PodFailed, Message: "forged by node-1"}}
		request(t, node.Conn, api.AgentSubject("node-1", api.AgentStatus), report, &ack)
		report.Removed = true
		request(t, node.Conn, api.AgentSubject("node-1", api.AgentStatus), report, &ack)
		// Sync takes the node from the subject, never the body.
		var sync api.SyncResponse
		request(t, node.Conn, api.AgentSubject("node-1", api.AgentSync), api.SyncRequest{Node: "bystander"}, &sync)
		if len(sync.Pods) != 0 || len(sync.Secrets) != 0 {
			t.Errorf("ATTACK SUCCEEDED: node-1's sync for bystander returned %d pods, %d secrets", len(sync.Pods), len(sync.Secrets))
		}
		before.unchanged(t, c)
	})

	t.Run("a node cannot publish events", func(t *testing.T) {
		before := snapshotStore(t, c)
		ev := podEvent
		node.refusedPublish(t, &nats.Msg{Subject: ev, Data: []byte(`{"type":"forged"}`)})
		node.refusedOp(t, ev, func(ctx context.Context) error {
			_, err := nodeJS.Publish(ctx, ev, []byte(`{"type":"forged"}`))
			return err
		})
		before.unchanged(t, c)
	})

	t.Run("a node cannot make the control plane answer into the store or another node", func(t *testing.T) {
		before := snapshotStore(t, c)
		// A request's reply subject is where the control plane, with all
		// its rights, publishes its answer: the attacker points it at a
		// bucket key, the JetStream API, another node's pods or events.
		replies := []string{
			secretKey,
			"$KV." + api.ObjectsBucket + "." + api.ObjectKey("nodes", "", "bystander"),
			"$KV." + api.IdentitiesBucket + ".nodes.bystander",
			"$JS.API.STREAM.PURGE.KV_" + api.ObjectsBucket,
			"$JS.API.STREAM.PURGE.KV_" + api.IdentitiesBucket,
			api.NodePodsSubject("bystander"),
			podEvent,
			api.AgentSubject("bystander", api.AgentRegister),
		}
		bystander, err := c.Server.NATS.NC.SubscribeSync(api.NodePodsSubject("bystander"))
		if err != nil {
			t.Fatal(err)
		}
		defer bystander.Unsubscribe()
		events, err := c.Server.NATS.NC.SubscribeSync(api.EventsSubjects)
		if err != nil {
			t.Fatal(err)
		}
		defer events.Unsubscribe()
		if err := c.Server.NATS.NC.Flush(); err != nil {
			t.Fatal(err)
		}
		verbs := map[string][]byte{
			api.AgentLease:    []byte(`{"node":"node-1","leaseDurationSeconds":40}`),
			api.AgentSync:     []byte(`{"node":"node-1"}`),
			api.AgentArtifact: []byte(`{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}`),
			api.AgentStatus:   []byte(`{"namespace":"default","name":"none","uid":"none"}`),
		}
		for verb, data := range verbs {
			for _, reply := range replies {
				if err := node.PublishMsg(&nats.Msg{Subject: api.AgentSubject("node-1", verb), Reply: reply, Data: data}); err != nil {
					t.Fatal(err)
				}
			}
			// The control plane handles one node's messages of one verb
			// in order: once it answered this, it handled the attacks.
			var out json.RawMessage
			request(t, node.Conn, api.AgentSubject("node-1", verb), json.RawMessage(data), &out)
		}
		if m, err := bystander.NextMsg(0); err == nil {
			t.Errorf("ATTACK SUCCEEDED: node-1 made the control plane send %s to bystander: %s", m.Subject, m.Data)
		}
		for {
			m, err := events.NextMsg(0)
			if err != nil {
				break
			}
			if m.Subject == replies[6] {
				t.Errorf("ATTACK SUCCEEDED: node-1 made the control plane publish an event: %s", m.Data)
			}
		}
		before.unchanged(t, c)
	})

	t.Run("a node changes only its status and the labels its agent owns", func(t *testing.T) {
		// A device joins with a token that gives it site=north and asks
		// for role=camera itself.
		info, err := c.Server.Identities.CreateJoinToken(ctx, api.JoinTokenRequest{Name: "north", Labels: map[string]string{"site": "north"}})
		if err != nil {
			t.Fatal(err)
		}
		id, err := edge.Join(ctx, url, parseToken(t, info.Token), "labelled", map[string]string{"role": "camera"})
		if err != nil {
			t.Fatal(err)
		}
		nc := mustDial(t, url, nodeOptions(t, id)...)
		register := func(labels map[string]string) api.Ack {
			t.Helper()
			var ack api.Ack
			// Each registration also tries to uncordon the node, drop its
			// taints and set an annotation.
			reg := api.NodeRegistration{Node: api.Node{ObjectMeta: api.ObjectMeta{Name: "labelled", Labels: labels,
				Annotations: map[string]string{"owner": "attacker"}}, Spec: api.NodeSpec{Unschedulable: false}}}
			request(t, nc.Conn, api.AgentSubject("labelled", api.AgentRegister), reg, &ack)
			if ack.Error != "" {
				t.Fatalf("register: %s", ack.Error)
			}
			return ack
		}
		wantLabels := func(want map[string]string) {
			t.Helper()
			n, err := c.Client.GetNode(ctx, "labelled")
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(n.Labels, want) {
				t.Errorf("ATTACK SUCCEEDED: labels %v, want %v", n.Labels, want)
			}
			if n.Annotations["owner"] != "" {
				t.Errorf("ATTACK SUCCEEDED: the node annotated itself: %v", n.Annotations)
			}
		}
		// Its first registration asks for more.
		ack := register(map[string]string{"site": "south", "zone": "b", "role": "gateway", "node-role.kubernetes.io/control-plane": "",
			api.LabelArch: "riscv64", api.AgentLabelPrefix + "gpu": "none"})
		if len(ack.Warnings) != 4 {
			t.Errorf("the Ack warns about %d labels, want 4 (site, zone, role, control-plane): %q", len(ack.Warnings), ack.Warnings)
		}
		wantLabels(map[string]string{"site": "north", "role": "camera", api.LabelArch: "riscv64", api.AgentLabelPrefix + "gpu": "none"})
		// An administrator labels, cordons and taints the node (the API
		// has no Node update yet, so straight in the store, as that
		// would).
		taint := api.Taint{Key: "dedicated", Value: "cameras", Effect: "NoSchedule"}
		if _, err := store.For[*api.Node](c.Server.Store).Mutate(ctx, "", "labelled", func(n *api.Node) error {
			n.Labels["zone"] = "a"
			n.Spec = api.NodeSpec{Unschedulable: true, Taints: []api.Taint{taint}}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// A later registration changes and drops only the agent's own.
		ack = register(map[string]string{"zone": "b", api.LabelArch: "arm64"})
		if len(ack.Warnings) != 1 || !strings.HasPrefix(ack.Warnings[0], "zone=b") {
			t.Errorf("the Ack warns %q, want one warning about zone=b", ack.Warnings)
		}
		wantLabels(map[string]string{"site": "north", "role": "camera", "zone": "a", api.LabelArch: "arm64"})
		n, err := c.Client.GetNode(ctx, "labelled")
		if err != nil {
			t.Fatal(err)
		}
		if !n.Spec.Unschedulable || len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != taint.Key {
			t.Errorf("ATTACK SUCCEEDED: the node changed its spec to %+v", n.Spec)
		}
	})

	t.Run("join tokens", func(t *testing.T) {
		testJoinAttacks(t, c)
	})

	t.Run("an events reader only reads events", func(t *testing.T) {
		kp := newUserKey(t)
		pub, _ := kp.PublicKey()
		seed, _ := kp.Seed()
		cred, err := c.Server.Identities.EventsCredential("events-attacker", pub)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(cred.CA))
		ev := mustDial(t, cred.URL, nats.Secure(edge.VerifyByCA(pool)), nats.UserJWTAndSeed(cred.JWT, string(seed)), nats.CustomInboxPrefix(cred.InboxPrefix))
		evJS, err := jetstream.New(ev.Conn)
		if err != nil {
			t.Fatal(err)
		}
		before := snapshotStore(t, c)
		live, err := ev.SubscribeSync(api.EventsSubjects)
		if err != nil {
			t.Fatal(err)
		}
		subs := []*nats.Subscription{
			ev.refusedSubscribe(t, ">"),
			ev.refusedSubscribe(t, "_INBOX.>"),
			ev.refusedSubscribe(t, api.NodeSubjects("node-1")),
			ev.refusedSubscribe(t, api.AgentSubjectAll(api.AgentRegister)),
		}
		// It sees events live: the probe is an event.
		notDelivered(t, c, []string{api.NodePodsSubject("node-1"), api.AgentSubject("node-1", "x"), "_INBOX.x"},
			"skiff.events.attack.probe", live, subs...)
		// It reads the events stream by direct get.
		directGet := "$JS.API.DIRECT.GET." + api.EventsStream
		lastProbe := []byte(`{"last_by_subj":"skiff.events.attack.probe"}`)
		readProbe := func() {
			t.Helper()
			msg, err := ev.Request(directGet, lastProbe, 5*time.Second)
			if err != nil {
				t.Fatalf("direct get from %s: %v", api.EventsStream, err)
			}
			if string(msg.Data) != "probe" || msg.Header.Get("Nats-Subject") != "skiff.events.attack.probe" {
				t.Fatalf("direct get from %s: %v %q", api.EventsStream, msg.Header, msg.Data)
			}
		}
		readProbe()
		// And as the NATS CLI does (nats stream get): stream info, then
		// a direct get.
		stream, err := evJS.Stream(ctx, api.EventsStream)
		if err != nil {
			t.Fatalf("events stream info: %v", err)
		}
		if m, err := stream.GetLastMsgForSubject(ctx, "skiff.events.attack.probe"); err != nil || string(m.Data) != "probe" {
			t.Fatalf("get from %s: %v", api.EventsStream, err)
		}
		ev.refusedPublish(t, &nats.Msg{Subject: "skiff.events.pod.default.victim", Data: []byte(`{"forged":true}`)})
		ev.refusedPublish(t, &nats.Msg{Subject: api.AgentSubject("node-1", api.AgentRegister), Data: []byte(`{}`)})
		ev.refusedPublish(t, &nats.Msg{Subject: api.NodePodsSubject("node-1"), Data: []byte(`{}`)})
		ev.refusedOp(t, "$JS.API.STREAM.INFO.KV_"+api.ObjectsBucket, func(ctx context.Context) error {
			_, err := evJS.KeyValue(ctx, api.ObjectsBucket)
			return err
		})
		ev.refusedRequest(t, "$JS.API.DIRECT.GET.KV_"+api.ObjectsBucket+"."+secretKey, nil)
		ev.refusedOp(t, "$JS.API.CONSUMER.CREATE."+api.EventsStream, func(ctx context.Context) error {
			_, err := evJS.OrderedConsumer(ctx, api.EventsStream, jetstream.OrderedConsumerConfig{})
			return err
		})
		ev.refusedRequest(t, "$JS.API.CONSUMER.CREATE."+api.EventsStream+".x", []byte(`{"stream_name":"`+api.EventsStream+`","config":{"deliver_subject":"`+secretKey+`"}}`))
		ev.refusedRequest(t, "$JS.API.STREAM.PURGE."+api.EventsStream, []byte(`{}`))
		ev.refusedOp(t, "$KV."+api.LeaderBucket+"."+leader.Key, func(ctx context.Context) error {
			_, err := evJS.Publish(ctx, "$KV."+api.LeaderBucket+"."+leader.Key, []byte("attacker"))
			return err
		})
		// The JetStream API answers on the request's reply subject; the
		// reader points it at a bucket key.
		ev.refusedPublish(t, &nats.Msg{Subject: "$JS.API.STREAM.MSG.GET." + api.EventsStream, Reply: secretKey, Data: lastProbe})
		for _, subject := range []string{"$JS.API.INFO", "$JS.API.STREAM.INFO." + api.EventsStream, directGet, directGet + ".skiff.events.attack.probe"} {
			if err := ev.PublishMsg(&nats.Msg{Subject: subject, Reply: secretKey, Data: lastProbe}); err != nil {
				t.Fatal(err)
			}
		}
		// Answered after the above.
		readProbe()
		if _, err := stream.Info(ctx); err != nil {
			t.Fatal(err)
		}
		before.unchanged(t, c)
	})

	t.Run("a revoked node is disconnected at once and refused from then on", func(t *testing.T) {
		for _, how := range []string{"identities", "api"} {
			name := "doomed-" + how
			id := issueNode(t, c, name)
			closed := make(chan error, 1)
			nc := mustDial(t, url, append(nodeOptions(t, id), nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				select {
				case closed <- err:
				default:
				}
			}))...)
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			switch how {
			case "identities":
				if err := c.Server.Identities.RevokeNode(ctx, name); err != nil {
					t.Fatal(err)
				}
			case "api":
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.Server.API.URL()+"/api/v1/nodes/"+name+"/revoke", nil)
				req.Header.Set(api.AuthorizationHeader, api.BearerPrefix+c.Token)
				res, err := c.HTTPClient().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.Fatalf("revoke through the API: %d %s", res.StatusCode, body)
				}
			}
			select {
			case err := <-closed:
				t.Logf("%s: the server dropped the connection: %v", name, err)
			case <-time.After(10 * time.Second):
				t.Fatalf("ATTACK SUCCEEDED: %s's connection is still open after its revocation", name)
			}
			if !nc.IsClosed() {
				t.Errorf("%s's connection is not closed", name)
			}
			before := snapshotStore(t, c)
			if _, err := dialAttacker(t, url, nodeOptions(t, id)...); err == nil {
				t.Fatalf("ATTACK SUCCEEDED: %s connected again with its revoked credential", name)
			} else if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "revoked") {
				t.Errorf("%s reconnecting: %v, want an authorization error", name, err)
			}
			before.unchanged(t, c)
		}
	})
}

func testJoinAttacks(t *testing.T, c *testbed.Cluster) {
	ctx := t.Context()
	url := c.Server.NATS.ClientURL
	ids := c.Server.Identities

	t.Run("an expired token is refused", func(t *testing.T) {
		one := int64(1)
		info, err := ids.CreateJoinToken(ctx, api.JoinTokenRequest{Name: "short", ExpirationSeconds: &one})
		if err != nil {
			t.Fatal(err)
		}
		if err := testbed.Poll(ctx, 5*time.Second, 50*time.Millisecond, func() (bool, error) {
			return time.Now().After(info.ExpirationTimestamp.Add(100 * time.Millisecond)), nil
		}); err != nil {
			t.Fatal(err)
		}
		before := snapshotStore(t, c)
		if _, err := edge.Join(ctx, url, parseToken(t, info.Token), "late", nil); err == nil {
			t.Fatal("ATTACK SUCCEEDED: joined with an expired token")
		} else {
			t.Logf("refused: %v", err)
		}
		tokenKey, _ := nkeys.FromSeed([]byte(parseToken(t, info.Token).Secret))
		nodeKey := newUserKey(t)
		nodePub, _ := nodeKey.PublicKey()
		uc := jwt.NewUserClaims(nodePub)
		uc.Expires = time.Now().Add(time.Hour).Unix()
		if _, err := joinDevice(t, url, parseToken(t, info.Token), nodeKey, forgeUserJWT(t, tokenKey, uc, time.Now())); err == nil {
			t.Error("ATTACK SUCCEEDED: connected with an expired token's account")
		}
		noIdentity(t, c, "late")
		before.unchanged(t, c)
	})

	t.Run("a revoked token is refused, also with a user JWT dated after the revocation", func(t *testing.T) {
		info, err := ids.CreateJoinToken(ctx, api.JoinTokenRequest{Name: "revoked"})
		if err != nil {
			t.Fatal(err)
		}
		tok := parseToken(t, info.Token)
		if _, err := ids.RevokeJoinToken(ctx, "revoked"); err != nil {
			t.Fatal(err)
		}
		before := snapshotStore(t, c)
		if _, err := edge.Join(ctx, url, tok, "after-revoke", nil); err == nil {
			t.Fatal("ATTACK SUCCEEDED: joined with a revoked token")
		} else {
			t.Logf("refused: %v", err)
		}
		// The token's key signs a user JWT "issued" in the future, past
		// the revocation's time.
		tokenKey, _ := nkeys.FromSeed([]byte(tok.Secret))
		nodeKey := newUserKey(t)
		nodePub, _ := nodeKey.PublicKey()
		forged := forgeUserJWT(t, tokenKey, jwt.NewUserClaims(nodePub), time.Now().Add(24*time.Hour))
		if a, err := joinDevice(t, url, tok, nodeKey, forged); err == nil {
			resp := rawJoin(t, a.Conn, tok, "after-revoke", nodePub, time.Now())
			t.Errorf("ATTACK SUCCEEDED: connected with a revoked token's user dated in the future (join answer: %+v)", resp)
		} else {
			t.Logf("refused: %v", err)
		}
		noIdentity(t, c, "after-revoke")
		before.unchanged(t, c)
	})

	t.Run("a forged token with the right CA fingerprint is refused", func(t *testing.T) {
		acc, _ := nkeys.CreateAccount()
		seed, _ := acc.Seed()
		signer, _ := nkeys.CreateAccount()
		signerSeed, _ := signer.Seed()
		real := parseToken(t, mustToken(t, c))
		accPub, _ := acc.PublicKey()
		for _, forged := range []api.JoinToken{
			{CAFingerprint: real.CAFingerprint, Account: accPub, Secret: string(seed)},             // a self-made join account
			{CAFingerprint: real.CAFingerprint, Account: real.Account, Secret: string(signerSeed)}, // the real account, another key
		} {
			before := snapshotStore(t, c)
			_, err := edge.Join(ctx, url, forged, "forged", nil)
			if err == nil {
				t.Fatal("ATTACK SUCCEEDED: joined with a forged token")
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("forged token: %v, want an authorization error", err)
			}
			noIdentity(t, c, "forged")
			before.unchanged(t, c)
		}
	})

	t.Run("a token without its join account is refused before connecting", func(t *testing.T) {
		real := parseToken(t, mustToken(t, c))
		forged := api.JoinToken{CAFingerprint: real.CAFingerprint, Secret: real.Secret}
		before := snapshotStore(t, c)
		_, err := edge.Join(ctx, url, forged, "forged", nil)
		if err == nil {
			t.Fatal("ATTACK SUCCEEDED: joined with a forged token")
		}
		if !strings.Contains(err.Error(), "names no join account") {
			t.Errorf("token without its account: %v", err)
		}
		noIdentity(t, c, "forged")
		before.unchanged(t, c)
	})

	t.Run("a token pinning another CA never reaches the join service", func(t *testing.T) {
		other, err := pki.LoadOrCreateCA(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		// The real secret: a server that is not the cluster's must not
		// get to see the token's use.
		tok := parseToken(t, mustToken(t, c))
		tok.CAFingerprint = other.Fingerprint()
		before := snapshotStore(t, c)
		_, err = edge.Join(ctx, url, tok, "wrong-ca", nil)
		if err == nil {
			t.Fatal("ATTACK SUCCEEDED: joined a cluster whose CA is not the token's")
		}
		if !strings.Contains(err.Error(), "no CA with the join token's fingerprint") {
			t.Errorf("join pinned to another CA: %v, want the TLS verification error", err)
		}
		noIdentity(t, c, "wrong-ca")
		before.unchanged(t, c)
	})

	tok := parseToken(t, mustToken(t, c))
	holderKey := newUserKey(t)
	holder, err := joinDevice(t, url, tok, holderKey, joinUserJWT(t, tok, holderKey))
	if err != nil {
		t.Fatalf("connect with the join token: %v", err)
	}
	holderPub, _ := holderKey.PublicKey()

	t.Run("node names with NATS wildcards or dots are refused", func(t *testing.T) {
		before := snapshotStore(t, c)
		for _, name := range []string{"a.*", ">", "a.b", "*", "a b", "A", "", "node-1.>", strings.Repeat("a", 64)} {
			if _, err := edge.Join(ctx, url, tok, name, nil); err == nil {
				t.Errorf("ATTACK SUCCEEDED: edge.Join accepted node name %q", name)
			}
			resp := rawJoin(t, holder.Conn, tok, name, holderPub, time.Now())
			if resp.Error == "" || resp.JWT != "" {
				t.Errorf("ATTACK SUCCEEDED: the join service accepted node name %q: %+v", name, resp)
			}
		}
		before.unchanged(t, c)
	})

	t.Run("a joined node's name cannot be taken with a new key", func(t *testing.T) {
		before := snapshotStore(t, c)
		if _, err := edge.Join(ctx, url, tok, "node-1", nil); err == nil {
			t.Fatal("ATTACK SUCCEEDED: took over node-1 with a new key")
		} else if !strings.Contains(err.Error(), "already joined") {
			t.Errorf("taking node-1: %v", err)
		}
		resp := rawJoin(t, holder.Conn, tok, "bystander", holderPub, time.Now())
		if resp.Error == "" || resp.JWT != "" {
			t.Errorf("ATTACK SUCCEEDED: took over bystander: %+v", resp)
		}
		before.unchanged(t, c)
	})

	t.Run("a join request needs the token's signature and a fresh time", func(t *testing.T) {
		before := snapshotStore(t, c)
		tokenKey, _ := nkeys.FromSeed([]byte(tok.Secret))
		tokenPub, _ := tokenKey.PublicKey()
		other, _ := nkeys.CreateAccount()
		req := api.JoinRequest{NodeName: "unsigned", NodePublicKey: holderPub, TokenPublicKey: tokenPub, Time: time.Now().UTC()}
		sig, _ := other.Sign(api.JoinSigningPayload(req))
		req.Signature = base64.RawURLEncoding.EncodeToString(sig)
		var resp api.JoinResponse
		request(t, holder.Conn, api.JoinSubject, req, &resp)
		if resp.Error == "" {
			t.Errorf("ATTACK SUCCEEDED: a join request signed by another key: %+v", resp)
		}
		if resp := rawJoin(t, holder.Conn, tok, "stale", holderPub, time.Now().Add(-time.Hour)); resp.Error == "" {
			t.Errorf("ATTACK SUCCEEDED: a join request an hour old: %+v", resp)
		}
		noIdentity(t, c, "unsigned")
		noIdentity(t, c, "stale")
		before.unchanged(t, c)
	})

	t.Run("a token holder sees nothing of the cluster's traffic", func(t *testing.T) {
		// The token's key is a scoped signing key of the token's join
		// account: whatever permissions its holder writes into its own
		// user, the server allows only the join subject and its own
		// join inbox (the subscription to > is refused).
		everything, err := holder.SubscribeSync(">")
		if err != nil {
			t.Fatal(err)
		}
		if err := holder.Flush(); err != nil {
			t.Fatal(err)
		}
		cp := c.Server.NATS.NC
		for _, s := range []string{api.NodePodsSubject("node-1"), "skiff.events.attack.join", api.AgentSubject("node-1", api.AgentLease), "_INBOX.x"} {
			if err := cp.Publish(s, []byte("secret")); err != nil {
				t.Fatal(err)
			}
		}
		if err := cp.Flush(); err != nil {
			t.Fatal(err)
		}
		// A join request's answer comes after the above.
		rawJoin(t, holder.Conn, tok, "a.b", holderPub, time.Now())
		for {
			m, err := everything.NextMsg(0)
			if err != nil {
				break
			}
			if !strings.HasPrefix(m.Subject, api.JoinInboxPrefix(holderPub)+".") && m.Subject != api.JoinSubject {
				t.Errorf("ATTACK SUCCEEDED: the token holder received %s: %s", m.Subject, m.Data)
			}
		}
		_ = everything.Unsubscribe()
	})

	t.Run("a token holder cannot see another device's join", func(t *testing.T) {
		// docs/security.md: a joining device may subscribe only to its
		// own join inbox. The attacker holds the same token as a device
		// that joins now.
		others, err := holder.SubscribeSync(">")
		if err != nil {
			t.Fatal(err)
		}
		defer others.Unsubscribe()
		if err := holder.Flush(); err != nil {
			t.Fatal(err)
		}
		id, err := edge.Join(ctx, url, tok, "observed", nil)
		if err != nil {
			t.Fatalf("the device's join failed: %v", err)
		}
		// The device had its answer; anything the attacker was going to
		// see of it is in by the time its own request is answered.
		rawJoin(t, holder.Conn, tok, "a.b", holderPub, time.Now())
		var seen []string
		for {
			m, err := others.NextMsg(0)
			if err != nil {
				break
			}
			if !strings.HasPrefix(m.Subject, api.JoinInboxPrefix(holderPub)+".") && !strings.Contains(string(m.Data), holderPub) {
				seen = append(seen, m.Subject)
			}
		}
		if len(seen) > 0 {
			t.Errorf("ATTACK SUCCEEDED: a token holder saw another device's join (%s got a credential) on %q: "+
				"the token's scope must allow only the join subject and the holder's own join inbox", id.NodeName, seen)
		}
	})

	t.Run("a token holder cannot hijack another device's join", func(t *testing.T) {
		// The attacker answers join requests in the token's account with
		// a node JWT it signed itself with the token's key; a device that
		// took it would live in the attacker's account.
		tokenKey, _ := nkeys.FromSeed([]byte(tok.Secret))
		sub, err := holder.Subscribe(api.JoinSubject, func(m *nats.Msg) {
			var req api.JoinRequest
			if json.Unmarshal(m.Data, &req) != nil {
				return
			}
			uc := jwt.NewUserClaims(req.NodePublicKey)
			uc.Name = req.NodeName
			s, err := uc.Encode(tokenKey)
			if err != nil {
				return
			}
			b, _ := json.Marshal(api.JoinResponse{JWT: s})
			_ = m.Respond(b)
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := holder.Flush(); err != nil {
			t.Fatal(err)
		}
		id, err := edge.Join(ctx, url, tok, "hijacked", nil)
		if err != nil {
			t.Fatalf("the device's join failed: %v", err)
		}
		uc, err := jwt.DecodeUserClaims(id.JWT)
		if err != nil {
			t.Fatal(err)
		}
		tokenPub, _ := tokenKey.PublicKey()
		if uc.Issuer == tokenPub || uc.IssuerAccount != c.Server.NATS.Keys.Account() {
			t.Fatalf("ATTACK SUCCEEDED: the device took a credential issued by %s for account %q, not the cluster's", uc.Issuer, uc.IssuerAccount)
		}
	})

	t.Run("a token holder has no JetStream", func(t *testing.T) {
		before := snapshotStore(t, c)
		js, err := jetstream.New(holder.Conn)
		if err != nil {
			t.Fatal(err)
		}
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := js.KeyValue(tctx, api.ObjectsBucket); err == nil {
			t.Error("ATTACK SUCCEEDED: the token holder opened the objects bucket")
		}
		if _, err := js.AccountInfo(tctx); err == nil {
			t.Error("ATTACK SUCCEEDED: the token holder has JetStream")
		}
		if _, err := js.Publish(tctx, secretKeyOf(), []byte("{}")); err == nil {
			t.Error("ATTACK SUCCEEDED: the token holder wrote to the objects bucket")
		}
		before.unchanged(t, c)
	})
}

// secretKeyOf is the subject of the victim Secret's key in the objects
// bucket.
func secretKeyOf() string {
	return "$KV." + api.ObjectsBucket + "." + api.ObjectKey("secrets", "default", "db")
}

// mustToken is the cluster's join token.
func mustToken(t *testing.T, c *testbed.Cluster) string {
	t.Helper()
	s, err := c.JoinToken(t.Context())
	if err != nil || s == "" {
		t.Fatalf("join token: %q %v", s, err)
	}
	return s
}

// TestAttacksOnTheAPIAreRefused: the REST API speaks only TLS, verified by
// the cluster CA, and only to a bearer token.
func TestAttacksOnTheAPIAreRefused(t *testing.T) {
	c := startAttackCluster(t)
	ctx := t.Context()
	base := c.Server.API.URL()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("plain HTTP gets no API", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+u.Host+"/api/v1/secrets", nil)
		req.Header.Set(api.AuthorizationHeader, api.BearerPrefix+c.Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Logf("refused: %v", err)
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "hunter2") || strings.Contains(string(body), "items") {
			t.Fatalf("ATTACK SUCCEEDED: plain HTTP answered %d %s", res.StatusCode, body)
		}
	})

	t.Run("a request without a token or with a wrong one is 401", func(t *testing.T) {
		for _, tok := range []string{"", "skiff-admin-0000", c.Token + "x"} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/secrets", nil)
			if tok != "" {
				req.Header.Set(api.AuthorizationHeader, api.BearerPrefix+tok)
			}
			res, err := c.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("ATTACK SUCCEEDED: token %q: %d %s", tok, res.StatusCode, body)
			}
		}
	})

	t.Run("the cluster CA verifies the server and another CA does not", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/nodes", nil)
		req.Header.Set(api.AuthorizationHeader, api.BearerPrefix+c.Token)
		res, err := c.HTTPClient().Do(req)
		if err != nil {
			t.Fatalf("with the cluster CA: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("with the cluster CA: %d", res.StatusCode)
		}
		other, err := pki.LoadOrCreateCA(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/nodes", nil)
		_, err = testbed.HTTPClient(other.PEM).Do(req)
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("ATTACK NOT REFUSED AS EXPECTED: another CA: %v, want an unknown-authority error", err)
		}
		_, err = http.DefaultClient.Do(req.Clone(ctx))
		if !errors.As(err, &unknown) {
			t.Fatalf("the system roots: %v, want an unknown-authority error", err)
		}
	})
}
