package bench

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/nats-io/nats.go"

	"github.com/skiff-sh/skiff/api"
	"github.com/skiff-sh/skiff/controlplane/natsauth"
	"github.com/skiff-sh/skiff/controlplane/pki"
	"github.com/skiff-sh/skiff/web/client"
)

// serverAccess is what a benchmark needs to use a `skiff server` process
// it started: the admin token and cluster CA from the client config the
// server wrote.
type serverAccess struct {
	token string
	ca    []byte
}

// accessFromConfig reads the admin token and CA a `skiff server` process
// wrote into its client config.
func accessFromConfig(path string) (serverAccess, error) {
	cfg, err := client.LoadConfig(path)
	if err != nil {
		return serverAccess{}, err
	}
	if cfg.Token == "" {
		return serverAccess{}, errors.New("the server's client config has no token")
	}
	return serverAccess{token: cfg.Token, ca: []byte(cfg.CA)}, nil
}

// client is an API client with the admin token, checking the server
// against the CA.
func (a serverAccess) client(url string, opts ...client.Option) *client.Client {
	return client.New(url, append([]client.Option{client.WithToken(a.token), client.WithCA(a.ca)}, opts...)...)
}

// joinToken makes a join token for the benchmark's agents.
func joinToken(ctx context.Context, cl *client.Client) (string, error) {
	info, err := cl.CreateJoinToken(ctx, api.JoinTokenRequest{})
	if err != nil {
		return "", err
	}
	return info.Token, nil
}

// controlPlaneNATS are the options of a connection with the control
// plane's own rights, made from the keys in the server's data dir: the
// benchmark measures raw KV writes on the same server beside Skiff's.
func controlPlaneNATS(serverDataDir string) ([]nats.Option, error) {
	dir := filepath.Join(serverDataDir, "pki")
	keys, err := natsauth.LoadOrCreateKeys(dir)
	if err != nil {
		return nil, err
	}
	cred, err := keys.ControlPlaneUser()
	if err != nil {
		return nil, err
	}
	return []nats.Option{nats.UserJWTAndSeed(cred.JWT, string(cred.Seed)), nats.RootCAs(filepath.Join(dir, pki.CACertFile))}, nil
}
