package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/edge"
	"github.com/skiff-sh/skiff/testbed"
)

// JoinOptions configure the join benchmark.
type JoinOptions struct {
	// Joins is how many nodes join, each under a new name (default 50).
	Joins int
	// Out receives progress lines.
	Out io.Writer
}

// Join measures an agent's first contact: edge.Join (the TLS handshake
// pinned to the token's CA fingerprint, the join request, the control
// plane's checks, its fsynced record of the node and the node's signed
// JWT) for o.Joins new node names against one in-process server. Beside
// it, in the same run and interleaved with the joins: the connect of a
// node that already has its identity (TLS verified against the CA, user
// JWT and nonce signature), the baseline; and a plain TCP connect without
// credentials to a second server with TLS and authentication off (config
// Insecure), the floor of a connect.
func Join(ctx context.Context, o JoinOptions) (*Summary, error) {
	if o.Joins <= 0 {
		o.Joins = 50
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	dir, err := testbed.TempDir("skiff-bench-join-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	env, err := startJoinEnv(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer env.stop()
	fmt.Fprintf(o.Out, "joining %d nodes, each beside a connect with an existing identity and a plain connect\n", o.Joins)
	var joins, connects, plain []time.Duration
	for i := 0; i < o.Joins; i++ {
		d, err := env.join(ctx, fmt.Sprintf("join-%04d", i))
		if err != nil {
			return nil, err
		}
		joins = append(joins, d)
		if d, err = connectTime(env.secure.Server.NATS.ClientURL, env.identity); err != nil {
			return nil, err
		}
		connects = append(connects, d)
		if d, err = connectTime(env.insecure.Server.NATS.ClientURL, nil); err != nil {
			return nil, err
		}
		plain = append(plain, d)
	}
	j50, j99 := Percentile(joins, 50), Percentile(joins, 99)
	c50, c99 := Percentile(connects, 50), Percentile(connects, 99)
	p50, p99 := Percentile(plain, 50), Percentile(plain, 99)
	sum := &Summary{}
	sum.Add("joins", o.Joins)
	sum.Add("join_p50_ms", Ms(j50))
	sum.Add("join_p99_ms", Ms(j99))
	sum.Add("baseline_connect_p50_ms", Ms(c50))
	sum.Add("baseline_connect_p99_ms", Ms(c99))
	sum.Add("ratio_p50", ratio(j50, c50))
	sum.Add("ratio_p99", ratio(j99, c99))
	sum.Add("plain_connect_p50_ms", Ms(p50))
	sum.Add("plain_connect_p99_ms", Ms(p99))
	sum.Add("connect_p50_ratio_secure_over_insecure", durationCost(c50, p50))
	sum.Add("connect_p99_ratio_secure_over_insecure", durationCost(c99, p99))
	return sum, nil
}

// joinEnv is a secure server that nodes join, one node that already
// joined, and an insecure server for plain connects.
type joinEnv struct {
	secure, insecure *testbed.Cluster
	token            api.JoinToken
	// identity are the connect options of a node that joined (warm-up):
	// its CA, JWT and seed.
	identity []nats.Option
}

// startJoinEnv starts both servers (no agents, fsync on) in dir, makes a
// join token and joins one node for the connect baseline.
func startJoinEnv(ctx context.Context, dir string) (*joinEnv, error) {
	e := &joinEnv{}
	for _, m := range securityModes {
		c, err := testbed.StartCluster(ctx, testbed.ClusterOptions{Dir: filepath.Join(dir, m.name), Configure: m.configure})
		if err != nil {
			e.stop()
			return nil, fmt.Errorf("%s server: %w", m.name, err)
		}
		if m.insecure {
			e.insecure = c
		} else {
			e.secure = c
		}
	}
	tok, err := e.secure.JoinToken(ctx)
	if err == nil && tok == "" {
		err = errors.New("the secure server issues no join tokens")
	}
	if err == nil {
		e.token, err = api.ParseJoinToken(tok)
	}
	var joined *edge.Identity
	if err == nil {
		joined, err = edge.Join(ctx, e.secure.Server.NATS.ClientURL, e.token, "warm-up", nil)
	}
	if err == nil {
		e.identity, err = joined.NATSOptions()
	}
	if err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

// join times one edge.Join of a new node.
func (e *joinEnv) join(ctx context.Context, node string) (time.Duration, error) {
	start := time.Now()
	id, err := edge.Join(ctx, e.secure.Server.NATS.ClientURL, e.token, node, nil)
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("join %s: %w", node, err)
	}
	if id.NodeName != node || id.JWT == "" {
		return 0, fmt.Errorf("join %s: got an identity for %q (JWT %d bytes)", node, id.NodeName, len(id.JWT))
	}
	return took, nil
}

// connectTime times a NATS connect until the server accepted it
// (nats.Connect returns once the server answered the PING after CONNECT,
// so TLS and authentication are done), then closes it.
func connectTime(url string, opts []nats.Option) (time.Duration, error) {
	start := time.Now()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("skiff-bench-connect"), nats.Timeout(10 * time.Second)}, opts...)...)
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("connect to %s: %w", url, err)
	}
	nc.Close()
	return took, nil
}

func (e *joinEnv) stop() {
	for _, c := range []*testbed.Cluster{e.secure, e.insecure} {
		if c != nil {
			_ = c.Stop(context.Background())
		}
	}
}
