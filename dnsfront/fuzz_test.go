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
