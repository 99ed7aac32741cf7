package dnsfront

import (
	"context"
	"net"
	"sync"

	"github.com/quic-go/quic-go"
)

// Limits shared by the encrypted servers. Each is tested in
// limits_test.go; the defaults are what a node uses when its config says
// nothing.
const (
	// DefaultMaxConns caps the open connections of one server.
	DefaultMaxConns = 1000
	// DefaultMaxStreams caps the concurrent streams of one HTTP/2, HTTP/3
	// or QUIC connection.
	DefaultMaxStreams = 100
	// DefaultMaxQuerySize caps a query's length; a DNS query is rarely
	// over 512 octets, so 4096 leaves room for padding and EDNS options.
	DefaultMaxQuerySize = 4096
)

// limitListener closes connections accepted beyond its cap at once, so a
// client opening many cannot starve the others of file descriptors.
type limitListener struct {
	net.Listener
	slots chan struct{}
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, slots: l.slots}, nil
		default:
			c.Close()
		}
	}
}

type limitConn struct {
	net.Conn
	slots chan struct{}
	once  sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.slots })
	return err
}

// quicLimiter counts open QUIC connections and refuses those over the
// cap.
type quicLimiter struct {
	mu    sync.Mutex
	open  int
	max   int
	code  quic.ApplicationErrorCode // sent to refused connections
	stops []func() bool
}

// admit reports whether c may be served; when it may, c's slot is freed
// when c closes. The caller closes a refused connection.
func (q *quicLimiter) admit(c *quic.Conn) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.open >= q.max {
		return false
	}
	q.open++
	context.AfterFunc(c.Context(), func() {
		q.mu.Lock()
		q.open--
		q.mu.Unlock()
	})
	return true
}

// limitedQUICListener is a QUIC listener whose Accept skips connections
// the limiter refuses.
type limitedQUICListener struct {
	*quic.EarlyListener
	lim *quicLimiter
}

func (l *limitedQUICListener) Accept(ctx context.Context) (*quic.Conn, error) {
	for {
		c, err := l.EarlyListener.Accept(ctx)
		if err != nil {
			return nil, err
		}
		if l.lim.admit(c) {
			return c, nil
		}
		// Before the handshake completes the code is sent as a bare
		// APPLICATION_ERROR (RFC 9000 §10.2.3); HTTP clients retry alike.
		c.CloseWithError(l.lim.code, "too many connections")
	}
}
