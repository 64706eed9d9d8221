package pki

import (
	"crypto/tls"

	"go.uber.org/fx"

	"github.com/skiff-sh/skiff/config"
)

// Serving is the control plane's serving certificate (for the API and
// NATS), signed by the CA, its chain including the CA.
type Serving struct {
	Cert tls.Certificate
}

// TLSConfig serves the certificate.
func (s *Serving) TLSConfig() *tls.Config { return ServerTLSConfig(s.Cert) }

// Dir is where a control plane keeps its CA and keys: <dataDir>/pki.
func Dir(cfg config.Config) string { return cfg.Path("pki") }

// Module provides the *CA (made on first start) and the *Serving
// certificate for the listen addresses and cfg.TLSSANs; with cfg.Insecure
// (benchmarks only) the *Serving is nil, so the API and NATS serve
// without TLS.
var Module = fx.Module("pki",
	fx.Provide(func(cfg config.Config) (*CA, error) { return LoadOrCreateCA(Dir(cfg)) }),
	fx.Provide(func(cfg config.Config, ca *CA) (*Serving, error) {
		if cfg.Insecure {
			return nil, nil
		}
		cert, err := ca.ServerCertificate(ServerNames([]string{cfg.API.Listen, cfg.NATS.Listen}, cfg.TLSSANs))
		if err != nil {
			return nil, err
		}
		return &Serving{Cert: cert}, nil
	}),
)
