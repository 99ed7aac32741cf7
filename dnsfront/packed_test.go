package dnsfront_test

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/zone"
)

// mixCase returns name with every other letter upper-cased.
func mixCase(name string) string {
	b := []byte(name)
	for i := range b {
		if i%2 == 0 && b[i] >= 'a' && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

// TestPackedRepliesMatch: a reply from the packed cache is byte for byte
// the reply the full path builds to the question in lower case, with the
// asker's question bytes, for every answer case, with and without DO and
// EDNS, at several UDP sizes and over TCP, DoT, DoH and DoQ, whatever the query's ID, RD,
// CD and letter case; and a question in another case asked first is
// answered by the full path and not kept.
func TestPackedRepliesMatch(t *testing.T) {
	z, _ := dnstest.Sign(t, dnstest.Example(t))
	other := dnstest.Parse(t, "other.test.", "@ 3600 IN SOA ns hm 1 2 3 4 5\n@ 3600 IN NS ns\nwww 3600 IN A 192.0.2.7\n")
	full := dnsfront.NewHandler(dnstest.NewZones(z, other), dnsfront.Options{PackedReplies: -1})
	packed := dnsfront.NewHandler(dnstest.NewZones(z, other), dnsfront.Options{})
	type shape struct {
		name string
		tr   dnsfront.Transport
		edns uint16 // 0: no EDNS
	}
	shapes := []shape{{"udp no edns", dnsfront.UDP, 0}, {"udp 1232", dnsfront.UDP, 1232}, {"udp 600", dnsfront.UDP, 600}, {"udp 4096", dnsfront.UDP, 4096}, {"tcp", dnsfront.TCP, 1232},
		// The stream transports share one entry per question (a reply
		// kept over TCP answers DoT, DoH and DoQ): byte for byte what
		// their full path builds, since a query without EDNS options
		// is neither padded nor given a keepalive.
		{"tls", dnsfront.TLS, 1232}, {"https", dnsfront.HTTPS, 0}, {"quic", dnsfront.QUIC, 4096}}
	buf := make([]byte, 0, 65535)
	for _, c := range answerCases {
		for _, s := range shapes {
			for i, variant := range []struct {
				name   string
				id     uint16
				rd, cd bool
			}{
				{mixCase(c.Name), 3, false, true}, // full path, not kept
				{c.Name, 1, false, false},         // fills the cache
				{mixCase(c.Name), 2, true, false},
				{strings.ToUpper(c.Name), 65535, true, true},
			} {
				q := new(dns.Msg)
				q.SetQuestion(variant.name, c.Type)
				q.Id, q.RecursionDesired, q.CheckingDisabled = variant.id, variant.rd, variant.cd
				if s.edns > 0 {
					q.SetEdns0(s.edns, c.DO)
				} else if c.DO {
					continue // DO needs EDNS
				}
				raw, err := q.Pack()
				if err != nil {
					t.Fatal(err)
				}
				lower := q.Copy()
				lower.Question[0].Name = strings.ToLower(variant.name)
				lraw, err := lower.Pack()
				if err != nil {
					t.Fatal(err)
				}
				asAsked, ok1 := full.Handle(raw, make([]byte, 0, 65535), s.tr)
				patched, _ := full.Handle(lraw, make([]byte, 0, 65535), s.tr)
				if len(patched) >= 12+len(variant.name)+1 {
					copy(patched[12:], raw[12:12+len(variant.name)+1]) // the asker's question bytes
				}
				got, ok2 := packed.Handle(raw, buf, s.tr)
				match := bytes.Equal(got, patched)
				switch {
				case c.Type == dns.TypeDS:
					match = bytes.Equal(got, asAsked) // never kept
				case i == 0:
					// Kept by an earlier shape of the same size limit, or not.
					match = match || bytes.Equal(got, asAsked)
				}
				if ok1 != ok2 || !match {
					var g, w dns.Msg
					g.Unpack(got)
					w.Unpack(patched)
					t.Errorf("%s %s %s (query %d): packed reply differs\n got %v\nwant %v", s.name, variant.name, dns.TypeToString[c.Type], i, &g, &w)
				}
			}
		}
	}
}

// swapZones is a Reader whose zone a test replaces, as the node's Served
// set is replaced after each apply.
type swapZones struct{ z atomic.Pointer[zone.Zone] }

func (s *swapZones) Zone(name string) *zone.Zone {
	z := s.z.Load()
	if z != nil && zone.IsSubDomain(z.Origin, name) {
		return z
	}
	return nil
}

// TestPackedRepliesFollowChanges: a cached reply is not served once the
// zone is replaced or the name suspended.
func TestPackedRepliesFollowChanges(t *testing.T) {
	var r swapZones
	r.z.Store(dnstest.Parse(t, "example.", "@ 3600 IN SOA ns hm 1 2 3 4 5\n@ 3600 IN NS ns\nwww 3600 IN A 192.0.2.1\n"))
	var susp dnsfront.SuspendSet
	h := dnsfront.NewHandler(&r, dnsfront.Options{Suspensions: &susp})
	ask := func() *dns.Msg {
		t.Helper()
		raw, err := dnstest.Query("www.example.", dns.TypeA, false).Pack()
		if err != nil {
			t.Fatal(err)
		}
		out, ok := h.Handle(raw, make([]byte, 0, 65535), dnsfront.UDP)
		var m dns.Msg
		if !ok || m.Unpack(out) != nil {
			t.Fatal("no reply")
		}
		return &m
	}
	for range 2 {
		if m := ask(); len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Fatalf("first zone: %v, want 192.0.2.1", m)
		}
	}
	r.z.Store(dnstest.Parse(t, "example.", "@ 3600 IN SOA ns hm 2 2 3 4 5\n@ 3600 IN NS ns\nwww 3600 IN A 192.0.2.2\n"))
	for range 2 {
		if m := ask(); len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.2" {
			t.Fatalf("replaced zone: %v, want 192.0.2.2", m)
		}
	}
	susp.Set(map[string]string{"example.": "abuse"})
	if m := ask(); m.Rcode != dns.RcodeRefused {
		t.Fatalf("suspended zone: rcode %s, want REFUSED", dns.RcodeToString[m.Rcode])
	}
	r.z.Store(nil)
	susp.Set(nil)
	if m := ask(); m.Rcode != dns.RcodeRefused {
		t.Fatalf("zone gone: rcode %s, want REFUSED", dns.RcodeToString[m.Rcode])
	}
}

// FuzzPackedReplies: whatever bytes arrive, the handler with the packed
// cache answers as the full path does, either to the query as asked or
// (a cache hit) to its question in lower case with the asker's question
// bytes patched in; never anything else.
func FuzzPackedReplies(f *testing.F) {
	z, _ := dnstest.Sign(f, dnstest.Example(f))
	zones := dnstest.NewZones(z)
	full := dnsfront.NewHandler(zones, dnsfront.Options{PackedReplies: -1})
	packed := dnsfront.NewHandler(zones, dnsfront.Options{})
	for _, c := range answerCases {
		for _, do := range []bool{false, true} {
			raw, err := dnstest.Query(c.Name, c.Type, do).Pack()
			if err != nil {
				f.Fatal(err)
			}
			packed.Handle(raw, make([]byte, 0, 65535), dnsfront.UDP) // fill the cache
			f.Add(raw, false)
			up := bytes.Clone(raw)
			copy(up[12:], strings.ToUpper(string(up[12:12+len(c.Name)+1])))
			f.Add(up, true)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, tcp bool) {
		tr := dnsfront.UDP
		if tcp {
			tr = dnsfront.TCP
		}
		got, ok := packed.Handle(raw, make([]byte, 0, 65535), tr)
		asAsked, ok1 := full.Handle(raw, make([]byte, 0, 65535), tr)
		if ok != ok1 {
			t.Fatalf("Handle(%x) ok = %v, full path %v", raw, ok, ok1)
		}
		if !ok || bytes.Equal(got, asAsked) {
			return
		}
		// A hit: the reply to the lower-cased question, patched.
		end := 12
		for end < len(raw) && raw[end] != 0 && raw[end] < 64 {
			end += 1 + int(raw[end])
		}
		end++
		if end > len(raw) || end > len(got) {
			t.Fatalf("Handle(%x) = %x, full path %x", raw, got, asAsked)
		}
		lower := bytes.Clone(raw)
		copy(lower[12:end], bytes.ToLower(raw[12:end]))
		want, _ := full.Handle(lower, make([]byte, 0, 65535), tr)
		if len(want) >= end {
			copy(want[12:end], raw[12:end])
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Handle(%x) = %x, want the full path's %x or %x", raw, got, asAsked, want)
		}
	})
}

// TestPackedLongNames: names up to the 255-octet limit, answered by a
// wildcard, come from the cache as the full path builds them.
func TestPackedLongNames(t *testing.T) {
	z, _ := dnstest.Sign(t, dnstest.Example(t))
	full := dnsfront.NewHandler(dnstest.NewZones(z), dnsfront.Options{PackedReplies: -1})
	packed := dnsfront.NewHandler(dnstest.NewZones(z), dnsfront.Options{})
	suffix := "wild.example."
	for _, extra := range []int{0, 1, 2, 3} {
		// Three 63-octet labels, then one that brings the wire name to
		// 255 octets minus extra.
		l63 := strings.Repeat("a", 63)
		last := 255 - extra - (3*64 + len(suffix) + 1) - 1
		name := l63 + "." + l63 + "." + l63 + "." + strings.Repeat("b", last) + "." + suffix
		for i := range 2 {
			raw, err := dnstest.Query(name, dns.TypeA, true).Pack()
			if err != nil {
				t.Fatalf("%d octets: %v", 255-extra, err)
			}
			want, _ := full.Handle(raw, make([]byte, 0, 65535), dnsfront.UDP)
			got, _ := packed.Handle(raw, make([]byte, 0, 65535), dnsfront.UDP)
			if !bytes.Equal(got, want) {
				t.Errorf("%d-octet name, query %d: packed reply differs", 255-extra, i)
			}
		}
	}
}
