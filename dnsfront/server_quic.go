package dnsfront

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// DoQ error codes (RFC 9250 §4.3), sent when closing a connection or
// resetting a stream.
const (
	DoQNoError          quic.ApplicationErrorCode = 0x0 // DOQ_NO_ERROR
	DoQInternalError    quic.ApplicationErrorCode = 0x1 // DOQ_INTERNAL_ERROR
	DoQProtocolError    quic.ApplicationErrorCode = 0x2 // DOQ_PROTOCOL_ERROR
	DoQRequestCancelled quic.ApplicationErrorCode = 0x3 // DOQ_REQUEST_CANCELLED
	DoQExcessiveLoad    quic.ApplicationErrorCode = 0x4 // DOQ_EXCESSIVE_LOAD
	DoQUnspecifiedError quic.ApplicationErrorCode = 0x5 // DOQ_UNSPECIFIED_ERROR
)

// QUICOptions tunes a QUICServer. The zero value is usable.
type QUICOptions struct {
	// MaxConns caps open connections; one over the cap is closed with
	// DOQ_EXCESSIVE_LOAD. Default 1000.
	MaxConns int
	// MaxStreams caps the concurrent streams (queries) of one connection;
	// QUIC flow control keeps the client from opening more. Default 100.
	MaxStreams int
	// MaxQuerySize caps a query's length; a longer one is a protocol
	// error. Default 4096.
	MaxQuerySize int
	// IdleTimeout closes a connection without traffic for this long
	// (the QUIC idle timeout; RFC 9250 §5.5 leaves it to the server).
	// Default 30s.
	IdleTimeout time.Duration
	// StreamTimeout bounds reading one query and writing its reply; a
	// stream slower than that is reset with DOQ_REQUEST_CANCELLED.
	// Default 5s.
	StreamTimeout time.Duration
	// Allow0RTT accepts queries in 0-RTT data. Off by default: 0-RTT
	// data can be replayed (RFC 9250 §4.5). When on, only QUERY opcodes,
	// which are replayable, are answered before the handshake completes;
	// other opcodes wait for it.
	Allow0RTT bool
	// MaxConnsPerClient, MaxInflightPerClient, MaxPendingPerConn and
	// Budget are the per-client limits and the pending-reply budget, as
	// in TCPOptions (defaults DefaultMaxConnsPerClient,
	// DefaultMaxInflightPerClient, DefaultMaxPendingPerConn, a budget of
	// DefaultPendingBudget per server). At MaxConns or MaxConnsPerClient
	// the longest-idle connection is closed for the newcomer; a
	// connection without a stream for IdleTimeout is closed even when
	// the client keeps it alive with QUIC PINGs.
	MaxConnsPerClient    int
	MaxInflightPerClient int
	MaxPendingPerConn    int
	Budget               *Budget
	// Logger receives errors that do not stop the server. Default: discard.
	Logger *slog.Logger
}

func (o *QUICOptions) defaults() {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = DefaultMaxStreams
	}
	if o.MaxQuerySize <= 0 || o.MaxQuerySize > maxMsg {
		o.MaxQuerySize = DefaultMaxQuerySize
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.StreamTimeout <= 0 {
		o.StreamTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// QUICServer answers DNS over QUIC (RFC 9250): ALPN "doq", one query per
// bidirectional stream, each message with a two-byte length prefix, the
// Message ID 0. A non-zero ID, a stream that ends early, an oversize
// query, or a unidirectional stream closes the connection with
// DOQ_PROTOCOL_ERROR.
//
// Goroutines: Serve runs the accept loop; each connection has one
// goroutine accepting its streams, and each stream one goroutine. Close
// closes every connection and waits for all of them.
type QUICServer struct {
	h   Responder
	opt QUICOptions
	log *slog.Logger
	udp *net.UDPConn
	tr  *quic.Transport
	ln  *quic.EarlyListener
	tab *connTable

	mu       sync.Mutex
	serving  bool
	closed   bool
	done     chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeErr error
}

// ListenQUIC binds addr over UDP and returns a server that answers with h
// once Serve is called. conf must hold a certificate or GetCertificate
// (see CertFile); it is copied, restricted to TLS 1.3 and ALPN "doq".
func ListenQUIC(addr string, h Responder, conf *tls.Config, opt QUICOptions) (*QUICServer, error) {
	if conf == nil || (len(conf.Certificates) == 0 && conf.GetCertificate == nil && conf.GetConfigForClient == nil) {
		return nil, fmt.Errorf("dns quic listen %s: %w", addr, ErrNoCertificate)
	}
	opt.defaults()
	conf = conf.Clone()
	conf.MinVersion = tls.VersionTLS13
	conf.NextProtos = []string{ALPNDoQ}
	uaddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dns quic listen %s: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", uaddr)
	if err != nil {
		return nil, fmt.Errorf("dns quic listen %s: %w", addr, err)
	}
	s := &QUICServer{h: h, opt: opt, log: opt.Logger, udp: udp, done: make(chan struct{})}
	s.tr = &quic.Transport{Conn: udp}
	qconf := &quic.Config{
		MaxIncomingStreams:    int64(opt.MaxStreams),
		MaxIncomingUniStreams: -1, // DoQ uses bidirectional streams only
		MaxIdleTimeout:        opt.IdleTimeout,
		HandshakeIdleTimeout:  opt.StreamTimeout,
		Allow0RTT:             opt.Allow0RTT,
	}
	s.ln, err = s.tr.ListenEarly(conf, qconf)
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("dns quic listen %s: %w", addr, err)
	}
	s.tab = newConnTable(opt.MaxConns, opt.MaxConnsPerClient, opt.MaxInflightPerClient, int64(opt.MaxPendingPerConn), opt.Budget)
	return s, nil
}

// Addr returns the bound address.
func (s *QUICServer) Addr() netip.AddrPort {
	return s.udp.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Serve accepts connections until ctx is done or Close is called, then
// closes them and returns ErrServerClosed (or ctx's error). It may be
// called once.
func (s *QUICServer) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.closed || s.serving {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.serving = true
	cctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(2)
	s.mu.Unlock()
	go s.accept(cctx)
	go func() {
		defer s.wg.Done()
		s.tab.reap(s.opt.IdleTimeout, cctx.Done())
	}()
	select {
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	case <-s.done:
		s.wg.Wait()
		return ErrServerClosed
	}
}

func (s *QUICServer) accept(ctx context.Context) {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept(ctx)
		if err != nil {
			return // closed
		}
		tk, ok := s.tab.admit(c.RemoteAddr().(*net.UDPAddr).AddrPort().Addr(), func() {
			// CloseWithError waits for the connection's loop to end:
			// not on the accept loop.
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				c.CloseWithError(DoQNoError, "idle connection closed")
			}()
		})
		if ok {
			context.AfterFunc(c.Context(), tk.release)
		} else {
			// Close once the handshake is done, so the client sees
			// DOQ_EXCESSIVE_LOAD rather than a bare APPLICATION_ERROR
			// (RFC 9000 §10.2.3 hides codes during the handshake).
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				select {
				case <-c.HandshakeComplete():
				case <-c.Context().Done():
				case <-ctx.Done():
				}
				c.CloseWithError(DoQExcessiveLoad, "too many connections")
			}()
			continue
		}
		s.wg.Add(1)
		go s.serveConn(ctx, c, tk)
	}
}

// serveConn accepts the streams of one connection until it closes.
func (s *QUICServer) serveConn(ctx context.Context, c *quic.Conn, tk *tracked) {
	defer s.wg.Done()
	var streams sync.WaitGroup
	defer streams.Wait()
	// A unidirectional stream is a protocol error (RFC 9250 §4.2): the
	// limit of 0 makes the peer's attempt a QUIC error already.
	for {
		st, err := c.AcceptStream(ctx)
		if err != nil {
			if ctx.Err() != nil {
				c.CloseWithError(DoQNoError, "server closing")
			}
			return
		}
		// Waits while the client has its cap of queries in flight: the
		// connection's streams wait in QUIC (MaxStreams) meanwhile.
		if !tk.begin(c.Context().Done()) {
			st.CancelRead(quic.StreamErrorCode(DoQRequestCancelled))
			st.CancelWrite(quic.StreamErrorCode(DoQRequestCancelled))
			return
		}
		streams.Add(1)
		go func() {
			defer streams.Done()
			defer tk.end()
			s.serveStream(c, st, tk)
		}()
	}
}

// errDoQ is the error of a stream that breaks the protocol.
var errDoQ = errors.New("doq protocol error")

// serveStream reads one query from st, answers it and closes st. Its
// buffers are taken once the query's length is known, sized by it.
func (s *QUICServer) serveStream(c *quic.Conn, st *quic.Stream, tk *tracked) {
	st.SetDeadline(time.Now().Add(s.opt.StreamTimeout))
	raw, bp, err := readDoQ(st, s.opt.MaxQuerySize)
	if err != nil {
		if errors.Is(err, errDoQ) {
			c.CloseWithError(DoQProtocolError, err.Error())
		} else {
			st.CancelRead(quic.StreamErrorCode(DoQRequestCancelled))
			st.CancelWrite(quic.StreamErrorCode(DoQRequestCancelled))
		}
		return
	}
	defer putBuf(bp)
	if !s.opt.Allow0RTT || raw[2]&0x78 != 0 { // opcode not QUERY: not replayable
		select {
		case <-c.HandshakeComplete():
		case <-c.Context().Done():
			return
		}
	}
	op := getBuf(replyBuf)
	defer putBuf(op)
	frame := *op
	out, ok := s.answer(raw, frame[2:2], addrPortOf(c.RemoteAddr()))
	if !ok {
		// A response, or not a DNS message at all.
		c.CloseWithError(DoQProtocolError, "not a DNS query")
		return
	}
	held := cap(frame)
	if len(out) > 0 && &out[0] != &frame[2] {
		held += cap(out)
	}
	if !tk.reserve(held) {
		// The client does not read what it asked for: cut it off.
		c.CloseWithError(DoQExcessiveLoad, "replies not read")
		return
	}
	defer tk.unreserve(held)
	var hdr [2]byte
	binary.BigEndian.PutUint16(hdr[:], uint16(len(out)))
	if len(out) > 0 && &out[0] == &frame[2] {
		copy(frame, hdr[:])
		_, err = st.Write(frame[:2+len(out)])
	} else if _, err = st.Write(hdr[:]); err == nil {
		_, err = st.Write(out)
	}
	if err != nil {
		st.CancelWrite(quic.StreamErrorCode(DoQRequestCancelled))
		return
	}
	st.Close() // FIN: the reply is complete (only the write side closes)
}

// readDoQ reads one length-prefixed query of at most max octets into a
// pooled buffer sized by its length (returned for putBuf) and checks it:
// the length fits, the stream carries the whole message, the Message ID
// is 0 (RFC 9250 §4.2.1), and the stream ends (FIN) right after it. An
// errDoQ error is a protocol error; any other is an I/O failure or
// timeout. No buffer is taken before the length has arrived.
func readDoQ(r io.Reader, max int) ([]byte, *[]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, fmt.Errorf("%w: stream ended before the length", errDoQ)
		}
		return nil, nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	switch {
	case n < headerLen:
		return nil, nil, fmt.Errorf("%w: message of %d octets", errDoQ, n)
	case n > max:
		return nil, nil, fmt.Errorf("%w: query of %d octets over the limit", errDoQ, n)
	}
	bp := getBuf(n)
	msg := (*bp)[:n]
	fail := func(err error) ([]byte, *[]byte, error) {
		putBuf(bp)
		return nil, nil, err
	}
	if _, err := io.ReadFull(r, msg); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fail(fmt.Errorf("%w: stream ended inside the message", errDoQ))
		}
		return fail(err)
	}
	if id := binary.BigEndian.Uint16(msg); id != 0 {
		return fail(fmt.Errorf("%w: message ID %d, want 0", errDoQ, id))
	}
	// The client sends FIN right after the query (RFC 9250 §4.2); more
	// data on the stream, such as a second query, is a protocol error
	// (§4.3.3). Waiting for the FIN is allowed (§4.2: a server MAY defer
	// processing until it arrives) and bounded by the stream deadline.
	var extra [1]byte
	for {
		k, err := r.Read(extra[:])
		switch {
		case k > 0:
			return fail(fmt.Errorf("%w: data after the query (one query per stream, then FIN)", errDoQ))
		case errors.Is(err, io.EOF):
			return msg, bp, nil
		case err != nil:
			return fail(err)
		}
	}
}

func (s *QUICServer) answer(raw, buf []byte, from netip.AddrPort) (out []byte, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("handler panic", "transport", QUIC, "panic", r)
			out, ok = nil, false
		}
	}()
	return handleFrom(s.h, raw, buf, QUIC, from)
}

// Close closes every connection (DOQ_NO_ERROR), the listener and the
// socket, and waits for every goroutine. It is idempotent; every call
// returns the same error.
func (s *QUICServer) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
		if s.cancel != nil {
			s.cancel()
		}
		err := s.ln.Close()
		if errors.Is(err, quic.ErrServerClosed) {
			err = nil
		}
		s.closeErr = errors.Join(err, s.tr.Close())
	}
	s.mu.Unlock()
	s.wg.Wait()
	return s.closeErr
}
