package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"runtime"
	"strings"
	"weak"

	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// authMode says how a route authenticates and which bucket it draws from.
type authMode int

const (
	authPublic   authMode = iota // no key; per-IP bucket
	authKey                      // API key required; per-key bucket
	authOptional                 // an API key when the Bearer value is one, else public (status tokens)
)

// route is one /v1 endpoint. The route table is the one source of the
// mux's /v1 patterns; a test checks it against openapi.json both ways.
type route struct {
	method, path string
	action       string // audit action name
	auth         authMode
	local        bool  // served without registry state (never proxied)
	maxBody      int64 // request body limit; default maxJSONBody
	// selfLimited: the handler draws from the key's rate limit itself
	// (s.charge), wrap does not.
	selfLimited bool
	h           func(w http.ResponseWriter, r *http.Request, c *call) error
}

// call is what the wrapper hands a handler: the authenticated key, if any.
type call struct {
	key   raftfsm.APIKey
	keyed bool
}

func (s *Server) apiRoutes() []route {
	return []route{
		{method: "GET", path: "/v1/openapi.json", action: "openapi", local: true, h: s.handleOpenAPI},
		{method: "GET", path: "/v1/health", action: "health", local: true, h: s.handleHealth},

		{method: "POST", path: "/v1/applications", action: "applications.submit", h: s.handleSubmitApplication},
		{method: "GET", path: "/v1/applications", action: "applications.list", auth: authKey, h: s.handleListApplications},
		{method: "GET", path: "/v1/applications/{id}", action: "applications.get", auth: authOptional, h: s.handleGetApplication},
		{method: "POST", path: "/v1/applications/{id}/review", action: "applications.review", auth: authKey, h: s.handleReview},
		{method: "POST", path: "/v1/applications/{id}/collect", action: "applications.collect", h: s.handleCollectKey},

		{method: "POST", path: "/v1/node-requests", action: "node-requests.submit", h: s.handleSubmitNodeRequest},
		{method: "GET", path: "/v1/node-requests", action: "node-requests.list", auth: authKey, h: s.handleListNodeRequests},
		{method: "GET", path: "/v1/node-requests/{id}", action: "node-requests.get", auth: authOptional, h: s.handleGetNodeRequest},
		{method: "POST", path: "/v1/node-requests/{id}/review", action: "node-requests.review", auth: authKey, h: s.handleReviewNodeRequest},
		{method: "POST", path: "/v1/node-requests/{id}/collect", action: "node-requests.collect", h: s.handleCollectNodeCert},

		{method: "GET", path: "/v1/keys", action: "keys.list", auth: authKey, h: s.handleListKeys},
		{method: "POST", path: "/v1/keys", action: "keys.issue", auth: authKey, h: s.handleIssueKey},
		{method: "GET", path: "/v1/keys/{id}", action: "keys.get", auth: authKey, h: s.handleGetKey},
		{method: "DELETE", path: "/v1/keys/{id}", action: "keys.revoke", auth: authKey, h: s.handleRevokeKey},

		{method: "GET", path: "/v1/zones", action: "zones.list", auth: authKey, h: s.handleListZones},
		{method: "POST", path: "/v1/zones", action: "zones.create", auth: authKey, maxBody: maxZoneBody, h: s.handleCreateZone},
		{method: "GET", path: "/v1/zones/{zone}", action: "zones.get", auth: authKey, h: s.handleGetZone},
		{method: "DELETE", path: "/v1/zones/{zone}", action: "zones.delete", auth: authKey, h: s.handleDeleteZone},
		{method: "POST", path: "/v1/zones/{zone}/changes", action: "zones.changes", auth: authKey, maxBody: maxZoneBody, h: s.handleChanges},
		{method: "POST", path: "/v1/zones/{zone}/import", action: "zones.import", auth: authKey, maxBody: maxZoneBody, h: s.handleImport},
		{method: "POST", path: "/v1/zones/{zone}/upload", action: "zones.upload", auth: authKey, maxBody: maxUploadBody, selfLimited: true, h: s.handleUpload},
		{method: "GET", path: "/v1/zones/{zone}/export", action: "zones.export", auth: authKey, h: s.handleExport},
		{method: "GET", path: "/v1/zones/{zone}/records", action: "zones.records", auth: authKey, h: s.handleRecords},
		{method: "POST", path: "/v1/zones/{zone}/owner-key", action: "zones.owner-key", auth: authKey, h: s.handleOwnerKey},
		{method: "POST", path: "/v1/zones/{zone}/lease", action: "zones.lease", auth: authKey, h: s.handleLease},
		{method: "POST", path: "/v1/zones/{zone}/suspend", action: "zones.suspend", auth: authKey, h: s.handleSuspend(true)},
		{method: "POST", path: "/v1/zones/{zone}/unsuspend", action: "zones.unsuspend", auth: authKey, h: s.handleSuspend(false)},

		{method: "GET", path: "/v1/audit", action: "audit", auth: authKey, h: s.handleAudit},

		{method: "GET", path: "/v1/log/checkpoint", action: "log.checkpoint", h: s.handleCheckpoint},
		{method: "GET", path: "/v1/log/entries", action: "log.entries", h: s.handleEntries},
		{method: "GET", path: "/v1/log/proof/inclusion", action: "log.inclusion", h: s.handleInclusion},
		{method: "GET", path: "/v1/log/proof/consistency", action: "log.consistency", h: s.handleConsistency},
	}
}

// reqState is per-request bookkeeping for the audit record.
type reqState struct {
	keyID  string
	zone   string
	target string // AuditRecord.Target
	result string // error code; "" = ok
}

type stateKey struct{}

func stateOf(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// noteZone records the zone a request is about, for the audit record.
func noteZone(r *http.Request, origin string) {
	if st := stateOf(r.Context()); st != nil {
		st.zone = origin
	}
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// proxiedHeader marks a request one node proxied to a registry URL, so a
// misconfigured registry URL pointing at another non-registry node cannot
// make a loop.
const proxiedHeader = "Ddnrs-Proxied"

// wrap adds to a route's handler, in order: a deadline, the registry check
// (proxying to a registry URL when this node is not in the registry
// group), authentication, the rate limit, the Content-Type check and the
// body size limit (all before a byte of the body is read), JSON errors,
// and the audit record of keyed requests.
func (s *Server) wrap(rt route) http.Handler {
	maxBody := rt.maxBody
	if maxBody == 0 {
		maxBody = maxJSONBody
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.opt.RequestTimeout)
		defer cancel()
		st := &reqState{}
		r = r.WithContext(context.WithValue(ctx, stateKey{}, st))
		sw := &statusWriter{ResponseWriter: w}
		if !rt.local {
			if _, err := s.b.Registry(); errors.Is(err, ErrNotRegistry) {
				if len(s.proxies) > 0 && r.Header.Get(proxiedHeader) == "" {
					// The registry sees every proxied request coming
					// from this node, so public ones are limited per
					// client here; keyed ones by their key there.
					if rt.auth == authPublic {
						if d, _ := s.takeIP(r); !d.ok {
							d.setHeaders(sw.Header())
							s.writeError(sw, r, d.err())
							return
						}
					}
					s.proxy(sw, r)
					return
				}
				s.writeError(sw, r, err)
				return
			}
		}
		defer func() {
			if st.keyID == "" {
				return
			}
			res := st.result
			if res == "" {
				res = "ok"
			}
			rec := AuditRecord{Time: s.b.Now().UTC(), KeyID: st.keyID, Action: rt.action, Zone: st.zone, Target: st.target, Result: res, Status: sw.status}
			if err := s.audit.add(rec); err != nil {
				s.log.Error("audit record lost", "err", err, "key", st.keyID, "action", rt.action)
			}
		}()
		if z := r.PathValue("zone"); z != "" {
			if origin, err := domainName("zone", z); err == nil {
				st.zone = origin // so failed authentications are recorded with it
			}
		}
		c := &call{}
		// The JSON API takes keys from the Authorization header only:
		// the web pages' cookie must not authorize cross-site API calls.
		r.Header.Del("Cookie")
		mode := rt.auth
		if mode == authOptional {
			mode = authPublic
			if strings.HasPrefix(bearer(r), keyPrefix) {
				mode = authKey
			}
		}
		if mode == authKey {
			k, err := s.authenticate(r)
			if err != nil {
				// Failed authentications draw from the client's IP
				// bucket, so guessing keys is slow.
				if d, _ := s.takeIP(r); !d.ok {
					d.setHeaders(sw.Header())
					err = d.err()
				}
				s.writeError(sw, r, err)
				return
			}
			c.key, c.keyed = k, true
			if !rt.selfLimited {
				if err := s.charge(sw, c); err != nil {
					s.writeError(sw, r, err)
					return
				}
			}
		} else {
			d, limited := s.takeIP(r)
			if limited {
				d.setHeaders(sw.Header())
			}
			if !d.ok {
				s.writeError(sw, r, d.err())
				return
			}
		}
		if err := checkBodyType(r); err != nil {
			s.writeError(sw, r, err)
			return
		}
		if r.ContentLength > maxBody {
			// Refused before reading: a client that sent Expect:
			// 100-continue gets the 413 without sending the body, instead
			// of a connection reset racing the reply after 1 MiB.
			s.writeError(sw, r, fmt.Errorf("%w: the body is %d bytes, the limit %d", ErrTooLarge, r.ContentLength, maxBody))
			return
		}
		r.Body = http.MaxBytesReader(sw, r.Body, maxBody)
		if err := rt.h(sw, r, c); err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
				err = errors.Join(ErrTimeout, err)
			}
			s.writeError(sw, r, err)
		}
	})
}

// checkBodyType refuses, before the body is read, a request that has a
// body but no Content-Type (ErrMediaType, 415): each endpoint says which
// types it reads, and a body of no declared type is not guessed at.
func checkBodyType(r *http.Request) error {
	hasBody := r.ContentLength > 0 || r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody
	if hasBody && r.Header.Get("Content-Type") == "" {
		return fmt.Errorf("%w: a %s body without Content-Type; send application/json", ErrMediaType, r.Method)
	}
	return nil
}

// clientIP is the address the per-IP bucket is keyed by: the TCP peer;
// or the last X-Forwarded-For hop (the one the proxy in front added) when
// TrustProxy is set, or the peer is a cluster node proxying a client's
// request to the registry: one that presented a client certificate the
// cluster CA verifies (ClusterCAs), or, with TrustNodeIPs only, one whose
// address is a node of the registry's directory. It is "" for a node's
// own requests (log following, heartbeats): those are not limited.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	node := !s.opt.TrustProxy && (s.clusterPeer(r) || s.opt.TrustNodeIPs && s.isNode(host))
	if s.opt.TrustProxy || node {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			hops := strings.Split(xff[len(xff)-1], ",")
			if ip := net.ParseIP(strings.TrimSpace(hops[len(hops)-1])); ip != nil {
				return ip.String()
			}
		}
		if node {
			return ""
		}
	}
	return host
}

// clusterPeer reports whether r came over TLS from a peer that presented
// a certificate for client authentication issued by the cluster CA
// (Options.ClusterCAs). It verifies the chain itself, whatever the
// listener's ClientAuth, so a listener that merely requests certificates
// cannot make a certificate of another CA count.
//
// net/http hands every request of a connection the same
// *tls.ConnectionState, so the answer is kept per connection state (weakly:
// the entry goes when the connection's state is collected) and a
// connection's chain is verified once, not per request.
func (s *Server) clusterPeer(r *http.Request) bool {
	if s.opt.ClusterCAs == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	wp := weak.Make(r.TLS)
	s.peersMu.Lock()
	ok, seen := s.peers[wp]
	s.peersMu.Unlock()
	if seen {
		return ok
	}
	ok = s.verifyClusterCert(r.TLS.PeerCertificates)
	s.peersMu.Lock()
	if s.peers == nil {
		s.peers = map[weak.Pointer[tls.ConnectionState]]bool{}
	}
	if _, dup := s.peers[wp]; !dup {
		s.peers[wp] = ok
		runtime.AddCleanup(r.TLS, s.forgetPeer, wp)
	}
	s.peersMu.Unlock()
	return ok
}

// forgetPeer drops a collected connection state's clusterPeer answer.
func (s *Server) forgetPeer(wp weak.Pointer[tls.ConnectionState]) {
	s.peersMu.Lock()
	delete(s.peers, wp)
	s.peersMu.Unlock()
}

// verifyClusterCert verifies a peer's chain against the cluster CA for
// client authentication, and that the leaf is a cluster credential
// (pki.CheckClusterCert: a serving-only certificate of the cluster CA, such
// as the DNS-facing one, is not a node).
func (s *Server) verifyClusterCert(certs []*x509.Certificate) bool {
	if pki.CheckClusterCert(certs[0]) != nil {
		return false
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         s.opt.ClusterCAs,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err == nil
}

// ServerTLS returns the configuration to serve the API over TLS with
// certs: TLS 1.2 or later, HTTP/2, and a client certificate asked for but
// not required (browsers and API clients have none); one that is
// presented must be issued by clusterCAs (the cluster CA), and then marks
// the peer as a cluster node (Options.ClusterCAs, clientIP). A nil
// clusterCAs asks for no certificate.
func ServerTLS(certs []tls.Certificate, clusterCAs *x509.CertPool) *tls.Config {
	c := &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	if clusterCAs != nil {
		c.ClientAuth = tls.VerifyClientCertIfGiven
		c.ClientCAs = clusterCAs
	}
	return c
}

// takeIP takes a token from the client's IP bucket; ok is false when
// the client is exempt (a cluster node).
func (s *Server) takeIP(r *http.Request) (d decision, ok bool) {
	ip := s.clientIP(r)
	if ip == "" {
		return decision{ok: true}, false
	}
	// One bucket per IPv4 address or IPv6 /64: a client holds a whole /64.
	return s.ips.take(clientKey(ip), s.opt.IPLimits.PerMinute, s.opt.IPLimits.Burst, s.b.Now()), true
}

// nodeIPs is the set of the directory's node addresses, for one registry
// state.
type nodeIPs struct {
	reg *raftfsm.RegistryState
	ips map[string]bool
}

// isNode reports whether ip is an address of a node in the registry's
// directory (its DNS, admin or API address).
func (s *Server) isNode(ip string) bool {
	reg, err := s.b.Registry()
	if err != nil {
		return false
	}
	c := s.nodeIPs.Load()
	if c == nil || c.reg != reg {
		c = &nodeIPs{reg: reg, ips: map[string]bool{}}
		for _, n := range reg.Nodes() {
			for _, a := range []string{n.DNS, n.Admin, n.API} {
				if h, _, err := net.SplitHostPort(a); err == nil {
					if p := net.ParseIP(h); p != nil {
						c.ips[p.String()] = true
					}
				}
			}
		}
		s.nodeIPs.Store(c)
	}
	return c.ips[ip]
}

// proxy forwards r to a registry URL (this node is not in the registry
// group).
func (s *Server) proxy(w http.ResponseWriter, r *http.Request) {
	i := int(s.proxyNext.Load()) % len(s.proxies)
	target := s.proxies[i]
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Header.Set(proxiedHeader, "1")
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.proxyNext.CompareAndSwap(uint32(i), uint32(i+1))
			s.log.Warn("registry proxy failed", "url", target.String(), "err", err)
			s.writeError(w, r, errors.Join(ErrNoRegistry, err))
		},
		FlushInterval: -1,
		Transport:     s.opt.RegistryTransport,
	}
	rp.ServeHTTP(w, r)
}
