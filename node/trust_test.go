package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/clustertls"
	"github.com/ddnrs/ddnrs/internal/pki"
)

// servedSerial returns the serial of the certificate the admin endpoint
// at addr presents to a cluster client.
func servedSerial(t *testing.T, p *testPKI, addr string) string {
	t.Helper()
	pair, err := pki.IssueNode(p.ca, "probe", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, pki.ClientTLS(pair, p.ca.Pool()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return fmt.Sprintf("%x", conn.ConnectionState().PeerCertificates[0].SerialNumber)
}

// TestCertificateReload: a node reads its certificate files again when
// they change, with no restart (rotation of short-lived certificates);
// files that do not load (a key of another certificate) are logged and
// the previous certificate kept.
func TestCertificateReload(t *testing.T) {
	p := newTestPKI(t)
	cfg := groupConfig(t, p, "r1")
	cfg.Group.Bootstrap = true
	n := runNode(t, cfg)
	first, err := pki.LoadCert(cfg.TLS.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, p, n.AdminAddr()); got != fmt.Sprintf("%x", first.SerialNumber) {
		t.Fatalf("served serial %s, want the configured %x", got, first.SerialNumber)
	}
	next, err := pki.IssueScoped(p.ca, "r1", pki.Scope{Role: pki.RoleMember, Group: cfg.Group.Name}, pki.IssueOptions{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	renew := func(certPEM, keyPEM []byte) {
		t.Helper()
		for path, b := range map[string][]byte{cfg.TLS.Cert: certPEM, cfg.TLS.Key: keyPEM} {
			tmp := path + ".new"
			if err := os.WriteFile(tmp, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}
	}
	keyPEM, err := pki.KeyPEM(next.Key)
	if err != nil {
		t.Fatal(err)
	}
	renew(pki.CertPEM(next.Cert), keyPEM)
	want := fmt.Sprintf("%x", next.Cert.SerialNumber)
	waitFor(t, "the renewed certificate served", func() error {
		if got := servedSerial(t, p, n.AdminAddr()); got != want {
			return fmt.Errorf("serial %s", got)
		}
		return nil
	})
	// A certificate with another certificate's key: kept the last good one.
	other, err := pki.IssueNode(p.ca, "r1", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	renew(pki.CertPEM(other.Cert), keyPEM)
	time.Sleep(clustertls.ReloadEvery + 100*time.Millisecond) // past one reload check: a bound, not a measure
	if got := servedSerial(t, p, n.AdminAddr()); got != want {
		t.Errorf("after a broken renewal the node serves %s, want the last good %s", got, want)
	}
}

// TestOwnScopeChecked: a node refuses to start with a certificate scoped
// to another group or to an operator, and with require_scope, with an
// unscoped one; each error says how to issue the right one.
func TestOwnScopeChecked(t *testing.T) {
	for _, tc := range []struct {
		name    string
		scope   *pki.Scope
		require bool
	}{
		{"another group", &pki.Scope{Role: pki.RoleMember, Group: "elsewhere"}, false},
		{"operator", &pki.Scope{Role: pki.RoleOperator, Group: pki.AllGroups}, false},
		{"unscoped with require_scope", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := groupConfig(t, newTestPKI(t), "r1")
			cfg.Group.Bootstrap = true
			cfg.TLS.RequireScope = tc.require
			if tc.scope != nil {
				ca, err := pki.LoadCA(filepath.Dir(cfg.TLS.CA))
				if err != nil {
					t.Fatal(err)
				}
				pair, err := pki.IssueScoped(ca, "r1", *tc.scope, pki.IssueOptions{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
				if err != nil {
					t.Fatal(err)
				}
				dir := filepath.Join(t.TempDir(), "tls")
				if err := pair.Save(dir); err != nil {
					t.Fatal(err)
				}
				cfg.TLS.Cert, cfg.TLS.Key = filepath.Join(dir, pki.CertFile), filepath.Join(dir, pki.KeyFile)
			}
			n, err := New(cfg, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			err = n.Start(t.Context())
			if err == nil {
				n.Close(t.Context())
			}
			if !errors.Is(err, pki.ErrOutOfScope) {
				t.Errorf("Start = %v, want pki.ErrOutOfScope", err)
			}
		})
	}
}

// TestRevokedMemberRefused: once a node learns that a member's
// certificate is revoked, it refuses that certificate at its Raft port
// and admin endpoint (new handshakes, after closing the Raft connections
// it had with it); the other members' certificates still pass.
func TestRevokedMemberRefused(t *testing.T) {
	nodes, p := startGroup(t, 3)
	leader, others := leaderOf(t, nodes)
	revoked, kept := others[0], others[1]
	load := func(n *Node) (*pki.Pair, string) {
		t.Helper()
		pair, err := pki.LoadPair(n.cfg.TLS.Cert, n.cfg.TLS.Key)
		if err != nil {
			t.Fatal(err)
		}
		return pair, fmt.Sprintf("%x", pair.Cert.SerialNumber)
	}
	rp, rserial := load(revoked)
	kp, _ := load(kept)
	raftOK := func(pair *pki.Pair) error {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", leader.RaftAddr(), pki.ClientTLS(pair, p.ca.Pool()))
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err = conn.Read(make([]byte, 1))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil // kept open: Raft waits for the dialler
		}
		return fmt.Errorf("refused: %v", err)
	}
	if err := raftOK(rp); err != nil {
		t.Fatalf("before the revocation, %s at the leader's Raft: %v", revoked.ID(), err)
	}
	leader.trust.LearnRevoked(map[string]client.LogRevoked{rserial: {Name: revoked.ID(), Reason: "test", Time: time.Now().UTC()}})
	if err := raftOK(rp); err == nil {
		t.Errorf("after the revocation, %s's certificate is still accepted at the leader's Raft", revoked.ID())
	}
	if err := raftOK(kp); err != nil {
		t.Errorf("%s's certificate, not revoked, at the leader's Raft: %v", kept.ID(), err)
	}
	if err := leader.trust.CheckRevoked(rp.Cert); !errors.Is(err, clustertls.ErrRevoked) {
		t.Errorf("checkRevoked(revoked) = %v, want ErrRevoked", err)
	}
	ac := admin.NewClient(pki.ClientTLS(rp, p.ca.Pool()))
	defer ac.CloseIdle()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ac.Status(ctx, leader.AdminAddr()); err == nil {
		t.Errorf("the revoked member's certificate is accepted at the leader's admin endpoint")
	}
}
