package pki

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func mustCA(t *testing.T, name string) *CA {
	t.Helper()
	ca, err := NewCA(name)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

func mustNode(t *testing.T, ca *CA, id string) *Pair {
	t.Helper()
	p, err := IssueNode(ca, id, []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		t.Fatalf("IssueNode: %v", err)
	}
	return p
}

func TestIssueNode(t *testing.T) {
	ca := mustCA(t, "test cluster")
	if !ca.Cert.IsCA || ca.Cert.NotAfter.Sub(ca.Cert.NotBefore) < CAValidity {
		t.Errorf("CA: IsCA=%v validity %v, want CA valid for %v", ca.Cert.IsCA, ca.Cert.NotAfter.Sub(ca.Cert.NotBefore), CAValidity)
	}
	p := mustNode(t, ca, "n1")
	if p.Cert.Subject.CommonName != "n1" {
		t.Errorf("CN = %q, want n1", p.Cert.Subject.CommonName)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := p.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{usage}, DNSName: "localhost"}); err != nil {
			t.Errorf("Verify(usage %v) = %v, want nil", usage, err)
		}
	}
	if err := p.Cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("VerifyHostname(127.0.0.1) = %v", err)
	}
	if d := p.Cert.NotAfter.Sub(p.Cert.NotBefore); d < NodeValidity || d > NodeValidity+2*backdate {
		t.Errorf("node validity %v, want about %v", d, NodeValidity)
	}
	if _, err := IssueNode(ca, "", nil, nil); err == nil {
		t.Error("IssueNode with empty id succeeded")
	}
	// A node certificate never outlives its CA.
	short := mustCA(t, "old")
	short.Cert.NotAfter = time.Now().Add(time.Hour)
	if p, err := IssueNode(short, "n", nil, nil); err != nil || p.Cert.NotAfter.After(short.Cert.NotAfter) {
		t.Errorf("IssueNode under a CA expiring in an hour: NotAfter %v, err %v", p.Cert.NotAfter, err)
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, "c")
	caDir, nodeDir := filepath.Join(dir, "ca"), filepath.Join(dir, "n1")
	if err := ca.Save(caDir); err != nil {
		t.Fatalf("CA Save: %v", err)
	}
	p := mustNode(t, ca, "n1")
	if err := p.Save(nodeDir); err != nil {
		t.Fatalf("Pair Save: %v", err)
	}
	for _, f := range []string{filepath.Join(caDir, CAKeyFile), filepath.Join(nodeDir, KeyFile)} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if err := ca.Save(caDir); !errors.Is(err, ErrExists) {
		t.Errorf("second CA Save = %v, want ErrExists", err)
	}
	if err := p.Save(nodeDir); !errors.Is(err, ErrExists) {
		t.Errorf("second Pair Save = %v, want ErrExists", err)
	}
	ca2, err := LoadCA(caDir)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if !ca2.Cert.Equal(ca.Cert) {
		t.Error("LoadCA returned another certificate")
	}
	p2, err := LoadPair(filepath.Join(nodeDir, CertFile), filepath.Join(nodeDir, KeyFile))
	if err != nil {
		t.Fatalf("LoadPair: %v", err)
	}
	if !p2.Cert.Equal(p.Cert) {
		t.Error("LoadPair returned another certificate")
	}
	if _, err := LoadCAPool(filepath.Join(caDir, CACertFile)); err != nil {
		t.Errorf("LoadCAPool: %v", err)
	}

	tests := []struct {
		name       string
		cert, key  string
		want       error
		wantExists bool
	}{
		{"key of another cert", filepath.Join(nodeDir, CertFile), filepath.Join(caDir, CAKeyFile), ErrKeyMismatch, false},
		{"key file as cert", filepath.Join(nodeDir, KeyFile), filepath.Join(nodeDir, KeyFile), ErrBadPEM, false},
		{"cert file as key", filepath.Join(nodeDir, CertFile), filepath.Join(nodeDir, CertFile), ErrBadPEM, false},
		{"missing", filepath.Join(dir, "nope"), filepath.Join(nodeDir, KeyFile), os.ErrNotExist, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := LoadPair(tt.cert, tt.key); !errors.Is(err, tt.want) {
				t.Errorf("LoadPair(%s, %s) = %v, want %v", tt.cert, tt.key, err, tt.want)
			}
		})
	}
	if _, err := LoadCAPool(filepath.Join(nodeDir, CertFile)); !errors.Is(err, ErrNotCA) {
		t.Errorf("LoadCAPool(node cert) = %v, want ErrNotCA", err)
	}
}

func TestSPKIPin(t *testing.T) {
	p := mustNode(t, mustCA(t, "c"), "n")
	der, err := x509.MarshalPKIXPublicKey(p.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	if got, want := SPKIPin(p.Cert), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		t.Errorf("SPKIPin = %s, want %s", got, want)
	}
}

// handshake runs one TLS handshake between a server and a client config
// over loopback and returns the server's and the client's errors.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		err = c.(*tls.Conn).Handshake()
		if err == nil {
			_, err = c.Write([]byte("ok"))
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	if err == nil {
		// In TLS 1.3 the client learns that the server rejected its
		// certificate only when it reads: the server's alert.
		_, err = io.ReadFull(c, make([]byte, 2))
		c.Close()
	}
	return <-done, err
}

func TestMutualTLS(t *testing.T) {
	ca, foreign := mustCA(t, "cluster"), mustCA(t, "foreign")
	a, b, stranger := mustNode(t, ca, "a"), mustNode(t, ca, "b"), mustNode(t, foreign, "x")
	serving, err := IssueServer(ca, "dns", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	// No extended key usage at all: Go's verifier takes it for any usage.
	anyUse, err := issue(ca, "any", []net.IP{net.IPv4(127, 0, 0, 1)}, nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// A hand-built client presenting a serving-only certificate.
	servingClient := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: ca.Pool(), Certificates: []tls.Certificate{serving.TLS()}}
	noCert := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: ca.Pool()}
	tls12 := ClientTLS(b, ca.Pool())
	tls12.MinVersion, tls12.MaxVersion = tls.VersionTLS12, tls.VersionTLS12

	tests := []struct {
		name           string
		server, client *tls.Config
		ok             bool
	}{
		{"both from the cluster CA", ServerTLS(a, ca.Pool()), ClientTLS(b, ca.Pool()), true},
		{"MutualTLS both ways", MutualTLS(a, ca.Pool()), MutualTLS(b, ca.Pool()), true},
		{"client cert from a foreign CA", ServerTLS(a, ca.Pool()), ClientTLS(stranger, ca.Pool()), false},
		{"client without a cert", ServerTLS(a, ca.Pool()), noCert, false},
		{"server cert from a foreign CA", ServerTLS(stranger, ca.Pool()), ClientTLS(b, ca.Pool()), false},
		{"TLS 1.2 client", ServerTLS(a, ca.Pool()), tls12, false},
		{"serving-only cert as a client (ClientTLS)", ServerTLS(a, ca.Pool()), ClientTLS(serving, ca.Pool()), false},
		{"serving-only cert as a client (hand-built)", ServerTLS(a, ca.Pool()), servingClient, false},
		{"serving-only cert as a Raft peer", MutualTLS(a, ca.Pool()), MutualTLS(serving, ca.Pool()), false},
		{"cert without usages as a client", ServerTLS(a, ca.Pool()), ClientTLS(anyUse, ca.Pool()), false},
		{"serving-only cert posing as a node server", ServerTLS(serving, ca.Pool()), ClientTLS(b, ca.Pool()), false},
		{"serving-only cert as a Raft server", RequireClusterPeer(&tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{serving.TLS()}}), MutualTLS(b, ca.Pool()), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serr, cerr := handshake(t, tt.server, tt.client)
			if tt.ok && (serr != nil || cerr != nil) {
				t.Errorf("handshake: server %v, client %v; want success", serr, cerr)
			}
			if !tt.ok && (serr == nil || cerr == nil) {
				t.Errorf("handshake: server %v, client %v; want both to fail", serr, cerr)
			}
		})
	}
}

func TestClusterCertRoles(t *testing.T) {
	ca, other := mustCA(t, "cluster"), mustCA(t, "dns")
	node := mustNode(t, ca, "n1")
	serving, err := IssueServer(ca, "dns", nil, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	foreignNode := mustNode(t, other, "elsewhere")
	if got := serving.Cert.ExtKeyUsage; len(got) != 1 || got[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("IssueServer usages = %v, want serverAuth only", got)
	}
	if serving.Key == node.Key {
		t.Error("IssueServer reused a key")
	}
	tests := []struct {
		name       string
		cert       *x509.Certificate
		cluster    error // CheckClusterCert
		servingErr error // CheckServingCert against the cluster CA
	}{
		{"node certificate", node.Cert, nil, ErrServingCertIsCredential},
		{"serving-only certificate", serving.Cert, ErrNotClusterCert, nil},
		{"node certificate of another CA", foreignNode.Cert, nil, nil},
		{"no certificate", nil, ErrNotClusterCert, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckClusterCert(tt.cert); !errors.Is(err, tt.cluster) || (tt.cluster == nil) != (err == nil) {
				t.Errorf("CheckClusterCert = %v, want %v", err, tt.cluster)
			}
			if err := CheckServingCert(tt.cert, ca.Pool()); !errors.Is(err, tt.servingErr) || (tt.servingErr == nil) != (err == nil) {
				t.Errorf("CheckServingCert = %v, want %v", err, tt.servingErr)
			}
		})
	}
}
