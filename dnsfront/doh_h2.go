package dnsfront

// doh_h2.go: the lean HTTP/2 server of DoH (issue 16 item 2).
//
// Go's HTTP/2 server (golang.org/x/net/http2) spends per request a
// goroutine, a header map, an http.Request, a select loop between its
// reader and its serve goroutine, and HPACK both ways; DoH over HTTP/2
// cost three times Unbound's CPU per query with it. Here the
// connection's goroutine reads the frames itself (x/net's Framer, which
// also decodes HPACK and checks the header rules) and answers a wire
// query at the DoH path (GET ?dns= or POST application/dns-message)
// there: from the packed cache (CachedResponder) without a goroutine,
// otherwise in one goroutine per query. Each reply is one HEADERS frame
// (HPACK encoder kept per connection) and one DATA frame carrying
// END_STREAM, in a TLS record of its own (dnsperf needs both: see
// h2records.go), the records of one read batch sent with one system call.
// Every other request on the connection (another path, the JSON form, a
// wrong method or media type, a query that does not decode) goes to the
// server's http.Handler, buffered, so it is answered exactly as before;
// HTTP/1.1 connections never come here.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// HTTP/2 limits of the lean server.
const (
	// h2MaxHeaderList is SETTINGS_MAX_HEADER_LIST_SIZE (as the HTTP
	// servers' MaxHeaderBytes): a request over it gets 431.
	h2MaxHeaderList = 16 << 10
	// h2MaxFrame is the largest frame read (the default
	// SETTINGS_MAX_FRAME_SIZE, not raised).
	h2MaxFrame = 16 << 10
	// h2ConnWindow is the connection's receive window, granted at the
	// start and topped up when half is used.
	h2ConnWindow = 1 << 20
	// h2StreamWindow is a stream's receive window (the default; never
	// topped up: a request body is at most MaxQuerySize ≤ 65535).
	h2StreamWindow = 65535
	// h2MaxResponse bounds a response another handler writes, which is
	// buffered whole.
	h2MaxResponse = 1 << 20
	// h2OutFlush is what the write buffer holds before it is written
	// even while frames remain to be read.
	h2OutFlush = 32 << 10
)

// leanH2 serves the HTTP/2 connections of an HTTPSServer.
type leanH2 struct {
	h        Responder
	cr       CachedResponder // h's, nil when it has none
	opt      HTTPSOptions
	getPre   string // opt.Path + "?dns="
	altSvc   string // Alt-Svc of responses, "" for none
	fallback http.Handler
}

func newLeanH2(h Responder, opt HTTPSOptions, altSvc string, fallback http.Handler) *leanH2 {
	l := &leanH2{h: h, opt: opt, getPre: opt.Path + "?dns=", altSvc: altSvc, fallback: fallback}
	l.cr, _ = h.(CachedResponder)
	return l
}

// h2Stream is one request of a connection.
type h2Stream struct {
	id       uint32
	method   string
	path     string
	fields   []hpack.HeaderField // the regular fields, for the fallback
	auth     string
	clen     int64 // announced content-length, -1 when none
	body     []byte
	ended    bool  // the client's side is closed (END_STREAM seen)
	lean     bool  // a wire query for the lean path
	recv     int64 // flow-controlled octets received
	sendWin  int64
	pending  []byte // DATA not yet sent (flow control)
	held     int    // octets of pending counted against the connection's allowance
	gone     bool   // reset or answered: whoever holds it drops it
	cancel   context.CancelFunc
	answered bool // its response is queued
}

// h2Conn is the state of one connection. The reader goroutine (serve)
// owns reading; mu guards the rest, held by the reader while it handles
// a frame and by an answering goroutine while it queues and writes its
// reply.
type h2Conn struct {
	l    *leanH2
	c    net.Conn
	cork *corkConn // nil when c is not over one: one write per record then
	rd   *bufio.Reader
	fr   *http2.Framer
	tk   *tracked // nil when the connection is not in a table
	from netip.AddrPort
	ctx  context.Context // the connection's; cancelled when it ends
	stop context.CancelFunc
	hs   http.Handler // the fallback, with the server's per-connection setup
	tls  *tls.ConnectionState
	log  *slog.Logger
	wg   sync.WaitGroup

	rbuf []byte // reply buffer of the reader's own answers
	qbuf []byte // decoded GET query of the reader

	mu       sync.Mutex
	dead     bool
	out      []byte
	cuts     []int // ends of TLS records in out: one DATA frame each at most
	hbuf     bytes.Buffer
	enc      *hpack.Encoder
	streams  map[uint32]*h2Stream
	blocked  map[uint32]*h2Stream // with DATA waiting for window
	maxID    uint32               // the highest stream id the client opened
	sendWin  int64                // the connection's send window
	initWin  int64                // the client's SETTINGS_INITIAL_WINDOW_SIZE
	maxFrame int                  // the client's SETTINGS_MAX_FRAME_SIZE
	recvWin  int64                // what the client may still send us
	unacked  int64                // received octets not yet given back
	dateSec  int64
	date     string
}

// h2Error is a connection error to end with GOAWAY.
type h2Error http2.ErrCode

// serve runs one HTTP/2 connection on its goroutine until it ends. c is
// the TLS connection; hs answers what the lean path does not (it sets
// the request's TLS state and remote address, as net/http's own does).
func (l *leanH2) serve(ctx context.Context, c net.Conn, hs http.Handler) {
	ctx, stop := context.WithCancel(ctx)
	hc := &h2Conn{
		l: l, c: c, ctx: ctx, stop: stop, hs: hs, log: l.opt.Logger,
		from:     addrPortOf(c.RemoteAddr()),
		streams:  make(map[uint32]*h2Stream),
		blocked:  make(map[uint32]*h2Stream),
		sendWin:  65535,
		initWin:  65535,
		maxFrame: 16384,
		recvWin:  h2ConnWindow,
		rbuf:     make([]byte, 0, replyBuf),
	}
	hc.tk, _ = ctx.Value(trackedKey{}).(*tracked)
	if tc, ok := c.(*tls.Conn); ok {
		hc.cork, _ = tc.NetConn().(*corkConn)
		st := tc.ConnectionState()
		hc.tls = &st
	}
	hc.enc = hpack.NewEncoder(&hc.hbuf)
	hc.rd = bufio.NewReaderSize(c, 16<<10)
	hc.fr = http2.NewFramer(io.Discard, hc.rd)
	hc.fr.SetMaxReadFrameSize(h2MaxFrame)
	hc.fr.MaxHeaderListSize = h2MaxHeaderList
	hc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	hc.fr.SetReuseFrames()
	err := hc.run()
	hc.mu.Lock()
	var code http2.ErrCode
	if e, ok := err.(h2Error); ok {
		code = http2.ErrCode(e)
		hc.appendGoAway(code)
		hc.flush()
	}
	hc.dead = true
	for _, st := range hc.streams {
		hc.drop(st)
	}
	hc.mu.Unlock()
	stop()
	c.Close()
	hc.wg.Wait()
	if err != nil && code != http2.ErrCodeNo {
		hc.log.Debug("doh http/2 connection ended", "from", hc.from, "err", err)
	}
}

// run reads and handles frames until the connection ends.
func (hc *h2Conn) run() error {
	l := hc.l
	hc.c.SetReadDeadline(time.Now().Add(l.opt.ReadTimeout))
	var pre [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(hc.rd, pre[:]); err != nil {
		return err
	}
	if string(pre[:]) != http2.ClientPreface {
		return errors.New("doh http/2: no client preface")
	}
	hc.mu.Lock()
	hc.appendSettings()
	hc.appendWindowUpdate(0, h2ConnWindow-65535)
	ok := hc.flush()
	hc.mu.Unlock()
	if !ok {
		return net.ErrClosed
	}
	first := true
	for {
		if hc.rd.Buffered() == 0 {
			hc.mu.Lock()
			ok := hc.flush()
			hc.mu.Unlock()
			if !ok {
				return net.ErrClosed
			}
			if !first {
				hc.c.SetReadDeadline(time.Now().Add(l.opt.IdleTimeout))
			}
		}
		f, err := hc.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			switch {
			case errors.As(err, &se):
				hc.mu.Lock()
				hc.streamError(se.StreamID, se.Code)
				hc.mu.Unlock()
				continue
			case isConnError(err):
				var ce http2.ConnectionError
				errors.As(err, &ce)
				return h2Error(ce)
			case errors.Is(err, http2.ErrFrameTooLarge):
				return h2Error(http2.ErrCodeFrameSize)
			}
			return err
		}
		if first {
			sf, ok := f.(*http2.SettingsFrame)
			if !ok || sf.IsAck() {
				return h2Error(http2.ErrCodeProtocol) // RFC 9113 §3.4
			}
			first = false
		}
		hc.mu.Lock()
		st, err := hc.handle(f)
		if err == nil && len(hc.out) > h2OutFlush && !hc.flush() {
			err = net.ErrClosed
		}
		hc.mu.Unlock()
		if err != nil {
			return err
		}
		if st != nil {
			hc.dispatch(st)
		}
	}
}

func isConnError(err error) bool {
	var ce http2.ConnectionError
	return errors.As(err, &ce)
}

// handle applies one frame; it returns a stream whose request is
// complete, to be answered without mu. hc.mu is held.
func (hc *h2Conn) handle(f http2.Frame) (*h2Stream, error) {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil, nil
		}
		if err := f.ForeachSetting(hc.setting); err != nil {
			return nil, err
		}
		hc.appendFrame(http2.FrameSettings, http2.FlagSettingsAck, 0, nil)
		hc.pumpAll()
	case *http2.MetaHeadersFrame:
		return hc.headers(f)
	case *http2.DataFrame:
		return hc.data(f)
	case *http2.WindowUpdateFrame:
		return nil, hc.windowUpdate(f.StreamID, int64(f.Increment))
	case *http2.PingFrame:
		if !f.IsAck() {
			hc.appendFrame(http2.FramePing, http2.FlagPingAck, 0, f.Data[:])
		}
	case *http2.RSTStreamFrame:
		if st := hc.streams[f.StreamID]; st != nil {
			hc.drop(st)
		} else if f.StreamID > hc.maxID {
			return nil, h2Error(http2.ErrCodeProtocol) // RST_STREAM on an idle stream
		}
	case *http2.PushPromiseFrame:
		return nil, h2Error(http2.ErrCodeProtocol) // a client never pushes
	case *http2.GoAwayFrame, *http2.PriorityFrame, *http2.UnknownFrame:
		// Nothing to do: the client closes when it is done; priorities
		// do not matter to replies this small.
	}
	return nil, nil
}

// setting applies one of the client's settings. hc.mu is held.
func (hc *h2Conn) setting(s http2.Setting) error {
	if err := s.Valid(); err != nil {
		var ce http2.ConnectionError
		if errors.As(err, &ce) {
			return h2Error(ce)
		}
		return h2Error(http2.ErrCodeProtocol)
	}
	switch s.ID {
	case http2.SettingInitialWindowSize:
		delta := int64(s.Val) - hc.initWin
		hc.initWin = int64(s.Val)
		for _, st := range hc.streams {
			st.sendWin += delta
			if st.sendWin > 1<<31-1 {
				return h2Error(http2.ErrCodeFlowControl)
			}
		}
	case http2.SettingMaxFrameSize:
		hc.maxFrame = int(s.Val)
	case http2.SettingHeaderTableSize:
		hc.enc.SetMaxDynamicTableSizeLimit(s.Val)
	}
	return nil
}

// headers opens a stream (or ends one with trailers). hc.mu is held.
func (hc *h2Conn) headers(f *http2.MetaHeadersFrame) (*h2Stream, error) {
	id := f.StreamID
	if st := hc.streams[id]; st != nil {
		// Trailers: they must end the stream; they are not read.
		if st.ended || !f.StreamEnded() {
			hc.streamError(id, http2.ErrCodeProtocol)
			return nil, nil
		}
		return hc.endRequest(st)
	}
	if id%2 == 0 || id <= hc.maxID {
		return nil, h2Error(http2.ErrCodeProtocol) // RFC 9113 §5.1.1
	}
	hc.maxID = id
	if len(hc.streams) >= hc.l.opt.MaxStreams {
		hc.appendRST(id, http2.ErrCodeRefusedStream)
		return nil, nil
	}
	st := &h2Stream{id: id, clen: -1, sendWin: hc.initWin, ended: f.StreamEnded()}
	hc.streams[id] = st
	if f.Truncated {
		hc.respondError(st, http.StatusRequestHeaderFieldsTooLarge, "request headers too large")
		return nil, nil
	}
	st.method = f.PseudoValue("method")
	st.path = f.PseudoValue("path")
	st.auth = f.PseudoValue("authority")
	if st.method == "" || st.path == "" || f.PseudoValue("scheme") == "" || f.PseudoValue("protocol") != "" {
		hc.streamError(id, http2.ErrCodeProtocol) // RFC 9113 §8.3.1 (no CONNECT here)
		return nil, nil
	}
	ctype := ""
	for _, hf := range f.RegularFields() {
		switch hf.Name {
		case "connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade":
			hc.streamError(id, http2.ErrCodeProtocol) // RFC 9113 §8.2.2
			return nil, nil
		case "te":
			if hf.Value != "trailers" {
				hc.streamError(id, http2.ErrCodeProtocol)
				return nil, nil
			}
		case "content-length":
			n, err := strconv.ParseInt(hf.Value, 10, 64)
			if err != nil || n < 0 || (st.clen >= 0 && n != st.clen) {
				hc.streamError(id, http2.ErrCodeProtocol)
				return nil, nil
			}
			st.clen = n
		case "content-type":
			ctype = hf.Value
		}
	}
	st.fields = f.RegularFields()
	if st.clen > int64(hc.l.opt.MaxQuerySize) {
		hc.respondError(st, http.StatusRequestEntityTooLarge, ErrDoHTooLarge.Error())
		return nil, nil
	}
	// The lean path takes the two forms every DoH client sends; any
	// other request is the fallback's to answer (or refuse) as before.
	switch st.method {
	case http.MethodGet:
		st.lean = strings.HasPrefix(st.path, hc.l.getPre)
	case http.MethodPost:
		st.lean = st.path == hc.l.opt.Path && ctype == MediaDNSMessage
	}
	if st.ended {
		return hc.endRequest(st)
	}
	return nil, nil
}

// data takes a request body's octets. hc.mu is held.
func (hc *h2Conn) data(f *http2.DataFrame) (*h2Stream, error) {
	// Flow control counts the whole frame, padding too (RFC 9113 §6.9).
	n := int64(f.Length)
	if hc.recvWin -= n; hc.recvWin < 0 {
		return nil, h2Error(http2.ErrCodeFlowControl)
	}
	if hc.unacked += n; hc.unacked >= h2ConnWindow/2 {
		hc.appendWindowUpdate(0, uint32(hc.unacked))
		hc.recvWin += hc.unacked
		hc.unacked = 0
	}
	st := hc.streams[f.StreamID]
	if st == nil {
		if f.StreamID > hc.maxID {
			return nil, h2Error(http2.ErrCodeProtocol) // DATA on an idle stream
		}
		return nil, nil // a stream already closed or reset: ignored
	}
	if st.ended {
		hc.streamError(st.id, http2.ErrCodeStreamClosed)
		return nil, nil
	}
	if st.answered {
		return nil, nil // answered early (413): the rest is not read
	}
	if st.recv += n; st.recv > h2StreamWindow {
		hc.streamError(st.id, http2.ErrCodeFlowControl)
		return nil, nil
	}
	if len(st.body)+len(f.Data()) > hc.l.opt.MaxQuerySize {
		hc.respondError(st, http.StatusRequestEntityTooLarge, ErrDoHTooLarge.Error())
		return nil, nil
	}
	st.body = append(st.body, f.Data()...)
	if f.StreamEnded() {
		st.ended = true
		return hc.endRequest(st)
	}
	return nil, nil
}

// endRequest checks a complete request and hands it to dispatch. hc.mu
// is held.
func (hc *h2Conn) endRequest(st *h2Stream) (*h2Stream, error) {
	st.ended = true
	if st.clen >= 0 && st.clen != int64(len(st.body)) {
		hc.streamError(st.id, http2.ErrCodeProtocol) // RFC 9113 §8.1.1
		return nil, nil
	}
	return st, nil
}

// windowUpdate opens a send window. hc.mu is held.
func (hc *h2Conn) windowUpdate(id uint32, inc int64) error {
	if id == 0 {
		if hc.sendWin += inc; hc.sendWin > 1<<31-1 {
			return h2Error(http2.ErrCodeFlowControl)
		}
		hc.pumpAll()
		return nil
	}
	st := hc.streams[id]
	if st == nil {
		if id > hc.maxID {
			return h2Error(http2.ErrCodeProtocol)
		}
		return nil
	}
	if st.sendWin += inc; st.sendWin > 1<<31-1 {
		hc.streamError(id, http2.ErrCodeFlowControl)
		return nil
	}
	hc.pump(st)
	return nil
}

// streamError resets a stream. hc.mu is held.
func (hc *h2Conn) streamError(id uint32, code http2.ErrCode) {
	if id > hc.maxID && id%2 == 1 {
		hc.maxID = id
	}
	if st := hc.streams[id]; st != nil {
		hc.drop(st)
	}
	hc.appendRST(id, code)
}

// drop forgets a stream: reset, answered, or the connection is ending.
// hc.mu is held.
func (hc *h2Conn) drop(st *h2Stream) {
	if st.gone {
		return
	}
	st.gone = true
	delete(hc.streams, st.id)
	delete(hc.blocked, st.id)
	st.pending = nil
	if st.held > 0 {
		hc.tk.unreserve(st.held)
		st.held = 0
	}
	if st.cancel != nil {
		st.cancel()
	}
}

// dispatch answers a complete request: a wire query from the packed
// cache here, another in a goroutine; any other request by the fallback
// handler in a goroutine.
func (hc *h2Conn) dispatch(st *h2Stream) {
	var raw []byte
	if st.lean {
		raw = hc.query(st)
	}
	if raw == nil {
		hc.goFallback(st)
		return
	}
	if hc.tk != nil && !hc.tk.begin(hc.ctx.Done()) {
		return
	}
	if hc.l.cr != nil {
		if out, ok := hc.l.cr.HandleCached(raw, hc.rbuf[:0], dohTransport, hc.from); ok {
			hc.mu.Lock()
			hc.reply(st, out)
			hc.mu.Unlock()
			if cap(out) > cap(hc.rbuf) {
				hc.rbuf = out[:0]
			}
			if hc.tk != nil {
				hc.tk.end()
			}
			return
		}
	}
	qp := getBuf(len(raw))
	q := append((*qp)[:0], raw...)
	hc.wg.Add(1)
	go func() {
		defer hc.wg.Done()
		bp := getBuf(replyBuf)
		out, ok := hc.answer(q, (*bp)[:0])
		putBuf(qp)
		if ok {
			hc.mu.Lock()
			hc.reply(st, out)
			hc.flush()
			hc.mu.Unlock()
		}
		putBuf(bp)
		if hc.tk != nil {
			hc.tk.end()
		}
		if !ok {
			hc.runFallback(st) // a Responder that would not answer: the handler says why
		}
	}()
}

func (hc *h2Conn) answer(raw, buf []byte) (out []byte, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			hc.log.Error("handler panic", "transport", dohTransport, "panic", r)
			out, ok = nil, false
		}
	}()
	return handleFrom(hc.l.h, raw, buf, dohTransport, hc.from)
}

// query returns a lean request's DNS query, or nil when the fallback is
// to answer it (the same checks as ParseDoHRequest, which then gives
// the error). A GET's query is decoded into hc.qbuf.
func (hc *h2Conn) query(st *h2Stream) []byte {
	var raw []byte
	if st.method == http.MethodGet {
		var ok bool
		raw, ok = dohGetQuery(st.path[len(hc.l.getPre):], hc.qbuf[:0], hc.l.opt.MaxQuerySize)
		if !ok {
			return nil
		}
		hc.qbuf = raw[:0]
	} else {
		raw = st.body
	}
	if len(raw) < headerLen || raw[2]&0x80 != 0 {
		return nil
	}
	return raw
}

// dohGetQuery decodes the value of a GET's only parameter, dns: base64url
// with optional padding, nothing percent-encoded, at most max octets once
// decoded; ok=false for anything else. It appends to buf.
func dohGetQuery(v string, buf []byte, limit int) (raw []byte, ok bool) {
	v = strings.TrimRight(v, "=")
	if v == "" || base64.RawURLEncoding.DecodedLen(len(v)) > limit {
		return nil, false
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return nil, false
		}
	}
	n := base64.RawURLEncoding.DecodedLen(len(v))
	if cap(buf) < n {
		buf = make([]byte, 0, max(n, 512))
	}
	buf = buf[:n]
	m, err := base64.RawURLEncoding.Decode(buf, []byte(v))
	if err != nil {
		return nil, false
	}
	return buf[:m], true
}

// reply queues a DNS reply on st: HEADERS, then one DATA frame with
// END_STREAM when the windows allow. hc.mu is held.
func (hc *h2Conn) reply(st *h2Stream, out []byte) {
	if st.gone || hc.dead {
		return
	}
	hc.hbuf.Reset()
	hc.field(":status", "200")
	hc.field("content-type", MediaDNSMessage)
	hc.field("content-length", strconv.Itoa(len(out)))
	hc.field("cache-control", cacheControl(out))
	hc.field("date", hc.now())
	if hc.l.altSvc != "" {
		hc.field("alt-svc", hc.l.altSvc)
	}
	hc.send(st, out)
}

// field HPACK-encodes one response field into hc.hbuf. hc.mu is held.
func (hc *h2Conn) field(name, value string) {
	hc.enc.WriteField(hpack.HeaderField{Name: name, Value: value})
}

// now is the Date field's value, formatted once a second.
func (hc *h2Conn) now() string {
	t := time.Now()
	if s := t.Unix(); s != hc.dateSec || hc.date == "" {
		hc.dateSec, hc.date = s, t.UTC().Format(http.TimeFormat)
	}
	return hc.date
}

// send queues the HEADERS encoded in hc.hbuf and body as st's response.
// hc.mu is held.
func (hc *h2Conn) send(st *h2Stream, body []byte) {
	st.answered = true
	hc.appendHeaders(st.id, hc.hbuf.Bytes(), len(body) == 0)
	if len(body) == 0 {
		hc.finish(st)
		return
	}
	st.pending = body
	hc.pump(st)
	if len(st.pending) > 0 {
		// Held for the client's window: keep a copy, counted against the
		// connection's allowance and the shared budget.
		st.pending = append([]byte(nil), st.pending...)
		if hc.tk != nil && !hc.tk.reserve(cap(st.pending)) {
			hc.log.Debug("client does not read its responses: cut off", "from", hc.from)
			hc.dead = true
			hc.c.Close()
			return
		}
		if hc.tk != nil {
			st.held = cap(st.pending)
		}
		hc.blocked[st.id] = st
	}
}

// pump sends what st's and the connection's windows allow of its
// pending DATA. hc.mu is held.
func (hc *h2Conn) pump(st *h2Stream) {
	for len(st.pending) > 0 {
		n := int(min(int64(len(st.pending)), hc.sendWin, st.sendWin, int64(hc.maxFrame)))
		if n <= 0 {
			return
		}
		end := n == len(st.pending)
		var fl http2.Flags
		if end {
			fl = http2.FlagDataEndStream
		}
		hc.appendFrame(http2.FrameData, fl, st.id, st.pending[:n])
		hc.cuts = append(hc.cuts, len(hc.out))
		hc.sendWin -= int64(n)
		st.sendWin -= int64(n)
		st.pending = st.pending[n:]
		if end {
			hc.finish(st)
			return
		}
	}
}

// pumpAll retries every stream waiting for window. hc.mu is held.
func (hc *h2Conn) pumpAll() {
	if len(hc.blocked) == 0 {
		return
	}
	ids := make([]uint32, 0, len(hc.blocked))
	for id := range hc.blocked {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if st := hc.blocked[id]; st != nil && hc.sendWin > 0 {
			hc.pump(st)
		}
	}
}

// finish closes a stream whose response is sent: when the client has
// not finished its request (an early error), RST_STREAM NO_ERROR tells it
// to stop (RFC 9113 §8.1). hc.mu is held.
func (hc *h2Conn) finish(st *h2Stream) {
	if !st.ended {
		hc.appendRST(st.id, http2.ErrCodeNo)
	}
	hc.drop(st)
}

// respondError answers st with status and text as http.Error would.
// hc.mu is held.
func (hc *h2Conn) respondError(st *h2Stream, status int, text string) {
	w := newH2Response()
	http.Error(w, text, status)
	hc.queueResponse(st, w, false)
}

// goFallback runs the fallback handler for st in a goroutine.
func (hc *h2Conn) goFallback(st *h2Stream) {
	hc.wg.Add(1)
	go func() {
		defer hc.wg.Done()
		hc.runFallback(st)
	}()
}

// runFallback answers st with the server's http.Handler, the response
// buffered whole and then queued.
func (hc *h2Conn) runFallback(st *h2Stream) {
	hc.mu.Lock()
	if st.gone || hc.dead {
		hc.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(hc.ctx)
	st.cancel = cancel
	hc.mu.Unlock()
	defer cancel()
	w := newH2Response()
	r, err := hc.request(ctx, st)
	if err != nil {
		hc.mu.Lock()
		hc.streamError(st.id, http2.ErrCodeProtocol)
		hc.flush()
		hc.mu.Unlock()
		return
	}
	panicked := false
	func() {
		defer func() {
			if p := recover(); p != nil {
				panicked = true
				if p != http.ErrAbortHandler {
					hc.log.Error("doh handler panic", "panic", p)
				}
			}
		}()
		hc.hs.ServeHTTP(w, r)
	}()
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if panicked || w.tooBig {
		hc.streamError(st.id, http2.ErrCodeInternal)
	} else {
		hc.queueResponse(st, w, st.method == http.MethodHead)
	}
	hc.flush()
}

// request builds the http.Request of st for the fallback handler.
func (hc *h2Conn) request(ctx context.Context, st *h2Stream) (*http.Request, error) {
	u, err := url.ParseRequestURI(st.path)
	if err != nil {
		return nil, err
	}
	hdr := make(http.Header, len(st.fields))
	for _, f := range st.fields {
		hdr.Add(http.CanonicalHeaderKey(f.Name), f.Value)
	}
	host := st.auth
	if host == "" {
		host = hdr.Get("Host")
	}
	r := &http.Request{
		Method: st.method, URL: u, Proto: "HTTP/2.0", ProtoMajor: 2,
		Header: hdr, Host: host, RequestURI: st.path, RemoteAddr: hc.c.RemoteAddr().String(),
		TLS: hc.tls, Body: http.NoBody, ContentLength: int64(len(st.body)),
	}
	if len(st.body) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(st.body))
	}
	return r.WithContext(ctx), nil
}

// queueResponse queues a buffered response on st. hc.mu is held.
func (hc *h2Conn) queueResponse(st *h2Stream, w *h2Response, head bool) {
	if st.gone || hc.dead {
		return
	}
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	h := w.header
	if len(w.body) > 0 && !hasField(h, "Content-Type") {
		h.Set("Content-Type", http.DetectContentType(w.body))
	}
	if !hasField(h, "Content-Length") && status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified {
		h.Set("Content-Length", strconv.Itoa(len(w.body)))
	}
	if !hasField(h, "Date") {
		h.Set("Date", hc.now())
	}
	if hc.l.altSvc != "" && !hasField(h, "Alt-Svc") {
		h.Set("Alt-Svc", hc.l.altSvc)
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	hc.hbuf.Reset()
	hc.field(":status", strconv.Itoa(status))
	for _, k := range keys {
		lk := strings.ToLower(k)
		switch lk {
		case "connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade", "te":
			continue // connection-specific (RFC 9113 §8.2.2)
		}
		for _, v := range h[k] {
			hc.field(lk, v)
		}
	}
	body := w.body
	if head {
		body = nil
	}
	hc.send(st, body)
}

// hasField reports whether the handler set the (canonical) field k, even
// to nothing (which suppresses it, as in net/http).
func hasField(h http.Header, k string) bool {
	_, ok := h[k]
	return ok
}

// h2Response buffers a fallback handler's response.
type h2Response struct {
	header http.Header
	status int
	body   []byte
	tooBig bool
}

func newH2Response() *h2Response { return &h2Response{header: make(http.Header)} }

func (w *h2Response) Header() http.Header { return w.header }

func (w *h2Response) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
}

func (w *h2Response) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if len(w.body)+len(p) > h2MaxResponse {
		w.tooBig = true
		return 0, errors.New("doh http/2: response too large")
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

// Flush does nothing: the response is sent when the handler returns.
func (w *h2Response) Flush() {}

// Frames written.

// appendFrame appends one frame to hc.out. hc.mu is held.
func (hc *h2Conn) appendFrame(t http2.FrameType, fl http2.Flags, id uint32, p []byte) {
	n := len(p)
	hc.out = append(hc.out, byte(n>>16), byte(n>>8), byte(n), byte(t), byte(fl))
	hc.out = binary.BigEndian.AppendUint32(hc.out, id&(1<<31-1))
	hc.out = append(hc.out, p...)
}

// appendHeaders appends a header block as HEADERS and, past the client's
// frame size, CONTINUATION frames. hc.mu is held.
func (hc *h2Conn) appendHeaders(id uint32, block []byte, end bool) {
	var fl http2.Flags
	if end {
		fl = http2.FlagHeadersEndStream
	}
	t := http2.FrameHeaders
	for {
		n := min(len(block), hc.maxFrame)
		f := fl
		if n == len(block) {
			f |= http2.FlagHeadersEndHeaders
		}
		hc.appendFrame(t, f, id, block[:n])
		block = block[n:]
		if len(block) == 0 {
			break
		}
		t, fl = http2.FrameContinuation, 0
	}
	if end {
		hc.cuts = append(hc.cuts, len(hc.out))
	}
}

func (hc *h2Conn) appendSettings() {
	var p []byte
	for _, s := range []http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: uint32(hc.l.opt.MaxStreams)},
		{ID: http2.SettingMaxHeaderListSize, Val: h2MaxHeaderList},
		{ID: http2.SettingEnablePush, Val: 0},
	} {
		p = binary.BigEndian.AppendUint16(p, uint16(s.ID))
		p = binary.BigEndian.AppendUint32(p, s.Val)
	}
	hc.appendFrame(http2.FrameSettings, 0, 0, p)
}

func (hc *h2Conn) appendWindowUpdate(id, inc uint32) {
	hc.appendFrame(http2.FrameWindowUpdate, 0, id, binary.BigEndian.AppendUint32(nil, inc))
}

func (hc *h2Conn) appendRST(id uint32, code http2.ErrCode) {
	hc.appendFrame(http2.FrameRSTStream, 0, id, binary.BigEndian.AppendUint32(nil, uint32(code)))
}

func (hc *h2Conn) appendGoAway(code http2.ErrCode) {
	p := binary.BigEndian.AppendUint32(nil, hc.maxID)
	hc.appendFrame(http2.FrameGoAway, 0, 0, binary.BigEndian.AppendUint32(p, uint32(code)))
}

// flush writes hc.out: one TLS record per cut (so no record holds more
// than one DATA frame), all of them with one system call when the
// connection is corked. false when the connection is gone. hc.mu is
// held.
func (hc *h2Conn) flush() bool {
	if hc.dead {
		return false
	}
	if len(hc.out) == 0 {
		return true
	}
	defer func() {
		hc.out, hc.cuts = hc.out[:0], hc.cuts[:0]
		if cap(hc.out) > 4*h2OutFlush {
			hc.out = nil
		}
	}()
	if err := hc.c.SetWriteDeadline(time.Now().Add(hc.l.opt.WriteTimeout)); err != nil {
		hc.dead = true
		return false
	}
	if hc.cork != nil {
		hc.cork.cork()
	}
	var err error
	start := 0
	for _, cut := range hc.cuts {
		if cut > start && err == nil {
			_, err = hc.c.Write(hc.out[start:cut])
			start = cut
		}
	}
	if start < len(hc.out) && err == nil {
		_, err = hc.c.Write(hc.out[start:])
	}
	if hc.cork != nil {
		if uerr := hc.cork.uncork(); err == nil {
			err = uerr
		}
	}
	if err != nil {
		hc.log.Debug("doh http/2 write", "to", hc.from, "err", err)
		hc.dead = true
		hc.c.Close()
		return false
	}
	return true
}

func (e h2Error) Error() string { return "doh http/2: " + http2.ErrCode(e).String() }
