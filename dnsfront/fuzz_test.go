package dnsfront_test

import (
	"testing"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// FuzzHandle feeds arbitrary bytes to Handle: it must never panic, every
// reply must parse, echo the ID, have QR set, and fit the UDP limit.
func FuzzHandle(f *testing.F) {
	seeds := []*dns.Msg{
		dnstest.Query("www.example.", dns.TypeA, false),
		dnstest.Query("nothere.example.", dns.TypeA, true),
		dnstest.Query("foo.wild.example.", dns.TypeMX, true),
		dnstest.Query("host.sub.example.", dns.TypeA, true),
		dnstest.Query("big.example.", dns.TypeA, false),
		dnstest.Query("alias.example.", dns.TypeANY, true),
		dnstest.Query("loop1.example.", dns.TypeA, false),
	}
	for _, m := range seeds {
		raw, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, uint8(dnsfront.UDP))
		f.Add(raw, uint8(dnsfront.TCP))
	}
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0}, uint8(0))
	f.Add([]byte{0xbe, 0xef, 0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1}, uint8(0))
	h := dnsfront.NewHandler(dnstest.NewZones(mustSigned(f)), dnsfront.Options{})
	buf := make([]byte, 0, 65535)
	f.Fuzz(func(t *testing.T, raw []byte, tr uint8) {
		transport := dnsfront.Transport(tr % 2)
		out, ok := h.Handle(raw, buf, transport)
		if !ok {
			if len(raw) >= 12 && raw[2]&0x80 == 0 {
				t.Fatalf("Handle(%x, %s) dropped a query with a header", raw, transport)
			}
			return
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(out); err != nil {
			t.Fatalf("Handle(%x, %s) = unparseable %x: %v", raw, transport, out, err)
		}
		if resp.Id != uint16(raw[0])<<8|uint16(raw[1]) || !resp.Response {
			t.Fatalf("Handle(%x, %s) header = %+v, want the query's ID and QR", raw, transport, resp.MsgHdr)
		}
		if transport == dnsfront.UDP && len(out) > dnsfront.DefaultMaxUDPSize {
			t.Fatalf("Handle(%x, UDP) = %d bytes, over %d", raw, len(out), dnsfront.DefaultMaxUDPSize)
		}
	})
}

func mustSigned(tb testing.TB) *zone.Zone {
	z, _ := dnstest.Sign(tb, dnstest.Example(tb))
	return z
}

// FuzzStrict keeps the parsing strict: a well-formed query made malformed
// by raising a section count past the records that follow or by adding
// bytes after its last record (fewer than a record's minimum of 11, so
// they can never form one) gets FORMERR with its ID, and its question
// echoed.
func FuzzStrict(f *testing.F) {
	f.Add("www.example.", uint16(dns.TypeA), true, uint8(1), uint16(65535), []byte{})
	f.Add("nothere.example.", uint16(dns.TypeMX), false, uint8(0), uint16(0), []byte{0})
	f.Add("WWW.example.", uint16(dns.TypeAAAA), true, uint8(2), uint16(1), []byte{1, 2, 3})
	f.Add("a.b.c.", uint16(dns.TypeTXT), false, uint8(3), uint16(2), []byte{0xc0, 0x0c})
	h := dnsfront.NewHandler(dnstest.NewZones(mustSigned(f)), dnsfront.Options{})
	buf := make([]byte, 0, 65535)
	f.Fuzz(func(t *testing.T, name string, qtype uint16, do bool, section uint8, extra uint16, trailing []byte) {
		if _, ok := dns.IsDomainName(name); !ok || len(trailing) > 10 {
			return
		}
		q := dnstest.Query(dns.Fqdn(name), qtype, do)
		q.Id = 0x5151
		raw, err := q.Pack()
		if err != nil {
			return
		}
		var asked dns.Msg // the question as it reads back, escapes included
		if asked.Unpack(raw) != nil || len(asked.Question) != 1 {
			return
		}
		raw = append(raw, trailing...)
		// Raise ANCOUNT, NSCOUNT or ARCOUNT (section 0, 1, 2; 3 and above
		// leave the counts alone).
		if s := int(section % 4); s < 3 && extra > 0 {
			off := 6 + 2*s
			c := uint32(raw[off])<<8 | uint32(raw[off+1]) + uint32(extra)
			if c > 65535 {
				c = 65535
			}
			raw[off], raw[off+1] = byte(c>>8), byte(c)
		} else if len(trailing) == 0 {
			return // nothing made it malformed
		}
		for _, tr := range []dnsfront.Transport{dnsfront.UDP, dnsfront.TCP} {
			out, ok := h.Handle(raw, buf, tr)
			resp := new(dns.Msg)
			if !ok || resp.Unpack(out) != nil {
				t.Fatalf("Handle(%x, %s) = %x, %t; want a FORMERR reply", raw, tr, out, ok)
			}
			if resp.Rcode != dns.RcodeFormatError || resp.Id != 0x5151 || !resp.Response {
				t.Fatalf("Handle(%x, %s) = %s id %#x; want FORMERR id 0x5151", raw, tr, dns.RcodeToString[resp.Rcode], resp.Id)
			}
			if len(resp.Question) != 1 || resp.Question[0] != asked.Question[0] {
				t.Fatalf("Handle(%x, %s) question = %v, want %v echoed", raw, tr, resp.Question, asked.Question[0])
			}
		}
	})
}
