package pki

import (
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"
)

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Scope
		ok   bool
	}{
		{"member:eu", Scope{RoleMember, "eu"}, true},
		{"registry:reg", Scope{RoleRegistry, "reg"}, true},
		{"operator:eu-west_1.a", Scope{RoleOperator, "eu-west_1.a"}, true},
		{"operator:*", Scope{RoleOperator, AllGroups}, true},
		{"member:*", Scope{}, false},
		{"registry:*", Scope{}, false},
		{"admin:eu", Scope{}, false},
		{"member:", Scope{}, false},
		{"member", Scope{}, false},
		{"", Scope{}, false},
		{"member:EU", Scope{RoleMember, "EU"}, true},
		{"member:é", Scope{}, false},
		{"member:e u", Scope{}, false},
		{"member:eu:x", Scope{}, false},
		{"Member:eu", Scope{}, false},
	} {
		got, err := ParseScope(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseScope(%q) = %v, %v; want %v ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadScope) {
			t.Errorf("ParseScope(%q) error %v is not ErrBadScope", tc.in, err)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("ParseScope(%q).String() = %q", tc.in, got.String())
		}
	}
}

// A scoped certificate names its scope and is a cluster credential with
// the validity asked; an unscoped one names none (version 1); a
// certificate naming two scopes, or a malformed one, is refused.
func TestIssueScoped(t *testing.T) {
	ca, err := NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := IssueScoped(ca, "eu-1", Scope{RoleMember, "eu"}, IssueOptions{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Validity: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := ScopeOf(p.Cert); err != nil || s != (Scope{RoleMember, "eu"}) {
		t.Errorf("ScopeOf(issued) = %v, %v; want member:eu", s, err)
	}
	if err := CheckClusterCert(p.Cert); err != nil {
		t.Errorf("a scoped certificate is no cluster credential: %v", err)
	}
	if life := p.Cert.NotAfter.Sub(p.Cert.NotBefore); life < 2*time.Hour || life > 3*time.Hour+time.Minute {
		t.Errorf("validity %v, want 2h (plus the hour it is backdated)", life)
	}
	if _, err := IssueScoped(ca, "x", Scope{RoleMember, AllGroups}, IssueOptions{}); !errors.Is(err, ErrBadScope) {
		t.Errorf("IssueScoped(member:*) = %v, want ErrBadScope", err)
	}
	old, err := IssueNode(ca, "n1", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ScopeOf(old.Cert); !errors.Is(err, ErrNoScope) {
		t.Errorf("ScopeOf(version 1) = %v, want ErrNoScope", err)
	}
	two := &x509.Certificate{URIs: []*url.URL{Scope{RoleMember, "a"}.URI(), Scope{RoleOperator, "b"}.URI()}}
	if _, err := ScopeOf(two); !errors.Is(err, ErrBadScope) {
		t.Errorf("ScopeOf(two scopes) = %v, want ErrBadScope", err)
	}
	bad := &x509.Certificate{URIs: []*url.URL{{Scheme: "urn", Opaque: "ddnrs:scope:root:eu"}}}
	if _, err := ScopeOf(bad); !errors.Is(err, ErrBadScope) {
		t.Errorf("ScopeOf(role root) = %v, want ErrBadScope", err)
	}
	other := &x509.Certificate{URIs: []*url.URL{{Scheme: "spiffe", Host: "example.org", Path: "/x"}}}
	if _, err := ScopeOf(other); !errors.Is(err, ErrNoScope) {
		t.Errorf("ScopeOf(another URI) = %v, want ErrNoScope", err)
	}
}

// FuzzParseScope: ParseScope reads what users type (--scope) and what
// certificates carry; whatever it accepts prints back the same.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"member:eu", "operator:*", "registry:reg", "member:*", "x:y", ":", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseScope(in)
		if err != nil {
			return
		}
		if s.String() != in {
			t.Fatalf("ParseScope(%q).String() = %q", in, s.String())
		}
		if back, err := ParseScope(s.URI().Opaque[len("ddnrs:scope:"):]); err != nil || back != s {
			t.Fatalf("scope %v through its URI: %v, %v", s, back, err)
		}
	})
}
