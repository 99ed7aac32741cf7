package dnsfront

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"

	"golang.org/x/net/http2"
)

// DoH over HTTP/2 writes at most one DATA frame per TLS record.
//
// Why: HTTP/2 puts no relation between frames and TLS records, and Go's
// HTTP/2 server flushes every frame it has queued in one write, so with
// many requests in flight one TLS record carries many replies' DATA
// frames. dnsperf 2.10 (-m doh), the DoH load generator of `make bench`,
// feeds nghttp2 one TLS record per SSL_read and keeps one reply at a
// time: its data callback returns NGHTTP2_ERR_PAUSE for a second reply's
// DATA in the same input and then drops those bytes (nghttp2 counts a
// paused chunk as consumed), so every reply after the first in a record
// is lost and the query times out. Servers built on nghttp2 (Unbound)
// write one record per frame and never meet it. Cutting records after
// each DATA frame makes the replies readable one by one; the records of
// one flush are still sent with one write system call (corkConn), so the
// cost is the record overhead (22 octets and one AEAD seal per reply),
// not a system call per reply. bench/README.md has the evidence.

// frameTypeData is the HTTP/2 DATA frame type (RFC 9113 §6.1).
const frameTypeData = 0x0

// frameHeaderLen is the length of an HTTP/2 frame header (RFC 9113 §4.1).
const frameHeaderLen = 9

// corkMax bounds what corkConn holds before it writes anyway.
const corkMax = 64 << 10

// dataRecordSplitter passes an HTTP/2 byte stream to w, cutting it after
// every DATA frame, so each Write on w holds at most one DATA frame's
// end. Frames may straddle the caller's writes; the splitter keeps the
// position in the current frame between calls. It is not safe for
// concurrent use (an HTTP/2 server writes from one goroutine at a time).
type dataRecordSplitter struct {
	w      io.Writer
	hdr    [frameHeaderLen]byte
	hdrN   int // octets of the current frame header seen
	rem    int // payload octets left in the current frame
	isData bool
}

func (s *dataRecordSplitter) Write(p []byte) (int, error) {
	start, i := 0, 0
	for i < len(p) {
		if s.hdrN < frameHeaderLen {
			k := copy(s.hdr[s.hdrN:], p[i:])
			s.hdrN += k
			i += k
			if s.hdrN < frameHeaderLen {
				break
			}
			s.rem = int(s.hdr[0])<<16 | int(s.hdr[1])<<8 | int(s.hdr[2])
			s.isData = s.hdr[3] == frameTypeData
		}
		k := min(s.rem, len(p)-i)
		s.rem -= k
		i += k
		if s.rem > 0 {
			break
		}
		s.hdrN = 0
		if s.isData {
			if n, err := s.w.Write(p[start:i]); err != nil {
				return start + n, err
			}
			start = i
		}
	}
	if start < len(p) {
		n, err := s.w.Write(p[start:])
		return start + n, err
	}
	return len(p), nil
}

// corkConn is the TCP connection under TLS. While corked it collects
// what TLS writes (the records of one HTTP/2 flush) and sends it with one
// write when uncorked.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.Conn.Write(p)
	}
	c.buf = append(c.buf, p...)
	if len(c.buf) >= corkMax {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.flushLocked()
}

func (c *corkConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	if cap(c.buf) > corkMax*2 {
		c.buf = nil
	}
	return err
}

// corkListener wraps accepted connections in corkConn.
type corkListener struct{ net.Listener }

func (l corkListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &corkConn{Conn: c}, nil
}

// h2RecordConn is the TLS connection an HTTP/2 server writes to: one
// TLS record per DATA frame, one system call per flush. Embedding
// *tls.Conn keeps ConnectionState, which the HTTP/2 server checks.
type h2RecordConn struct {
	*tls.Conn
	raw   *corkConn // nil when the connection was not accepted by corkListener
	split dataRecordSplitter
}

func newH2RecordConn(c *tls.Conn) *h2RecordConn {
	rc := &h2RecordConn{Conn: c}
	rc.raw, _ = c.NetConn().(*corkConn)
	rc.split.w = c
	return rc
}

func (c *h2RecordConn) Write(p []byte) (int, error) {
	if c.raw == nil {
		return c.split.Write(p)
	}
	c.raw.cork()
	n, err := c.split.Write(p)
	if ferr := c.raw.uncork(); err == nil && ferr != nil {
		return n, ferr
	}
	return n, err
}

// configureH2 serves HTTP/2 on hs with golang.org/x/net/http2 (settings
// from hs.HTTP2), over connections that write one TLS record per DATA
// frame. hs must then serve a listener wrapped in corkListener.
func configureH2(hs *http.Server, maxStreams int) error {
	h2 := &http2.Server{MaxConcurrentStreams: uint32(maxStreams), IdleTimeout: hs.IdleTimeout}
	if err := http2.ConfigureServer(hs, h2); err != nil {
		return err
	}
	hs.TLSNextProto[http2.NextProtoTLS] = func(hs *http.Server, c *tls.Conn, h http.Handler) {
		// net/http hands its per-connection base context down through
		// this unexported-by-convention method (as ConfigureServer does).
		var ctx context.Context
		if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
			ctx = bc.BaseContext()
		}
		h2.ServeConn(newH2RecordConn(c), &http2.ServeConnOpts{Context: ctx, Handler: h, BaseConfig: hs})
	}
	return nil
}
