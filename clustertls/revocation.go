package clustertls

// revocation.go: revoked cluster certificates (issue 14 item 1). An
// operator revokes a certificate by its serial number (`ddnrs ops cert
// revoke`, a RevokeCert command on the registry group); the registry
// logs it (translog cert-revocation entry), and every node that follows
// the log refuses the certificate from its next poll on: at every new
// handshake of Raft and of the admin endpoint (Policy.CheckPeer), at
// every admin request on a connection opened before (Policy.Authorize),
// and by closing the Raft connections it had open with it. The bound is
// one [registry] follow_interval (default 5 s) after the registry
// committed the revocation. docs/architecture.md, "Trust per group and
// role".

import (
	"crypto/x509"
	"errors"
	"fmt"
	"maps"

	"github.com/ddnrs/ddnrs/client"
)

// ErrRevoked is returned by the peer checks when the registry's log
// revoked the peer's certificate.
var ErrRevoked = errors.New("certificate revoked by the registry")

// serialText is a certificate's serial number as revocations write it.
func serialText(c *x509.Certificate) string { return fmt.Sprintf("%x", c.SerialNumber) }

// CheckRevoked refuses a certificate the registry's log revoked, as this
// node last read it.
func (p *Policy) CheckRevoked(c *x509.Certificate) error {
	m := p.revoked.Load()
	if m == nil {
		return nil
	}
	r, ok := (*m)[serialText(c)]
	if !ok {
		return nil
	}
	return fmt.Errorf("%w: %q (serial %x), revoked %s: %s", ErrRevoked, c.Subject.CommonName, c.SerialNumber, r.Time.Format("2006-01-02T15:04:05Z"), r.Reason)
}

// LearnRevoked takes the revoked certificates from the follower (nil: not
// known yet, keep what was there) and closes the Raft connections of
// peers whose certificates are now revoked. Called on the follower's
// goroutine.
func (p *Policy) LearnRevoked(revoked map[string]client.LogRevoked) {
	if revoked == nil {
		return
	}
	old := p.revoked.Load()
	if old != nil && maps.Equal(*old, revoked) {
		return
	}
	p.revoked.Store(&revoked)
	grp := p.conns.Load()
	if grp == nil {
		return
	}
	if closed := (*grp).DropConns(func(c *x509.Certificate) bool { return p.CheckRevoked(c) != nil }); closed > 0 {
		p.log().Warn("tls: closed Raft connections of revoked certificates", "connections", closed)
	}
}

// SetConns names the Raft transport whose connections LearnRevoked closes
// when their peer's certificate is revoked (nil: none yet).
func (p *Policy) SetConns(c ConnDropper) {
	if c == nil {
		p.conns.Store(nil)
		return
	}
	p.conns.Store(&c)
}
