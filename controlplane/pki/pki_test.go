package pki_test

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/controlplane/pki"
)

func TestCAIsMadeOnceAndKeptPrivate(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA {
		t.Fatal("the CA certificate is not a CA")
	}
	st, err := os.Stat(filepath.Join(dir, pki.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode %v, want 0600", st.Mode().Perm())
	}
	again, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint() != ca.Fingerprint() {
		t.Error("loading the CA again gave another CA")
	}
}

func TestCAWithAKeyOthersCanReadIsRefused(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.LoadOrCreateCA(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, pki.CAKeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := pki.LoadOrCreateCA(dir)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("load with a 0644 key = %v; want a refusal that says chmod 600", err)
	}
}

func TestHalfACAIsNeverOverwritten(t *testing.T) {
	dir := t.TempDir()
	if _, err := pki.LoadOrCreateCA(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, pki.CAKeyFile)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, pki.CACertFile))
	if _, err := pki.LoadOrCreateCA(dir); err == nil || !strings.Contains(err.Error(), "only one of") {
		t.Fatalf("load of half a CA = %v; want an error naming both files", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, pki.CACertFile))
	if string(before) != string(after) {
		t.Fatal("the CA certificate was overwritten")
	}
}

func TestServingCertificateChainsToTheCAAndCarriesIt(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := pki.ServerNames([]string{"127.0.0.1:8080", "0.0.0.0:4222", "cp.example:4222"}, []string{"10.1.2.3", "edge.example"})
	cert, err := ca.ServerCertificate(names)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Certificate) != 2 {
		t.Fatalf("chain has %d certificates; want the leaf and the CA", len(cert.Certificate))
	}
	if ca2, _ := x509.ParseCertificate(cert.Certificate[1]); ca2 == nil || !ca2.Equal(ca.Cert) {
		t.Fatal("the chain's second certificate is not the CA")
	}
	for _, host := range []string{"localhost", "127.0.0.1", "cp.example", "10.1.2.3", "edge.example"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: host}); err != nil {
			t.Errorf("the serving certificate does not verify for %s: %v", host, err)
		}
	}
	if slicesContainsIP(cert.Leaf.IPAddresses, net.IPv4zero) {
		t.Error("the certificate names 0.0.0.0")
	}
	// The same names: the certificate on disk is reused.
	again, err := ca.ServerCertificate(names)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Leaf.Equal(cert.Leaf) {
		t.Error("a valid serving certificate was issued again")
	}
	// A new name: a new certificate.
	more, err := ca.ServerCertificate(append(names, "new.example"))
	if err != nil {
		t.Fatal(err)
	}
	if more.Leaf.Equal(cert.Leaf) || more.Leaf.VerifyHostname("new.example") != nil {
		t.Error("a new name did not give a new certificate that names it")
	}
}

func slicesContainsIP(ips []net.IP, ip net.IP) bool {
	for _, i := range ips {
		if i.Equal(ip) {
			return true
		}
	}
	return false
}
