// Package pki keeps the cluster's certificate authority and the control
// plane's serving certificate (docs/security.md): made on first start in
// the data directory, as k3s does, and loaded from there afterwards.
//
// Package pki imports only the standard library and internal/atomicfile.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/skiff-sh/skiff/internal/atomicfile"
)

// File names under the PKI directory.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
)

// Lifetimes. A serving certificate is renewed at start when less than
// RenewBefore of it is left.
const (
	CALifetime     = 10 * 365 * 24 * time.Hour
	ServerLifetime = 365 * 24 * time.Hour
	RenewBefore    = 30 * 24 * time.Hour
)

// CA is the cluster's certificate authority.
type CA struct {
	Cert *x509.Certificate
	// PEM is the certificate as clients get it (client config, kubeconfig).
	PEM []byte
	key crypto.Signer
	dir string
}

// Fingerprint is the SHA-256 of the CA certificate's DER bytes: what a
// join token pins.
func (ca *CA) Fingerprint() [32]byte { return sha256.Sum256(ca.Cert.Raw) }

// Pool is a certificate pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// LoadOrCreateCA reads the CA from dir, or makes one there (key mode 0600)
// when dir has none. A directory with only half a CA is an error, never
// overwritten.
func LoadOrCreateCA(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		if err := checkPrivate(keyPath); err != nil {
			return nil, err
		}
		cert, err := parseCert(certPEM)
		if err != nil {
			return nil, fmt.Errorf("cluster CA %s: %w", certPath, err)
		}
		key, err := parseKey(keyPEM)
		if err != nil {
			return nil, fmt.Errorf("cluster CA key %s: %w", keyPath, err)
		}
		if !publicKeysEqual(cert.PublicKey, key.Public()) {
			return nil, fmt.Errorf("cluster CA: %s does not belong to %s", keyPath, certPath)
		}
		return &CA{Cert: cert, PEM: certPEM, key: key, dir: dir}, nil
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
	case certErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("cluster CA: %w", certErr)
	case keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("cluster CA key: %w", keyErr)
	default:
		return nil, fmt.Errorf("cluster CA: only one of %s and %s exists; restore the other or remove both to make a new CA (every node must then join again)", certPath, keyPath)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("cluster CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "skiff-ca@" + now.UTC().Format("20060102T150405Z"), Organization: []string{"skiff"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("cluster CA certificate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeKey(keyPath, key); err != nil {
		return nil, err
	}
	if err := writeFile(certPath, certPEM, 0o644); err != nil {
		return nil, err
	}
	return &CA{Cert: cert, PEM: certPEM, key: key, dir: dir}, nil
}

// ServerCertificate loads the serving certificate from the CA's directory,
// or issues a new one when there is none, it expires within RenewBefore,
// the CA changed, or it lacks one of names (DNS names or IP addresses).
// The returned certificate's chain includes the CA, so that a client that
// only pins the CA's fingerprint can verify it.
func (ca *CA) ServerCertificate(names []string) (tls.Certificate, error) {
	return ca.ServerCertificateAt(filepath.Join(ca.dir, ServerCertFile), filepath.Join(ca.dir, ServerKeyFile), names)
}

// ServerCertificateAt is ServerCertificate kept in the files certPath (the
// chain: the certificate, then the CA) and keyPath (0600), for servers
// Skiff does not run itself (an external NATS).
func (ca *CA) ServerCertificateAt(certPath, keyPath string, names []string) (tls.Certificate, error) {
	dnsNames, ips := splitNames(names)
	if c, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil && checkPrivate(keyPath) == nil {
		leaf, _ := x509.ParseCertificate(c.Certificate[0])
		if leaf != nil && ca.reusable(leaf, dnsNames, ips) {
			c.Leaf = leaf
			c.Certificate = [][]byte{leaf.Raw, ca.Cert.Raw}
			return c, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("serving key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "skiff-server", Organization: []string{"skiff"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ServerLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("serving certificate: %w", err)
	}
	if err := writeKey(keyPath, key); err != nil {
		return tls.Certificate{}, err
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.PEM...)
	if err := writeFile(certPath, chain, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

func (ca *CA) reusable(leaf *x509.Certificate, dnsNames []string, ips []net.IP) bool {
	if time.Until(leaf.NotAfter) < RenewBefore || leaf.CheckSignatureFrom(ca.Cert) != nil {
		return false
	}
	for _, n := range dnsNames {
		if !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// ServerNames are the names a serving certificate gets: localhost and the
// loopback addresses, the host name, the hosts of the listen addresses
// (unless they listen on every address) and extra (--tls-san).
func ServerNames(listen []string, extra []string) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	for _, l := range listen {
		host, _, err := net.SplitHostPort(l)
		if err != nil || host == "" {
			continue
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			continue
		}
		names = append(names, host)
	}
	names = append(names, extra...)
	slices.Sort(names)
	return slices.Compact(names)
}

// ServerTLSConfig serves cert (TLS 1.2 or later).
func ServerTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

func splitNames(names []string) (dns []string, ips []net.IP) {
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
		} else if n != "" {
			dns = append(dns, n)
		}
	}
	return dns, ips
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

func parseCert(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}

func parseKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("not a PEM key")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("key cannot sign")
	}
	return s, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("key %s: %w", path, err)
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// writeFile writes atomically (a crash leaves the old file or the new).
func writeFile(path string, data []byte, mode os.FileMode) error {
	return atomicfile.Write(path, data, mode)
}

// checkPrivate refuses a key file others can read.
func checkPrivate(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is readable by others (mode %v): chmod 600 %s", path, st.Mode().Perm(), path)
	}
	return nil
}

// PEMEqual reports whether two PEM documents hold the same certificate.
func PEMEqual(a, b []byte) bool { return bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b)) }
