package node

import (
	"errors"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/zone"
)

// TestOverlayProofsInBand asks b, which holds no zone, and a, which
// holds the demo zone, with the proofs option, and verifies every reply
// with only the owner's key (docs/proofs-option.md): b relays the head
// and proof a member of a's group sent, fetched and then from its cache
// (a second later, so the TTLs were lowered by the answer's age; the
// referral's unsigned NS and glue keep the TTL their leaf covers).
func TestOverlayProofsInBand(t *testing.T) {
	a, b := overlayPair(t)
	k := publishedKey(t, a)
	names := []struct {
		name string
		t    uint16
	}{
		{"www." + demo.Origin, dns.TypeA},
		{"chain." + demo.Origin, dns.TypeA},
		{"nothere." + demo.Origin, dns.TypeA},
		{"x.wild." + demo.Origin, dns.TypeTXT},
		{"host.sub." + demo.Origin, dns.TypeA}, // referral with glue
		{demo.Origin, dns.TypeMX},
	}
	ask := func(n *Node, name string, qt uint16) *dns.Msg {
		t.Helper()
		c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
		r, _, err := c.Exchange(client.NewQuery(name, qt), n.Addr().String())
		if err != nil {
			t.Fatalf("Exchange(%s %s): %v", name, dns.TypeToString[qt], err)
		}
		return r
	}
	for round := range 2 {
		if round == 1 {
			time.Sleep(1100 * time.Millisecond) // cached answers a second old
		}
		for _, c := range names {
			for _, n := range []*Node{a, b} {
				v := client.NewVerifier(client.Anchors{demo.Origin: k}, nil)
				var r *dns.Msg
				waitFor(t, "an answer for "+c.name, func() error {
					r = ask(n, c.name, c.t)
					if r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeRefused {
						return errors.New(dns.RcodeToString[r.Rcode])
					}
					return nil
				})
				got, err := v.VerifyResponse(c.name, c.t, r)
				if err != nil {
					t.Errorf("round %d, node %s: VerifyResponse(%s %s) = %v\n%v", round, n.DataDir(), c.name, dns.TypeToString[c.t], err, r)
					continue
				}
				if got.Zone != demo.Origin {
					t.Errorf("VerifyResponse(%s) zone %s", c.name, got.Zone)
				}
			}
		}
	}
	// Without DO, b says so in the option.
	q := client.NewQuery("www."+demo.Origin, dns.TypeA)
	q.IsEdns0().SetDo(false)
	r := queryNode(t, b, q)
	st, _, _, err := zone.DecodeProofsOption(client.ProofsOf(r))
	if err != nil || st != zone.NeedDO {
		t.Errorf("b, no DO: proofs status %v, %v; want NeedDO", st, err)
	}
}

// publishedKey is the demo zone's owner key as a trust anchor (public
// part only).
func publishedKey(t *testing.T, a *Node) *zone.Key {
	t.Helper()
	k, _, err := demo.Key(a.DataDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &zone.Key{Zone: k.Zone, DNSKEY: k.DNSKEY}
}
