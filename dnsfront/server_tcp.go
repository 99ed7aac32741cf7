package dnsfront

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// TCPOptions tunes a TCPServer. The zero value is usable.
type TCPOptions struct {
	// IdleTimeout closes a connection that has sent no complete query for
	// this long (RFC 7766 §6.2.3). Default 10 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds writing one reply. Default 5 s.
	WriteTimeout time.Duration
	// MaxConns caps open connections; a connection over the cap is closed
	// at once. Default 1000.
	MaxConns int
	// MaxInflight caps the queries of one connection being answered at
	// once; the server stops reading that connection until one finishes.
	// Default 32.
	MaxInflight int
	// MaxQuerySize closes a connection that announces a query longer than
	// this many octets. Default 65535 (no limit beyond the framing).
	MaxQuerySize int
	// MaxConnsPerClient caps the connections of one client (an IPv4
	// address, an IPv6 /64); over it, that client's longest-idle
	// connection is closed, or the new one when none is idle. When
	// MaxConns is reached the longest-idle connection of any client is
	// closed (RFC 7766 §6.2.3). Default DefaultMaxConnsPerClient (16).
	MaxConnsPerClient int
	// MaxInflightPerClient caps the queries of one client answered at
	// once, all its connections together; its connections are not read
	// until one is answered. Default DefaultMaxInflightPerClient (64).
	MaxInflightPerClient int
	// MaxPendingPerConn caps the octets of replies one connection holds
	// unwritten (the client does not read); reaching it, or Budget,
	// closes the connection. Default DefaultMaxPendingPerConn (128 KiB).
	MaxPendingPerConn int
	// Budget is shared by the servers of a process for the replies they
	// hold unwritten. Default: one of DefaultPendingBudget per server.
	Budget *Budget
	// Logger receives errors that do not stop the server. Default: discard.
	Logger *slog.Logger
}

func (o *TCPOptions) defaults() {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 10 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 5 * time.Second
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 1000
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = 32
	}
	if o.MaxQuerySize <= 0 || o.MaxQuerySize > maxMsg {
		o.MaxQuerySize = maxMsg
	}
	if o.MaxConnsPerClient <= 0 {
		o.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// TCPServer answers DNS over TCP per RFC 7766: each message carries a
// two-byte length prefix; a connection may carry many queries; each query
// is answered in its own goroutine, so replies may leave in another order
// than the queries came; writes on one connection are serialised.
//
// Goroutines: Serve runs the accept loop; each connection has one reader
// goroutine, which starts one goroutine per query and, when it stops
// reading, waits for them before closing the connection. Close and
// Shutdown stop all of them and wait.
type TCPServer struct {
	h   Responder
	ln  net.Listener
	tr  Transport // TCP, or TLS for a DoTServer
	opt TCPOptions
	log *slog.Logger

	table *connTable

	mu       sync.Mutex
	serving  bool
	closed   bool
	done     chan struct{}
	conns    map[*tcpConn]struct{}
	wg       sync.WaitGroup // accept loop and connection readers
	closeErr error
}

type tcpConn struct {
	c      net.Conn
	from   netip.AddrPort // the client
	tk     *tracked
	wmu    sync.Mutex     // serialises writes
	active sync.WaitGroup // query goroutines

	dmu     sync.Mutex // guards closing and the read deadline
	closing bool       // set by Shutdown: read no more
}

// armRead sets the idle deadline for the next read, unless the server is
// shutting the connection down.
func (tc *tcpConn) armRead(d time.Duration) bool {
	tc.dmu.Lock()
	defer tc.dmu.Unlock()
	if tc.closing {
		return false
	}
	return tc.c.SetReadDeadline(time.Now().Add(d)) == nil
}

// evict closes an idle connection to make room for another: the reader
// wakes and closes it.
func (tc *tcpConn) evict() {
	tc.stopReading()
}

// stopReading wakes a blocked reader and keeps it from reading again.
func (tc *tcpConn) stopReading() {
	tc.dmu.Lock()
	defer tc.dmu.Unlock()
	tc.closing = true
	tc.c.SetReadDeadline(time.Now())
}

// ListenTCP binds addr ("127.0.0.1:0" works; Addr reports the port) and
// returns a server that answers with h once Serve is called.
func ListenTCP(addr string, h Responder, opt TCPOptions) (*TCPServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dns tcp listen %s: %w", addr, err)
	}
	return newStreamServer(ln, TCP, h, opt), nil
}

// newStreamServer returns a server of length-prefixed DNS messages on ln
// answering over tr.
func newStreamServer(ln net.Listener, tr Transport, h Responder, opt TCPOptions) *TCPServer {
	opt.defaults()
	s := &TCPServer{
		h: h, ln: ln, tr: tr, opt: opt, log: opt.Logger,
		table: newConnTable(opt.MaxConns, opt.MaxConnsPerClient, opt.MaxInflightPerClient, int64(opt.MaxPendingPerConn), opt.Budget),
		done:  make(chan struct{}),
		conns: make(map[*tcpConn]struct{}),
	}
	return s
}

// Addr returns the bound address.
func (s *TCPServer) Addr() netip.AddrPort {
	return s.ln.Addr().(*net.TCPAddr).AddrPort()
}

// Serve accepts connections until ctx is done or Close is called. Then it
// shuts the server down (in-flight queries are answered) and returns
// ErrServerClosed, or ctx's error. It may be called once.
func (s *TCPServer) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.closed || s.serving {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.serving = true
	s.wg.Add(1)
	s.mu.Unlock()
	go s.accept()
	select {
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	case <-s.done:
		s.wg.Wait()
		return ErrServerClosed
	}
}

func (s *TCPServer) accept() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off and retry,
			// as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("tcp accept", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-s.done:
				return
			}
			continue
		}
		delay = 0
		tc := &tcpConn{c: c, from: addrPortOf(c.RemoteAddr())}
		tk, ok := s.table.admit(addrOf(c.RemoteAddr()), tc.evict)
		if !ok {
			s.log.Debug("tcp connection cap reached, none idle", "max", s.opt.MaxConns, "per_client", s.opt.MaxConnsPerClient, "from", c.RemoteAddr())
			c.Close()
			continue
		}
		tc.tk = tk
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			tk.release()
			return
		}
		s.conns[tc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(tc)
	}
}

// serveConn reads queries from one connection until the peer closes it,
// it idles out, it is evicted, or the server closes; then it waits for the
// answers in flight and closes the connection.
func (s *TCPServer) serveConn(tc *tcpConn) {
	defer s.wg.Done()
	defer func() {
		tc.active.Wait()
		tc.c.Close()
		tc.tk.release()
		s.mu.Lock()
		delete(s.conns, tc)
		s.mu.Unlock()
	}()
	inflight := make(chan struct{}, s.opt.MaxInflight)
	var hdr [2]byte
	// Buffered: a client pipelining queries has them read in one system
	// call, not two per query (length, then message).
	rd := bufio.NewReaderSize(tc.c, tcpReadBuf)
	// Replies from the packed cache (which never wait) are answered here,
	// in order, gathered in wb and written in one system call once no
	// query is left in rd; the others get a goroutine each, so a slow one
	// holds up no other.
	cr, quick := s.h.(CachedResponder)
	var wb []byte
	flush := func() bool {
		if len(wb) == 0 {
			return true
		}
		ok := tc.write(s, wb)
		wb = wb[:0]
		return ok
	}
	defer flush()
	for {
		if rd.Buffered() < 2 && !flush() {
			return
		}
		select {
		case inflight <- struct{}{}:
		case <-s.done:
			return
		}
		if rd.Buffered() < 2 {
			if !tc.armRead(s.opt.IdleTimeout) {
				return
			}
		} else if tc.stopping() {
			return
		}
		if _, err := io.ReadFull(rd, hdr[:]); err != nil {
			return // EOF, idle timeout, evicted, or closed by Close
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		if n > s.opt.MaxQuerySize {
			s.log.Debug("query over size limit", "transport", s.tr, "size", n, "max", s.opt.MaxQuerySize, "from", tc.c.RemoteAddr())
			return
		}
		// The buffer is as large as the query announced.
		bp := getBuf(n)
		if _, err := io.ReadFull(rd, (*bp)[:n]); err != nil {
			putBuf(bp)
			return
		}
		if quick {
			if wb == nil {
				wb = make([]byte, 0, tcpWriteBuf)
			}
			at := len(wb)
			if out, ok := cr.HandleCached((*bp)[:n], wb[at+2:at+2], s.tr, tc.from); ok && len(out) > 0 && &out[0] == &wb[:at+2+1][at+2] {
				binary.BigEndian.PutUint16(wb[at:at+2], uint16(len(out)))
				wb = wb[:at+2+len(out)]
				putBuf(bp)
				<-inflight
				if len(wb) > tcpWriteBuf-maxPackedLen-2 && !flush() {
					return
				}
				continue
			}
		}
		// Waits while the client has its cap of queries in flight on all
		// its connections: this one is not read meanwhile.
		if !tc.tk.begin(s.done) {
			putBuf(bp)
			return
		}
		tc.active.Add(1)
		go func() {
			defer func() { <-inflight }()
			defer tc.active.Done()
			defer tc.tk.end()
			s.query(tc, (*bp)[:n])
			putBuf(bp)
		}()
	}
}

// write writes framed replies to the connection, bounded by
// WriteTimeout; a connection it cannot write to is closed (false).
func (tc *tcpConn) write(s *TCPServer, b []byte) bool {
	tc.wmu.Lock()
	defer tc.wmu.Unlock()
	if err := tc.c.SetWriteDeadline(time.Now().Add(s.opt.WriteTimeout)); err != nil {
		return false
	}
	if _, err := tc.c.Write(b); err != nil {
		s.log.Debug("tcp write", "to", tc.c.RemoteAddr(), "err", err)
		tc.c.Close()
		return false
	}
	return true
}

// stopping reports whether Shutdown asked the reader to read no more.
func (tc *tcpConn) stopping() bool {
	tc.dmu.Lock()
	defer tc.dmu.Unlock()
	return tc.closing
}

// tcpWriteBuf is the buffer a connection gathers replies from the packed
// cache in: room for several (each at most maxPackedLen).
const tcpWriteBuf = 16 << 10

// tcpReadBuf is the read buffer of a connection: room for a few dozen
// pipelined queries.
const tcpReadBuf = 4096

// replyBuf is the size class replies start in: most answers fit; a larger
// one is packed into a buffer of its own size by the handler.
const replyBuf = 2048

// query answers one message and writes the framed reply. The reply is
// counted against the connection's and the process's pending budget
// while it waits to be written; over either, the client is cut off.
func (s *TCPServer) query(tc *tcpConn, raw []byte) {
	op := getBuf(replyBuf)
	defer putBuf(op)
	frame := *op
	out, ok := s.answer(raw, frame[2:2], tc.from)
	if !ok || len(out) > maxMsg {
		return
	}
	var hdr [2]byte
	binary.BigEndian.PutUint16(hdr[:], uint16(len(out)))
	held := cap(frame) // the reply holds its buffer until written
	if len(out) > 0 && &out[0] != &frame[2] {
		held += cap(out)
	}
	if !tc.tk.reserve(held) {
		s.log.Debug("client does not read its replies: cut off", "transport", s.tr, "from", tc.c.RemoteAddr())
		tc.c.Close()
		return
	}
	defer tc.tk.unreserve(held)
	tc.wmu.Lock()
	defer tc.wmu.Unlock()
	if err := tc.c.SetWriteDeadline(time.Now().Add(s.opt.WriteTimeout)); err != nil {
		return
	}
	var err error
	if len(out) > 0 && &out[0] == &frame[2] {
		copy(frame, hdr[:])
		_, err = tc.c.Write(frame[:2+len(out)])
	} else {
		// The handler grew a buffer of its own: no copy, two writes
		// gathered (writev on a plain TCP connection).
		bufs := net.Buffers{hdr[:], out}
		_, err = bufs.WriteTo(tc.c)
	}
	if err != nil {
		s.log.Debug("tcp write", "to", tc.c.RemoteAddr(), "err", err)
		// Unblock the reader: a connection we cannot write to is done.
		tc.c.Close()
	}
}

func (s *TCPServer) answer(raw, buf []byte, from netip.AddrPort) (out []byte, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("handler panic", "transport", s.tr, "panic", r)
			out, ok = nil, false
		}
	}()
	return handleFrom(s.h, raw, buf, s.tr, from)
}

// Close stops accepting, stops reading every connection, lets the queries
// in flight be answered (each write is bounded by WriteTimeout), closes the
// connections and waits for every goroutine. It is idempotent; every call
// returns the same error.
func (s *TCPServer) Close() error {
	return s.Shutdown(context.Background())
}

// Shutdown is Close with a deadline: when ctx is done before the queries
// in flight are answered, the connections are closed under them. It
// returns ctx's error in that case, joined with the listener's close error.
func (s *TCPServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
		s.closeErr = s.ln.Close()
		for tc := range s.conns {
			// Wake the reader; writes in flight keep their own deadline.
			tc.stopReading()
		}
	}
	s.mu.Unlock()
	waited := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(waited)
	}()
	select {
	case <-waited:
		return s.closeErr
	case <-ctx.Done():
		s.mu.Lock()
		for tc := range s.conns {
			tc.c.Close()
		}
		s.mu.Unlock()
		<-waited
		return errors.Join(s.closeErr, ctx.Err())
	}
}
