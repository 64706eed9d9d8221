package natsauth

import (
	"fmt"
	"strconv"
	"strings"
)

// ServerConfigOptions shape the configuration of an external nats-server
// that trusts Skiff's operator.
type ServerConfigOptions struct {
	// ServerName names the server (unique in a cluster).
	ServerName string
	// Listen is host:port for clients (agents, control planes).
	Listen string
	// StoreDir keeps JetStream's files; ResolverDir the account JWTs.
	StoreDir, ResolverDir string
	// CertFile (the chain: certificate, then the cluster CA) and KeyFile
	// are the server's TLS certificate.
	CertFile, KeyFile string
}

// ServerConfig renders a nats-server configuration file: operator mode with
// Skiff's operator, the SYS account, a full account resolver preloaded with
// SYS and SKIFF (the control plane pushes updates to it), JetStream syncing
// every write, and TLS required of every client. Add a cluster block for
// a NATS cluster (R3).
func (k *Keys) ServerConfig(o ServerConfigOptions) (string, error) {
	_, op, err := k.Operator()
	if err != nil {
		return "", err
	}
	sysJWT, err := k.SystemAccountJWT()
	if err != nil {
		return "", err
	}
	accJWT, err := k.AccountJWT(nil)
	if err != nil {
		return "", err
	}
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, "# nats-server configuration for Skiff, written by `skiff nats server-config`.\n")
	fmt.Fprintf(&b, "# It trusts the Skiff operator of one control plane's data dir; see docs/security.md.\n")
	fmt.Fprintf(&b, "server_name: %s\nlisten: %s\nmax_payload: 4MB\n\n", q(o.ServerName), q(o.Listen))
	fmt.Fprintf(&b, "operator: %s\nsystem_account: %s\n\n", q(op), k.SystemAccount())
	fmt.Fprintf(&b, "resolver: {\n  type: full\n  dir: %s\n  allow_delete: false\n  interval: \"2m\"\n}\n", q(o.ResolverDir))
	fmt.Fprintf(&b, "resolver_preload: {\n  %s: %s\n  %s: %s\n}\n\n", k.SystemAccount(), q(sysJWT), k.Account(), q(accJWT))
	fmt.Fprintf(&b, "jetstream: {\n  store_dir: %s\n  # fsync before acknowledging, as the embedded server does\n  sync_interval: always\n}\n\n", q(o.StoreDir))
	fmt.Fprintf(&b, "tls: {\n  cert_file: %s\n  key_file: %s\n  timeout: 5\n}\n", q(o.CertFile), q(o.KeyFile))
	return b.String(), nil
}
