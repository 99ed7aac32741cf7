package dnsfront

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Media types of DNS over HTTPS.
const (
	// MediaDNSMessage is the wire-format media type (RFC 8484 §6).
	MediaDNSMessage = "application/dns-message"
	// MediaDNSJSON is the JSON form public resolvers serve (Google,
	// Cloudflare), with DDNRS's audit object added.
	MediaDNSJSON = "application/dns-json"
)

// DefaultDoHPath is the default of HTTPSOptions.Path (RFC 8484 §3 leaves
// the path to the server; "/dns-query" is what clients assume).
const DefaultDoHPath = "/dns-query"

// HTTPSOptions tunes an HTTPSServer. The zero value is usable.
type HTTPSOptions struct {
	// Path serves DoH (wire format, GET and POST, and the JSON form when
	// the request names the question with ?name=). Default "/dns-query".
	Path string
	// MaxConns caps open connections, HTTP/2 (TCP) and HTTP/3 (QUIC)
	// counted apart; a connection over the cap is closed at once. Default
	// 1000.
	MaxConns int
	// MaxConnsPerClient caps the connections of one client (an IPv4
	// address, an IPv6 /64), HTTP/2 and HTTP/3 counted apart; at it, or
	// at MaxConns, the longest-idle connection is closed for the
	// newcomer (of this client, or of the client holding the most), and
	// a connection without a request for IdleTimeout is closed even when
	// the client keeps it alive with PINGs. Default
	// DefaultMaxConnsPerClient.
	MaxConnsPerClient int
	// MaxInflightPerClient caps the requests of one client being
	// answered at once, its connections together; more wait. Default
	// DefaultMaxInflightPerClient.
	MaxInflightPerClient int
	// MaxStreams caps the concurrent requests of one connection
	// (SETTINGS_MAX_CONCURRENT_STREAMS in HTTP/2, the QUIC stream limit in
	// HTTP/3). Default 100.
	MaxStreams int
	// MaxQuerySize caps a query's length; a longer POST body or GET
	// parameter gets 413. Default 4096.
	MaxQuerySize int
	// IdleTimeout closes a connection without requests for this long.
	// Default 30s.
	IdleTimeout time.Duration
	// ReadTimeout bounds reading one request, headers and body. Default 5s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response. Default 5s.
	WriteTimeout time.Duration
	// MaxPendingPerConn caps the octets of responses one connection
	// holds waiting for the client to read them (HTTP/2 and HTTP/3 flow
	// control hold a response in its handler until the client opens its
	// window); a connection that would hold more is closed. Default
	// DefaultMaxPendingPerConn.
	MaxPendingPerConn int
	// Budget is the pending-reply budget shared with the other servers
	// of the process (TCPOptions.Budget); a connection whose response
	// would exceed it is closed. Default: one of DefaultPendingBudget
	// for this server.
	Budget *Budget
	// Audit names this node in the audit object of JSON answers.
	Audit AuditNode
	// Logger receives errors that do not stop the server. Default: discard.
	Logger *slog.Logger
}

func (o *HTTPSOptions) defaults() {
	if o.Path == "" {
		o.Path = DefaultDoHPath
	}
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
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 5 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxPendingPerConn <= 0 {
		o.MaxPendingPerConn = DefaultMaxPendingPerConn
	}
	if o.Budget == nil {
		o.Budget = NewBudget(0)
	}
}

// HTTPSServer answers DNS over HTTPS (RFC 8484) over HTTP/2 (and
// HTTP/1.1) on a TCP port and over HTTP/3 on the UDP port of the same
// number. Responses over HTTP/2 advertise HTTP/3 with Alt-Svc.
//
// Goroutines: Serve runs the two servers (net/http and quic-go/http3 own
// their connection goroutines); Close stops both and waits for Serve's.
type HTTPSServer struct {
	opt  HTTPSOptions
	tcp  net.Listener
	udp  *net.UDPConn
	qln  *quic.EarlyListener
	h2   *http.Server
	h3   *http3.Server
	tab  *connTable // HTTP/2 (TCP) connections
	tql  *trackedQUICListener
	log  *slog.Logger
	conf *tls.Config

	mu       sync.Mutex
	serving  bool
	closed   bool
	done     chan struct{}
	wg       sync.WaitGroup
	closeErr error
}

// ListenHTTPS binds addr over TCP and the same port over UDP (port 0
// picks one free for both, retrying when the UDP side is taken) and
// returns a server that answers with h once Serve is called. conf must
// hold a certificate or GetCertificate (see CertFile); it is copied.
func ListenHTTPS(addr string, h Responder, conf *tls.Config, opt HTTPSOptions) (*HTTPSServer, error) {
	if conf == nil || (len(conf.Certificates) == 0 && conf.GetCertificate == nil && conf.GetConfigForClient == nil) {
		return nil, fmt.Errorf("dns https listen %s: %w", addr, ErrNoCertificate)
	}
	opt.defaults()
	tcp, udp, err := listenPair(addr)
	if err != nil {
		return nil, fmt.Errorf("dns https listen %s: %w", addr, err)
	}
	conf = conf.Clone()
	conf.MinVersion = max(conf.MinVersion, tls.VersionTLS12)
	s := &HTTPSServer{opt: opt, tcp: tcp, udp: udp, log: opt.Logger, conf: conf, done: make(chan struct{})}
	handler := NewDoHHandler(h, opt)
	s.tab = newConnTable(opt.MaxConns, opt.MaxConnsPerClient, opt.MaxInflightPerClient, int64(opt.MaxPendingPerConn), opt.Budget)
	s.h3 = &http3.Server{
		Handler:        limitRequests(handler),
		TLSConfig:      http3.ConfigureTLSConfig(conf),
		MaxHeaderBytes: 16 << 10,
		IdleTimeout:    opt.IdleTimeout,
		Logger:         opt.Logger,
	}
	qconf := &quic.Config{
		MaxIncomingStreams:    int64(opt.MaxStreams),
		MaxIncomingUniStreams: 3 + 1, // control, QPACK encoder and decoder, one spare
		MaxIdleTimeout:        opt.IdleTimeout,
		HandshakeIdleTimeout:  opt.ReadTimeout,
		Allow0RTT:             false,
	}
	s.qln, err = quic.ListenEarly(udp, http3.ConfigureTLSConfig(conf), qconf)
	if err != nil {
		tcp.Close()
		udp.Close()
		return nil, fmt.Errorf("dns https listen %s: %w", addr, err)
	}
	s.tql = &trackedQUICListener{
		EarlyListener: s.qln, code: quic.ApplicationErrorCode(http3.ErrCodeExcessiveLoad),
		tab: newConnTable(opt.MaxConns, opt.MaxConnsPerClient, opt.MaxInflightPerClient, int64(opt.MaxPendingPerConn), opt.Budget),
		wg:  &s.wg,
	}
	s.h3.ConnContext = s.tql.connContext
	s.h2 = &http.Server{
		Handler: limitRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ProtoMajor < 3 {
				s.h3.SetQUICHeaders(w.Header())
			}
			handler.ServeHTTP(w, r)
		})),
		ConnContext:       netConnContext,
		TLSConfig:         conf.Clone(),
		ReadHeaderTimeout: opt.ReadTimeout,
		ReadTimeout:       opt.ReadTimeout,
		WriteTimeout:      opt.WriteTimeout,
		IdleTimeout:       opt.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(opt.Logger.Handler(), slog.LevelDebug),
	}
	// HTTP/2 is the lean server's (doh_h2.go); HTTP/1.1 stays net/http's.
	altSvc := fmt.Sprintf(`%s=":%d"; ma=2592000`, http3.NextProtoH3, udp.LocalAddr().(*net.UDPAddr).Port)
	lean := newLeanH2(h, opt, altSvc, nil)
	s.h2.TLSConfig.NextProtos = []string{http2NextProto, "http/1.1"}
	s.h2.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){
		http2NextProto: func(_ *http.Server, c *tls.Conn, h http.Handler) {
			// h is net/http's per-connection handler: it carries the
			// connection's context (ConnContext's table entry) through
			// this unexported-by-convention method, and fills in each
			// request's TLS state and remote address.
			ctx := context.Background()
			if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
				ctx = bc.BaseContext()
			}
			lean.serve(ctx, c, h)
		},
	}
	return s, nil
}

// listenPair binds TCP at addr and UDP at the port TCP got.
func listenPair(addr string) (net.Listener, *net.UDPConn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	for try := 0; ; try++ {
		tcp, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		p := tcp.Addr().(*net.TCPAddr).Port
		uaddr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			tcp.Close()
			return nil, nil, err
		}
		udp, err := net.ListenUDP("udp", uaddr)
		if err == nil {
			return tcp, udp, nil
		}
		tcp.Close()
		if port != "0" || try >= 5 {
			return nil, nil, err
		}
	}
}

// Addr returns the bound address (TCP and UDP share it).
func (s *HTTPSServer) Addr() netip.AddrPort {
	return s.tcp.Addr().(*net.TCPAddr).AddrPort()
}

// Serve answers until ctx is done or Close is called, then closes the
// server and returns ErrServerClosed (or ctx's error). It may be called
// once.
func (s *HTTPSServer) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.closed || s.serving {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.serving = true
	s.wg.Add(4)
	s.mu.Unlock()
	for _, tab := range []*connTable{s.tab, s.tql.tab} {
		go func() {
			defer s.wg.Done()
			tab.reap(s.opt.IdleTimeout, s.done)
		}()
	}
	go func() {
		defer s.wg.Done()
		err := s.h2.ServeTLS(corkListener{&trackListener{Listener: s.tcp, tab: s.tab}}, "", "")
		if !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("doh http/2 stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		err := s.h3.ServeListener(s.tql)
		if !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) {
			s.log.Debug("doh http/3 stopped", "err", err)
		}
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

// Close stops both servers at once, closing their connections, and waits
// for Serve's goroutines. It is idempotent; every call returns the same
// error.
func (s *HTTPSServer) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
		errs := []error{s.h2.Close(), s.h3.Close(), s.qln.Close(), s.udp.Close()}
		if !s.serving {
			errs = append(errs, s.tcp.Close())
		}
		for i, err := range errs {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, quic.ErrServerClosed) {
				errs[i] = nil
			}
		}
		s.closeErr = errors.Join(errs...)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return s.closeErr
}

// DoHHandler is the http.Handler of DNS over HTTPS, usable on its own (in
// a test or behind another server). It answers RFC 8484 GET and POST
// requests at its path and the JSON form (see serveJSON).
type DoHHandler struct {
	h   Responder
	opt HTTPSOptions
	mux *http.ServeMux
}

// NewDoHHandler returns the DoH handler answering with h.
func NewDoHHandler(h Responder, opt HTTPSOptions) *DoHHandler {
	opt.defaults()
	d := &DoHHandler{h: h, opt: opt, mux: http.NewServeMux()}
	d.mux.HandleFunc("GET "+opt.Path, d.serve)
	d.mux.HandleFunc("POST "+opt.Path, d.serve)
	return d
}

func (d *DoHHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.mux.ServeHTTP(w, r) }

// transport tells Handle how the request came: always HTTPS, since the
// plain-HTTP case is served only behind a TLS-terminating proxy.
const dohTransport = HTTPS

func (d *DoHHandler) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Query().Has("name") && !r.URL.Query().Has("dns") {
		d.serveJSON(w, r)
		return
	}
	raw, status, err := ParseDoHRequest(r, d.opt.MaxQuerySize, w)
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	bp := getBuf(replyBuf) // a larger reply gets a buffer of its own size
	defer putBuf(bp)
	from, _ := netip.ParseAddrPort(r.RemoteAddr)
	out, ok := handleFrom(d.h, raw, (*bp)[:0], dohTransport, from)
	if !ok {
		http.Error(w, "not a DNS query", http.StatusBadRequest)
		return
	}
	held := cap(*bp)
	if len(out) > 0 && &out[0] != &(*bp)[0] {
		held += cap(out)
	}
	release, ok := holdReply(r, held)
	if !ok {
		d.opt.Logger.Debug("client does not read its responses: cut off", "from", r.RemoteAddr)
		return
	}
	defer release()
	hdr := w.Header()
	hdr.Set("Content-Type", MediaDNSMessage)
	hdr.Set("Content-Length", strconv.Itoa(len(out)))
	hdr.Set("Cache-Control", cacheControl(out))
	if _, err := w.Write(out); err != nil {
		d.opt.Logger.Debug("doh write", "err", err)
		return
	}
	flushHeld(w)
}

// flushHeld pushes a written response to the connection before its hold
// is released: without it a small response sits in the HTTP/2 or HTTP/3
// writer's buffer after the handler returns, blocked by flow control
// while no budget counts it. It costs at most an empty DATA frame
// carrying END_STREAM, written with the data when the client reads.
func flushHeld(w http.ResponseWriter) {
	http.NewResponseController(w).Flush() // an error is the client's going: nothing to do
}

// holdReply counts n octets of a response against its connection's
// pending allowance and the shared budget until release is called (after
// the response is written: HTTP/2 and HTTP/3 flow control keep a response
// in its handler while the client does not read). When either is
// exhausted the connection is closed and ok is false: a client that does
// not read is cut off, not buffered for. A request served outside a
// tracked connection (a DoHHandler used on its own) is not counted.
func holdReply(r *http.Request, n int) (release func(), ok bool) {
	tk, _ := r.Context().Value(trackedKey{}).(*tracked)
	if tk == nil {
		return func() {}, true
	}
	if !tk.reserve(n) {
		go tk.close() // not from the handler: closing waits for handlers on some transports
		return nil, false
	}
	return func() { tk.unreserve(n) }, true
}

// Errors of ParseDoHRequest; each comes with the status to answer.
var (
	// ErrDoHMissing is returned when a GET has no dns parameter or a POST
	// no body (400).
	ErrDoHMissing = errors.New("doh: no DNS message in the request")
	// ErrDoHEncoding is returned when the dns parameter is not base64url
	// (400).
	ErrDoHEncoding = errors.New("doh: dns parameter is not base64url")
	// ErrDoHTooLarge is returned when the query exceeds the size limit
	// (413).
	ErrDoHTooLarge = errors.New("doh: query too large")
	// ErrDoHMediaType is returned when a POST body is not
	// application/dns-message (415).
	ErrDoHMediaType = errors.New("doh: content type is not " + MediaDNSMessage)
	// ErrDoHShort is returned when the message is shorter than a DNS
	// header (400).
	ErrDoHShort = errors.New("doh: message shorter than a DNS header")
)

// ParseDoHRequest extracts the DNS query of an RFC 8484 request: the
// base64url dns parameter of a GET (padding tolerated), or the body of a
// POST with Content-Type application/dns-message. It returns the query,
// or the HTTP status to answer and an error: 400, 413 (over max octets),
// 415 (wrong media type), 405 (another method). w, when not nil, lets the
// body reader tell the server to stop reading an oversized body.
func ParseDoHRequest(r *http.Request, max int, w http.ResponseWriter) ([]byte, int, error) {
	var raw []byte
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query().Get("dns")
		if q == "" {
			return nil, http.StatusBadRequest, ErrDoHMissing
		}
		q = strings.TrimRight(q, "=")
		if base64.RawURLEncoding.DecodedLen(len(q)) > max {
			return nil, http.StatusRequestEntityTooLarge, ErrDoHTooLarge
		}
		b, err := base64.RawURLEncoding.DecodeString(q)
		if err != nil {
			return nil, http.StatusBadRequest, ErrDoHEncoding
		}
		raw = b
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != MediaDNSMessage {
			return nil, http.StatusUnsupportedMediaType, ErrDoHMediaType
		}
		if r.ContentLength > int64(max) {
			return nil, http.StatusRequestEntityTooLarge, ErrDoHTooLarge
		}
		body := r.Body
		if w != nil {
			body = http.MaxBytesReader(w, r.Body, int64(max))
		}
		b, err := io.ReadAll(io.LimitReader(body, int64(max)+1))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig) || len(b) > max:
			return nil, http.StatusRequestEntityTooLarge, ErrDoHTooLarge
		case err != nil:
			return nil, http.StatusBadRequest, fmt.Errorf("doh: reading body: %w", err)
		case len(b) == 0:
			return nil, http.StatusBadRequest, ErrDoHMissing
		}
		raw = b
	default:
		return nil, http.StatusMethodNotAllowed, fmt.Errorf("doh: method %s", r.Method)
	}
	if len(raw) < headerLen {
		return nil, http.StatusBadRequest, ErrDoHShort
	}
	return raw, 0, nil
}

// cacheControl returns the Cache-Control of a reply: max-age the smallest
// TTL of its answer and authority records (RFC 8484 §5.1), "no-store"
// when it has none (errors, REFUSED).
func cacheControl(msg []byte) string {
	ttl, ok := minTTL(msg)
	if !ok {
		return "no-store"
	}
	return "max-age=" + strconv.FormatUint(uint64(ttl), 10)
}

// minTTL returns the smallest TTL of the answer and authority records of
// the packed message msg; ok=false when there are none or msg is
// malformed.
func minTTL(msg []byte) (ttl uint32, ok bool) {
	if len(msg) < headerLen {
		return 0, false
	}
	qd := int(binary.BigEndian.Uint16(msg[4:]))
	rrs := int(binary.BigEndian.Uint16(msg[6:])) + int(binary.BigEndian.Uint16(msg[8:]))
	off := headerLen
	for i := 0; i < qd; i++ {
		if off = skipName(msg, off); off < 0 || off+4 > len(msg) {
			return 0, false
		}
		off += 4
	}
	for i := 0; i < rrs; i++ {
		if off = skipName(msg, off); off < 0 || off+10 > len(msg) {
			return 0, false
		}
		t := binary.BigEndian.Uint32(msg[off+4:])
		if !ok || t < ttl {
			ttl, ok = t, true
		}
		off += 10 + int(binary.BigEndian.Uint16(msg[off+8:]))
	}
	if off > len(msg) {
		return 0, false
	}
	return ttl, ok
}

// skipName returns the offset after the (possibly compressed) name at
// off, or -1.
func skipName(msg []byte, off int) int {
	for off < len(msg) {
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1
		case l&0xC0 == 0xC0:
			if off+2 > len(msg) {
				return -1
			}
			return off + 2
		case l&0xC0 != 0:
			return -1
		}
		off += 1 + l
	}
	return -1
}
