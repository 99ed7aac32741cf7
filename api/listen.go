package api

// listen.go: what keeps the API from being held open (issue 18): a
// listener that caps connections in all and per client address, and the
// http.Server timeouts and limits the node serves the API with.

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Connection and request limits of the API's listener and server.
const (
	// DefaultMaxConnsCeiling is the most connections the API takes by
	// default, however many file descriptors the process may open.
	DefaultMaxConnsCeiling = 1024
	// DefaultMaxConnsPerIP is the default cap on one client's connections
	// (an IPv4 address, or an IPv6 /64).
	DefaultMaxConnsPerIP = 32
	// DefaultReadHeaderTimeout bounds reading a request's headers.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included (a
	// slow body is cut off when it passes): 16 MiB, the largest body,
	// needs 560 KiB/s.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds writing a response, counted from the end
	// of the request's headers; a client that does not read is cut off.
	DefaultWriteTimeout = DefaultRequestTimeout + 15*time.Second
	// DefaultIdleTimeout closes a keep-alive connection idle that long.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultMaxHeaderBytes bounds a request's header section: API keys,
	// cookies of the web pages and X-Forwarded-For fit in far less.
	DefaultMaxHeaderBytes = 16 << 10
	// DefaultMaxStreams caps concurrent HTTP/2 streams per connection.
	DefaultMaxStreams = 32
)

// DefaultMaxConns is the API's connection cap for a process that may open
// nofile file descriptors (RLIMIT_NOFILE; 0 when unknown): a quarter of
// them, at most DefaultMaxConnsCeiling and at least 16, so the DNS
// listeners, Raft and the stores keep three quarters of the descriptors
// whatever the API is sent.
func DefaultMaxConns(nofile uint64) int {
	if nofile == 0 {
		return DefaultMaxConnsCeiling
	}
	return int(max(16, min(DefaultMaxConnsCeiling, nofile/4)))
}

// ConnLimits bound the connections of the API's listener. Zeros mean the
// defaults.
type ConnLimits struct {
	// MaxConns caps all connections. Default DefaultMaxConns of the
	// process's RLIMIT_NOFILE (FileLimit).
	MaxConns int
	// MaxPerIP caps one client's connections: an IPv4 address, or an IPv6
	// /64 (one subscriber's prefix). Behind a proxy (TrustProxy) every
	// client comes from the proxy's address: set it to MaxConns there and
	// let the proxy limit clients. Default DefaultMaxConnsPerIP.
	MaxPerIP int
	// Logger notes refused connections at debug level. Default discard.
	Logger *slog.Logger
}

// ConnListener is a net.Listener that holds at most MaxConns
// connections at a time, and at most MaxPerIP of one client. A
// connection beyond its client's cap is closed as soon as it is
// accepted, so it holds no file descriptor. When all MaxConns are taken,
// the oldest connection of the client holding the most is closed to make
// room, as long as that client holds at least twice as many as the
// newcomer's client would; else the newcomer is closed. So many addresses flooding
// together take slots from one another, not from a client with few.
// Safe for concurrent use.
type ConnListener struct {
	net.Listener
	max, perIP int
	log        *slog.Logger

	mu       sync.Mutex
	open     int
	byClient map[netip.Prefix][]*limitedConn // oldest first
	refused  atomic.Uint64
	evicted  atomic.Uint64
}

// LimitListener wraps ln with limits l.
func LimitListener(ln net.Listener, l ConnLimits) *ConnListener {
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns(FileLimit())
	}
	if l.MaxPerIP <= 0 {
		l.MaxPerIP = DefaultMaxConnsPerIP
	}
	if l.Logger == nil {
		l.Logger = slog.New(slog.DiscardHandler)
	}
	return &ConnListener{Listener: ln, max: l.MaxConns, perIP: min(l.MaxPerIP, l.MaxConns), log: l.Logger, byClient: map[netip.Prefix][]*limitedConn{}}
}

// Limits reports the caps in force.
func (l *ConnListener) Limits() (maxConns, perIP int) { return l.max, l.perIP }

// Refused is the number of connections closed at accept for a cap.
func (l *ConnListener) Refused() uint64 { return l.refused.Load() }

// Evicted is the number of connections closed to make room for a
// connection of a client holding fewer.
func (l *ConnListener) Evicted() uint64 { return l.evicted.Load() }

// Open is the number of connections open now.
func (l *ConnListener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Accept returns the next connection within the limits.
func (l *ConnListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, l: l, client: clientPrefix(c.RemoteAddr())}
		ok, victim := l.admit(lc)
		if victim != nil {
			l.evicted.Add(1)
			l.log.Debug("api connection closed for another client's", "client", victim.client, "for", lc.client)
			victim.Close()
			ok, _ = l.admit(lc)
		}
		if !ok {
			l.refused.Add(1)
			l.log.Debug("api connection refused", "client", lc.client)
			c.Close()
			continue
		}
		return lc, nil
	}
}

// admit counts c in when its client and the listener have room. When
// only the listener is full, it may name a victim to close first (then
// call admit again).
func (l *ConnListener) admit(c *limitedConn) (ok bool, victim *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mine := len(l.byClient[c.client])
	if mine >= l.perIP {
		return false, nil
	}
	if l.open >= l.max {
		var most []*limitedConn
		for _, cs := range l.byClient {
			if len(cs) > len(most) {
				most = cs
			}
		}
		// A client holding at least twice what the newcomer would hold
		// gives one up: a new or light client always gets in, heavy
		// ones do not take slots from one another (which would only
		// churn connections among them).
		if len(most) >= 2*(mine+1) {
			return false, most[0]
		}
		return false, nil
	}
	l.open++
	l.byClient[c.client] = append(l.byClient[c.client], c)
	return true, nil
}

func (l *ConnListener) release(c *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := l.byClient[c.client]
	for i, o := range cs {
		if o == c {
			l.open--
			cs = append(cs[:i:i], cs[i+1:]...)
			break
		}
	}
	if len(cs) == 0 {
		delete(l.byClient, c.client)
	} else {
		l.byClient[c.client] = cs
	}
}

// limitedConn gives its slot back once, on the first Close.
type limitedConn struct {
	net.Conn
	l      *ConnListener
	client netip.Prefix
	once   sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

// clientPrefix is the client a connection from addr counts against: the
// IPv4 address (/32), or the IPv6 /64. An address that does not parse
// counts as one client, the zero prefix.
func clientPrefix(addr net.Addr) netip.Prefix {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
			ip = ap.Addr()
		}
	}
	return ipPrefix(ip)
}

// ipPrefix is the prefix of ip that one client holds: /32 for IPv4 (and
// IPv4-mapped IPv6), /64 for IPv6.
func ipPrefix(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// clientKey is the key of the per-IP rate bucket of the address text ip:
// the address for IPv4, its /64 for IPv6; text that is no address is
// used as it is.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	p := ipPrefix(a)
	if p.Addr().Is4() {
		return p.Addr().String()
	}
	return p.String()
}

// HTTPServer returns the http.Server to serve h (the Server's Handler)
// with: headers within DefaultReadHeaderTimeout and DefaultMaxHeaderBytes,
// the whole request (body too) within DefaultReadTimeout, the response
// within DefaultWriteTimeout, idle keep-alive connections closed after
// DefaultIdleTimeout, at most DefaultMaxStreams HTTP/2 streams per
// connection. Serve it on a LimitListener. log (nil: discard) takes the
// server's own errors at debug level.
func HTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: DefaultMaxStreams},
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}
