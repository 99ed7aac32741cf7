package dnsfront_test

import (
	"fmt"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
)

func TestSuspendSet(t *testing.T) {
	var s dnsfront.SuspendSet
	if _, _, ok := s.Suspended("www.example."); ok {
		t.Fatal("empty set suspends www.example.")
	}
	s.Set(map[string]string{"example.": "abuse", "b.other.test.": "phishing"})
	cases := []struct {
		name, origin, reason string
		ok                   bool
	}{
		{"example.", "example.", "abuse", true},
		{"www.example.", "example.", "abuse", true},
		{"a.b.c.example.", "example.", "abuse", true},
		{"example.org.", "", "", false},
		{"notexample.", "", "", false},
		{"other.test.", "", "", false},
		{"b.other.test.", "b.other.test.", "phishing", true},
		{"x.b.other.test.", "b.other.test.", "phishing", true},
		{".", "", "", false},
	}
	for _, c := range cases {
		o, r, ok := s.Suspended(c.name)
		if o != c.origin || r != c.reason || ok != c.ok {
			t.Errorf("Suspended(%q) = %q, %q, %v; want %q, %q, %v", c.name, o, r, ok, c.origin, c.reason, c.ok)
		}
	}
	s.Set(nil)
	if _, _, ok := s.Suspended("www.example."); ok || s.Len() != 0 {
		t.Error("cleared set still suspends www.example.")
	}
}

// TestHandleSuspended: a name in a suspended zone gets REFUSED with EDE
// 15 and the reason, over every transport, whether the zone is held
// here (example.) or answered by the Remote (remote.test.); other zones
// are untouched.
func TestHandleSuspended(t *testing.T) {
	var s dnsfront.SuspendSet
	s.Set(map[string]string{"example.": "court order 12", "remote.test.": "phishing"})
	z, _ := dnstest.Sign(t, dnstest.Example(t))
	other := dnstest.Parse(t, "other.test.", "@ 3600 IN SOA ns hm 1 2 3 4 5\n@ 3600 IN NS ns\nwww 3600 IN A 192.0.2.7\n")
	h := dnsfront.NewHandler(dnstest.NewZones(z, other), dnsfront.Options{OtherGroups: &fakeOtherGroups{}, Suspensions: &s})
	t.Cleanup(func() { h.Close() })
	padded := func(m *dns.Msg) *dns.Msg {
		return withOpt(m, func(o *dns.OPT) {
			o.Option = append(o.Option, &dns.EDNS0_PADDING{}, &dns.EDNS0_TCP_KEEPALIVE{Code: dns.EDNS0TCPKEEPALIVE})
		})
	}
	cases := []struct {
		name  string
		req   *dns.Msg
		rcode int
		ede   string // "" means no EDE expected
	}{
		{"local zone", dnstest.Query("www.example.", dns.TypeA, true), dns.RcodeRefused, "zone example. suspended: court order 12"},
		{"local apex", dnstest.Query("example.", dns.TypeSOA, false), dns.RcodeRefused, ""},
		{"local, EDNS no DO", withOpt(dnstest.Query("www.example.", dns.TypeA, false), func(*dns.OPT) {}), dns.RcodeRefused, "zone example. suspended: court order 12"},
		{"local, padding and keepalive", padded(dnstest.Query("www.example.", dns.TypeA, false)), dns.RcodeRefused, "zone example. suspended: court order 12"},
		{"remote zone", dnstest.Query("www.remote.test.", dns.TypeA, true), dns.RcodeRefused, "zone remote.test. suspended: phishing"},
		{"other local zone", dnstest.Query("www.other.test.", dns.TypeA, true), dns.RcodeSuccess, ""},
		{"other remote zone", dnstest.Query("www.elsewhere.test.", dns.TypeA, true), dns.RcodeSuccess, ""},
	}
	for _, c := range cases {
		for _, tr := range []dnsfront.Transport{dnsfront.UDP, dnsfront.TCP, dnsfront.TLS, dnsfront.HTTPS, dnsfront.QUIC} {
			resp, size := exchange(t, h, c.req.Copy(), tr)
			if resp.Rcode != c.rcode {
				t.Errorf("%s over %s: rcode %s, want %s", c.name, tr, dns.RcodeToString[resp.Rcode], dns.RcodeToString[c.rcode])
			}
			var ede *dns.EDNS0_EDE
			if o := resp.IsEdns0(); o != nil {
				for _, op := range o.Option {
					if e, ok := op.(*dns.EDNS0_EDE); ok {
						ede = e
					}
				}
			}
			switch {
			case c.ede == "" && ede != nil:
				t.Errorf("%s over %s: unexpected EDE %v", c.name, tr, ede)
			case c.ede != "" && ede == nil:
				t.Errorf("%s over %s: no EDE in %v", c.name, tr, resp)
			case c.ede != "" && (ede.InfoCode != dns.ExtendedErrorCodeBlocked || ede.ExtraText != c.ede):
				t.Errorf("%s over %s: EDE %d %q, want 15 %q", c.name, tr, ede.InfoCode, ede.ExtraText, c.ede)
			}
			if c.rcode == dns.RcodeRefused && (len(resp.Answer) != 0 || resp.Authoritative) {
				t.Errorf("%s over %s: refused reply carries answers or AA: %v", c.name, tr, resp)
			}
			if c.name == "local, padding and keepalive" && tr.Encrypted() && size%468 != 0 {
				t.Errorf("%s over %s: reply of %d octets, want a multiple of 468", c.name, tr, size)
			}
		}
	}
	// Unsuspended: answered again.
	s.Set(map[string]string{"remote.test.": "phishing"})
	if resp, _ := exchange(t, h, dnstest.Query("www.example.", dns.TypeA, true), dnsfront.UDP); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) == 0 {
		t.Errorf("after unsuspension: %v", resp)
	}
}

// BenchmarkHandleSuspensions: the cost of the suspension check on the
// hot path: no set, an empty set (what every node has), 1000 suspended
// zones none of which encloses the name, and a suspended name.
func BenchmarkHandleSuspensions(b *testing.B) {
	z := mustSigned(b)
	var empty, many, hit dnsfront.SuspendSet
	m := make(map[string]string, 1000)
	for i := range 1000 {
		m[fmt.Sprintf("zone%d.test.", i)] = "abuse"
	}
	many.Set(m)
	hit.Set(map[string]string{"example.": "abuse"})
	raw, err := dnstest.Query("www.example.", dns.TypeA, true).Pack()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		s    dnsfront.Suspensions
	}{{"none", nil}, {"empty", &empty}, {"1000-other", &many}, {"suspended", &hit}} {
		h := dnsfront.NewHandler(dnstest.NewZones(z), dnsfront.Options{Suspensions: c.s})
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 65535)
			for b.Loop() {
				if _, ok := h.Handle(raw, buf, dnsfront.UDP); !ok {
					b.Fatal("dropped")
				}
			}
		})
	}
}
