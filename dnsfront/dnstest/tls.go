package dnstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCert is a throw-away CA and a server certificate it issued, for
// tests of the encrypted transports. Never use it outside tests.
type TestCert struct {
	Roots    *x509.CertPool // holds the CA
	Pair     tls.Certificate
	CAFile   string // PEM of the CA
	CertFile string // PEM of the server certificate
	KeyFile  string // PEM of the server key
}

// Server returns a server configuration serving the test certificate.
func (c *TestCert) Server() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.Pair}}
}

// Client returns a client configuration trusting the test CA, checking
// the name serverName, offering the ALPN protocols alpn.
func (c *TestCert) Client(serverName string, alpn ...string) *tls.Config {
	return &tls.Config{RootCAs: c.Roots, ServerName: serverName, NextProtos: alpn}
}

// NewTestCert makes a CA and a server certificate for the given DNS names
// and 127.0.0.1 in t.TempDir().
func NewTestCert(t testing.TB, names ...string) *TestCert {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dnstest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	c := &TestCert{Roots: x509.NewCertPool()}
	c.Roots.AddCert(ca)
	c.CAFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	c.CertFile, c.KeyFile = IssueTestCert(t, dir, ca, caKey, names...)
	c.Pair, err = tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// IssueTestCert writes into dir a new server certificate (server.pem,
// server.key) signed by ca for names and 127.0.0.1, replacing any there.
func IssueTestCert(t testing.TB, dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, names ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "dnstest server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, "server.pem", "CERTIFICATE", der), writePEM(t, dir, "server.key", "PRIVATE KEY", kder)
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
