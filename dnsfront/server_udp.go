package dnsfront

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Errors returned by the servers.
var (
	// ErrServerClosed is returned by Serve when the server was closed
	// before or while it served.
	ErrServerClosed = errors.New("dnsfront: server closed")
	// ErrNoCertificate is returned by ListenTLS, ListenHTTPS and
	// ListenQUIC when the TLS configuration holds no certificate.
	ErrNoCertificate = errors.New("dnsfront: TLS configuration without a certificate")
	// ErrCookieSecret is returned by ListenUDP when UDPOptions.CookieSecret
	// is set but not 16 octets long.
	ErrCookieSecret = errors.New("dnsfront: cookie secret must be 16 octets")
)

// Responder turns one DNS message in wire form into the reply. *Handler
// implements it; the servers call nothing else. Handle must be safe for
// concurrent use: the servers call it from many goroutines at once.
type Responder interface {
	// Handle appends the reply to buf[:0] and returns it; ok=false means
	// send nothing.
	Handle(raw, buf []byte, tr Transport) (out []byte, ok bool)
}

// AddrResponder is the optional interface of a Responder that takes the
// client's address, for the query log (Options.Tap): the servers call
// HandleFrom instead of Handle when the Responder has it. *Handler
// implements it.
type AddrResponder interface {
	HandleFrom(raw, buf []byte, tr Transport, from netip.AddrPort) (out []byte, ok bool)
}

// CachedResponder is the optional interface of a Responder that answers
// some queries without waiting (from a cache): the TCP server calls
// HandleCached from the connection's reader and gathers those replies
// into one write, and calls HandleFrom (in a goroutine) when ok=false.
// *Handler implements it.
type CachedResponder interface {
	HandleCached(raw, buf []byte, tr Transport, from netip.AddrPort) (out []byte, ok bool)
}

// handleFrom answers raw with h, telling it the client when it asks.
func handleFrom(h Responder, raw, buf []byte, tr Transport, from netip.AddrPort) ([]byte, bool) {
	if a, ok := h.(AddrResponder); ok {
		return a.HandleFrom(raw, buf, tr, from)
	}
	return h.Handle(raw, buf, tr)
}

// addrPortOf is the address and port of a TCP or UDP address; the zero
// AddrPort for others.
func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	case nil:
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// DefaultUDPBatch is UDPOptions.Batch's default: datagrams per
// recvmmsg/sendmmsg call.
const DefaultUDPBatch = 16

// maxMsg is the largest DNS message (RFC 1035 §4.2.2: two-byte length).
const maxMsg = 65535

// UDPOptions tunes a UDPServer. The zero value is usable.
type UDPOptions struct {
	// Sockets is the number of sockets bound to the address with
	// SO_REUSEPORT, so the kernel spreads datagrams over them. Default:
	// the number of CPUs the process may run on when ListenUDP is called
	// (sched_getaffinity(2) on Linux, else runtime.NumCPU()). 1 binds one
	// plain socket.
	Sockets int
	// Workers is the number of goroutines reading each socket, each with
	// its own buffers. Default 2.
	Workers int
	// Batch is the number of datagrams a worker takes from its socket in
	// one system call (recvmmsg(2)), answering them and sending the
	// replies in one sendmmsg(2); a worker holds Batch 64 KiB buffers.
	// Default 16 (DefaultUDPBatch). 1 reads and writes one datagram per
	// system call; so do platforms other than Linux, whatever Batch says.
	Batch int
	// RRL rate-limits responses per source prefix and answer class
	// (rrl.go). The zero value turns it off; the node turns it on with
	// DefaultRRLRate.
	RRL RRLOptions
	// CookieSecret is the 16-octet secret of the server cookies (RFC
	// 9018) filled into replies of a Handler with Options.Cookies and
	// checked in queries: a valid one exempts the client from RRL. Nodes
	// behind one anycast address share it. Default (nil): random per
	// server.
	CookieSecret []byte
	// Logger receives errors that do not stop the server. Default: discard.
	Logger *slog.Logger
}

// UDPServer answers DNS over UDP (RFC 1035 §4.2.1). Each worker goroutine
// owns its buffers, reads the datagrams waiting (up to UDPOptions.Batch,
// in one recvmmsg on Linux), calls Handle for each, and writes the
// replies to their senders (one sendmmsg); nothing is allocated per
// query.
type UDPServer struct {
	h       Responder
	conns   []*net.UDPConn
	workers int
	batch   int
	log     *slog.Logger
	// maxBatch is the most datagrams one read has taken (tests read it).
	maxBatch atomic.Int32
	rrl      *rrl // nil: no rate limiting
	jar      *cookieJar

	mu       sync.Mutex
	serving  bool
	closed   bool
	done     chan struct{}
	wg       sync.WaitGroup
	closeErr error
}

// ListenUDP binds addr ("127.0.0.1:0" works; Addr reports the port) and
// returns a server that answers with h once Serve is called.
func ListenUDP(addr string, h Responder, opt UDPOptions) (*UDPServer, error) {
	if opt.Sockets <= 0 {
		opt.Sockets = usableCPUs()
	}
	if opt.Batch <= 0 {
		opt.Batch = DefaultUDPBatch
	}
	if opt.Workers <= 0 {
		opt.Workers = 2
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if len(opt.CookieSecret) != 0 && len(opt.CookieSecret) != 16 {
		return nil, fmt.Errorf("dns udp listen %s: %w", addr, ErrCookieSecret)
	}
	s := &UDPServer{
		h: h, workers: opt.Workers, batch: opt.Batch, log: opt.Logger, done: make(chan struct{}),
		rrl: newRRL(opt.RRL), jar: newCookieJar(opt.CookieSecret),
	}
	lc := net.ListenConfig{}
	if opt.Sockets > 1 {
		lc.Control = reusePort
	}
	for i := 0; i < opt.Sockets; i++ {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			for _, c := range s.conns {
				c.Close()
			}
			return nil, fmt.Errorf("dns udp listen %s: %w", addr, err)
		}
		c := pc.(*net.UDPConn)
		s.conns = append(s.conns, c)
		// Further sockets share the port the first one got.
		addr = c.LocalAddr().String()
	}
	return s, nil
}

// reusePort sets SO_REUSEPORT so several sockets share one address.
func reusePort(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// Addr returns the bound address.
func (s *UDPServer) Addr() netip.AddrPort {
	return s.conns[0].LocalAddr().(*net.UDPAddr).AddrPort()
}

// Serve answers queries until ctx is done or Close is called, then closes
// the sockets, waits for its workers and returns ErrServerClosed (or
// ctx's error). It may be called once.
func (s *UDPServer) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.closed || s.serving {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.serving = true
	for _, c := range s.conns {
		for i := 0; i < s.workers; i++ {
			s.wg.Add(1)
			if s.batch > 1 && batchSupported {
				go s.batchWorker(c)
			} else {
				go s.worker(c)
			}
		}
	}
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		s.Close()
		s.wg.Wait()
		return ctx.Err()
	case <-s.done:
		s.wg.Wait()
		return ErrServerClosed
	}
}

// Close closes the sockets and waits for the workers to return. It is
// idempotent and safe to call from any goroutine; every call returns the
// same joined socket-close errors.
func (s *UDPServer) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
		var errs []error
		for _, c := range s.conns {
			if err := c.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		s.closeErr = errors.Join(errs...)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return s.closeErr
}

func (s *UDPServer) worker(c *net.UDPConn) {
	defer s.wg.Done()
	in := make([]byte, maxMsg)
	out := make([]byte, 0, maxMsg)
	var slip [512]byte
	sock := &udpSocket{s: s, c: c}
	for {
		n, from, err := c.ReadFromUDPAddrPort(in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP-induced and transient errors: keep serving.
			s.log.Debug("udp read", "err", err)
			continue
		}
		// A client returning a valid server cookie has shown its address
		// is its own: it is not rate limited, and may get proofs in band
		// over UDP.
		qck, qproofs := scanOptions(in[:n], cookieOption, ProofsOptionCode)
		proven := s.jar.valid(qck, from.Addr())
		reply, ok := s.answer(in[:n], out, sock, proven, from)
		if !ok {
			continue
		}
		if err := s.send(c, reply, slip[:0], from, udpPeer{proven: proven, cookie: qck != nil, proofs: qproofs != nil}); errors.Is(err, net.ErrClosed) {
			return
		}
		if cap(reply) > cap(out) {
			out = reply[:0]
		}
	}
}

// udpPeer is what the UDP server knows of the client a reply goes to.
type udpPeer struct {
	// proven: the query returned a valid server cookie (RFC 7873), so
	// the source address is the client's own.
	proven bool
	// cookie: the query had a COOKIE option (the reply's gets filled).
	cookie bool
	// proofs: the query asked for the proofs option (65002).
	proofs bool
}

// send fills the server cookie of reply, when the query had a cookie and
// the reply carries a COOKIE option, and writes it to the client, unless
// rate limiting (when on and the client's address is not proven) drops
// it or sends its slipped form, built in buf. A reply carrying proofs in
// band goes over UDP only to a proven address: otherwise the question
// alone goes back, as BADCOOKIE with a fresh server cookie when the query
// had a client cookie (the client asks again with it) or truncated (TC=1)
// when not (the client asks again over TCP, DoT, DoH or DoQ), so a forged
// source cannot use the proofs (a 44-octet query draws several hundred
// octets of proof) as a reflector.
func (s *UDPServer) send(c *net.UDPConn, reply, buf []byte, to netip.AddrPort, p udpPeer) error {
	if reply = s.prepare(reply, buf, to, p); reply == nil {
		return nil
	}
	_, err := c.WriteToUDPAddrPort(reply, to)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Debug("udp write", "to", to, "err", err)
	}
	return err
}

// prepare is send without the write: it returns the datagram to send to
// the client (reply, its slipped form built in buf, or nil to send
// nothing). The batched workers (udp_batch_linux.go) write what it
// returns with sendmmsg.
func (s *UDPServer) prepare(reply, buf []byte, to netip.AddrPort, p udpPeer) []byte {
	var ck []byte
	if p.cookie {
		if ck = findCookie(reply); ck != nil {
			s.jar.fill(ck, to.Addr())
		}
	}
	if p.proofs && !p.proven && carriesProofs(reply) {
		// With a client cookie: BADCOOKIE and a fresh server cookie
		// (RFC 7873 §5.3: the client asks again with it, over UDP, and
		// gets the proofs); without: TC, and the client asks over TCP.
		if reply = slipReply(reply, buf, ck, s.jar, to.Addr()); reply == nil {
			return nil
		}
	}
	if s.rrl != nil && !p.proven && len(reply) >= headerLen {
		switch s.rrl.check(to.Addr(), reply) {
		case rrlDrop:
			return nil
		case rrlSlip:
			return slipReply(reply, buf, ck, s.jar, to.Addr())
		}
	}
	return reply
}

// answer calls the handler, turning a panic into a dropped query so one
// bad packet cannot stop the server.
// A Responder that is also a Deferrer (othergroup.go) answers queries for
// other groups' zones later, writing the reply itself through sock.
func (s *UDPServer) answer(raw, buf []byte, sock *udpSocket, proven bool, from netip.AddrPort) (out []byte, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("handler panic", "transport", "udp", "panic", r)
			out, ok = nil, false
		}
	}()
	if d, isD := s.h.(Deferrer); isD {
		var w ReplyWriter = sock
		if proven {
			w = (*udpProven)(sock)
		}
		out, ok, _ = d.HandleOrDefer(raw, buf[:0], UDP, w, from)
		return out, ok
	}
	return handleFrom(s.h, raw, buf[:0], UDP, from)
}

// udpSocket writes deferred replies to a UDP socket, rate limited like
// the others; udpProven is the writer of a client whose address a valid
// server cookie proved. A deferred reply is checked for proofs whatever
// the query asked (deferred replies are few: answers from other groups).
type udpSocket struct {
	s *UDPServer
	c *net.UDPConn
}

type udpProven udpSocket

func (u *udpSocket) WriteReply(out []byte, to netip.AddrPort) {
	var buf [512]byte
	_ = u.s.send(u.c, out, buf[:0], to, udpPeer{cookie: true, proofs: true}) // UDP: a lost reply is retried by the client
}

func (u *udpProven) WriteReply(out []byte, to netip.AddrPort) {
	var buf [512]byte
	_ = u.s.send(u.c, out, buf[:0], to, udpPeer{proven: true, cookie: true, proofs: true})
}
