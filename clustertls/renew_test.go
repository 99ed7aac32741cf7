package clustertls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/internal/pki"
)

// revokedList is a RevocationSource over a fixed list: the registry's
// log is read by LogRevocations, which the integration test
// TestCertificateRenewal runs against a real registry.
type revokedList struct {
	m   map[string]client.LogRevoked
	err error
}

func (r revokedList) Revoked(context.Context) (map[string]client.LogRevoked, error) {
	return r.m, r.err
}

// startIssuer serves an Issuer of ca over real TLS on loopback and
// returns its URL.
func startIssuer(t *testing.T, ca *pki.CA, rev RevocationSource) string {
	t.Helper()
	serving, err := pki.IssueServer(ca, "issuer", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(&Issuer{CA: ca, Validity: 2 * time.Minute, Revocations: rev})
	srv.TLS = IssuerTLS(serving.TLS(), ca.Pool())
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func clientOf(p *pki.Pair, ca *pki.CA) *tls.Config {
	c := pki.ClientTLS(p, ca.Pool())
	c.VerifyConnection = nil
	return c
}

// TestIssuerRenews: a member's certificate is renewed for the same key,
// name and scope with a later end; a revoked one, an operator's, a
// serving-only one and one of another CA are not, nor any while the
// revocations cannot be read.
func TestIssuerRenews(t *testing.T) {
	ca, err := pki.NewCA("cluster")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	ip := []net.IP{net.IPv4(127, 0, 0, 1)}
	issue := func(ca *pki.CA, id, scope string) *pki.Pair {
		t.Helper()
		s, err := pki.ParseScope(scope)
		if err != nil {
			t.Fatal(err)
		}
		p, err := pki.IssueScoped(ca, id, s, pki.IssueOptions{IPs: ip, Validity: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	member, revoked, op := issue(ca, "eu-1", "member:eu"), issue(ca, "eu-2", "member:eu"), issue(ca, "alice", "operator:eu")
	serving, err := pki.IssueServer(ca, "dns", ip, nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign := issue(other, "eu-3", "member:eu")
	url := startIssuer(t, ca, revokedList{m: map[string]client.LogRevoked{serialText(revoked.Cert): {Reason: "stolen"}}})

	nc, err := Renew(context.Background(), url, clientOf(member, ca), member.Cert)
	if err != nil {
		t.Fatalf("Renew(member) = %v", err)
	}
	if nc.SerialNumber.Cmp(member.Cert.SerialNumber) == 0 || !nc.NotAfter.After(member.Cert.NotAfter) {
		t.Errorf("renewed serial %x until %s; want a new serial ending after %s", nc.SerialNumber, nc.NotAfter, member.Cert.NotAfter)
	}
	if s, err := pki.ScopeOf(nc); err != nil || s.String() != "member:eu" || !nc.IPAddresses[0].Equal(ip[0]) {
		t.Errorf("renewed scope %v (%v), IPs %v; want member:eu at 127.0.0.1", s, err, nc.IPAddresses)
	}
	for _, tt := range []struct {
		desc string
		p    *pki.Pair
		ca   *pki.CA
		want string
	}{
		{"revoked", revoked, ca, "revoked"},
		{"operator", op, ca, "operator"},
		{"serving-only", serving, ca, ""},  // the handshake fails: no client usage
		{"another CA", foreign, other, ""}, // the handshake fails
	} {
		c := clientOf(tt.p, tt.ca)
		c.RootCAs = ca.Pool()
		_, err := Renew(context.Background(), url, c, tt.p.Cert)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Renew(%s) = %v, want a refusal mentioning %q", tt.desc, err, tt.want)
		}
	}
	down := startIssuer(t, ca, revokedList{err: errors.New("registry unreachable")})
	if _, err := Renew(context.Background(), down, clientOf(member, ca), member.Cert); !errors.Is(err, ErrRenewRefused) || !strings.Contains(err.Error(), "503") {
		t.Errorf("Renew with the log unreadable = %v, want ErrRenewRefused 503", err)
	}
}

// TestCheckRenewal: a certificate is a renewal only with the same key,
// name and scope, from the cluster CA, ending later.
func TestCheckRenewal(t *testing.T) {
	ca, _ := pki.NewCA("cluster")
	other, _ := pki.NewCA("other")
	ip := []net.IP{net.IPv4(127, 0, 0, 1)}
	cur, err := pki.IssueScoped(ca, "eu-1", pki.Scope{Role: pki.RoleMember, Group: "eu"}, pki.IssueOptions{IPs: ip, Validity: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	reissue := func(ca *pki.CA, mod func(*x509.Certificate), validity time.Duration) *x509.Certificate {
		t.Helper()
		tmpl := *cur.Cert
		if mod != nil {
			mod(&tmpl)
		}
		c, err := pki.Reissue(ca, &tmpl, cur.Cert.PublicKey, validity)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := CheckRenewal(cur.Cert, reissue(ca, nil, 2*time.Minute), ca.Pool()); err != nil {
		t.Fatalf("CheckRenewal(a renewal) = %v", err)
	}
	otherKey, err := pki.IssueScoped(ca, "eu-1", pki.Scope{Role: pki.RoleMember, Group: "eu"}, pki.IssueOptions{IPs: ip, Validity: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		desc string
		nc   *x509.Certificate
	}{
		{"another key", otherKey.Cert},
		{"another name", reissue(ca, func(c *x509.Certificate) { c.Subject.CommonName = "eu-9" }, 2*time.Minute)},
		{"another scope", reissue(ca, func(c *x509.Certificate) { c.URIs = []*url.URL{pki.Scope{Role: pki.RoleMember, Group: "us"}.URI()} }, 2*time.Minute)},
		{"no scope", reissue(ca, func(c *x509.Certificate) { c.URIs = nil }, 2*time.Minute)},
		{"another CA", reissue(other, nil, 2*time.Minute)},
		{"ending earlier", reissue(ca, nil, 30*time.Second)},
		{"serving-only", reissue(ca, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} }, 2*time.Minute)},
	} {
		if err := CheckRenewal(cur.Cert, tt.nc, ca.Pool()); !errors.Is(err, ErrBadRenewal) {
			t.Errorf("CheckRenewal(%s) = %v, want ErrBadRenewal", tt.desc, err)
		}
	}
}

// TestRenewerRenews runs a Renewer against a real issuing service: the
// certificate file is rewritten with a renewal (Reloader's files), and a
// renewal the service refuses leaves the file as it was.
func TestRenewerRenews(t *testing.T) {
	ca, _ := pki.NewCA("cluster")
	dir := t.TempDir()
	p, err := pki.IssueScoped(ca, "eu-1", pki.Scope{Role: pki.RoleMember, Group: "eu"}, pki.IssueOptions{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Validity: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Save(dir); err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, pki.CertFile), filepath.Join(dir, pki.KeyFile)
	pol := &Policy{Group: "eu"}
	_, admin := pol.Configs(certPath, keyPath, p, ca.Pool())
	run := func(url string, before time.Duration) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		r := &Renewer{URL: url, CertPath: certPath, KeyPath: keyPath, Before: before, TLS: RenewTLS(admin), Policy: pol}
		go func() { defer close(done); r.Run(ctx) }()
		return func() { cancel(); <-done }
	}
	// Refused (revoked): the file stays.
	stop := run(startIssuer(t, ca, revokedList{m: map[string]client.LogRevoked{serialText(p.Cert): {Reason: "test"}}}), 2*time.Minute)
	time.Sleep(3 * retryMin) // a few attempts; what is checked is the file, not a time
	stop()
	if c, err := pki.LoadCert(certPath); err != nil || c.SerialNumber.Cmp(p.Cert.SerialNumber) != 0 {
		t.Fatalf("after refused renewals the certificate is %v (%v); want it unchanged", c.SerialNumber, err)
	}
	// Accepted: renewed (Before longer than the lifetime: at once).
	stop = run(startIssuer(t, ca, revokedList{}), 2*time.Minute)
	defer stop()
	deadline := time.Now().Add(time.Minute)
	for {
		np, err := pki.LoadPair(certPath, keyPath)
		if err == nil && np.Cert.SerialNumber.Cmp(p.Cert.SerialNumber) != 0 {
			if err := CheckRenewal(p.Cert, np.Cert, ca.Pool()); err != nil {
				t.Fatalf("the file holds %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no renewal written (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
