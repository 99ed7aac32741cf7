package dnsfront

import (
	"net"
	"sync"

	"golang.org/x/net/http2"
)

// DoH over HTTP/2 writes at most one DATA frame per TLS record.
//
// Why: HTTP/2 puts no relation between frames and TLS records, and Go's
// HTTP/2 server flushed every frame it had queued in one write, so with
// many requests in flight one TLS record carried many replies' DATA
// frames. dnsperf 2.10 (-m doh), the DoH load generator of `make bench`,
// feeds nghttp2 one TLS record per SSL_read and keeps one reply at a
// time: its data callback returns NGHTTP2_ERR_PAUSE for a second reply's
// DATA in the same input and then drops those bytes (nghttp2 counts a
// paused chunk as consumed), so every reply after the first in a record
// is lost and the query times out. Servers built on nghttp2 (Unbound)
// write one record per frame and never meet it. The lean server
// (doh_h2.go) ends a record after each DATA frame, and sends a reply's
// HEADERS and its one DATA frame (with END_STREAM: dnsperf also loses a
// reply whose END_STREAM comes in a later frame) in one record. That makes the replies readable one by one; the records of
// one flush are still sent with one write system call (corkConn), so the
// cost is the record overhead (22 octets and one AEAD seal per reply),
// not a system call per reply. bench/README.md has the evidence.

// http2NextProto is HTTP/2's ALPN id.
const http2NextProto = http2.NextProtoTLS

// corkMax bounds what corkConn holds before it writes anyway.
const corkMax = 64 << 10

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
