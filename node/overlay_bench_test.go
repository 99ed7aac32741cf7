package node

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/internal/demo"
)

// BenchmarkOverlayResolve measures DNS over UDP to node b for the demo
// zone, held by node a's group, against a asked for its own zone:
//
//   - local: a answers its own zone;
//   - hot: b answers from its verified-answer cache;
//   - warm: b knows the route, the answer is not cached (a type never
//     asked): one DDNRS-RPC round trip and the verification;
//   - cold: b forgets the route first: a DHT lookup, the RPC and the
//     verification.
//
// It reports p50 and p99 latency. Run with -benchtime=2000x; warm and
// cold ask a different type each time (up to 60000 of them).
func BenchmarkOverlayResolve(b *testing.B) {
	a, n := overlayPair(b)
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	ov := n.ov.Load()
	var seq atomic.Uint32
	cases := []struct {
		name   string
		target *Node
		q      func() *dns.Msg
		before func()
	}{
		{"local", a, func() *dns.Msg { return dnstest.Query("www."+demo.Origin, dns.TypeA, true) }, nil},
		{"hot", n, func() *dns.Msg { return dnstest.Query("www."+demo.Origin, dns.TypeA, true) }, nil},
		{"warm", n, func() *dns.Msg {
			return dnstest.Query("www."+demo.Origin, uint16(1000+seq.Add(1)%60000), true)
		}, nil},
		{"cold", n, func() *dns.Msg {
			return dnstest.Query(demo.Origin, uint16(1000+seq.Add(1)%60000), true)
		}, func() { ov.Router().Forget(demo.Origin) }},
	}
	for _, cs := range cases {
		b.Run(cs.name, func(b *testing.B) {
			addr := cs.target.Addr().String()
			if r, _, err := c.Exchange(cs.q(), addr); err != nil || r.Rcode != dns.RcodeSuccess {
				b.Fatalf("first query: %v %v", r, err)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				if cs.before != nil {
					cs.before()
				}
				q := cs.q()
				t0 := time.Now()
				r, _, err := c.Exchange(q, addr)
				lat = append(lat, time.Since(t0))
				if err != nil || r.Rcode != dns.RcodeSuccess {
					b.Fatalf("%s %s: %v %v", q.Question[0].Name, dns.TypeToString[q.Question[0].Qtype], r, err)
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
	for _, target := range []struct {
		name string
		n    *Node
	}{{"qps-local", a}, {"qps-hot", n}} {
		b.Run(target.name, func(b *testing.B) {
			addr := target.n.Addr().String()
			t0 := time.Now()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
				q := dnstest.Query("www."+demo.Origin, dns.TypeA, true)
				for pb.Next() {
					if _, _, err := c.Exchange(q, addr); err != nil {
						panic(fmt.Sprint("exchange: ", err)) // b.Fatal is not for RunParallel goroutines
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "qps")
		})
	}
}
