package api

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not-an-ip", "not-an-ip"},
	} {
		if got := clientKey(tc.in); got != tc.want {
			t.Errorf("clientKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	a := clientPrefix(&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 1})
	b := clientPrefix(&net.TCPAddr{IP: net.ParseIP("2001:db8::ffff:2"), Port: 2})
	if a != b || a != netip.MustParsePrefix("2001:db8::/64") {
		t.Errorf("clientPrefix of two addresses of one /64 = %v and %v, want 2001:db8::/64 both", a, b)
	}
	if d := DefaultMaxConns(20000); d != DefaultMaxConnsCeiling {
		t.Errorf("DefaultMaxConns(20000) = %d, want %d", d, DefaultMaxConnsCeiling)
	}
	if d := DefaultMaxConns(1024); d != 256 {
		t.Errorf("DefaultMaxConns(1024) = %d, want 256", d)
	}
}

// floodServer serves a fixture's API as the node does (HTTPServer on a
// LimitListener), with read timeouts shortened to 1 s so the test does not
// wait 30 s for a slow body to be cut; it returns the address and the
// listener.
func floodServer(t *testing.T, lim ConnLimits) (string, *ConnListener) {
	t.Helper()
	f := newFixture(t, func(o *Options) { o.IPLimits = raftfsm.Limits{PerMinute: 60000, Burst: 10000} })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := LimitListener(ln, lim)
	srv := HTTPServer(f.s.Handler(), nil)
	if srv.ReadTimeout == 0 || srv.ReadHeaderTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 || srv.MaxHeaderBytes > 64<<10 {
		t.Fatalf("HTTPServer: ReadTimeout %v ReadHeaderTimeout %v WriteTimeout %v IdleTimeout %v MaxHeaderBytes %d; want all bounded",
			srv.ReadTimeout, srv.ReadHeaderTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
	srv.ReadHeaderTimeout, srv.ReadTimeout = time.Second, time.Second
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(cl)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String(), cl
}

// dialFrom opens a TCP connection to addr from the local address src.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// goodClient sends n requests from src over its own keep-alive
// connection, one at a time, and returns the failures and the latencies.
func goodClient(t *testing.T, src, addr string, n int) (failed int, lat []time.Duration, errs []string) {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for range n {
		start := time.Now()
		res, err := c.Get("http://" + addr + "/v1/log/checkpoint")
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", res.StatusCode)
			}
		}
		lat = append(lat, time.Since(start))
		if err != nil {
			failed++
			errs = append(errs, err.Error())
		}
	}
	return failed, lat, errs
}

func p99(lat []time.Duration) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[(len(s)*99)/100]
}

// TestAPIFlood: a client's requests keep succeeding while connections
// flood the API: idle ones and slow bodies from one address (capped per
// client; slow bodies cut at the read timeout), and idle ones from many
// addresses together past the global cap (the biggest holders give way).
func TestAPIFlood(t *testing.T) {
	const perIP, maxConns = 8, 64
	for _, tc := range []struct {
		name    string
		sources []string // attacker addresses
		conns   int      // connections each tries to hold
		slow    bool     // a POST whose body trickles, else idle
	}{
		{"idle connections from one address", []string{"127.0.0.2"}, 300, false},
		{"slow bodies from one address", []string{"127.0.0.2"}, 100, true},
		{"idle connections from 40 addresses", floodSources(40), 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, cl := floodServer(t, ConnLimits{MaxConns: maxConns, MaxPerIP: perIP})
			var (
				mu    sync.Mutex
				conns []net.Conn
			)
			t.Cleanup(func() {
				for _, c := range conns {
					c.Close()
				}
			})
			for _, src := range tc.sources {
				for range tc.conns {
					c, err := dialFrom(src, addr)
					if err != nil {
						t.Fatalf("attacker dial from %s: %v", src, err)
					}
					if tc.slow {
						fmt.Fprintf(c, "POST /v1/applications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
					}
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
			}
			failed, lat, errs := goodClient(t, "127.0.0.3", addr, 50)
			t.Logf("%s: %d attacker connections tried; listener open %d, refused %d, evicted %d; good client: %d/%d failed, p99 %v",
				tc.name, len(conns), cl.Open(), cl.Refused(), cl.Evicted(), failed, len(lat), p99(lat))
			if failed > 0 {
				t.Errorf("the good client failed %d of %d requests: %v", failed, len(lat), errs)
			}
			if open := cl.Open(); open > maxConns {
				t.Errorf("listener holds %d connections, cap %d", open, maxConns)
			}
			if tc.slow {
				// Every slow body is cut by the read timeout (1 s here;
				// the bound only catches a hang).
				deadline := time.Now().Add(30 * time.Second)
				for _, c := range conns {
					c.SetReadDeadline(deadline)
					fmt.Fprint(c, " ") // a trickle
					// EOF or a reset: the server closed it.
					if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
						t.Fatalf("a slow body's connection still open at the bound: %v", err)
					}
				}
			}
		})
	}
}

func floodSources(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("127.0.1.%d", i+1))
	}
	return out
}

// TestAPIRequestLimits: a header section past the API's limit is refused
// with 431, and a body without Content-Type with 415 and a JSON error,
// before the body is read.
func TestAPIRequestLimits(t *testing.T) {
	addr, _ := floodServer(t, ConnLimits{})
	send := func(t *testing.T, req string) (int, string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		go io.WriteString(c, req)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	big := "GET /v1/log/checkpoint HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"
	if code, _ := send(t, big); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB header = %d, want 431", code)
	}
	// Content-Length promises more than is sent: the answer must come
	// before the body is read.
	noType := "POST /v1/applications HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
	if code, body := send(t, noType); code != http.StatusUnsupportedMediaType || !strings.Contains(body, `"unsupported_media_type"`) {
		t.Errorf("body without Content-Type = %d %s, want 415 unsupported_media_type", code, body)
	}
	tooBig := "POST /v1/applications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{"
	if code, _ := send(t, tooBig); code != http.StatusRequestEntityTooLarge {
		t.Errorf("100 MB body announced = %d, want 413", code)
	}
}
