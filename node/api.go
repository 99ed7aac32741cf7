package node

// api.go: the REST API and web pages ([api] listen), package api served
// by one http.Server with this Node as its Backend.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/ddnrs/ddnrs/api"
)

// ErrAPIPortInUse is returned by Start when [api] listen is taken by
// another socket. The error names the address.
var ErrAPIPortInUse = errors.New("api address already in use")

// apiServer is the running REST API of a node.
type apiServer struct {
	api  *api.Server
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returns
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
		tc = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	}
	ln, err := net.Listen("tcp", c.Listen)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("api %s: %w", c.Listen, ErrAPIPortInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("api listen %s: %w", c.Listen, err)
	}
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
	s, err := api.New(api.Options{
		Backend:      n,
		Logger:       log,
		DataDir:      n.cfg.DataDir,
		RegistryURLs: n.cfg.Registry.URLs,
		TrustProxy:   n.cfg.API.TrustProxy,
		NodeID:       n.cfg.Group.ID,
		AuditPeers:   n.auditPeers,
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("api: %w", err)
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	a := &apiServer{api: s, srv: srv, ln: ln, done: make(chan struct{}), log: log}
	go func() {
		defer close(a.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("api server stopped", "err", err)
		}
	}()
	return a, nil
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
	return errors.Join(err, a.api.Close())
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
