package dnsfront_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/miekg/dns"
)

// probe measures a well-behaved client while an attack runs: how many of
// its queries failed and the latency of those answered.
type probe struct {
	mu   sync.Mutex
	lat  []time.Duration
	fail int
	errs []string
}

func (p *probe) record(d time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.fail++
		if len(p.errs) < 3 {
			p.errs = append(p.errs, err.Error())
		}
		return
	}
	p.lat = append(p.lat, d)
}

// report logs the failure rate and p99 and returns the failure rate.
func (p *probe) report(t *testing.T, what string) float64 {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.lat) + p.fail
	if n == 0 {
		t.Fatalf("%s: the probe sent nothing", what)
	}
	slices.Sort(p.lat)
	var p50, p99 time.Duration
	if len(p.lat) > 0 {
		p50 = p.lat[len(p.lat)/2]
		p99 = p.lat[min(len(p.lat)-1, len(p.lat)*99/100)]
	}
	rate := float64(p.fail) / float64(n)
	t.Logf("%s: well-behaved client: %d queries, %d failed (%.1f%%), p50 %v, p99 %v; first errors %q",
		what, n, p.fail, 100*rate, p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), p.errs)
	return rate
}

// minProbeQueries is how many queries a probe sends at least: on a
// loaded machine (CI, -race) a query can take longer than the window, and
// a verdict on one or two queries says nothing.
const minProbeQueries = 10

// run calls q every interval until ctx ends and at least minProbeQueries
// were sent (at most 30 s past ctx's end, a bound against hangs),
// recording each outcome. The callers keep their attack running until run
// returns.
func (p *probe) run(ctx context.Context, interval time.Duration, q func() error) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var hard time.Time
	for n := 0; ; n++ {
		if ctx.Err() != nil {
			if hard.IsZero() {
				hard = time.Now().Add(30 * time.Second)
			}
			if n >= minProbeQueries || time.Now().After(hard) {
				return
			}
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		start := time.Now()
		err := q()
		p.record(time.Since(start), err)
	}
}

// udpFrom exchanges m with server from the local address from, retrying
// once: a well-behaved client over UDP retries a lost query.
func udpFrom(from, server string, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", Timeout: time.Second, Dialer: &net.Dialer{LocalAddr: net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from))}}
	var err error
	for range 2 {
		var r *dns.Msg
		if r, _, err = c.Exchange(m, server); err == nil {
			return r, nil
		}
	}
	return nil, err
}

// biggestQuery returns the query of the example zone with the largest
// positive UDP answer (the best reflector) and that answer's size.
func biggestQuery(t *testing.T, h *dnsfront.Handler) ([]byte, int) {
	t.Helper()
	var best []byte
	size := 0
	for _, c := range answerCases {
		raw, err := dnstest.Query(c.Name, c.Type, true).Pack()
		if err != nil {
			t.Fatal(err)
		}
		out, ok := h.Handle(raw, make([]byte, 0, 65535), dnsfront.UDP)
		positive := ok && out[3]&0xF == 0 && (out[6] != 0 || out[7] != 0)
		if positive && len(out) > size && out[2]&0x02 == 0 {
			best, size = raw, len(out)
		}
	}
	return best, size
}

type floodResult struct {
	sentBytes, recvBytes       int64
	sent, full, slipped, other int64
}

func (f floodResult) amplification() float64 { return float64(f.recvBytes) / float64(f.sentBytes) }

// flood sends q from the local address from to server at about rate
// queries a second for d, and counts what comes back.
func flood(t *testing.T, from, server string, q []byte, rate int, d time.Duration) floodResult {
	t.Helper()
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from)), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(server)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadBuffer(4 << 20)
	var res floodResult
	var recvBytes, full, slipped, other atomic.Int64
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 65535)
		for {
			n, err := c.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					return
				}
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			recvBytes.Add(int64(n))
			switch {
			case n >= 12 && buf[2]&0x02 != 0:
				slipped.Add(1)
			case n >= 12:
				full.Add(1)
			default:
				other.Add(1)
			}
		}
	}()
	const tick = 10 * time.Millisecond
	per := max(1, rate*int(tick)/int(time.Second))
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for range per {
			if _, err := c.Write(q); err == nil {
				res.sent++
				res.sentBytes += int64(len(q))
			}
		}
		time.Sleep(tick)
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	<-readDone
	res.recvBytes, res.full, res.slipped, res.other = recvBytes.Load(), full.Load(), slipped.Load(), other.Load()
	return res
}

// A flood from one source is cut to the rate, with every second dropped
// response slipped (TC=1), while a client in another /24 keeps its
// answers and a client on the flooding address itself, once it holds a
// server cookie, is exempt.
func TestUDPRateLimitFlood(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{Cookies: true})
	q, size := biggestQuery(t, h)
	const rate = 20
	results := map[string]floodResult{}
	for _, c := range []struct {
		name string
		rrl  dnsfront.RRLOptions
	}{
		{"without RRL", dnsfront.RRLOptions{}},
		{"with RRL", dnsfront.RRLOptions{Rate: rate, Slip: 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := dnsfront.ListenUDP("127.0.0.1:0", h, dnsfront.UDPOptions{Sockets: 1, RRL: c.rrl})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Serve(context.Background()) }()
			t.Cleanup(func() { s.Close(); <-done })
			server := s.Addr().String()

			ctx, cancel := context.WithCancel(context.Background())
			var good, cookie probe
			var wg sync.WaitGroup
			wg.Add(2)
			// 127.1.0.1 is another /24 than the flood's 127.0.0.2.
			go func() {
				defer wg.Done()
				good.run(ctx, 50*time.Millisecond, func() error {
					r, err := udpFrom("127.1.0.1:0", server, dnstest.Query("www.example.", dns.TypeA, false))
					if err == nil && (r.Truncated || len(r.Answer) == 0) {
						err = errors.New("truncated or empty answer")
					}
					return err
				})
			}()
			go func() {
				defer wg.Done()
				var sc string // the server cookie learned
				cc := "0123456789abcdef"
				cookie.run(ctx, 50*time.Millisecond, func() error {
					// The flood's question: the same bucket but for the cookie.
					m := new(dns.Msg)
					if err := m.Unpack(q); err != nil {
						return err
					}
					m.Id = dns.Id()
					m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: cc + sc})
					r, err := udpFrom("127.0.0.2:0", server, m)
					if err != nil {
						return err
					}
					if opt := r.IsEdns0(); opt != nil {
						for _, o := range opt.Option {
							if ck, ok := o.(*dns.EDNS0_COOKIE); ok && len(ck.Cookie) == 48 && ck.Cookie[:16] == cc {
								sc = ck.Cookie[16:]
							}
						}
					}
					if r.Truncated || len(r.Answer) == 0 {
						return errors.New("answer " + dns.RcodeToString[r.Rcode] + " truncated or empty (cookie " + sc + ")")
					}
					return nil
				})
				if sc == "" {
					t.Errorf("the cookie client never got a server cookie")
				}
			}()
			f := flood(t, "127.0.0.2:0", server, q, 2000, time.Second)
			cancel()
			wg.Wait()
			results[c.name] = f
			t.Logf("flood from 127.0.0.2: %d queries of %d octets (answer %d octets): %d answered, %d slipped (TC), %d unreadable; %d octets in, %d out: amplification %.2f",
				f.sent, len(q), size, f.full, f.slipped, f.other, f.sentBytes, f.recvBytes, f.amplification())
			goodFail := good.report(t, c.name+", 127.1.0.1")
			cookieFail := cookie.report(t, c.name+", 127.0.0.2 with a cookie")
			if goodFail > 0.1 || cookieFail > 0.1 {
				t.Errorf("failure rates %.2f (other /24) and %.2f (cookie client), want at most 0.1", goodFail, cookieFail)
			}
			if c.rrl.Rate > 0 {
				// One second of flood: a burst of rate and rate more, with
				// generous slack for a slow machine.
				if f.full > 4*rate {
					t.Errorf("flood got %d full answers in about 1 s, want at most %d (rate %d/s)", f.full, 4*rate, rate)
				}
				if f.slipped < f.sent/4 {
					t.Errorf("flood got %d slipped answers of %d queries, want about half (slip 2)", f.slipped, f.sent)
				}
			}
		})
	}
	off, on := results["without RRL"], results["with RRL"]
	if off.sent > 0 && on.sent > 0 && on.amplification() > off.amplification()/3 {
		t.Errorf("amplification with RRL %.2f, without %.2f: want at most a third", on.amplification(), off.amplification())
	}
}

// A Handler with cookies echoes the client cookie with room for the
// server cookie over UDP only, and answers a COOKIE option of a bad
// length with FORMERR (RFC 7873 §5.2.2).
func TestHandleCookies(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{Cookies: true})
	withCookie := func(hexCookie string) *dns.Msg {
		m := dnstest.Query("www.example.", dns.TypeA, false)
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hexCookie})
		return m
	}
	cookieOf := func(r *dns.Msg) string {
		if opt := r.IsEdns0(); opt != nil {
			for _, o := range opt.Option {
				if c, ok := o.(*dns.EDNS0_COOKIE); ok {
					return c.Cookie
				}
			}
		}
		return ""
	}
	cases := []struct {
		name   string
		cookie string
		tr     dnsfront.Transport
		rcode  int
		want   string
	}{
		{"client cookie", "0011223344556677", dnsfront.UDP, dns.RcodeSuccess, "0011223344556677" + "00000000000000000000000000000000"},
		{"old server cookie", "0011223344556677" + "01000000aabbccdd0011223344556677", dnsfront.UDP, dns.RcodeSuccess, "0011223344556677" + "00000000000000000000000000000000"},
		{"over TCP", "0011223344556677", dnsfront.TCP, dns.RcodeSuccess, ""},
		{"too short", "00112233", dnsfront.UDP, dns.RcodeFormatError, ""},
		{"between", "00112233445566778899", dnsfront.UDP, dns.RcodeFormatError, ""},
		{"too long", "0011223344556677" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00", dnsfront.UDP, dns.RcodeFormatError, ""},
	}
	for _, c := range cases {
		r, _ := exchange(t, h, withCookie(c.cookie), c.tr)
		if r.Rcode != c.rcode || cookieOf(r) != c.want {
			t.Errorf("Handle(%s) = %s cookie %q, want %s cookie %q", c.name, dns.RcodeToString[r.Rcode], cookieOf(r), dns.RcodeToString[c.rcode], c.want)
		}
	}
}

// Over the rate, a client that sent a cookie gets BADCOOKIE with a fresh
// server cookie instead of a truncated reply, and that cookie exempts it.
func TestUDPRateLimitBadCookie(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{Cookies: true})
	s, err := dnsfront.ListenUDP("127.0.0.1:0", h, dnsfront.UDPOptions{Sockets: 1, RRL: dnsfront.RRLOptions{Rate: 1, Slip: 1}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	t.Cleanup(func() { s.Close(); <-done })
	m := dnstest.Query("www.example.", dns.TypeA, false)
	m.SetEdns0(1232, false)
	ck := &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0011223344556677"}
	m.IsEdns0().Option = append(m.IsEdns0().Option, ck)
	var rcodes []string
	for range 3 {
		r, err := udpFrom("127.0.0.5:0", s.Addr().String(), m)
		if err != nil {
			t.Fatal(err)
		}
		rcodes = append(rcodes, dns.RcodeToString[r.Rcode])
		if r.Rcode == dns.RcodeBadCookie {
			for _, o := range r.IsEdns0().Option {
				if c, ok := o.(*dns.EDNS0_COOKIE); ok && len(c.Cookie) == 48 {
					ck.Cookie = c.Cookie
				}
			}
			if r.Truncated || len(r.Answer) != 0 || len(ck.Cookie) != 48 {
				t.Fatalf("BADCOOKIE reply %v, want no answer, not truncated, a server cookie", r)
			}
		}
	}
	if rcodes[0] != "NOERROR" || rcodes[1] != "BADCOOKIE" {
		t.Fatalf("rcodes at 1/s with slip 1 = %v, want NOERROR then BADCOOKIE", rcodes)
	}
	for range 5 {
		r, err := udpFrom("127.0.0.5:0", s.Addr().String(), m)
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			t.Fatalf("with the server cookie: %v, %v; want answered (exempt from RRL)", r, err)
		}
	}
}
