package node

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/internal/demo"
)

// testUpstream is a real DNS server on loopback (miekg/dns over UDP and
// TCP) playing the rest of the internet: www.example.com. A 192.0.2.1,
// with AD set as a validating resolver would; any name under demo.ddnrs.
// answered with 198.51.100.66, a forgery the node must never forward to.
func testUpstream(t *testing.T) (addr string, queries *atomic.Int64) {
	t.Helper()
	queries = new(atomic.Int64)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable, m.AuthenticatedData = true, true
		name := strings.ToLower(req.Question[0].Name)
		switch {
		case name == "www.example.com.":
			rr, _ := dns.NewRR("www.example.com. 60 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		case dns.IsSubDomain(demo.Origin, name):
			rr, _ := dns.NewRR(name + " 60 IN A 198.51.100.66")
			m.Answer = append(m.Answer, rr)
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { s.Shutdown() })
	}
	return pc.LocalAddr().String(), queries
}

// TestForwardOutsideNames: a node with [forward] answers a name outside
// DDNRS from its upstream (RA set, AD never, cached: asked once for two
// queries), still answers its own zone itself, REFUSES a non-recursive
// query for an outside name, never forwards a name under a zone it holds
// an anchor for (its overlay cannot find that zone here), and gives
// SERVFAIL with EDE 22 when the upstream is gone. Without [forward] the
// outside name is REFUSED, as before.
func TestForwardOutsideNames(t *testing.T) {
	up, queries := testUpstream(t)
	c := groupConfig(t, nil, "f")
	c.Forward.Upstreams = []string{up}
	n := runNode(t, c)
	z, _ := publishDemo(t, n)

	r := exchange(t, n, "udp", "www.example.com.", dns.TypeA, true)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !r.RecursionAvailable || r.AuthenticatedData || r.Authoritative {
		t.Fatalf("www.example.com. A = %v, want the upstream's answer with RA, without AD or AA", r)
	}
	if r = exchange(t, n, "tcp", "www.example.com.", dns.TypeA, false); len(r.Answer) != 1 || queries.Load() != 1 {
		t.Fatalf("second www.example.com. A = %v after %d upstream queries, want a cached answer (1 query)", r, queries.Load())
	}
	r = exchange(t, n, "udp", "nothere.example.com.", dns.TypeA, true)
	if r.Rcode != dns.RcodeNameError || !r.RecursionAvailable {
		t.Errorf("nothere.example.com. = %v, want the upstream's NXDOMAIN", r)
	}
	r = exchange(t, n, "udp", demo.Origin, dns.TypeSOA, false)
	if !r.Authoritative || len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != z.Serial() {
		t.Errorf("%s SOA = %v, want the node's own authoritative answer", demo.Origin, r)
	}
	m := dnstest.Query("www.example.com.", dns.TypeA, false)
	m.RecursionDesired = false
	cl := &dns.Client{Net: "udp", Timeout: 3 * time.Second}
	if r, _, err := cl.Exchange(m, n.Addr().String()); err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("non-recursive www.example.com. A = %v, %v; want REFUSED", r, err)
	}

	// A node of another group that knows demo.ddnrs.'s owner key (but
	// cannot reach its group) never asks the upstream for it.
	k := publishDemoKey(t, n)
	cb := groupConfig(t, nil, "g")
	cb.Overlay = OverlayConfig{Enabled: true, TrustAnchors: "anchors"}
	cb.Forward.Upstreams = []string{up}
	if err := os.WriteFile(filepath.Join(cb.DataDir, "anchors"), []byte(k+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := runNode(t, cb)
	before := queries.Load()
	r = exchange(t, g, "udp", "www."+demo.Origin, dns.TypeA, true)
	if r.Rcode == dns.RcodeSuccess || queries.Load() != before {
		t.Errorf("www.%s A on a node anchored for it = %v, upstream asked %d times; want no answer and the upstream never asked", demo.Origin, r, queries.Load()-before)
	}
	if r = exchange(t, g, "udp", "www.example.com.", dns.TypeA, true); len(r.Answer) != 1 {
		t.Errorf("www.example.com. A through an overlay node = %v, want the upstream's answer", r)
	}

	// The upstream gone: SERVFAIL with EDE 22 (No Reachable Authority).
	dead := groupConfig(t, nil, "h")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead.Forward.Upstreams = []string{"tcp://" + ln.Addr().String()}
	ln.Close()
	d := runNode(t, dead)
	r = exchange(t, d, "udp", "www.example.com.", dns.TypeA, true)
	if r.Rcode != dns.RcodeServerFailure || ede(r) != dns.ExtendedErrorCodeNoReachableAuthority {
		t.Errorf("www.example.com. A with the upstream gone = %v, want SERVFAIL with EDE 22", r)
	}

	// Without [forward]: REFUSED.
	off := runNode(t, groupConfig(t, nil, "o"))
	if r = exchange(t, off, "udp", "www.example.com.", dns.TypeA, true); r.Rcode != dns.RcodeRefused {
		t.Errorf("www.example.com. A without [forward] = %v, want REFUSED", r)
	}
}

// publishDemoKey returns n's demo key's DNSKEY in presentation form.
func publishDemoKey(t *testing.T, n *Node) string {
	t.Helper()
	k, _, err := demo.Key(n.DataDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return k.DNSKEY.String()
}

// ede returns the info code of r's Extended DNS Error, or 0xffff.
func ede(r *dns.Msg) uint16 {
	if o := r.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if x, ok := e.(*dns.EDNS0_EDE); ok {
				return x.InfoCode
			}
		}
	}
	return 0xffff
}

func TestForwardConfig(t *testing.T) {
	for _, c := range []struct {
		f    ForwardConfig
		want string // "" for valid
	}{
		{DefaultForward(), ""},
		{ForwardConfig{Upstreams: []string{"192.0.2.1", "tls://192.0.2.2#dns.example", "https://dns.example/dns-query"}, CacheEntries: -1, Hedge: time.Second}, ""},
		{ForwardConfig{Upstreams: []string{"dns.example"}, Hedge: time.Second}, "forward.upstreams[0]"},
		{ForwardConfig{Upstreams: []string{"192.0.2.1"}, CacheEntries: -2, Hedge: time.Second}, "forward.cache_entries"},
		{ForwardConfig{Upstreams: []string{"192.0.2.1"}}, "forward.hedge"},
		{ForwardConfig{CAFile: "ca.pem", Hedge: time.Second}, "forward.ca_file"},
	} {
		cfg := Default()
		cfg.DataDir = t.TempDir()
		cfg.Forward = c.f
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", c.f, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("Validate(%+v) = %v, want an error naming %s", c.f, err, c.want)
		}
	}
}
