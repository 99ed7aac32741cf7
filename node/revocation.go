package node

// revocation.go: revoked cluster certificates (issue 14 item 1). An
// operator revokes a certificate by its serial number (`ddnrs ops cert
// revoke`, a RevokeCert command on the registry group); the registry
// logs it (translog cert-revocation entry), and every node that follows
// the log refuses the certificate from its next poll on: at every new
// handshake of Raft and of the admin endpoint (trust.go checkPeer), at
// every admin request on a connection opened before (adminAuthorize),
// and by closing the Raft connections it had open with it. The bound is
// one [registry] follow_interval (default 5 s) after the registry
// committed the revocation. docs/architecture.md, "Trust per group and
// role".

import (
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"sync/atomic"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// trustState is what the node knows of revoked certificates.
type trustState struct {
	revoked atomic.Pointer[map[string]client.LogRevoked] // as the follower last handed them over
	// group is the Raft group once open, for closing the connections of
	// revoked certificates (the follower's goroutine must not take n.mu,
	// which Start holds while the follower first publishes).
	group atomic.Pointer[raftfsm.Group]
}

// ErrRevoked is returned by the peer checks when the registry's log
// revoked the peer's certificate.
var ErrRevoked = errors.New("certificate revoked by the registry")

// serialText is a certificate's serial number as revocations write it.
func serialText(c *x509.Certificate) string { return fmt.Sprintf("%x", c.SerialNumber) }

// checkRevoked refuses a certificate the registry's log revoked, as this
// node last read it.
func (n *Node) checkRevoked(c *x509.Certificate) error {
	m := n.trust.revoked.Load()
	if m == nil {
		return nil
	}
	r, ok := (*m)[serialText(c)]
	if !ok {
		return nil
	}
	return fmt.Errorf("%w: %q (serial %x), revoked %s: %s", ErrRevoked, c.Subject.CommonName, c.SerialNumber, r.Time.Format("2006-01-02T15:04:05Z"), r.Reason)
}

// learnRevoked takes the revoked certificates from the follower (nil: not
// known yet, keep what was there) and closes the Raft connections of
// peers whose certificates are now revoked. Called on the follower's
// goroutine.
func (n *Node) learnRevoked(revoked map[string]client.LogRevoked) {
	if revoked == nil {
		return
	}
	old := n.trust.revoked.Load()
	if old != nil && maps.Equal(*old, revoked) {
		return
	}
	n.trust.revoked.Store(&revoked)
	grp := n.trust.group.Load()
	if grp == nil {
		return
	}
	if closed := grp.DropConns(func(c *x509.Certificate) bool { return n.checkRevoked(c) != nil }); closed > 0 {
		n.log.Warn("tls: closed Raft connections of revoked certificates", "connections", closed)
	}
}
