// Package clustertls is which cluster certificates a node accepts, and
// for what: trust per group and role (issue 14 item 1). A node checks the
// scope its peers' certificates name (pki.Scope) on every handshake:
//
//   - Raft (listening and dialling): a member or registry node of this
//     node's group, nothing else (no operator, no other group);
//   - the admin endpoint: this group's members, operators scoped to this
//     group or to every group; on a registry member also the members of
//     every group, for the two paths nodes of other groups use (their
//     heartbeats and registry proposals), refused on every other path
//     (Policy.Authorize);
//   - as a client of another node's admin endpoint: a node certificate
//     (member or registry), never an operator's.
//
// A certificate without a scope (version 1, cluster-wide) passes these
// checks unless RequireScope is set. The node's own certificate, when
// scoped, must name its group (Policy.CheckOwn). Revoked serials, as the
// registry's log lists them (revocation.go), are refused everywhere.
// Certificates are read again when their files change (Reloader), so a
// renewed certificate is used without a restart. docs/architecture.md,
// "Trust per group and role".
package clustertls

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// Policy is one node's trust policy: its group and role, and the revoked
// certificates it last learned. Set the exported fields before use; the
// methods are safe for concurrent use.
type Policy struct {
	// Group is the node's group name.
	Group string
	// RegistryMember: the node is a member of the registry group, whose
	// admin endpoint nodes of every group call (Authorize).
	RegistryMember bool
	// RequireScope refuses certificates that name no group and role
	// ([tls] require_scope).
	RequireScope bool
	// Community: the node's group is a community group ([group]
	// community): it accepts community:GROUP certificates of its group
	// as members, and its own certificate may be one. Default false: a
	// community certificate is refused at Raft and at the admin endpoint
	// (but for a registry member's heartbeat and proposal paths).
	Community bool
	// Log receives reloads and the closing of revoked connections.
	Log *slog.Logger

	revoked atomic.Pointer[map[string]client.LogRevoked] // as the follower last handed them over
	conns   atomic.Pointer[ConnDropper]
}

// ConnDropper closes the open connections whose peer certificate drop
// names, returning how many: the Raft group's transport (raftfsm.Group).
type ConnDropper interface {
	DropConns(drop func(*x509.Certificate) bool) int
}

// Use is what a peer certificate is presented for.
type Use int

const (
	UseRaft        Use = iota // either side of a Raft connection
	UseAdmin                  // a client of this node's admin endpoint
	UseAdminServer            // the server of an admin endpoint this node calls
)

// CheckPeer checks the scope of a peer's verified leaf certificate for
// use. It returns an error wrapping pki.ErrOutOfScope or pki.ErrBadScope
// (or the revocation's) when the certificate may not be used so.
func (p *Policy) CheckPeer(leaf *x509.Certificate, use Use) error {
	if err := p.CheckRevoked(leaf); err != nil {
		return err
	}
	s, err := pki.ScopeOf(leaf)
	if errors.Is(err, pki.ErrNoScope) {
		if p.RequireScope {
			return fmt.Errorf("%w: %q (serial %x) names no group and role, and [tls] require_scope is set", pki.ErrOutOfScope, leaf.Subject.CommonName, leaf.SerialNumber)
		}
		return nil
	}
	if err != nil {
		return err
	}
	group := p.Group
	comm := s.Role == pki.RoleCommunity
	node := s.Role == pki.RoleMember || s.Role == pki.RoleRegistry || comm && p.Community
	ok := false
	switch use {
	case UseRaft:
		ok = node && s.Group == group
	case UseAdmin:
		ok = node && (s.Group == group || p.RegistryMember) || comm && p.RegistryMember ||
			s.Role == pki.RoleOperator && (s.Group == group || s.Group == pki.AllGroups)
	case UseAdminServer:
		ok = node || comm
	}
	if !ok {
		return fmt.Errorf("%w: %q is %s, not allowed at %s of group %q", pki.ErrOutOfScope, leaf.Subject.CommonName, s, useName(use), group)
	}
	return nil
}

func useName(u Use) string {
	switch u {
	case UseRaft:
		return "Raft"
	case UseAdmin:
		return "the admin endpoint"
	default:
		return "an admin endpoint's server side"
	}
}

// VerifyPeer returns a VerifyConnection for use: the peer's leaf (its
// chain already verified by crypto/tls) must pass CheckPeer.
func (p *Policy) VerifyPeer(use Use) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: the peer sent no certificate", pki.ErrNotClusterCert)
		}
		return p.CheckPeer(cs.PeerCertificates[0], use)
	}
}

// crossGroupAdminPaths are the admin paths a node of another group may
// call on a registry member: its heartbeat, and the registry commands it
// sends for its group (claims, releases, key changes).
var crossGroupAdminPaths = map[string]bool{
	"/v1/registry/heartbeat": true,
	"/v1/registry/propose":   true,
}

// operatorOnly are the registry commands a node of another group may
// not propose, though it may propose others (claims, heartbeats).
var operatorOnly = map[raftfsm.CommandType]bool{
	raftfsm.TypeRevokeCert: true, raftfsm.TypeRemoveNode: true, raftfsm.TypeMoveZone: true, raftfsm.TypeApproveNode: true,
	// The review of community nodes goes through the registry's REST
	// API, which checks the reviewer's key and the certificate.
	raftfsm.TypeNodeRequest: true,
}

// Authorize is the admin endpoint's per-request check: a node
// certificate of another group (let through the handshake on a registry
// member) may call only crossGroupAdminPaths.
func (p *Policy) Authorize(r *http.Request) error {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return fmt.Errorf("%w: no client certificate", pki.ErrOutOfScope)
	}
	leaf := r.TLS.PeerCertificates[0]
	// A connection opened before a revocation is checked per request.
	if err := p.CheckRevoked(leaf); err != nil {
		return err
	}
	s, err := pki.ScopeOf(leaf)
	if err != nil {
		return nil // unscoped: checked at the handshake
	}
	if (s.Role == pki.RoleMember || s.Role == pki.RoleRegistry || s.Role == pki.RoleCommunity) && s.Group != p.Group ||
		s.Role == pki.RoleCommunity && !p.Community {
		if !crossGroupAdminPaths[r.URL.Path] {
			return fmt.Errorf("%w: %q is %s; a node of another group may only send heartbeats and registry proposals here, not %s %s", pki.ErrOutOfScope, leaf.Subject.CommonName, s, r.Method, r.URL.Path)
		}
		// Nor may it revoke certificates, remove nodes from the
		// directory, move zones or approve nodes: only operators and the registry's
		// own nodes do.
		if r.URL.Path == "/v1/registry/propose" {
			br := bufio.NewReader(r.Body)
			if b, err := br.Peek(1); err == nil && operatorOnly[raftfsm.CommandType(b[0])&^raftfsm.IgnoreUnknown] {
				return fmt.Errorf("%w: %q is %s; a node of another group may not propose %s", pki.ErrOutOfScope, leaf.Subject.CommonName, s, raftfsm.CommandType(b[0])&^raftfsm.IgnoreUnknown)
			}
			r.Body = struct {
				io.Reader
				io.Closer
			}{br, r.Body}
		}
	}
	return nil
}

// CheckOwn refuses the node's own certificate when it is a scoped certificate of another
// group, or an operator's.
func (p *Policy) CheckOwn(c *x509.Certificate) error {
	s, err := pki.ScopeOf(c)
	if errors.Is(err, pki.ErrNoScope) {
		if p.RequireScope {
			return fmt.Errorf("%w: this node's certificate %q names no group and role, and [tls] require_scope is set: issue one with `ddnrs ops cert issue --scope member:%s`", pki.ErrOutOfScope, c.Subject.CommonName, p.Group)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if s.Role == pki.RoleCommunity && !p.Community {
		return fmt.Errorf("%w: this node's certificate is %s, a community node's, but its group %q is not a community group: set [group] community = true on every node of it", pki.ErrOutOfScope, s, p.Group)
	}
	if s.Role == pki.RoleOperator || s.Group != p.Group {
		return fmt.Errorf("%w: this node's certificate is %s, but the node is a member of group %q: issue one with `ddnrs ops cert issue --scope member:%s`", pki.ErrOutOfScope, s, p.Group, p.Group)
	}
	return nil
}

// ReloadEvery is how often a handshake may look at the certificate
// files again.
const ReloadEvery = time.Second

// Reloader serves a certificate pair from two files and reads them
// again when either changes (size or modification time), at most once per
// ReloadEvery: a renewed certificate is used by the next handshake,
// with no restart. A pair that fails to load (a half-written file, a key
// that does not match) is logged and the previous one kept.
type Reloader struct {
	p                 *Policy
	certPath, keyPath string

	mu      sync.Mutex
	pair    *pki.Pair
	stamp   string // size and mtime of both files when pair was read
	checked time.Time
}

// NewReloader returns a Reloader of the files certPath and keyPath, which
// hold pair now.
func (p *Policy) NewReloader(certPath, keyPath string, pair *pki.Pair) *Reloader {
	r := &Reloader{p: p, certPath: certPath, keyPath: keyPath, pair: pair, checked: time.Now()}
	r.stamp, _ = r.fileStamp()
	return r
}

func (r *Reloader) fileStamp() (string, error) {
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
func (r *Reloader) current() *pki.Pair {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < ReloadEvery {
		return r.pair
	}
	r.checked = time.Now()
	stamp, err := r.fileStamp()
	if err != nil || stamp == r.stamp {
		return r.pair
	}
	pair, err := pki.LoadPair(r.certPath, r.keyPath)
	if err == nil {
		err = r.p.CheckOwn(pair.Cert)
	}
	if err != nil {
		r.p.log().Warn("tls: the certificate files changed but do not load; keeping the previous certificate", "cert", r.certPath, "err", err)
		return r.pair
	}
	r.pair, r.stamp = pair, stamp
	r.p.log().Info("tls: certificate reloaded", "cert", r.certPath, "serial", fmt.Sprintf("%x", pair.Cert.SerialNumber), "not_after", pair.Cert.NotAfter)
	return pair
}

// Serve and Client are the tls.Config callbacks (GetCertificate,
// GetClientCertificate).
func (r *Reloader) Serve(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := r.current().TLS()
	return &c, nil
}

func (r *Reloader) Client(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c := r.current().TLS()
	return &c, nil
}

func (p *Policy) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

// Configs returns the mutual TLS 1.3 configuration Raft listens and dials
// with (AdminServer derives the admin listener's from it) and the client
// configuration for other nodes' admin endpoints, for the certificate
// pair (read from certPath and keyPath, and read again when they change)
// and the cluster CA pool. Each checks the peer certificate's scope for
// its use.
func (p *Policy) Configs(certPath, keyPath string, pair *pki.Pair, pool *x509.CertPool) (mutual, client *tls.Config) {
	r := p.NewReloader(certPath, keyPath, pair)
	mutual = pki.MutualTLS(pair, pool)
	mutual.Certificates = nil
	mutual.GetCertificate, mutual.GetClientCertificate = r.Serve, r.Client
	mutual.VerifyConnection = p.VerifyPeer(UseRaft)
	client = pki.ClientTLS(pair, pool)
	client.Certificates = nil
	client.GetClientCertificate = r.Client
	client.VerifyConnection = p.VerifyPeer(UseAdminServer)
	return pki.RequireClusterPeer(mutual), pki.RequireClusterPeer(client)
}

// AdminServer is the admin listener's TLS configuration: the Raft one
// (mutual TLS 1.3 against the cluster CA) speaking HTTP/2 or HTTP/1.1,
// checking client certificates for the admin endpoint's use.
func (p *Policy) AdminServer(raft *tls.Config) *tls.Config {
	c := raft.Clone()
	c.NextProtos = []string{"h2", "http/1.1"}
	c.VerifyConnection = p.VerifyPeer(UseAdmin)
	return pki.RequireClusterPeer(c)
}
