package zone

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/miekg/dns"
)

// bigPlainZone builds an unsigned zone of n names (A and TXT each, 2n+2
// RRsets) from RRsets directly, without the zone-file parser.
func bigPlainZone(tb testing.TB, n int) *Zone {
	tb.Helper()
	origin := "big.test."
	soa, _ := dns.NewRR(origin + " 3600 IN SOA ns1.big.test. hostmaster.big.test. 1 3600 600 86400 300")
	ns, _ := dns.NewRR(origin + " 3600 IN NS ns1.big.test.")
	sets := []*RRset{
		NewRRset(origin, dns.TypeSOA, 3600, []dns.RR{soa}, nil),
		NewRRset(origin, dns.TypeNS, 3600, []dns.RR{ns}, nil),
	}
	for i := range n {
		name := fmt.Sprintf("h%d.%s", i, origin)
		a := &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: []byte{10, byte(i >> 16), byte(i >> 8), byte(i)}}
		txt := &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: []string{"name " + strconv.Itoa(i)}}
		sets = append(sets, NewRRset(name, dns.TypeA, 300, []dns.RR{a}, nil),
			NewRRset(name, dns.TypeTXT, 300, []dns.RR{txt}, nil))
	}
	z := build(origin, sets)
	z.Tree()
	return z
}

// BenchmarkSmallChange times WithChanges plus the new Merkle root for a
// one-RRset replacement, one name added and one name removed, at 100k
// RRsets (and 1M with DDNRS_BENCH_1M=1): the zone-side work of a small
// change on every member (issue 11 item 4). Run:
//
//	go test -run '^$' -bench SmallChange -benchtime 20x ./zone
func BenchmarkSmallChange(b *testing.B) {
	sizes := []int{50_000}
	if os.Getenv("DDNRS_BENCH_1M") != "" {
		sizes = append(sizes, 500_000)
	}
	for _, names := range sizes {
		z := bigPlainZone(b, names)
		name := fmt.Sprintf("h%d.%s", names/2, z.Origin)
		txt := func(i int) *RRset {
			rr := &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: []string{"changed " + strconv.Itoa(i)}}
			return NewRRset(name, dns.TypeTXT, 300, []dns.RR{rr}, nil)
		}
		newName := fmt.Sprintf("new-%d.%s", names/3, z.Origin)
		added := NewRRset(newName, dns.TypeA, 300, []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: newName, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: []byte{192, 0, 2, 7}}}, nil)
		cases := []struct {
			what string
			cs   func(i int) ChangeSet
		}{
			{"replace", func(i int) ChangeSet { return ChangeSet{Zone: z.Origin, Put: []*RRset{txt(i)}} }},
			{"add-name", func(int) ChangeSet { return ChangeSet{Zone: z.Origin, Put: []*RRset{added}} }},
			{"remove-name", func(int) ChangeSet {
				return ChangeSet{Zone: z.Origin, Delete: []RRKey{{name, dns.TypeA}, {name, dns.TypeTXT}}}
			}},
		}
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/rrsets=%d", c.what, len(z.RRsets())), func(b *testing.B) {
				for i := range b.N {
					nz, err := z.WithChanges(c.cs(i))
					if err != nil {
						b.Fatal(err)
					}
					_ = nz.Tree().Root()
				}
			})
		}
	}
}

// BenchmarkTreapChange times the Merkle treap (treap.go, the tree that
// head format v2 is to commit to) for the same three changes at 100k
// RRsets (and 1M with DDNRS_BENCH_1M=1): put one RRset (a replacement),
// add one RRset at a new name, remove one RRset; each gives a new root,
// the old treap kept. Run:
//
//	go test -run '^$' -bench TreapChange -benchtime 200x ./zone
func BenchmarkTreapChange(b *testing.B) {
	sizes := []int{50_000}
	if os.Getenv("DDNRS_BENCH_1M") != "" {
		sizes = append(sizes, 500_000)
	}
	for _, names := range sizes {
		z := bigPlainZone(b, names)
		sets := z.RRsets()
		tr := treapOf(sets, leafHashes(z.Tree()))
		s := sets[len(sets)/2]
		name := fmt.Sprintf("new-%d.%s", names/3, z.Origin)
		added := NewRRset(name, dns.TypeA, 300, []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: []byte{192, 0, 2, 7}}}, nil)
		for _, c := range []struct {
			what string
			f    func(i int) Treap
		}{
			{"replace", func(i int) Treap { return tr.With(NewRRset(s.Name, s.Type, uint32(i), s.Records(), nil)) }},
			{"add-name", func(int) Treap { return tr.With(added) }},
			{"remove-name", func(int) Treap { return tr.Without(s.Name, s.Type) }},
		} {
			b.Run(fmt.Sprintf("%s/rrsets=%d", c.what, len(sets)), func(b *testing.B) {
				for i := range b.N {
					_ = c.f(i).Root()
				}
			})
		}
	}
}
