package stub_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/stub"
)

// BenchmarkStubAddedLatency: what the stub adds to a query, over real
// UDP on loopback: a node's answer asked directly (with the proofs
// option, as the stub asks it) against the same kind of answer through
// the stub, fetched and verified (a new name under the wildcard each
// time: never cached) and from its cache. Reports p50 and p99 of each,
// and the added latency at both. Run: go test -run XXX -bench
// StubAddedLatency -benchtime 2000x ./stub
func BenchmarkStubAddedLatency(b *testing.B) {
	z, k := signedExample(b, "2024010102")
	node := startNode(b, z)
	s := startStub(b, stub.Options{DataDir: b.TempDir(), Nodes: []string{node}, Anchors: client.Anchors{"example.": k}})
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	time1 := func(addr string, m *dns.Msg) time.Duration {
		start := time.Now()
		r, _, err := c.Exchange(m, addr)
		d := time.Since(start)
		if err != nil || r.Rcode != dns.RcodeSuccess || r.Truncated || len(r.Answer) == 0 {
			b.Fatalf("Exchange(%s) = %v, %v", addr, r, err)
		}
		return d
	}
	query := func(name string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.SetEdns0(1232, true)
		return m
	}
	// Asked directly, with a DNS cookie the node proved, as the stub asks
	// (a node sends proofs over UDP only then).
	cc := "0102030405060708"
	withCookie := func(m *dns.Msg, sc string) *dns.Msg {
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: cc + sc})
		return m
	}
	prime := new(dns.Msg) // without proofs: its reply carries the server cookie
	prime.SetQuestion("www.example.", dns.TypeA)
	prime.SetEdns0(1232, true)
	r, _, err := c.Exchange(withCookie(prime, ""), node)
	if err != nil {
		b.Fatal(err)
	}
	var sc string
	for _, o := range r.IsEdns0().Option {
		if ck, ok := o.(*dns.EDNS0_COOKIE); ok && len(ck.Cookie) > 16 {
			sc = ck.Cookie[16:]
		}
	}
	if sc == "" {
		b.Fatalf("the node gave no server cookie: %v", r)
	}
	time1(s.Addr().String(), query("www.example.")) // cached from now on
	var direct, fetched, cached []time.Duration
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("b%d.wild.example.", i)
		direct = append(direct, time1(node, withCookie(client.NewQuery(name, dns.TypeA), sc)))
		fetched = append(fetched, time1(s.Addr().String(), query(name)))
		cached = append(cached, time1(s.Addr().String(), query("www.example.")))
	}
	b.StopTimer()
	pct := func(ds []time.Duration, p float64) float64 {
		slices.Sort(ds)
		return float64(ds[int(float64(len(ds)-1)*p)].Microseconds())
	}
	for _, x := range []struct {
		name string
		ds   []time.Duration
	}{{"direct", direct}, {"stub-fetched", fetched}, {"stub-cached", cached}} {
		b.ReportMetric(pct(x.ds, 0.50), x.name+"-p50-µs")
		b.ReportMetric(pct(x.ds, 0.99), x.name+"-p99-µs")
	}
	b.ReportMetric(pct(fetched, 0.50)-pct(direct, 0.50), "added-p50-µs")
	b.ReportMetric(pct(fetched, 0.99)-pct(direct, 0.99), "added-p99-µs")
}
