package zone

import (
	"crypto/ed25519"
	"encoding/base64"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Fixed signing times of the proof tests and vectors: RRSIGs are valid in
// January 2025 and heads are made mid-month.
var (
	mkInception  = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	mkExpiration = time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	mkHeadTime   = time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)
)

// mkZoneText is the small zone the proof tests and the vectors use. It has
// a delegation with glue (unsigned RRsets), a wildcard, a CNAME chain and
// names whose case and escapes exercise canonical form.
const mkZoneText = `
$ORIGIN example.
$TTL 3600
@        SOA   ns1.Example. hostmaster.example. 2025010101 7200 3600 1209600 300
@        NS    ns1.example.
@        MX    10 Mail.Example.
@        TXT   "v=spf1 -all"
ns1      A     192.0.2.53
mail     A     192.0.2.25
www      A     192.0.2.80
www      A     192.0.2.8
www      AAAA  2001:db8::80
alias    CNAME www
*.wild   TXT   "wildcard"
sub      NS    ns.sub
ns.sub   A     192.0.2.201
Z        TXT   "capital owner"
`

// mkKey returns the test key of zone derived from a one-byte seed: the
// same seed always gives the same key.
func mkKey(tb testing.TB, zone string, seed byte) *Key {
	tb.Helper()
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	priv := ed25519.NewKeyFromSeed(s)
	zone = CanonicalName(zone)
	return &Key{
		Zone: zone,
		DNSKEY: &dns.DNSKEY{
			Hdr:       dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
			Flags:     257,
			Protocol:  3,
			Algorithm: dns.ED25519,
			PublicKey: base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
		},
		Private: priv,
	}
}

// mkParse reads zone-file text.
func mkParse(tb testing.TB, origin, text string) []dns.RR {
	tb.Helper()
	zp := dns.NewZoneParser(strings.NewReader(text), origin, "test")
	zp.SetIncludeAllowed(false)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		tb.Fatalf("parsing test zone: %v", err)
	}
	return rrs
}

// mkSignedZone builds a signed zone the way a DNSSEC signer does, with
// miekg/dns only: the key's DNSKEY at the apex, an NSEC chain, an RRSIG by
// k on every authoritative RRset (not on delegation NS or glue), valid
// from inception to expiration, and a head made at headTime.
func mkSignedZone(tb testing.TB, k *Key, rrs []dns.RR, inception, expiration, headTime time.Time) *Zone {
	tb.Helper()
	origin := k.Zone
	all := append([]dns.RR{dns.Copy(k.DNSKEY)}, rrs...)
	unsigned, err := New(origin, all)
	if err != nil {
		tb.Fatalf("New(%s): %v", origin, err)
	}
	// Zone cuts and the NSEC chain over the authoritative names and cuts.
	var owners []*Node
	for _, n := range unsigned.Nodes() {
		if cut := unsigned.Delegation(n.Name); cut != nil && cut.Name != n.Name {
			continue // glue
		}
		owners = append(owners, n)
	}
	for i, n := range owners {
		next := owners[(i+1)%len(owners)].Name
		types := []uint16{dns.TypeNSEC, dns.TypeRRSIG}
		for _, s := range n.RRsets {
			types = append(types, s.Type)
		}
		sort.Slice(types, func(a, b int) bool { return types[a] < types[b] })
		all = append(all, &dns.NSEC{
			Hdr:        dns.RR_Header{Name: n.Name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: 300},
			NextDomain: next,
			TypeBitMap: types,
		})
	}
	withNSEC, err := New(origin, all)
	if err != nil {
		tb.Fatalf("New(%s) with NSEC: %v", origin, err)
	}
	for _, s := range withNSEC.RRsets() {
		cut := withNSEC.Delegation(s.Name)
		if cut != nil && (cut.Name != s.Name || s.Type == dns.TypeNS) {
			continue // delegation NS and glue stay unsigned
		}
		all = append(all, mkRRSIG(tb, k, s, inception, expiration))
	}
	z, err := New(origin, all)
	if err != nil {
		tb.Fatalf("New(%s) signed: %v", origin, err)
	}
	z.Head, err = NewHead(z, k, headTime)
	if err != nil {
		tb.Fatalf("NewHead: %v", err)
	}
	return z
}

// mkRRSIG signs s with k.
func mkRRSIG(tb testing.TB, k *Key, s *RRset, inception, expiration time.Time) *dns.RRSIG {
	tb.Helper()
	sig := &dns.RRSIG{
		Hdr:        dns.RR_Header{Name: s.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: s.TTL},
		Algorithm:  dns.ED25519,
		SignerName: k.Zone,
		KeyTag:     k.Tag(),
		Inception:  uint32(inception.Unix()),
		Expiration: uint32(expiration.Unix()),
	}
	if err := sig.Sign(k.Private, s.Records()); err != nil {
		tb.Fatalf("signing %s %s: %v", s.Name, dns.TypeToString[s.Type], err)
	}
	return sig
}

// mkTestZone is the signed mkZoneText under mkKey(example., 1).
func mkTestZone(tb testing.TB) (*Zone, *Key) {
	tb.Helper()
	k := mkKey(tb, "example.", 1)
	return mkSignedZone(tb, k, mkParse(tb, "example.", mkZoneText), mkInception, mkExpiration, mkHeadTime), k
}

// leafHashes returns t's leaf hashes in order.
func leafHashes(t *Tree) [][32]byte {
	var out [][32]byte
	t.each(func(_ int, _ *RRset, leaf [32]byte) bool {
		out = append(out, leaf)
		return true
	})
	return out
}
