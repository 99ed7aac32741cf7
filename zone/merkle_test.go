package zone

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

func mkRRset(tb testing.TB, ttl uint32, lines ...string) *RRset {
	tb.Helper()
	s := &RRset{TTL: ttl}
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			tb.Fatalf("dns.NewRR(%q): %v", l, err)
		}
		s.Name, s.Type = CanonicalName(rr.Header().Name), rr.Header().Rrtype
		s.AddRecord(rr)
	}
	return s
}

// wireRR builds one canonical record by hand: owner labels, type, class
// IN, TTL, RDATA.
func wireRR(labels []string, t uint16, ttl uint32, rdata []byte) []byte {
	var b []byte
	for _, l := range labels {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, t)
	b = binary.BigEndian.AppendUint16(b, dns.ClassINET)
	b = binary.BigEndian.AppendUint32(b, ttl)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rdata)))
	return append(b, rdata...)
}

func wireName(labels ...string) []byte {
	var b []byte
	for _, l := range labels {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

func TestLeafData(t *testing.T) {
	tests := []struct {
		name string
		set  *RRset
		want []byte
	}{
		{
			name: "one A, owner lower-cased, RRset TTL",
			set:  mkRRset(t, 300, "WWW.Example. 999 IN A 192.0.2.1"),
			want: wireRR([]string{"www", "example"}, dns.TypeA, 300, []byte{192, 0, 2, 1}),
		},
		{
			name: "sorted by RDATA, duplicates once",
			set:  mkRRset(t, 60, "a.example. 60 IN A 192.0.2.9", "a.example. 60 IN A 192.0.2.10", "a.example. 60 IN A 192.0.2.9"),
			want: append(wireRR([]string{"a", "example"}, dns.TypeA, 60, []byte{192, 0, 2, 9}),
				wireRR([]string{"a", "example"}, dns.TypeA, 60, []byte{192, 0, 2, 10})...),
		},
		{
			name: "shorter RDATA sorts first when it is a prefix",
			set:  mkRRset(t, 60, `t.example. 60 IN TXT "ab"`, `t.example. 60 IN TXT "a"`),
			want: append(wireRR([]string{"t", "example"}, dns.TypeTXT, 60, []byte{1, 'a'}),
				wireRR([]string{"t", "example"}, dns.TypeTXT, 60, []byte{2, 'a', 'b'})...),
		},
		{
			name: "MX target lower-cased (RFC 4034 §6.2)",
			set:  mkRRset(t, 60, "example. 60 IN MX 10 Mail.EXAMPLE."),
			want: wireRR([]string{"example"}, dns.TypeMX, 60, append([]byte{0, 10}, wireName("mail", "example")...)),
		},
		{
			name: "TXT keeps its case",
			set:  mkRRset(t, 60, `example. 60 IN TXT "MiXeD"`),
			want: wireRR([]string{"example"}, dns.TypeTXT, 60, []byte{5, 'M', 'i', 'X', 'e', 'D'}),
		},
		{
			name: "names in RDATA are never compressed",
			set:  mkRRset(t, 60, "example. 60 IN NS example."),
			want: wireRR([]string{"example"}, dns.TypeNS, 60, wireName("example")),
		},
	}
	for _, tt := range tests {
		if got := LeafData(tt.set); !bytes.Equal(got, tt.want) {
			t.Errorf("%s: LeafData = %x, want %x", tt.name, got, tt.want)
		}
		want := sha256.Sum256(append([]byte{0}, tt.want...))
		if got := LeafHash(tt.set); got != want {
			t.Errorf("%s: LeafHash = %x, want %x", tt.name, got, want)
		}
	}
}

// TestLeafDataIsWhatRRSIGCovers checks, for every signed RRset of the test
// zone, that the RRSIG's signature verifies over the RRSIG RDATA prefix
// followed by LeafData: the leaf is exactly the RRset DNSSEC signs, so the
// canonical form agrees with miekg/dns's signer.
func TestLeafDataIsWhatRRSIGCovers(t *testing.T) {
	z, k := mkTestZone(t)
	signed := 0
	for _, s := range z.RRsets() {
		for _, sig := range s.Signatures() {
			var pre []byte
			pre = binary.BigEndian.AppendUint16(pre, sig.TypeCovered)
			pre = append(pre, sig.Algorithm, sig.Labels)
			pre = binary.BigEndian.AppendUint32(pre, sig.OrigTtl)
			pre = binary.BigEndian.AppendUint32(pre, sig.Expiration)
			pre = binary.BigEndian.AppendUint32(pre, sig.Inception)
			pre = binary.BigEndian.AppendUint16(pre, sig.KeyTag)
			name := make([]byte, 256)
			n, err := dns.PackDomainName(CanonicalName(sig.SignerName), name, 0, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			pre = append(pre, name[:n]...)
			raw, err := base64.StdEncoding.DecodeString(sig.Signature)
			if err != nil {
				t.Fatal(err)
			}
			if !ed25519.Verify(k.Public(), append(pre, LeafData(s)...), raw) {
				t.Errorf("RRSIG of %s %s does not cover LeafData %x", s.Name, dns.TypeToString[s.Type], LeafData(s))
			}
			signed++
		}
	}
	if signed < 10 {
		t.Fatalf("only %d RRSIGs checked; the test zone should have more", signed)
	}
}

// refRoot is RFC 6962 §2.1's definition, recursively.
func refRoot(leaves [][32]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return hashChildren(refRoot(leaves[:k]), refRoot(leaves[k:]))
}

func testLeaves(n int) ([]*RRset, [][32]byte) {
	sets := make([]*RRset, n)
	hashes := make([][32]byte, n)
	for i := range sets {
		rr := &dns.A{Hdr: dns.RR_Header{Name: fmt.Sprintf("h%05d.example.", i), Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A: []byte{192, 0, 2, byte(i)}}
		sets[i] = NewRRset(rr.Hdr.Name, dns.TypeA, 60, []dns.RR{rr}, nil)
		hashes[i] = LeafHash(sets[i])
	}
	return sets, hashes
}

func TestTreeAgainstReference(t *testing.T) {
	for n := 0; n <= 33; n++ {
		sets, leaves := testLeaves(n)
		tree := newTree(sets)
		if got := tree.Size(); got != uint64(n) {
			t.Errorf("newTree(%d leaves).Size() = %d", n, got)
		}
		want := refRoot(leaves)
		if got := tree.Root(); got != want {
			t.Errorf("newTree(%d leaves).Root() = %x, want %x", n, got, want)
		}
		// The library's compact range agrees.
		rf := compact.RangeFactory{Hash: hasher.HashChildren}
		r := rf.NewEmptyRange(0)
		for _, l := range leaves {
			if err := r.Append(l[:], nil); err != nil {
				t.Fatal(err)
			}
		}
		if n > 0 {
			root, err := r.GetRootHash(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(root, want[:]) {
				t.Errorf("compact range root of %d leaves = %x, want %x", n, root, want)
			}
		}
		for i := 0; i < n; i++ {
			path, err := tree.inclusion(uint64(i))
			if err != nil {
				t.Fatalf("inclusion(%d) of %d: %v", i, n, err)
			}
			p := make([][]byte, len(path))
			for k := range path {
				p[k] = path[k][:]
			}
			if err := proof.VerifyInclusion(hasher, uint64(i), uint64(n), leaves[i][:], p, want[:]); err != nil {
				t.Errorf("inclusion(%d) of %d leaves does not verify: %v", i, n, err)
			}
		}
	}
}

func TestTreeCachedAndConcurrent(t *testing.T) {
	z, _ := mkTestZone(t)
	var wg sync.WaitGroup
	trees := make([]*Tree, 8)
	for i := range trees {
		wg.Add(1)
		go func() {
			defer wg.Done()
			trees[i] = z.Tree()
		}()
	}
	wg.Wait()
	for i, tr := range trees {
		if tr != trees[0] {
			t.Errorf("Tree() call %d returned another tree", i)
		}
	}
	if got, want := z.Tree().Size(), uint64(len(z.RRsets())); got != want {
		t.Errorf("Tree().Size() = %d, want %d (one leaf per RRset)", got, want)
	}
}

// TestTreeIgnoresSignatures: re-signing with another validity window
// gives other RRSIGs but the same tree.
func TestTreeIgnoresSignatures(t *testing.T) {
	k := mkKey(t, "example.", 1)
	rrs := mkParse(t, "example.", mkZoneText)
	a := mkSignedZone(t, k, rrs, mkInception, mkExpiration, mkHeadTime)
	b := mkSignedZone(t, k, rrs, mkInception.Add(time.Hour), mkExpiration.Add(time.Hour), mkHeadTime)
	if a.Tree().Root() != b.Tree().Root() {
		t.Errorf("roots differ after re-signing: %x vs %x", a.Tree().Root(), b.Tree().Root())
	}
	if sa, sb := a.Apex().RRset(dns.TypeSOA).Signatures()[0], b.Apex().RRset(dns.TypeSOA).Signatures()[0]; sa.Signature == sb.Signature {
		t.Fatal("re-signing gave the same SOA RRSIG; the test proves nothing")
	}
}

// TestTreeLeafOrder: leaves follow Zone.RRsets, NSEC and DNSKEY are
// leaves, RRSIGs are not.
func TestTreeLeafOrder(t *testing.T) {
	z, _ := mkTestZone(t)
	tree := z.Tree()
	var haveNSEC, haveDNSKEY bool
	for i, s := range z.RRsets() {
		if got, want := tree.Leaf(uint64(i)), LeafHash(s); got != want {
			t.Errorf("Leaf(%d) = %x, want LeafHash(%s %s) = %x", i, got, s.Name, dns.TypeToString[s.Type], want)
		}
		if s.Type == dns.TypeRRSIG {
			t.Errorf("leaf %d is an RRSIG RRset", i)
		}
		haveNSEC = haveNSEC || s.Type == dns.TypeNSEC
		haveDNSKEY = haveDNSKEY || s.Type == dns.TypeDNSKEY
	}
	if !haveNSEC || !haveDNSKEY {
		t.Errorf("leaves with NSEC %v, DNSKEY %v; want both", haveNSEC, haveDNSKEY)
	}
}

func BenchmarkTree10000(b *testing.B) {
	sets, _ := testLeaves(10000)
	b.ReportAllocs()
	for b.Loop() {
		newTree(sets)
	}
}
