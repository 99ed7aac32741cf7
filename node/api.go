package node

// api.go: the REST API and web pages ([api] listen), package api served
// by one http.Server with this Node as its Backend.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/internal/wallclock"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// ErrAPIPortInUse is returned by Start when [api] listen is taken by
// another socket. The error names the address.
var ErrAPIPortInUse = errors.New("api address already in use")

// apiServer is the running REST API of a node.
type apiServer struct {
	api  *api.Server
	srv  *http.Server
	ln   net.Listener
	tr   *http.Transport // to registry URLs and audit peers
	done chan struct{}   // closed when Serve returns
	log  *slog.Logger
}

// listenAPI binds [api] listen (nil when the API is off). Start calls it
// before anything else is opened, so a taken port fails the start before
// Raft state exists and a retry on another port is safe.
func (n *Node) listenAPI() (net.Listener, error) {
	c := n.cfg.API
	if c.Listen == "" {
		return nil, nil
	}
	var tc *tls.Config
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(n.path(c.TLSCert), n.path(c.TLSKey))
		if err != nil {
			return nil, fmt.Errorf("api certificate: %w", err)
		}
		// Nodes proxying to this registry, following its log or reading
		// its audit log present their cluster certificates.
		pool, err := n.clusterCAs()
		if err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
		tc = api.ServerTLS([]tls.Certificate{cert}, pool)
	}
	ln, err := net.Listen("tcp", c.Listen)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("api %s: %w", c.Listen, ErrAPIPortInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("api listen %s: %w", c.Listen, err)
	}
	// Capped before TLS: a refused connection costs no handshake.
	lim := api.ConnLimits{MaxConns: c.MaxConns, MaxPerIP: c.MaxConnsPerIP, Logger: n.log.With("component", "api")}
	if c.TrustProxy && lim.MaxPerIP == 0 {
		lim.MaxPerIP = max(lim.MaxConns, api.DefaultMaxConns(api.FileLimit()))
	}
	cl := api.LimitListener(ln, lim)
	maxConns, perIP := cl.Limits()
	nofile := api.FileLimit()
	n.log.Info("api connection limits", "max_conns", maxConns, "max_conns_per_ip", perIP, "rlimit_nofile", nofile)
	if nofile > 0 && uint64(maxConns) > nofile/2 {
		n.log.Warn("api.max_conns is over half the file descriptors this process may open: a flood of the API could leave DNS and Raft none; lower it or raise the limit (ulimit -n, LimitNOFILE)", "max_conns", maxConns, "rlimit_nofile", nofile)
	}
	ln = cl
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	return ln, nil
}

// startAPI serves the API on ln until shutdown; nil, nil when ln is nil
// (the API is off). On error ln is closed.
func (n *Node) startAPI(ln net.Listener) (*apiServer, error) {
	if ln == nil {
		return nil, nil
	}
	log := n.log.With("component", "api")
	tr, err := n.registryTransport(n.cfg.API.TLSCert != "")
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("api: %w", err)
	}
	opt := api.Options{
		Backend:                 apiBackend{n},
		Logger:                  log,
		DataDir:                 n.cfg.DataDir,
		RegistryURLs:            n.cfg.Registry.URLs,
		RegistryTransport:       tr,
		TrustProxy:              n.cfg.API.TrustProxy,
		IPLimits:                raftfsm.Limits{PerMinute: n.cfg.API.IPPerMinute, Burst: n.cfg.API.IPBurst},
		MaxOpenApplications:     n.cfg.API.MaxOpenApplications,
		MaxLeases:               n.cfg.API.MaxLeases,
		ApplicationsPerIPPerDay: n.cfg.API.ApplicationsPerIPPerDay,
		NodeID:                  n.cfg.Group.ID,
		AuditPeers:              n.auditPeers,
		PeerClient:              &http.Client{Transport: tr},
	}
	if f := n.cfg.API.NodeAgreement; f != "" {
		text, err := os.ReadFile(f)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("api.node_agreement: %w", err)
		}
		opt.NodeAgreementSHA256, opt.NodeAgreementVersion = pki.AgreementHash(text), n.cfg.API.NodeAgreementVersion
		if opt.ClusterCAs, err = n.clusterCAs(); err != nil { // approvals' certificates are checked against it
			ln.Close()
			return nil, fmt.Errorf("api: %w", err)
		}
	}
	if n.cfg.API.TLSCert != "" {
		if opt.ClusterCAs, err = n.clusterCAs(); err != nil {
			ln.Close()
			return nil, fmt.Errorf("api: %w", err)
		}
	} else if n.cfg.Registry.Member && !n.cfg.API.TrustProxy {
		// Nodes have no certificate to show over plain HTTP.
		opt.TrustNodeIPs = true
		log.Warn("insecure: the registry API serves plain HTTP, so X-Forwarded-For is trusted from every address of the node directory (per-IP limits); set [api] tls_cert and tls_key so nodes authenticate with their cluster certificates, or trust_proxy behind a TLS proxy")
	}
	s, err := api.New(opt)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("api: %w", err)
	}
	srv := api.HTTPServer(s.Handler(), log) // timeouts and header limit
	a := &apiServer{api: s, srv: srv, ln: ln, tr: tr, done: make(chan struct{}), log: log}
	go func() {
		defer close(a.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("api server stopped", "err", err)
		}
	}()
	return a, nil
}

// clusterTLSFiles names the cluster CA certificate, this node's
// certificate and its key: [tls], or the ones the node made itself in
// TLSDir (loadTLS).
func (n *Node) clusterTLSFiles() (ca, cert, key string) {
	c := n.cfg.TLS
	if c.Auto() {
		dir := TLSDir(n.cfg.DataDir)
		return filepath.Join(dir, pki.CACertFile), filepath.Join(dir, pki.CertFile), filepath.Join(dir, pki.KeyFile)
	}
	return c.CA, c.Cert, c.Key
}

// clusterCAs is the cluster CA as a pool.
func (n *Node) clusterCAs() (*x509.CertPool, error) {
	ca, _, _ := n.clusterTLSFiles()
	pool, err := pki.LoadCAPool(ca)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	return pool, nil
}

// registryTransport is the HTTP transport to registry URLs (the API's
// reverse proxy, log following) and audit peers. When tlsToo is set or a
// registry URL is https, it presents this node's cluster certificate (the
// registry then trusts the X-Forwarded-For of the requests it proxies and
// does not limit its own) and trusts the cluster CA besides the system's
// roots (a registry's API certificate may come from either). Otherwise
// it is a plain clone of http.DefaultTransport.
func (n *Node) registryTransport(tlsToo bool) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Below the registry's per-IP connection cap (api.DefaultMaxConnsPerIP).
	tr.MaxConnsPerHost = 16
	for _, u := range n.cfg.Registry.URLs {
		tlsToo = tlsToo || strings.HasPrefix(strings.ToLower(u), "https:")
	}
	if !tlsToo {
		return tr, nil
	}
	caFile, certFile, keyFile := n.clusterTLSFiles()
	pair, err := pki.LoadPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("registry client certificate: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	if !roots.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("cluster CA %s: no PEM certificate", caFile)
	}
	tr.TLSClientConfig = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair.TLS()},
		RootCAs:      roots,
		Time:         wallclock.Now,
	}
	return tr, nil
}

// auditPeers lists, for a cluster-wide audit read, the other nodes of the
// registry group as the directory records them: a node outside the
// registry group serves no keyed request itself (it proxies every one to
// a registry URL, which records it), so its audit log holds none and it
// could not check the caller's key to answer a scope=node read anyway.
// The URL takes this node's own scheme (https when [api] tls_cert is
// set); a wildcard API host is replaced by the node's DNS host, and a
// node without an API address has URL "" (the read is then partial).
func (n *Node) auditPeers(context.Context) ([]api.Peer, error) {
	reg, err := n.Registry()
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if n.cfg.API.TLSCert != "" {
		scheme = "https"
	}
	var out []api.Peer
	for _, r := range reg.Nodes() {
		if r.Group != n.cfg.Group.Name || r.ID == n.cfg.Group.ID {
			continue
		}
		out = append(out, api.Peer{ID: r.ID, URL: peerAPIURL(scheme, r.API, r.DNS)})
	}
	return out, nil
}

// peerAPIURL is scheme://host:port of a directory record's API address
// apiAddr, its host replaced by dnsAddr's when it is a wildcard; "" when
// no concrete host is known.
func peerAPIURL(scheme, apiAddr, dnsAddr string) string {
	host, port, err := net.SplitHostPort(apiAddr)
	if err != nil || port == "" || port == "0" {
		return ""
	}
	if ip, perr := netip.ParseAddr(host); host == "" || perr == nil && ip.IsUnspecified() {
		h, _, err := net.SplitHostPort(dnsAddr)
		ip, perr := netip.ParseAddr(h)
		if err != nil || h == "" || perr == nil && ip.IsUnspecified() {
			return ""
		}
		host = h
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Addr is the bound address.
func (a *apiServer) Addr() string { return a.ln.Addr().String() }

// shutdown drains the API under ctx, then closes it (audit log last).
// A nil *apiServer does nothing.
func (a *apiServer) shutdown(ctx context.Context) error {
	if a == nil {
		return nil
	}
	err := a.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, a.srv.Close())
	}
	<-a.done
	err = errors.Join(err, a.api.Close())
	a.tr.CloseIdleConnections()
	return err
}

// APIAddr returns the REST API's bound address, "" when [api] is off or
// before Start.
func (n *Node) APIAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.apiAddrLocked()
}

func (n *Node) apiAddrLocked() string {
	if n.api == nil {
		return ""
	}
	return n.api.Addr()
}
