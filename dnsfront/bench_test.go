package dnsfront_test

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/miekg/dns"
)

// BenchmarkHandle measures the hot path as a UDP server drives it: wire
// in, wire out, one reused 64 KiB buffer per worker.
func BenchmarkHandle(b *testing.B) {
	benchmarkHandle(b, dnsfront.Options{})
}

// BenchmarkHandleUncached is BenchmarkHandle with no packed reply cache:
// every reply is built from the zone, whose RRsets are packed and decoded
// for each reply (zone/packed.go), as a question seen for the first time.
func BenchmarkHandleUncached(b *testing.B) {
	benchmarkHandle(b, dnsfront.Options{PackedReplies: -1})
}

func benchmarkHandle(b *testing.B, opt dnsfront.Options) {
	h := dnsfront.NewHandler(dnstest.NewZones(mustSigned(b)), opt)
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

// BenchmarkHandleObserve measures what introspection costs the hot path:
// off (the default), with Prometheus metrics, and with metrics and the
// dnstap log to a file. One signed positive answer with DO.
func BenchmarkHandleObserve(b *testing.B) {
	z := mustSigned(b)
	reg := prometheus.NewRegistry()
	m, err := dnsfront.NewMetrics(reg, dnsfront.MetricsOptions{})
	if err != nil {
		b.Fatal(err)
	}
	tap, err := dnsfront.NewTap(dnsfront.TapOptions{Dest: "file:" + filepath.Join(b.TempDir(), "q.dnstap"), Queue: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tap.Close() })
	raw, err := dnstest.Query("www.example.", dns.TypeA, true).Pack()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opt  dnsfront.Options
	}{
		{"off", dnsfront.Options{}},
		{"metrics", dnsfront.Options{Metrics: m}},
		{"metrics+dnstap", dnsfront.Options{Metrics: m, Tap: tap}},
	} {
		h := dnsfront.NewHandler(dnstest.NewZones(z), c.opt)
		from := netip.MustParseAddrPort("127.0.0.1:5353")
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 65535)
			dropped, written := tap.Dropped(), tap.Written()
			for b.Loop() {
				if _, ok := h.HandleFrom(raw, buf, dnsfront.UDP, from); !ok {
					b.Fatal("dropped")
				}
			}
			if c.opt.Tap != nil {
				b.ReportMetric(float64(tap.Dropped()-dropped)/float64(b.N), "tap-dropped/op")
				b.ReportMetric(float64(tap.Written()-written)/float64(b.N), "tap-msgs/op")
			}
		})
	}
}
