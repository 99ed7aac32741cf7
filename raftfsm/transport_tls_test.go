package raftfsm

import (
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// TestStableStoreNotFound: raft v1.7.3 decides that a StableStore holds
// no term yet by the error text "not found" (docs/architecture.md,
// "Conventions the code relies on": the one place we test a string). A
// fresh raft-boltdb store must say exactly that, or a new member fails to
// start.
func TestStableStoreNotFound(t *testing.T) {
	s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(t.TempDir(), RaftLogFile)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Get([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Errorf("Get(missing) = %v, want the error text %q", err, "not found")
	}
	if _, err := s.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Errorf("GetUint64(missing) = %v, want the error text %q", err, "not found")
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(t.TempDir(), 2, newHclog(nil))
	if err != nil {
		t.Fatal(err)
	}
	if has, err := raft.HasExistingState(s, s, snaps); err != nil || has {
		t.Errorf("HasExistingState(fresh) = %v, %v; want false, nil", has, err)
	}
}

// transport starts a NetworkTransport over the TLS stream layer with cfg
// and answers every AppendEntries with success until the test ends.
func transport(t *testing.T, cfg *tls.Config) *raft.NetworkTransport {
	t.Helper()
	cfg, err := checkMutualTLS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := newTLSStreamLayer("127.0.0.1:0", "", cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: stream, MaxPool: 1, Timeout: 10e9, Logger: newHclog(testLogger(t))})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case rpc := <-tr.Consumer():
				rpc.Respond(&raft.AppendEntriesResponse{Success: true, Term: 1}, nil)
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
		tr.Close()
	})
	return tr
}

// TestTransportRefusesForeignCert: a Raft transport holding a certificate
// of another CA can neither send AppendEntries to a member nor receive
// them from one; two members of the cluster CA can.
func TestTransportRefusesForeignCert(t *testing.T) {
	ca, err := pki.NewCA("cluster")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := pki.NewCA("foreign")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *pki.CA, id string) *pki.Pair {
		p, err := pki.IssueNode(ca, id, []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := transport(t, pki.MutualTLS(issue(ca, "a"), ca.Pool()))
	b := transport(t, pki.MutualTLS(issue(ca, "b"), ca.Pool()))
	// The stranger trusts the cluster CA (it knows whom it attacks) but
	// its own certificate comes from elsewhere.
	strangerCfg := pki.MutualTLS(issue(foreign, "x"), ca.Pool())
	strangerCfg.ClientCAs = foreign.Pool()
	x := transport(t, strangerCfg)
	// The DNS-facing certificate of the same CA, serving-only
	// (pki.IssueServer), in a configuration of the attacker's own making,
	// without the package's checks.
	dnsPair, err := pki.IssueServer(ca, "dns", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := transport(t, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{dnsPair.TLS()},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool(), RootCAs: ca.Pool()})

	tests := []struct {
		name     string
		from, to *raft.NetworkTransport
		ok       bool
	}{
		{"member to member", b, a, true},
		{"stranger to member", x, a, false},
		{"member to stranger", a, x, false},
		{"DNS certificate to member", d, a, false},
		{"member to DNS certificate", a, d, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax}, Term: 1}
			var resp raft.AppendEntriesResponse
			err := tt.from.AppendEntries("peer", tt.to.LocalAddr(), req, &resp)
			if tt.ok && (err != nil || !resp.Success) {
				t.Errorf("AppendEntries = %v (success %v), want success", err, resp.Success)
			}
			if !tt.ok && err == nil {
				t.Errorf("AppendEntries succeeded (response %+v), want an error", resp)
			}
		})
	}
}

// TestSilentPeerDropped: a peer that connects to the Raft port and never
// starts a TLS handshake is disconnected after the handshake timeout
// rather than holding a transport goroutine for ever.
func TestSilentPeerDropped(t *testing.T) {
	ca, err := pki.NewCA("cluster")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := pki.IssueNode(ca, "a", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := checkMutualTLS(pki.MutualTLS(pair, ca.Pool()))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := newTLSStreamLayer("127.0.0.1:0", "", cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	stream.handshakeTimeout = 50 * time.Millisecond
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: stream, MaxPool: 1, Timeout: time.Second, Logger: newHclog(testLogger(t))})
	t.Cleanup(func() { tr.Close() })

	conn, err := net.Dial("tcp", string(tr.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The safety deadline only turns a hang into a failure.
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("Read from a connection that never handshook = %v, want it closed by the server", err)
	}
}
