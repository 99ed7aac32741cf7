package clustertls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// certs issues, from one test CA, the certificates the policy tells apart.
func certs(t *testing.T) map[string]*x509.Certificate {
	t.Helper()
	ca, err := pki.NewCA("clustertls test CA")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*x509.Certificate{}
	for name, scope := range map[string]string{
		"member:eu": "member:eu", "member:us": "member:us", "registry:eu": "registry:eu",
		"operator:eu": "operator:eu", "operator:us": "operator:us", "operator:*": "operator:*",
		"community:eu": "community:eu", "community:cg": "community:cg",
	} {
		s, err := pki.ParseScope(scope)
		if err != nil {
			t.Fatal(err)
		}
		p, err := pki.IssueScoped(ca, "n-"+strings.ReplaceAll(name, ":", "-"), s, pki.IssueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = p.Cert
	}
	p, err := pki.IssueNode(ca, "unscoped", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out["unscoped"] = p.Cert
	return out
}

// TestCheckPeer is the policy's table: who may use Raft, the admin
// endpoint, and serve an admin endpoint this node calls, for a member of
// group eu, on a registry member and not, with and without require_scope.
func TestCheckPeer(t *testing.T) {
	c := certs(t)
	allow := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	cases := []struct {
		desc    string
		p       *Policy
		use     Use
		allowed map[string]bool
	}{
		{"raft", &Policy{Group: "eu"}, UseRaft, allow("member:eu", "registry:eu", "unscoped")},
		{"raft, scope required", &Policy{Group: "eu", RequireScope: true}, UseRaft, allow("member:eu", "registry:eu")},
		{"admin", &Policy{Group: "eu"}, UseAdmin, allow("member:eu", "registry:eu", "operator:eu", "operator:*", "unscoped")},
		{"admin on a registry member", &Policy{Group: "eu", RegistryMember: true}, UseAdmin,
			allow("member:eu", "member:us", "registry:eu", "operator:eu", "operator:*", "unscoped", "community:eu", "community:cg")},
		{"admin server", &Policy{Group: "eu"}, UseAdminServer, allow("member:eu", "member:us", "registry:eu", "unscoped", "community:eu", "community:cg")},
		{"admin server, scope required", &Policy{Group: "eu", RequireScope: true}, UseAdminServer, allow("member:eu", "member:us", "registry:eu", "community:eu", "community:cg")},
		// Community certificates: only a community group takes them as
		// members; a registry member lets them through the handshake
		// (Authorize then allows only heartbeats and proposals).
		{"raft of a community group", &Policy{Group: "cg", Community: true, RequireScope: true}, UseRaft, allow("community:cg")},
		{"admin of a community group", &Policy{Group: "cg", Community: true, RequireScope: true}, UseAdmin, allow("community:cg", "operator:*")},
		{"admin on a registry member, scope required", &Policy{Group: "eu", RegistryMember: true, RequireScope: true}, UseAdmin,
			allow("member:eu", "member:us", "registry:eu", "operator:eu", "operator:*", "community:eu", "community:cg")},
	}
	for _, tc := range cases {
		for name, cert := range c {
			err := tc.p.CheckPeer(cert, tc.use)
			switch {
			case tc.allowed[name] && err != nil:
				t.Errorf("%s: %s refused: %v", tc.desc, name, err)
			case !tc.allowed[name] && err == nil:
				t.Errorf("%s: %s allowed", tc.desc, name)
			case !tc.allowed[name] && !errors.Is(err, pki.ErrOutOfScope):
				t.Errorf("%s: %s refused with %v, want ErrOutOfScope", tc.desc, name, err)
			}
		}
	}
}

// TestRevokedEverywhere: once the log lists a certificate's serial, every
// use refuses it, and the Raft connections of it are closed.
func TestRevokedEverywhere(t *testing.T) {
	c := certs(t)
	p := &Policy{Group: "eu", RegistryMember: true}
	var dropped []*x509.Certificate
	p.SetConns(dropperFunc(func(drop func(*x509.Certificate) bool) int {
		n := 0
		for _, cert := range c {
			if drop(cert) {
				dropped = append(dropped, cert)
				n++
			}
		}
		return n
	}))
	victim := c["member:eu"]
	p.LearnRevoked(map[string]client.LogRevoked{serialText(victim): {Name: "n-member-eu", Reason: "key lost", Time: time.Unix(1_800_000_000, 0).UTC()}})
	for _, use := range []Use{UseRaft, UseAdmin, UseAdminServer} {
		if err := p.CheckPeer(victim, use); !errors.Is(err, ErrRevoked) {
			t.Errorf("%s: revoked certificate: %v, want ErrRevoked", useName(use), err)
		}
	}
	if len(dropped) != 1 || dropped[0] != victim {
		t.Errorf("closed the connections of %d certificates, want only the revoked one", len(dropped))
	}
	if err := p.CheckPeer(c["registry:eu"], UseRaft); err != nil {
		t.Errorf("another certificate refused after a revocation: %v", err)
	}
	// A request over a connection opened before the revocation.
	r := httptest.NewRequest(http.MethodGet, "/v1/group/status", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{victim}}
	if err := p.Authorize(r); !errors.Is(err, ErrRevoked) {
		t.Errorf("Authorize(revoked) = %v, want ErrRevoked", err)
	}
}

type dropperFunc func(func(*x509.Certificate) bool) int

func (f dropperFunc) DropConns(drop func(*x509.Certificate) bool) int { return f(drop) }

// TestAuthorizeOtherGroups: on a registry member a node of another group
// may send heartbeats and registry proposals, but not revoke, nor use any
// other admin path; this group's nodes and operators may.
func TestAuthorizeOtherGroups(t *testing.T) {
	c := certs(t)
	p := &Policy{Group: "eu", RegistryMember: true}
	req := func(cert *x509.Certificate, path string, body []byte) *http.Request {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
		return r
	}
	cases := []struct {
		desc string
		cert string
		path string
		body []byte
		ok   bool
	}{
		{"other group's heartbeat", "member:us", "/v1/registry/heartbeat", nil, true},
		{"other group's proposal", "member:us", "/v1/registry/propose", []byte{byte(raftfsm.TypeNodeHeartbeat), 0}, true},
		{"other group's revocation", "member:us", "/v1/registry/propose", []byte{byte(raftfsm.TypeRevokeCert), 0}, false},
		{"other group's revocation, ignore-unknown bit", "member:us", "/v1/registry/propose", []byte{byte(raftfsm.TypeRevokeCert | raftfsm.IgnoreUnknown), 0}, false},
		{"other group's node removal", "member:us", "/v1/registry/propose", []byte{byte(raftfsm.TypeRemoveNode), 0}, false},
		{"other group's zone move", "member:us", "/v1/registry/propose", []byte{byte(raftfsm.TypeMoveZone), 0}, false},
		{"own operator's node removal", "operator:eu", "/v1/registry/propose", []byte{byte(raftfsm.TypeRemoveNode), 0}, true},
		{"other group's node approval", "member:us", "/v1/registry/propose", []byte{byte(raftfsm.TypeApproveNode), 0}, false},
		{"other group's join", "member:us", "/v1/group/join", nil, false},
		{"own member's join", "member:eu", "/v1/group/join", nil, true},
		{"own operator's revocation", "operator:eu", "/v1/registry/propose", []byte{byte(raftfsm.TypeRevokeCert), 0}, true},
		{"other group's step of a node request", "member:us", "/v1/registry/propose", []byte{byte(raftfsm.TypeNodeRequest), 0}, false},
		{"community node's heartbeat", "community:cg", "/v1/registry/heartbeat", nil, true},
		{"community node's approval of a node request", "community:cg", "/v1/registry/propose", []byte{byte(raftfsm.TypeNodeRequest), 0}, false},
		// community:eu names this (eu) group, but eu is no community
		// group: its certificate is no member's here.
		{"community node of this group's name: join", "community:eu", "/v1/group/join", nil, false},
		{"community node of this group's name: heartbeat", "community:eu", "/v1/registry/heartbeat", nil, true},
		{"community node of this group's name: revocation", "community:eu", "/v1/registry/propose", []byte{byte(raftfsm.TypeRevokeCert), 0}, false},
	}
	for _, tc := range cases {
		err := p.Authorize(req(c[tc.cert], tc.path, tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s: Authorize = %v, want allowed %t", tc.desc, err, tc.ok)
		}
	}
	// The body a proposal's check peeked at is still there for the handler.
	r := req(c["member:us"], "/v1/registry/propose", []byte{byte(raftfsm.TypeNodeHeartbeat), 7})
	if err := p.Authorize(r); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2)
	if n, _ := r.Body.Read(b); n != 2 || b[1] != 7 {
		t.Errorf("the proposal's body after Authorize: %x, want it whole", b[:n])
	}
}
