package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
)

func testStatement() Statement {
	return Statement{AgreementVersion: "2026-1", AgreementSHA256: AgreementHash([]byte("I will run the node well.\n")), UptimePercent: 99.5, BandwidthMbps: 100}
}

func testRequest(t *testing.T) []byte {
	t.Helper()
	_, b, err := NewRequest(RequestOptions{ID: "eu-4", Scope: Scope{Role: RoleMember, Group: "eu"}, IPs: []net.IP{net.IPv4(127, 0, 0, 9)}, DNSNames: []string{"localhost"}, Statement: testStatement()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRequestRoundTrip: a request made by NewRequest parses back to its
// id, scope and statement, and the certificate issued for it carries the
// request's key and addresses and only the scope.
func TestRequestRoundTrip(t *testing.T) {
	b := testRequest(t)
	r, err := ParseRequest(b)
	if err != nil {
		t.Fatalf("ParseRequest: %v", err)
	}
	if r.ID != "eu-4" || r.Scope.String() != "member:eu" || r.Statement != testStatement() {
		t.Fatalf("ParseRequest = %q %s %+v, want eu-4 member:eu %+v", r.ID, r.Scope, r.Statement, testStatement())
	}
	ca, err := NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	c, err := IssueForRequest(ca, r, r.Scope, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := ScopeOf(c); err != nil || s != r.Scope || len(c.URIs) != 1 {
		t.Errorf("issued scope %v (%v), URIs %v: want only member:eu", s, err, c.URIs)
	}
	if !c.PublicKey.(*ecdsa.PublicKey).Equal(r.CSR.PublicKey) || !c.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 9)) || c.Subject.CommonName != "eu-4" {
		t.Errorf("issued %v %v: want the request's key, 127.0.0.9, eu-4", c.IPAddresses, c.Subject.CommonName)
	}
	if err := CheckClusterCert(c); err != nil {
		t.Errorf("issued certificate: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("issued certificate does not verify: %v", err)
	}
}

// TestParseRequestRefuses: a changed request (its signature no longer
// verifies), one without the agreement, with an operator scope, or
// anything not a request, is refused with ErrBadRequest.
func TestParseRequestRefuses(t *testing.T) {
	good := testRequest(t)
	blk, _ := pem.Decode(good)
	tampered := bytes.Clone(blk.Bytes)
	i := bytes.Index(tampered, []byte("eu-4"))
	tampered[i+3] = '5' // eu-5: the node's signature no longer covers it
	key, _, err := NewRequest(RequestOptions{ID: "x", Scope: Scope{Role: RoleMember, Group: "eu"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Statement: testStatement()})
	if err != nil {
		t.Fatal(err)
	}
	raw := func(uris ...string) []byte {
		t.Helper()
		tmpl := &x509.CertificateRequest{}
		tmpl.Subject.CommonName = "eu-4"
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 9)}
		for _, s := range uris {
			u, err := parseURL(s)
			if err != nil {
				t.Fatal(err)
			}
			tmpl.URIs = append(tmpl.URIs, u)
		}
		der, err := x509.CreateCertificateRequest(nil, tmpl, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: RequestPEMType, Bytes: der})
	}
	st := testStatement()
	agreement := "urn:ddnrs:agreement:" + st.AgreementVersion + ":" + st.AgreementSHA256
	tests := []struct {
		desc string
		b    []byte
		want string
	}{
		{"changed after signing", pem.EncodeToMemory(&pem.Block{Type: RequestPEMType, Bytes: tampered}), "signature"},
		{"no agreement (unsigned)", raw("urn:ddnrs:scope:member:eu", "urn:ddnrs:uptime:99", "urn:ddnrs:bandwidth:10"), "agreement"},
		{"no scope", raw(agreement, "urn:ddnrs:uptime:99", "urn:ddnrs:bandwidth:10"), "scopes"},
		{"operator scope", raw("urn:ddnrs:scope:operator:*", agreement, "urn:ddnrs:uptime:99", "urn:ddnrs:bandwidth:10"), "operator"},
		{"two scopes", raw("urn:ddnrs:scope:member:eu", "urn:ddnrs:scope:member:us", agreement, "urn:ddnrs:uptime:99", "urn:ddnrs:bandwidth:10"), "scopes"},
		{"no uptime", raw("urn:ddnrs:scope:member:eu", agreement, "urn:ddnrs:bandwidth:10"), "uptime"},
		{"uptime above 100", raw("urn:ddnrs:scope:member:eu", agreement, "urn:ddnrs:uptime:101", "urn:ddnrs:bandwidth:10"), "uptime"},
		{"uptime NaN", raw("urn:ddnrs:scope:member:eu", agreement, "urn:ddnrs:uptime:NaN", "urn:ddnrs:bandwidth:10"), "uptime"},
		{"bandwidth 0", raw("urn:ddnrs:scope:member:eu", agreement, "urn:ddnrs:uptime:99", "urn:ddnrs:bandwidth:0"), "bandwidth"},
		{"short hash", raw("urn:ddnrs:scope:member:eu", "urn:ddnrs:agreement:v1:abcd", "urn:ddnrs:uptime:99", "urn:ddnrs:bandwidth:10"), "hash"},
		{"unknown URI", raw("urn:ddnrs:scope:member:eu", agreement, "urn:ddnrs:uptime:99", "urn:ddnrs:bandwidth:10", "https://evil.example/"), "unknown"},
		{"a certificate, not a request", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: blk.Bytes}), "PEM"},
		{"empty", nil, "PEM"},
		{"two requests", append(bytes.Clone(good), good...), "after"},
	}
	for _, tt := range tests {
		_, err := ParseRequest(tt.b)
		if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseRequest(%s) = %v, want ErrBadRequest mentioning %q", tt.desc, err, tt.want)
		}
	}
}

// FuzzParseRequest: ParseRequest never panics, and what it accepts has a
// valid scope and statement.
func FuzzParseRequest(f *testing.F) {
	_, b, err := NewRequest(RequestOptions{ID: "eu-4", Scope: Scope{Role: RoleMember, Group: "eu"}, IPs: []net.IP{net.IPv4(127, 0, 0, 9)}, Statement: testStatement()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			return
		}
		if r.Scope.validate() != nil || r.Statement.validate() != nil || r.ID == "" {
			t.Fatalf("accepted %+v", r)
		}
	})
}

func parseURL(s string) (*url.URL, error) { return url.Parse(s) }
