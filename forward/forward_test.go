package forward_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/forward"
)

// upstream is a real DNS server on loopback (miekg/dns over UDP, TCP and
// TLS; net/http for DoH) playing the resolver names are forwarded to:
// www.example.com. A 192.0.2.1 (TTL 60, AD set as a validating resolver
// would), nx.example.com. NXDOMAIN, fail.example.com. SERVFAIL,
// slow.example.com. answered after stall.
type upstream struct {
	udp, tcp, tls string
	doh           string
	cert          *dnstest.TestCert
	queries       atomic.Int64
	stall         atomic.Int64 // nanoseconds
}

func (u *upstream) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	u.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	m.AuthenticatedData = true
	m.Authoritative = true // as a resolver's local zone answers
	q := req.Question[0]
	soa, _ := dns.NewRR("example.com. 300 IN SOA ns.example.com. host.example.com. 1 3600 600 86400 30")
	switch q.Name {
	case "www.example.com.":
		if q.Qtype == dns.TypeA {
			rr, _ := dns.NewRR("www.example.com. 60 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Ns = append(m.Ns, soa)
		}
	case "big.example.com.":
		for i := range 100 { // over 512 bytes: UDP truncates without EDNS
			rr, _ := dns.NewRR("big.example.com. 60 IN TXT \"" + string(rune('a'+i%26)) + " padding padding padding\"")
			m.Answer = append(m.Answer, rr)
		}
	case "nx.example.com.":
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, soa)
	case "fail.example.com.":
		m.Rcode = dns.RcodeServerFailure
	case "slow.example.com.":
		time.Sleep(time.Duration(u.stall.Load()))
		rr, _ := dns.NewRR("slow.example.com. 60 IN A 192.0.2.9")
		m.Answer = append(m.Answer, rr)
	default:
		m.Rcode = dns.RcodeRefused
	}
	if w.RemoteAddr().Network() == "udp" {
		size := 512
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{cert: dnstest.NewTestCert(t, "dns.test")}
	u.stall.Store(int64(5 * time.Second))
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := tls.Listen("tcp", "127.0.0.1:0", u.cert.Server())
	if err != nil {
		t.Fatal(err)
	}
	u.udp, u.tcp, u.tls = pc.LocalAddr().String(), ln.Addr().String(), tl.Addr().String()
	servers := []*dns.Server{{PacketConn: pc, Handler: u}, {Listener: ln, Handler: u}, {Listener: tl, Handler: u, Net: "tcp-tls"}}
	for _, s := range servers {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
	}
	h := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := new(dns.Msg)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/dns-message" || req.Unpack(b) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		rec := &recorder{}
		u.ServeDNS(rec, req)
		out, _ := rec.m.Pack()
		w.Header().Set("Content-Type", "application/dns-message")
		w.Write(out)
	}))
	h.TLS = u.cert.Server()
	h.EnableHTTP2 = true
	h.StartTLS()
	u.doh = h.URL + "/dns-query"
	t.Cleanup(func() {
		h.Close()
		for _, s := range servers {
			s.Shutdown()
		}
	})
	return u
}

// recorder is the dns.ResponseWriter of a DoH request.
type recorder struct {
	dns.ResponseWriter
	m *dns.Msg
}

func (r *recorder) WriteMsg(m *dns.Msg) error { r.m = m; return nil }
func (r *recorder) RemoteAddr() net.Addr      { return &net.TCPAddr{} }

func mustParse(t *testing.T, s string) forward.Upstream {
	t.Helper()
	u, err := forward.ParseUpstream(s)
	if err != nil {
		t.Fatalf("ParseUpstream(%q) = %v", s, err)
	}
	return u
}

func query(name string, qt uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qt)
	m.SetEdns0(1232, true)
	return m
}

// TestForwardEachProtocol: over each protocol the upstream's answer comes
// back with RA set and AD cleared, the second ask is a cache hit with
// TTLs lowered by the age, a negative answer is cached by its SOA, a
// truncated UDP reply is retried over TCP.
func TestForwardEachProtocol(t *testing.T) {
	u := startUpstream(t)
	for _, up := range []string{u.udp, "tcp://" + u.tcp, "tls://" + u.tls + "#dns.test", u.doh} {
		t.Run(up, func(t *testing.T) {
			clock := time.Now()
			f, err := forward.New(forward.Options{
				Upstreams: []forward.Upstream{mustParse(t, up)},
				TLS:       &tls.Config{RootCAs: u.cert.Roots},
				Now:       func() time.Time { return clock },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ctx := context.Background()
			before := u.queries.Load()
			res, err := f.Forward(ctx, query("www.example.com.", dns.TypeA))
			if err != nil {
				t.Fatalf("Forward = %v", err)
			}
			m := res.Msg
			if res.Cached || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.1" || !m.RecursionAvailable || m.AuthenticatedData || m.Authoritative {
				t.Fatalf("Forward(www A) = cached %v %v, want the upstream's A with RA, without AD", res.Cached, m)
			}
			clock = clock.Add(10 * time.Second)
			res, err = f.Forward(ctx, query("WWW.example.com.", dns.TypeA))
			if err != nil || !res.Cached || res.Msg.Answer[0].Header().Ttl != 50 {
				t.Fatalf("second Forward = %v, %v; want a cache hit with TTL 50", res, err)
			}
			res, err = f.Forward(ctx, query("nx.example.com.", dns.TypeA))
			if err != nil || res.Msg.Rcode != dns.RcodeNameError {
				t.Fatalf("Forward(nx) = %v, %v; want NXDOMAIN", res, err)
			}
			if res, err = f.Forward(ctx, query("nx.example.com.", dns.TypeA)); err != nil || !res.Cached {
				t.Fatalf("second Forward(nx) = %v, %v; want a cache hit", res, err)
			}
			clock = clock.Add(31 * time.Second) // past the SOA MINIMUM (30)
			if res, err = f.Forward(ctx, query("nx.example.com.", dns.TypeA)); err != nil || res.Cached {
				t.Fatalf("Forward(nx) after its negative TTL = %v, %v; want asked again", res, err)
			}
			if got := u.queries.Load() - before; got != 2+1 {
				t.Errorf("the upstream was asked %d times, want 3", got)
			}
			big := query("big.example.com.", dns.TypeTXT)
			big.Extra = nil // no EDNS: 512 bytes over UDP, truncated
			if res, err = f.Forward(ctx, big); err != nil || len(res.Msg.Answer) != 100 || res.Msg.Truncated {
				t.Fatalf("Forward(big TXT) = %v, %v; want all 100 records", res, err)
			}
		})
	}
}

// TestForwardFailover: a dead upstream (nothing listens), one that fails
// (SERVFAIL) and one that stalls are passed over for a working one; with
// only failing ones the error says which and carries the EDE.
func TestForwardFailover(t *testing.T) {
	u := startUpstream(t)
	dead := "127.0.0.1:" + deadPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	f, err := forward.New(forward.Options{Upstreams: []forward.Upstream{mustParse(t, "tcp://"+dead), mustParse(t, u.udp)}, CacheEntries: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		res, err := f.Forward(ctx, query("www.example.com.", dns.TypeA))
		if err != nil || res.Upstream != "udp://"+u.udp {
			t.Fatalf("try %d: Forward = %v, %v; want the answer of udp://%s", i, res, err, u.udp)
		}
	}

	// A stalled upstream first: the hedge asks the next one, whose answer
	// comes back; with every upstream stalled, the error says so.
	u2 := startUpstream(t)
	u2.stall.Store(0)
	g, err := forward.New(forward.Options{Upstreams: []forward.Upstream{mustParse(t, "tcp://"+u.tcp), mustParse(t, u2.udp)}, Hedge: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 4*time.Second) // below the 5 s stall
	res, err := g.Forward(sctx, query("slow.example.com.", dns.TypeA))
	scancel()
	if err != nil || res.Upstream != "udp://"+u2.udp {
		t.Fatalf("Forward(slow) with the first upstream stalled = %v, %v; want the second's answer", res, err)
	}
	g, err = forward.New(forward.Options{Upstreams: []forward.Upstream{mustParse(t, "tcp://"+u.tcp), mustParse(t, u.udp)}, Hedge: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel = context.WithTimeout(ctx, time.Second)
	res, err = g.Forward(sctx, query("slow.example.com.", dns.TypeA))
	scancel()
	var fe *forward.Error
	if !errors.As(err, &fe) || fe.EDE() != dns.ExtendedErrorCodeNoReachableAuthority || len(fe.Tries) != 2 {
		t.Fatalf("Forward(slow) with both stalled = %v, %v; want *Error with EDE No Reachable Authority naming both", res, err)
	}

	for _, c := range []struct {
		ups  []string
		name string
		ede  uint16
		want error
	}{
		{[]string{"tcp://" + dead}, "www.example.com.", dns.ExtendedErrorCodeNoReachableAuthority, forward.ErrUnreachable},
		{[]string{u.udp, "tcp://" + u.tcp}, "fail.example.com.", dns.ExtendedErrorCodeNetworkError, forward.ErrUpstreamFailed},
		{[]string{"tls://" + u.tls + "#wrong.test"}, "www.example.com.", dns.ExtendedErrorCodeNoReachableAuthority, forward.ErrUnreachable}, // certificate not for that name
	} {
		var ups []forward.Upstream
		for _, s := range c.ups {
			ups = append(ups, mustParse(t, s))
		}
		f, err := forward.New(forward.Options{Upstreams: ups, TLS: &tls.Config{RootCAs: u.cert.Roots}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := f.Forward(ctx, query(c.name, dns.TypeA))
		var fe *forward.Error
		if !errors.As(err, &fe) || !errors.Is(err, c.want) || fe.EDE() != c.ede || len(fe.Tries) != len(c.ups) {
			t.Errorf("Forward(%s via %v) = %v, %v; want *Error %v with EDE %d naming every upstream", c.name, c.ups, res, err, c.want, c.ede)
		}
	}
	if _, err := forward.New(forward.Options{}); !errors.Is(err, forward.ErrNoUpstreams) {
		t.Errorf("New without upstreams = %v, want ErrNoUpstreams", err)
	}
}

// deadPort is a loopback TCP port nothing listens on.
func deadPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return p
}

func TestParseUpstream(t *testing.T) {
	for _, c := range []struct {
		in, want string // want "" for an error
	}{
		{"192.0.2.1", "udp://192.0.2.1:53"},
		{"192.0.2.1:5353", "udp://192.0.2.1:5353"},
		{"udp://192.0.2.1", "udp://192.0.2.1:53"},
		{"tcp://[2001:db8::1]:53", "tcp://[2001:db8::1]:53"},
		{"2001:db8::1", "udp://[2001:db8::1]:53"},
		{"tls://192.0.2.1#dns.example", "tls://192.0.2.1:853#dns.example"},
		{"tls://dns.example", "tls://dns.example:853"},
		{"tls://dns.example:8853", "tls://dns.example:8853"},
		{"https://dns.example/dns-query", "https://dns.example/dns-query"},
		{"https://dns.example", "https://dns.example/dns-query"},
		{" 127.0.0.1 ", "udp://127.0.0.1:53"},
		{"", ""},
		{"dns.example", ""},             // plain DNS needs an address
		{"http://dns.example/q", ""},    // cleartext DoH
		{"quic://192.0.2.1", ""},        // unknown scheme
		{"192.0.2.1:0", ""},             // port 0
		{"192.0.2.1:99999", ""},         // port too big
		{"192.0.2.1:+53", ""},           // not a plain number
		{"udp://192.0.2.1#name", ""},    // name only for tls
		{"tls://192.0.2.1#", ""},        // empty name
		{"https://u:p@dns.example", ""}, // credentials
		{"https://dns.example/q?x=1", ""},
		{"tcp://", ""},
		{"tcp://[::1", ""},
		{"udp://a b", ""},
	} {
		u, err := forward.ParseUpstream(c.in)
		if c.want == "" {
			if !errors.Is(err, forward.ErrBadUpstream) {
				t.Errorf("ParseUpstream(%q) = %v, %v; want ErrBadUpstream", c.in, u, err)
			}
			continue
		}
		if err != nil || u.String() != c.want {
			t.Errorf("ParseUpstream(%q) = %q, %v; want %q", c.in, u.String(), err, c.want)
		}
	}
}

// FuzzParseUpstream: configuration and command lines are user bytes;
// whatever they hold, ParseUpstream gives an upstream whose String form
// parses back to itself, or ErrBadUpstream.
func FuzzParseUpstream(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "tls://dns.example#x.example", "https://dns.example/dns-query", "tcp://[::1]:53", "udp://1.2.3.4:5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := forward.ParseUpstream(s)
		if err != nil {
			if !errors.Is(err, forward.ErrBadUpstream) {
				t.Fatalf("ParseUpstream(%q) = %v, not ErrBadUpstream", s, err)
			}
			return
		}
		again, err := forward.ParseUpstream(u.String())
		if err != nil || again != u {
			t.Fatalf("ParseUpstream(%q) = %+v; its String %q parses to %+v, %v", s, u, u.String(), again, err)
		}
	})
}
