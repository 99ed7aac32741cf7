package node

// trust.go: trust per group and role (issue 14 item 1). A node checks
// the scope its peers' certificates name (pki.Scope) on every handshake:
//
//   - Raft (listening and dialling): a member or registry node of this
//     node's group, nothing else (no operator, no other group);
//   - the admin endpoint: this group's members, operators scoped to this
//     group or to every group; on a registry member also the members of
//     every group, for the two paths nodes of other groups use (their
//     heartbeats and registry proposals), refused on every other path
//     (adminAuthorize);
//   - as a client of another node's admin endpoint: a node certificate
//     (member or registry), never an operator's.
//
// A certificate without a scope (version 1, cluster-wide) passes these
// checks unless [tls] require_scope is set. This node's own certificate,
// when scoped, must name its group. Revoked serials (revocation.go) are
// refused everywhere. Certificates are read again when their files change
// (certReloader), so a renewed certificate is used without a restart.
// docs/architecture.md, "Trust per group and role".

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// peerUse is what a peer certificate is presented for.
type peerUse int

const (
	useRaft        peerUse = iota // either side of a Raft connection
	useAdmin                      // a client of this node's admin endpoint
	useAdminServer                // the server of an admin endpoint this node calls
)

// checkPeer checks the scope of a peer's verified leaf certificate for
// use. It returns an error wrapping pki.ErrOutOfScope or pki.ErrBadScope
// (or the revocation's) when the certificate may not be used so.
func (n *Node) checkPeer(leaf *x509.Certificate, use peerUse) error {
	if err := n.checkRevoked(leaf); err != nil {
		return err
	}
	s, err := pki.ScopeOf(leaf)
	if errors.Is(err, pki.ErrNoScope) {
		if n.cfg.TLS.RequireScope {
			return fmt.Errorf("%w: %q (serial %x) names no group and role, and [tls] require_scope is set", pki.ErrOutOfScope, leaf.Subject.CommonName, leaf.SerialNumber)
		}
		return nil
	}
	if err != nil {
		return err
	}
	group := n.cfg.Group.Name
	node := s.Role == pki.RoleMember || s.Role == pki.RoleRegistry
	ok := false
	switch use {
	case useRaft:
		ok = node && s.Group == group
	case useAdmin:
		ok = node && (s.Group == group || n.cfg.Registry.Member) ||
			s.Role == pki.RoleOperator && (s.Group == group || s.Group == pki.AllGroups)
	case useAdminServer:
		ok = node
	}
	if !ok {
		return fmt.Errorf("%w: %q is %s, not allowed at %s of group %q", pki.ErrOutOfScope, leaf.Subject.CommonName, s, useName(use), group)
	}
	return nil
}

func useName(u peerUse) string {
	switch u {
	case useRaft:
		return "Raft"
	case useAdmin:
		return "the admin endpoint"
	default:
		return "an admin endpoint's server side"
	}
}

// verifyPeer returns a VerifyConnection for use: the peer's leaf (its
// chain already verified by crypto/tls) must pass checkPeer.
func (n *Node) verifyPeer(use peerUse) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: the peer sent no certificate", pki.ErrNotClusterCert)
		}
		return n.checkPeer(cs.PeerCertificates[0], use)
	}
}

// crossGroupAdminPaths are the admin paths a node of another group may
// call on a registry member: its heartbeat, and the registry commands it
// sends for its group (claims, releases, key changes).
var crossGroupAdminPaths = map[string]bool{
	"/v1/registry/heartbeat": true,
	"/v1/registry/propose":   true,
}

// adminAuthorize is the admin endpoint's per-request check: a node
// certificate of another group (let through the handshake on a registry
// member) may call only crossGroupAdminPaths.
func (n *Node) adminAuthorize(r *http.Request) error {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return fmt.Errorf("%w: no client certificate", pki.ErrOutOfScope)
	}
	leaf := r.TLS.PeerCertificates[0]
	// A connection opened before a revocation is checked per request.
	if err := n.checkRevoked(leaf); err != nil {
		return err
	}
	s, err := pki.ScopeOf(leaf)
	if err != nil {
		return nil // unscoped: checked at the handshake
	}
	if (s.Role == pki.RoleMember || s.Role == pki.RoleRegistry) && s.Group != n.cfg.Group.Name {
		if !crossGroupAdminPaths[r.URL.Path] {
			return fmt.Errorf("%w: %q is %s; a node of another group may only send heartbeats and registry proposals here, not %s %s", pki.ErrOutOfScope, leaf.Subject.CommonName, s, r.Method, r.URL.Path)
		}
		// Nor may it revoke certificates: only operators and the
		// registry's own nodes do.
		if r.URL.Path == "/v1/registry/propose" {
			br := bufio.NewReader(r.Body)
			if b, err := br.Peek(1); err == nil && raftfsm.CommandType(b[0]) == raftfsm.TypeRevokeCert {
				return fmt.Errorf("%w: %q is %s; a node of another group may not revoke certificates", pki.ErrOutOfScope, leaf.Subject.CommonName, s)
			}
			r.Body = struct {
				io.Reader
				io.Closer
			}{br, r.Body}
		}
	}
	return nil
}

// checkOwnScope refuses to start with a scoped certificate of another
// group, or an operator's.
func (n *Node) checkOwnScope(c *x509.Certificate) error {
	s, err := pki.ScopeOf(c)
	if errors.Is(err, pki.ErrNoScope) {
		if n.cfg.TLS.RequireScope {
			return fmt.Errorf("%w: this node's certificate %q names no group and role, and [tls] require_scope is set: issue one with `ddnrs ops cert issue --scope member:%s`", pki.ErrOutOfScope, c.Subject.CommonName, n.cfg.Group.Name)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if s.Role == pki.RoleOperator || s.Group != n.cfg.Group.Name {
		return fmt.Errorf("%w: this node's certificate is %s, but the node is a member of group %q: issue one with `ddnrs ops cert issue --scope member:%s`", pki.ErrOutOfScope, s, n.cfg.Group.Name, n.cfg.Group.Name)
	}
	return nil
}

// certReloadEvery is how often a handshake may look at the certificate
// files again.
const certReloadEvery = time.Second

// certReloader serves a certificate pair from two files and reads them
// again when either changes (size or modification time), at most once per
// certReloadEvery: a renewed certificate is used by the next handshake,
// with no restart. A pair that fails to load (a half-written file, a key
// that does not match) is logged and the previous one kept.
type certReloader struct {
	n                 *Node
	certPath, keyPath string

	mu      sync.Mutex
	pair    *pki.Pair
	stamp   string // size and mtime of both files when pair was read
	checked time.Time
}

func newCertReloader(n *Node, certPath, keyPath string, pair *pki.Pair) *certReloader {
	r := &certReloader{n: n, certPath: certPath, keyPath: keyPath, pair: pair, checked: time.Now()}
	r.stamp, _ = r.fileStamp()
	return r
}

func (r *certReloader) fileStamp() (string, error) {
	var s string
	for _, p := range []string{r.certPath, r.keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%d/%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return s, nil
}

// current returns the pair, read again first when the files changed.
func (r *certReloader) current() *pki.Pair {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < certReloadEvery {
		return r.pair
	}
	r.checked = time.Now()
	stamp, err := r.fileStamp()
	if err != nil || stamp == r.stamp {
		return r.pair
	}
	pair, err := pki.LoadPair(r.certPath, r.keyPath)
	if err == nil {
		err = r.n.checkOwnScope(pair.Cert)
	}
	if err != nil {
		r.n.log.Warn("tls: the certificate files changed but do not load; keeping the previous certificate", "cert", r.certPath, "err", err)
		return r.pair
	}
	r.pair, r.stamp = pair, stamp
	r.n.log.Info("tls: certificate reloaded", "cert", r.certPath, "serial", fmt.Sprintf("%x", pair.Cert.SerialNumber), "not_after", pair.Cert.NotAfter)
	return pair
}

// serve and client are the tls.Config callbacks.
func (r *certReloader) serve(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := r.current().TLS()
	return &c, nil
}

func (r *certReloader) client(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c := r.current().TLS()
	return &c, nil
}
