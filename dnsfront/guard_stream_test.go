package dnsfront_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/miekg/dns"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// dialFrom opens a TCP (tlsConf nil) or DoT connection from the local
// address from.
func dialFrom(from, addr string, tlsConf *tls.Config) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	if tlsConf == nil {
		return d.Dial("tcp", addr)
	}
	return tls.DialWithDialer(d, "tcp", addr, tlsConf)
}

// streamExchange sends q on a fresh connection from from and reads one
// framed reply: what a well-behaved client does.
func streamExchange(from, addr string, tlsConf *tls.Config, q []byte) error {
	c, err := dialFrom(from, addr, tlsConf)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second)) // generous: the machine is shared
	if _, err := c.Write(framed(q)); err != nil {
		return err
	}
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return err
	}
	resp := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(c, resp); err != nil {
		return err
	}
	var m dns.Msg
	if err := m.Unpack(resp); err != nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
		return fmt.Errorf("bad answer %v: %v", m.MsgHdr, err)
	}
	return nil
}

// Many connections from one address, and from many addresses together
// filling the global cap, do not lock a well-behaved client out of TCP or
// DoT: the per-client cap holds one address to its share, and at the
// global cap the longest-idle connection is closed for the newcomer.
func TestStreamConnectionHoarding(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	lim := limits{tcp: dnsfront.TCPOptions{MaxConns: 60, MaxConnsPerClient: 8}}
	s := startServers(t, h, lim)
	for _, tr := range []struct {
		name string
		addr string
		conf *tls.Config
	}{
		{"TCP", s.tcp.Addr().String(), nil},
		{"DoT", s.dot.Addr().String(), s.cert.Client(testHost, dnsfront.ALPNDoT)},
	} {
		t.Run(tr.name, func(t *testing.T) {
			// Attackers: 127.0.0.10 to .19, 20 connections each (200
			// against a cap of 60 and 8 per client), each sending a
			// query now and then to stay open, as in the probe (one
			// every 8 s; here 1 s).
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var mu sync.Mutex
			var open, refused int
			for a := 10; a < 20; a++ {
				for i := range 20 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						time.Sleep(time.Duration(i) * 10 * time.Millisecond) // 200 handshakes spread over 0.2 s
						c, err := dialFrom(fmt.Sprintf("127.0.0.%d", a), tr.addr, tr.conf)
						if err != nil {
							mu.Lock()
							refused++
							mu.Unlock()
							return
						}
						defer c.Close()
						mu.Lock()
						open++
						mu.Unlock()
						go func() { <-ctx.Done(); c.Close() }()
						buf := make([]byte, 512)
						for ctx.Err() == nil {
							if _, err := c.Write(framed(wwwQuery(t))); err != nil {
								return
							}
							c.SetReadDeadline(time.Now().Add(3 * time.Second))
							if _, err := c.Read(buf); err != nil {
								return // closed by the server
							}
							select {
							case <-ctx.Done():
							case <-time.After(time.Second):
							}
						}
					}()
				}
			}
			var good probe
			probeDone := make(chan struct{})
			go func() {
				defer close(probeDone)
				time.Sleep(300 * time.Millisecond) // the attack is under way
				pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
				defer pcancel()
				good.run(pctx, 40*time.Millisecond, func() error {
					return streamExchange("127.0.0.3", tr.addr, tr.conf, wwwQuery(t))
				})
			}()
			<-probeDone
			cancel()
			wg.Wait()
			t.Logf("%s: attackers opened %d connections, %d refused at dial", tr.name, open, refused)
			if rate := good.report(t, tr.name+" under 200 hoarded connections"); rate > 0.1 {
				t.Errorf("%s: the well-behaved client failed %.0f%% of its queries, want at most 10%%", tr.name, 100*rate)
			}
		})
	}
}

// Clients that pipeline queries and never read their replies hold memory
// only for what they are sent, up to their pending budget, and are cut
// off; a well-behaved client is answered meanwhile.
func TestStreamNonReadingClients(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	q, size := biggestQuery(t, h)
	s := startServers(t, h, limits{tcp: dnsfront.TCPOptions{WriteTimeout: 2 * time.Second}})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	const conns = 100
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	batch := make([]byte, 0, 64*(len(q)+2))
	for range 64 {
		batch = append(batch, framed(q)...)
	}
	var peak uint64
	var peakMu sync.Mutex
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// 100 connections from 20 addresses (5 each, under the
			// per-client cap).
			// A small receive buffer, set before connecting so the
			// window stays small: the server's writes block after a few
			// KiB, as they do for a client that stopped reading.
			d := &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.1.%d", 1+i%20))},
				Control: func(_, _ string, rc syscall.RawConn) error {
					return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
				}}
			c, err := d.Dial("tcp", s.tcp.Addr().String())
			if err != nil {
				return
			}
			defer c.Close()
			go func() { <-ctx.Done(); c.Close() }()
			c.SetWriteDeadline(time.Now().Add(3 * time.Second))
			for ctx.Err() == nil {
				if _, err := c.Write(batch); err != nil {
					return
				}
			}
		}()
	}
	var good probe
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peakMu.Lock()
			peak = max(peak, m.HeapInuse)
			peakMu.Unlock()
			<-tick.C
		}
	}()
	pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
	good.run(pctx, 50*time.Millisecond, func() error {
		return streamExchange("127.0.0.3", s.tcp.Addr().String(), nil, wwwQuery(t))
	})
	pcancel()
	cancel()
	wg.Wait()
	peakMu.Lock()
	growth := int64(peak) - int64(before.HeapInuse)
	peakMu.Unlock()
	// The old server held two 64 KiB buffers per query in flight, 32 per
	// connection: 100 connections could take 400 MiB. Replies of this
	// size in 2 KiB buffers, at most 128 KiB unwritten per connection,
	// stay under 100 * 192 KiB, and the pending budget (64 MiB) caps
	// them anyway; the bound leaves room for the test's own goroutines
	// and the handler state.
	const bound = 64 << 20
	t.Logf("%d non-reading pipelining connections, answers of %d octets: heap in use grew by %.1f MiB at peak (bound %d MiB)",
		conns, size, float64(growth)/(1<<20), bound>>20)
	if growth > bound {
		t.Errorf("heap grew by %d MiB under non-reading clients, want under %d MiB", growth>>20, bound>>20)
	}
	if rate := good.report(t, "TCP under non-reading pipelining clients"); rate > 0.1 {
		t.Errorf("the well-behaved client failed %.0f%% of its queries, want at most 10%%", 100*rate)
	}
}

// quicTransport returns a QUIC transport on a socket of the local
// address from, so connections dialled through it come from there.
func quicTransport(t *testing.T, from string) *quic.Transport {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)})
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: pc}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// DoQ: addresses holding many connections (100 from ten addresses
// against a cap of 30, 6 per client) alive with QUIC keepalive do
// not lock a well-behaved client out: per-client caps, the longest-idle
// connection closed at the cap, and idle connections closed after the
// idle timeout whatever the PINGs.
func TestDoQConnectionHoarding(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{quic: dnsfront.QUICOptions{MaxConns: 30, MaxConnsPerClient: 6, IdleTimeout: 10 * time.Second}})
	addr, err := net.ResolveUDPAddr("udp", s.doq.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conf := s.cert.Client(testHost, dnsfront.ALPNDoQ)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var opened, closed int
	for a := 10; a < 20; a++ {
		tr := quicTransport(t, fmt.Sprintf("127.0.0.%d", a))
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Spread over 0.5 s: quic-go refuses handshakes beyond
				// its accept queue, whatever the server's limits.
				time.Sleep(time.Duration(i) * 50 * time.Millisecond)
				dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
				defer dcancel()
				c, err := tr.Dial(dctx, addr, conf, &quic.Config{KeepAlivePeriod: 500 * time.Millisecond})
				if err != nil {
					return
				}
				mu.Lock()
				opened++
				mu.Unlock()
				select {
				case <-ctx.Done():
					c.CloseWithError(0, "")
				case <-c.Context().Done():
					mu.Lock()
					closed++
					mu.Unlock()
				}
			}()
		}
	}
	goodTr := quicTransport(t, "127.0.0.3")
	var good probe
	time.Sleep(600 * time.Millisecond) // the attack is in place
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	good.run(pctx, 50*time.Millisecond, func() error {
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		defer dcancel()
		c, err := goodTr.Dial(dctx, addr, conf, nil)
		if err != nil {
			return err
		}
		defer c.CloseWithError(0, "")
		_, err = doqExchange(c, wwwQuery(t))
		return err
	})
	pcancel()
	cancel()
	wg.Wait()
	t.Logf("DoQ: attackers opened %d connections with keepalive, %d closed by the server", opened, closed)
	if rate := good.report(t, "DoQ under 100 hoarded keepalive connections"); rate > 0.1 {
		t.Errorf("the well-behaved client failed %.0f%% of its queries, want at most 10%%", 100*rate)
	}
}

// DoH: addresses holding many idle HTTP/2 connections and HTTP/3
// connections kept alive with PINGs (100 of each from ten addresses,
// against caps of 30, 6 per client) do not lock a well-behaved client
// out of either.
func TestDoHConnectionHoarding(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{https: dnsfront.HTTPSOptions{MaxConns: 30, MaxConnsPerClient: 6, IdleTimeout: 10 * time.Second}})
	addr := s.doh.Addr().String()
	uaddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + addr + dnsfront.DefaultDoHPath
	const attackers = 10
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for a := 10; a < 10+attackers; a++ {
		from := fmt.Sprintf("127.0.0.%d", a)
		qtr := quicTransport(t, from)
		for i := range 10 {
			wg.Add(2)
			go func() { // HTTP/2: TLS done, then silent
				defer wg.Done()
				time.Sleep(time.Duration(i) * 20 * time.Millisecond)
				c, err := dialFrom(from, addr, s.cert.Client(testHost, "h2"))
				if err != nil {
					return
				}
				defer c.Close()
				go func() { <-ctx.Done(); c.Close() }()
				io.Copy(io.Discard, c)
			}()
			go func() { // HTTP/3 with keepalive, no request
				defer wg.Done()
				time.Sleep(time.Duration(i) * 20 * time.Millisecond)
				dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
				defer dcancel()
				c, err := qtr.Dial(dctx, uaddr, s.cert.Client(testHost, http3.NextProtoH3), &quic.Config{KeepAlivePeriod: 500 * time.Millisecond})
				if err != nil {
					return
				}
				select {
				case <-ctx.Done():
					c.CloseWithError(0, "")
				case <-c.Context().Done():
				}
			}()
		}
	}
	time.Sleep(300 * time.Millisecond) // the attack is under way
	// The well-behaved client opens a fresh connection per query, as a
	// newcomer does, from 127.0.0.3.
	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: s.cert.Client(testHost), ForceAttemptHTTP2: true, DisableKeepAlives: true,
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}).DialContext,
	}}
	goodQUIC := quicTransport(t, "127.0.0.3")
	h3tr := &http3.Transport{TLSClientConfig: s.cert.Client(testHost),
		Dial: func(ctx context.Context, _ string, tlsConf *tls.Config, conf *quic.Config) (*quic.Conn, error) {
			return goodQUIC.DialEarly(ctx, uaddr, tlsConf, conf)
		}}
	defer h3tr.Close()
	h3 := &http.Client{Timeout: 10 * time.Second, Transport: h3tr}
	post := func(c *http.Client) error {
		resp, err := c.Post(url, dnsfront.MediaDNSMessage, bytes.NewReader(wwwQuery(t)))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
	var good2, good3 probe
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	var pwg sync.WaitGroup
	pwg.Add(2)
	go func() { defer pwg.Done(); good2.run(pctx, 50*time.Millisecond, func() error { return post(h2) }) }()
	go func() {
		defer pwg.Done()
		good3.run(pctx, 50*time.Millisecond, func() error {
			h3tr.CloseIdleConnections() // a fresh connection per query
			return post(h3)
		})
	}()
	pwg.Wait()
	pcancel()
	cancel()
	wg.Wait()
	for _, p := range []struct {
		name string
		p    *probe
	}{{"DoH HTTP/2", &good2}, {"DoH HTTP/3", &good3}} {
		if rate := p.p.report(t, p.name+" under 100 hoarded connections per protocol"); rate > 0.1 {
			t.Errorf("%s: the well-behaved client failed %.0f%% of its queries, want at most 10%%", p.name, 100*rate)
		}
	}
}
