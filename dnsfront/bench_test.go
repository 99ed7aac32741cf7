package dnsfront_test

import (
	"testing"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/miekg/dns"
)

// BenchmarkHandle measures the hot path as a UDP server drives it: wire
// in, wire out, one reused 64 KiB buffer per worker.
func BenchmarkHandle(b *testing.B) {
	h := dnsfront.NewHandler(dnstest.NewZones(mustSigned(b)), dnsfront.Options{})
	cases := []struct {
		name string
		req  *dns.Msg
	}{
		{"positive", dnstest.Query("www.example.", dns.TypeA, false)},
		{"positive+do", dnstest.Query("www.example.", dns.TypeA, true)},
		{"nxdomain+do", dnstest.Query("nothere.example.", dns.TypeA, true)},
		{"referral", dnstest.Query("host.sub.example.", dns.TypeA, false)},
		{"referral+do", dnstest.Query("host.sub.example.", dns.TypeA, true)},
		{"wildcard+do", dnstest.Query("foo.wild.example.", dns.TypeA, true)},
		// The MX answer brings mail.example.'s signed address.
		{"mx+do", dnstest.Query("example.", dns.TypeMX, true)},
	}
	for _, c := range cases {
		raw, err := c.req.Pack()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 0, 65535)
				for pb.Next() {
					if _, ok := h.Handle(raw, buf, dnsfront.UDP); !ok {
						b.Error("dropped")
						return
					}
				}
			})
		})
	}
}
