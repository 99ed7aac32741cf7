package intergroup

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
)

// TestCachedAnswerKeepsUnsignedTTL: an answer served from the cache has
// its signed records' TTLs lowered by its age, and its unsigned
// referral data (NS below the apex, glue) kept at the TTL the Merkle
// leaf covers, so a client verifying the proofs in band accepts it.
func TestCachedAnswerKeepsUnsignedTTL(t *testing.T) {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	m := new(dns.Msg)
	m.Ns = []dns.RR{
		rr("sub.demo.ddnrs. 3600 IN NS ns.sub.demo.ddnrs."),
		rr("sub.demo.ddnrs. 3600 IN DS 1 15 2 " + "ab" + "cd"),
		rr("sub.demo.ddnrs. 3600 IN RRSIG DS 15 3 3600 20300101000000 20200101000000 1 demo.ddnrs. AAAA"),
	}
	m.Extra = []dns.RR{rr("ns.sub.demo.ddnrs. 3600 IN A 127.0.0.53")}
	got := otherGroupAnswer(&client.Verified{Msg: m}, 5*time.Second).Msg
	want := map[uint16]uint32{dns.TypeNS: 3600, dns.TypeDS: 3595, dns.TypeRRSIG: 3595, dns.TypeA: 3600}
	for _, r := range append(got.Ns, got.Extra...) {
		if h := r.Header(); h.Ttl != want[h.Rrtype] {
			t.Errorf("%s %s TTL %d after 5 s in the cache, want %d", h.Name, dns.TypeToString[h.Rrtype], h.Ttl, want[h.Rrtype])
		}
	}
	if m.Ns[1].Header().Ttl != 3600 {
		t.Error("otherGroupAnswer changed the cached message")
	}
}
