package node

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/zone"
)

// childOrigin is a zone below the demo zone, which delegates it (sub NS).
const childOrigin = "sub." + demo.Origin

const childZoneText = `$ORIGIN sub.demo.ddnrs.
$TTL 3600
@    SOA  ns hostmaster 1 7200 3600 1209600 300
@    NS   ns
ns   A    127.0.0.53
x    A    127.0.0.77
`

// writeAnchors writes the DNSKEYs of keys as dir/anchors.
func writeAnchors(t *testing.T, dir string, keys ...*zone.Key) {
	t.Helper()
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k.DNSKEY.String() + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "anchors"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// isChildAnswer says whether r is the child group's answer to x.sub A.
func isChildAnswer(r *dns.Msg) error {
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok && a.Hdr.Name == "x."+childOrigin && a.A.String() == "127.0.0.77" {
			return nil
		}
	}
	return fmt.Errorf("not the child's answer: rcode %s, answer %v, authority %v",
		dns.RcodeToString[r.Rcode], dnstest.Summaries(r.Answer), dnstest.Summaries(r.Ns))
}

// nestedGroups starts group a holding demo.ddnrs., which delegates
// sub.demo.ddnrs., held by group b, and a third node c that trusts the
// parent's key and, with cTrustsChild, the child's. a trusts the child's.
func nestedGroups(t *testing.T, cTrustsChild bool) (a, b, c *Node) {
	t.Helper()
	ca := groupConfig(t, nil, "a")
	parentKey, _, err := demo.Key(ca.DataDir, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	childKey, err := zone.GenerateKey(childOrigin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writeAnchors(t, ca.DataDir, childKey)
	ca.Overlay = OverlayConfig{Enabled: true, TrustAnchors: "anchors"}
	a = runNode(t, ca)
	publishDemoTB(t, a)
	_, addrs := a.OverlayID()

	cb := groupConfig(t, nil, "b")
	cb.Overlay = OverlayConfig{Enabled: true, Bootstrap: addrs}
	b = runNode(t, cb)
	u, err := zone.ParseFile(strings.NewReader(childZoneText), childOrigin, "child.zone")
	if err != nil {
		t.Fatal(err)
	}
	cz, _, err := zone.Prepare(nil, u, childKey, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(cz); err != nil {
		t.Fatal(err)
	}

	cc := groupConfig(t, nil, "c")
	if cTrustsChild {
		writeAnchors(t, cc.DataDir, parentKey, childKey)
	} else {
		writeAnchors(t, cc.DataDir, parentKey)
	}
	cc.Overlay = OverlayConfig{Enabled: true, Bootstrap: addrs, TrustAnchors: "anchors"}
	c = runNode(t, cc)

	// c routes to the parent first, so that the child's first query goes
	// through the cached parent route (provisional) to a.
	waitFor(t, "c answers www."+demo.Origin, func() error {
		if r := queryNode(t, c, dnstest.Query("www."+demo.Origin, dns.TypeA, true)); r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			return fmt.Errorf("rcode %s, answer %v", dns.RcodeToString[r.Rcode], dnstest.Summaries(r.Answer))
		}
		return nil
	})
	return a, b, c
}

// TestOverlayNestedZonesOfTwoGroups: a third node c, and a itself, come to
// answer names of the child with b's answer, and, once they have, never
// fall back to a's referral (a cached parent answer).
func TestOverlayNestedZonesOfTwoGroups(t *testing.T) {
	a, _, c := nestedGroups(t, true)
	for _, n := range []*Node{c, a} {
		q := func() *dns.Msg { return queryNode(t, n, dnstest.Query("x."+childOrigin, dns.TypeA, true)) }
		waitFor(t, n.ID()+" answers x."+childOrigin+" from the child's group", func() error { return isChildAnswer(q()) })
		for i := range 20 {
			if err := isChildAnswer(q()); err != nil {
				t.Fatalf("%s: query %d after the child's answer: %v", n.ID(), i, err)
			}
		}
		// A name of the parent outside the child is still the parent's.
		if r := queryNode(t, n, dnstest.Query("www."+demo.Origin, dns.TypeA, true)); len(r.Answer) == 0 || r.Rcode != dns.RcodeSuccess {
			t.Errorf("%s: www.%s = %v, want the parent's answer", n.ID(), demo.Origin, r)
		}
	}
	for _, n := range []*Node{a, c} {
		if f := n.OverlayFailures(); f != 0 {
			t.Errorf("%s refused %d genuine answers", n.ID(), f)
		}
	}
}

// isReferral says whether r is the parent's referral to the child.
func isReferral(r *dns.Msg) bool {
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		return false
	}
	for _, rr := range r.Ns {
		if rr.Header().Rrtype == dns.TypeNS && rr.Header().Name == childOrigin {
			return true
		}
	}
	return false
}

// TestOverlayProvisionalAnswerNotCached: c trusts only the parent's key, so
// a's referral for a child name, fetched through the provisional parent
// route, verifies. It must not be cached: once c's router knows the child
// zone, c never serves that referral again (the child's answers cannot
// verify against the parent's key: SERVFAIL).
func TestOverlayProvisionalAnswerNotCached(t *testing.T) {
	_, _, c := nestedGroups(t, false)
	qname := "x." + childOrigin
	first := queryNode(t, c, dnstest.Query(qname, dns.TypeA, true))
	// The precondition of the whole test: c, trusting only the parent's
	// key and not knowing the child zone yet, gets the parent's referral.
	if !isReferral(first) {
		t.Fatalf("first answer through the parent route: rcode %s, authority %v, want the parent's referral", dns.RcodeToString[first.Rcode], dnstest.Summaries(first.Ns))
	}
	router := c.ov.Load().Router()
	waitFor(t, "c's router knows "+childOrigin, func() error {
		if z, ok := router.CachedChild(qname, demo.Origin); !ok || z != childOrigin {
			return fmt.Errorf("CachedChild = %q, %v", z, ok)
		}
		return nil
	})
	for i := range 5 {
		if r := queryNode(t, c, dnstest.Query(qname, dns.TypeA, true)); isReferral(r) {
			t.Fatalf("query %d after the child route is known: the parent's referral %v", i, dnstest.Summaries(r.Ns))
		}
	}
}
