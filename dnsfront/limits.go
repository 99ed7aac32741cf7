package dnsfront

import (
	"container/list"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

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

// trackListener admits accepted connections into a connTable: one over
// a cap makes room by closing the longest-idle connection, or is closed
// at once when none is idle.
type trackListener struct {
	net.Listener
	tab *connTable
}

func (l *trackListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tk, ok := l.tab.admit(addrOf(c.RemoteAddr()), func() { c.Close() })
		if !ok {
			c.Close()
			continue
		}
		return &trackConn{Conn: c, tk: tk}, nil
	}
}

// trackConn leaves its table when it closes.
type trackConn struct {
	net.Conn
	tk   *tracked
	once sync.Once
}

func (c *trackConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.tk.release)
	return err
}

// trackedQUICListener is trackListener for QUIC (HTTP/3): it also keeps
// each connection's entry, which ConnContext hands to the requests.
type trackedQUICListener struct {
	*quic.EarlyListener
	tab   *connTable
	code  quic.ApplicationErrorCode // sent to refused connections
	conns sync.Map                  // *quic.Conn -> *tracked
	wg    *sync.WaitGroup           // the server's: closing goroutines
}

func (l *trackedQUICListener) Accept(ctx context.Context) (*quic.Conn, error) {
	for {
		c, err := l.EarlyListener.Accept(ctx)
		if err != nil {
			return nil, err
		}
		tk, ok := l.tab.admit(addrOf(c.RemoteAddr()), func() {
			// CloseWithError waits for the connection's loop to end:
			// not on the accept loop.
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				c.CloseWithError(0x100, "idle connection closed") // H3_NO_ERROR
			}()
		})
		if !ok {
			// Before the handshake completes the code is sent as a bare
			// APPLICATION_ERROR (RFC 9000 §10.2.3); HTTP clients retry alike.
			c.CloseWithError(l.code, "too many connections")
			continue
		}
		l.conns.Store(c, tk)
		context.AfterFunc(c.Context(), func() {
			tk.release()
			l.conns.Delete(c)
		})
		return c, nil
	}
}

// connContext puts c's table entry into the context of its requests.
func (l *trackedQUICListener) connContext(ctx context.Context, c *quic.Conn) context.Context {
	if tk, ok := l.conns.Load(c); ok {
		return context.WithValue(ctx, trackedKey{}, tk.(*tracked))
	}
	return ctx
}

// trackedKey is the context key of a request's connection entry.
type trackedKey struct{}

// netConnContext puts the table entry of c (a *tls.Conn over a
// corkConn over a trackConn, as HTTPSServer stacks them) into the
// context of its requests.
func netConnContext(ctx context.Context, c net.Conn) context.Context {
	for {
		switch cc := c.(type) {
		case *trackConn:
			return context.WithValue(ctx, trackedKey{}, cc.tk)
		case *tls.Conn:
			c = cc.NetConn()
		case *corkConn:
			c = cc.Conn
		default:
			return ctx
		}
	}
}

// limitRequests makes each request count as a query in flight of its
// connection's client (waiting while the client has its cap), so an idle
// connection is known and a client's concurrent requests are capped.
func limitRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tk, ok := r.Context().Value(trackedKey{}).(*tracked); ok {
			if !tk.begin(r.Context().Done()) {
				http.Error(w, "too many queries in flight", http.StatusServiceUnavailable)
				return
			}
			defer tk.end()
		}
		h.ServeHTTP(w, r)
	})
}

// Per-client limits of the stream servers (TCP, DoT, DoH, DoQ), beside
// their global caps.
const (
	// DefaultMaxConnsPerClient caps the connections one client (an IPv4
	// address, an IPv6 /64) holds on one server; over it, the client's
	// own longest-idle connection is closed, or the new one refused.
	DefaultMaxConnsPerClient = 16
	// DefaultMaxInflightPerClient caps the queries of one client being
	// answered at once on one server, all its connections together;
	// over it, its connections are read no further until one is answered.
	DefaultMaxInflightPerClient = 64
	// DefaultMaxPendingPerConn caps the octets of replies one connection
	// holds waiting to be written; a client that does not read is cut
	// off when it is reached.
	DefaultMaxPendingPerConn = 128 << 10
	// DefaultPendingBudget is the process-wide budget of such octets
	// (shared by the servers given the same Budget); a connection whose
	// reply would exceed it is cut off.
	DefaultPendingBudget = 64 << 20
)

// Budget is a count of octets shared by servers: the replies they hold
// waiting for slow clients. Safe for concurrent use.
type Budget struct {
	max  int64
	used atomic.Int64
}

// NewBudget returns a budget of max octets (DefaultPendingBudget when max
// is not positive).
func NewBudget(max int64) *Budget {
	if max <= 0 {
		max = DefaultPendingBudget
	}
	return &Budget{max: max}
}

// Used returns the octets taken now.
func (b *Budget) Used() int64 { return b.used.Load() }

func (b *Budget) take(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *Budget) give(n int64) { b.used.Add(-n) }

// clientKey is the key connections are counted under: the IPv4 address,
// or the /64 of an IPv6 address (one subscriber's usual allocation).
func clientKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is4() {
		return a
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a
	}
	return p.Addr()
}

// addrOf returns the IP address of a net.Addr (zero when it has none).
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr()
	case *net.UDPAddr:
		return a.AddrPort().Addr()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr()
	}
	return netip.Addr{}
}

// connTable counts one server's connections, globally and per client,
// and knows which are idle (no query in flight) and since when, so that
// when a cap is reached the longest-idle connection is closed first (RFC
// 7766 §6.2.3; at the global cap, that of the client holding the most) and idle ones are closed after the idle timeout even when
// the client keeps them alive below the DNS layer (QUIC or HTTP/2 PINGs).
type connTable struct {
	max, perClient, perInflight int
	budget                      *Budget
	perPending                  int64

	mu      sync.Mutex
	n       int
	clients map[netip.Addr]*clientSlots
	idle    list.List // of *tracked, longest idle first
}

type clientSlots struct {
	conns int
	sem   chan struct{} // one token per query in flight
}

// tracked is one connection in a connTable.
type tracked struct {
	t      *connTable
	key    netip.Addr
	cl     *clientSlots
	close  func() // closes the connection (called without t.mu)
	active int
	since  time.Time     // idle since
	elem   *list.Element // in t.idle while idle
	gone   bool          // released or evicted

	pending atomic.Int64 // octets of replies waiting to be written
}

// newConnTable returns a table; zero limits take the defaults.
func newConnTable(max, perClient, perInflight int, perPending int64, budget *Budget) *connTable {
	if max <= 0 {
		max = DefaultMaxConns
	}
	if perClient <= 0 {
		perClient = DefaultMaxConnsPerClient
	}
	if perInflight <= 0 {
		perInflight = DefaultMaxInflightPerClient
	}
	if perPending <= 0 {
		perPending = DefaultMaxPendingPerConn
	}
	if budget == nil {
		budget = NewBudget(0)
	}
	return &connTable{max: max, perClient: perClient, perInflight: perInflight, perPending: perPending,
		budget: budget, clients: make(map[netip.Addr]*clientSlots)}
}

// admit adds a connection from a, which close closes. When a's client or
// the server is at its cap, the longest-idle connection of that client,
// or of any client, is closed to make room; when none is idle, admit
// reports false and the caller closes the new connection.
func (t *connTable) admit(a netip.Addr, close func()) (*tracked, bool) {
	key := clientKey(a)
	var victims []*tracked
	t.mu.Lock()
	cl := t.clients[key]
	if cl != nil && cl.conns >= t.perClient {
		v := t.oldestIdle(key, true)
		if v == nil {
			t.mu.Unlock()
			return nil, false
		}
		t.evict(v)
		victims = append(victims, v)
	}
	if t.n >= t.max {
		v := t.oldestIdle(key, false)
		if v == nil {
			t.mu.Unlock()
			for _, v := range victims {
				v.close()
			}
			return nil, false
		}
		t.evict(v)
		victims = append(victims, v)
	}
	if cl = t.clients[key]; cl == nil {
		cl = &clientSlots{sem: make(chan struct{}, t.perInflight)}
		t.clients[key] = cl
	}
	cl.conns++
	t.n++
	tk := &tracked{t: t, key: key, cl: cl, close: close, since: time.Now()}
	tk.elem = t.idle.PushBack(tk)
	t.mu.Unlock()
	for _, v := range victims {
		v.close()
	}
	return tk, true
}

// oldestIdle returns the longest-idle connection of client key (mine),
// or else of the client holding the most connections, so a client with
// one connection is not closed for a hoarder's newcomer; nil when none
// is idle. t.mu is held.
func (t *connTable) oldestIdle(key netip.Addr, mine bool) *tracked {
	var best *tracked
	for e := t.idle.Front(); e != nil; e = e.Next() {
		v := e.Value.(*tracked)
		switch {
		case mine && v.key == key:
			return v
		case !mine && (best == nil || v.cl.conns > best.cl.conns):
			best = v
		}
	}
	return best
}

// evict takes v out of the table; t.mu is held. The caller closes it.
func (t *connTable) evict(v *tracked) {
	if v.gone {
		return
	}
	v.gone = true
	if v.elem != nil {
		t.idle.Remove(v.elem)
		v.elem = nil
	}
	t.n--
	if v.cl.conns--; v.cl.conns == 0 {
		delete(t.clients, v.key)
	}
}

// release takes the connection out of the table when it closes. It is
// idempotent.
func (tk *tracked) release() {
	tk.t.mu.Lock()
	tk.t.evict(tk)
	tk.t.mu.Unlock()
}

// begin marks a query in flight, first waiting, when the client has its
// cap of queries in flight, until one of them ends or done is closed
// (then it reports false).
func (tk *tracked) begin(done <-chan struct{}) bool {
	select {
	case tk.cl.sem <- struct{}{}:
	case <-done:
		return false
	}
	tk.t.mu.Lock()
	tk.active++
	if tk.elem != nil {
		tk.t.idle.Remove(tk.elem)
		tk.elem = nil
	}
	tk.t.mu.Unlock()
	return true
}

// end marks a query answered; a connection left without queries becomes
// the newest idle one.
func (tk *tracked) end() {
	tk.t.mu.Lock()
	tk.active--
	if tk.active == 0 && !tk.gone {
		tk.since = time.Now()
		tk.elem = tk.t.idle.PushBack(tk)
	}
	tk.t.mu.Unlock()
	<-tk.cl.sem
}

// reserve takes n octets for a reply waiting to be written, from the
// connection's allowance and the shared budget; false means the client
// holds too much unread already: cut it off.
func (tk *tracked) reserve(n int) bool {
	if tk.pending.Add(int64(n)) > tk.t.perPending {
		tk.pending.Add(-int64(n))
		return false
	}
	if !tk.t.budget.take(int64(n)) {
		tk.pending.Add(-int64(n))
		return false
	}
	return true
}

// unreserve gives back what reserve took.
func (tk *tracked) unreserve(n int) {
	tk.pending.Add(-int64(n))
	tk.t.budget.give(int64(n))
}

// closeIdle closes the connections idle for longer than d, whatever the
// transport's own keepalive did.
func (t *connTable) closeIdle(d time.Duration) {
	cut := time.Now().Add(-d)
	var victims []*tracked
	t.mu.Lock()
	for e := t.idle.Front(); e != nil; {
		v := e.Value.(*tracked)
		if v.since.After(cut) {
			break // the list is in idle order
		}
		e = e.Next()
		t.evict(v)
		victims = append(victims, v)
	}
	t.mu.Unlock()
	for _, v := range victims {
		v.close()
	}
}

// reap runs closeIdle every quarter of d until done is closed.
func (t *connTable) reap(d time.Duration, done <-chan struct{}) {
	tick := time.NewTicker(max(d/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			t.closeIdle(d)
		}
	}
}

// counts returns the connections open, for tests and metrics.
func (t *connTable) counts() (n int, clients int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n, len(t.clients)
}

// Buffers sized by the announced length: a query or reply takes the
// smallest class that holds it, so memory follows the octets sent, not
// the largest possible message.
var bufClasses = [...]int{512, 2048, 8192, 2 + maxMsg}

var bufPools [len(bufClasses)]sync.Pool

// getBuf returns a pooled buffer of at least n octets.
func getBuf(n int) *[]byte {
	for i, c := range bufClasses {
		if n <= c {
			if b, ok := bufPools[i].Get().(*[]byte); ok {
				return b
			}
			b := make([]byte, c)
			return &b
		}
	}
	b := make([]byte, n)
	return &b
}

// putBuf returns a buffer from getBuf to its pool.
func putBuf(b *[]byte) {
	for i, c := range bufClasses {
		if cap(*b) == c {
			*b = (*b)[:c]
			bufPools[i].Put(b)
			return
		}
	}
}
