package raftfsm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/hashicorp/raft"
)

// Errors about the TLS configuration given to the Group.
var (
	// ErrTLSConfig is returned by OpenGroup when GroupOptions.TLS is nil or
	// does not make mutual TLS: it must hold a certificate, require and
	// verify the peer's certificate (ClientAuth
	// tls.RequireAndVerifyClientCert with ClientCAs), and verify servers
	// against RootCAs. The error says which part is missing.
	ErrTLSConfig = errors.New("raft needs a mutual TLS configuration")
)

// handshakeTimeout bounds the TLS handshake of an accepted Raft
// connection, so a peer that connects and stays silent does not hold a
// goroutine of the transport.
const handshakeTimeout = 10 * time.Second

// checkMutualTLS returns a copy of c fit for the Raft stream layer (TLS
// 1.3 only, peers' certificates cluster credentials: pki.CheckClusterCert), or an error wrapping ErrTLSConfig naming what is missing.
func checkMutualTLS(c *tls.Config) (*tls.Config, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: GroupOptions.TLS is nil", ErrTLSConfig)
	}
	var problems []error
	// The same configuration listens and dials: it needs a certificate
	// for both roles (Certificates, or both callbacks for reloading).
	if len(c.Certificates) == 0 && (c.GetCertificate == nil || c.GetClientCertificate == nil) {
		problems = append(problems, fmt.Errorf("%w: no certificate (Certificates, or GetCertificate and GetClientCertificate)", ErrTLSConfig))
	}
	if c.ClientAuth != tls.RequireAndVerifyClientCert || c.ClientCAs == nil {
		problems = append(problems, fmt.Errorf("%w: peers' certificates are not required and verified (ClientAuth RequireAndVerifyClientCert with ClientCAs)", ErrTLSConfig))
	}
	if c.RootCAs == nil || c.InsecureSkipVerify {
		problems = append(problems, fmt.Errorf("%w: servers are not verified against the cluster CA (RootCAs)", ErrTLSConfig))
	}
	if c.MaxVersion != 0 && c.MaxVersion < tls.VersionTLS13 {
		problems = append(problems, fmt.Errorf("%w: MaxVersion below TLS 1.3", ErrTLSConfig))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	// A certificate of the cluster CA that is meant only for serving (the
	// DNS-facing one) is no Raft peer, whichever side it is on.
	c = pki.RequireClusterPeer(c)
	c.MinVersion = tls.VersionTLS13
	return c, nil
}

// tlsStreamLayer is a raft.StreamLayer over mutual TLS 1.3: it accepts
// from a TLS listener and dials with tls.DialWithDialer, both with the
// same configuration, so every Raft connection, in either direction, is
// authenticated by a certificate of the cluster CA. A peer without one
// fails the handshake before Raft reads a byte from it.
type tlsStreamLayer struct {
	ln               net.Listener // a tls.NewListener
	advertise        net.Addr
	cfg              *tls.Config
	log              *slog.Logger
	handshakeTimeout time.Duration // handshakeTimeout; tests shorten it

	mu    sync.Mutex
	conns map[*tls.Conn]struct{} // open connections, for dropConns
}

// track records c until it is closed.
func (s *tlsStreamLayer) track(c *tls.Conn) *trackedConn {
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[*tls.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return &trackedConn{Conn: c, s: s}
}

// dropConns closes the open connections whose peer certificate (after a
// completed handshake) match reports.
func (s *tlsStreamLayer) dropConns(match func(*x509.Certificate) bool) int {
	s.mu.Lock()
	var drop []*tls.Conn
	for c := range s.conns {
		cs := c.ConnectionState()
		if cs.HandshakeComplete && len(cs.PeerCertificates) > 0 && match(cs.PeerCertificates[0]) {
			drop = append(drop, c)
		}
	}
	s.mu.Unlock()
	for _, c := range drop {
		c.Close()
	}
	return len(drop)
}

// trackedConn forgets its connection at Close.
type trackedConn struct {
	*tls.Conn
	s *tlsStreamLayer
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c.Conn)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

var _ raft.StreamLayer = (*tlsStreamLayer)(nil)

// newTLSStreamLayer listens on bind. advertise is the address peers reach
// this node at; "" means the address bound, which must then not be an
// unspecified address (0.0.0.0 or ::).
func newTLSStreamLayer(bind, advertise string, cfg *tls.Config, log *slog.Logger) (*tlsStreamLayer, error) {
	var adv net.Addr
	if advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			return nil, fmt.Errorf("raft advertise address %q: %w", advertise, err)
		}
		adv = a
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raft listen: %w", err)
	}
	if adv == nil {
		a := ln.Addr().(*net.TCPAddr)
		if a.IP.IsUnspecified() {
			ln.Close()
			return nil, fmt.Errorf("raft bound to %s: set an advertise address peers can reach", a)
		}
		adv = a
	}
	return &tlsStreamLayer{ln: tls.NewListener(ln, cfg), advertise: adv, cfg: cfg, log: log, handshakeTimeout: handshakeTimeout}, nil
}

// Accept returns the next connection. Its handshake runs on its first
// read or write, in Raft's per-connection goroutine, bounded by
// handshakeTimeout; a failed handshake is logged at warn level with the
// peer's address.
func (s *tlsStreamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &serverConn{trackedConn: s.track(c.(*tls.Conn)), log: s.log, timeout: s.handshakeTimeout}, nil
}

// Close stops listening.
func (s *tlsStreamLayer) Close() error { return s.ln.Close() }

// Addr returns the advertised address.
func (s *tlsStreamLayer) Addr() net.Addr { return s.advertise }

// Dial connects to a peer and completes the handshake within timeout.
// The peer's certificate must name the host of address.
func (s *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	c, err := tls.DialWithDialer(d, "tcp", string(address), s.cfg)
	if err != nil {
		return nil, fmt.Errorf("raft dial %s: %w", address, err)
	}
	return s.track(c), nil
}

// serverConn completes the TLS handshake of an accepted connection before
// the first read or write.
type serverConn struct {
	*trackedConn
	log     *slog.Logger
	timeout time.Duration
	once    sync.Once
	err     error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		if c.err = c.Conn.HandshakeContext(ctx); c.err != nil {
			c.log.Warn("raft connection refused: TLS handshake failed", "peer", c.RemoteAddr().String(), "err", c.err)
		}
	})
	return c.err
}

func (c *serverConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *serverConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
