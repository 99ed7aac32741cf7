package client_test

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/zone"
)

// exampleZone is what an owner publishes: a zone signed on the owner's
// machine with the owner's key (zone.Sign adds the RRSIGs, the NSEC
// chain and the signed zone head).
func exampleZone() (*zone.Zone, *zone.Key) {
	key, err := zone.GenerateKey("example.", true, rand.Reader)
	if err != nil {
		panic(err)
	}
	unsigned, err := zone.ParseFile(strings.NewReader(`
$TTL 3600
@    SOA ns1 hostmaster 7 7200 3600 1209600 300
@    NS  ns1
ns1  A   192.0.2.53
www  A   192.0.2.80
`), "example.", "example.zone")
	if err != nil {
		panic(err)
	}
	z, err := zone.Sign(unsigned, key, zone.DefaultSignOptions(time.Now()))
	if err != nil {
		panic(err)
	}
	return z, key
}

// groupAnswer is the answer a member of the zone's group sends for
// (name, t) when the zone holds that RRset: the response with the RRset
// and its RRSIGs (a node computes it with its DNS handler; here it is
// built from the zone), the zone's head and the proof client.Prove makes.
func groupAnswer(z *zone.Zone, name string, t uint16) *client.Answer {
	resp := new(dns.Msg)
	resp.SetQuestion(name, t)
	resp.Response, resp.Authoritative = true, true
	s := z.Node(name).RRset(t)
	resp.Answer = append(resp.Answer, s.Records()...)
	for _, sig := range s.Signatures() {
		resp.Answer = append(resp.Answer, sig)
	}
	a, err := client.Prove(z, resp)
	if err != nil {
		panic(err)
	}
	return a
}

// A Go program holding only the owner's public key verifies an answer
// it got from any node, and refuses one whose record was changed on the
// way.
func ExampleVerifier_VerifyAnswer() {
	z, key := exampleZone()
	a := groupAnswer(z, "www.example.", dns.TypeA)

	// The program trusts the owner's public key, nothing else: pinned
	// here; a node takes it from the registry's transparency log.
	anchors := client.Anchors{"example.": &zone.Key{Zone: "example.", DNSKEY: key.DNSKEY}}
	v := client.NewVerifier(anchors, nil)

	got, err := v.VerifyAnswer("www.example.", dns.TypeA, a.Msg, a.Head, a.Proof)
	if err != nil {
		panic(err)
	}
	fmt.Printf("verified: zone %s serial %d: %s\n", got.Zone, got.Serial, strings.Join(strings.Fields(got.Msg.Answer[0].String()), " "))

	// A node on the way answers 203.0.113.66 instead.
	m := new(dns.Msg)
	if err := m.Unpack(a.Msg); err != nil {
		panic(err)
	}
	m.Answer[0].(*dns.A).A = []byte{203, 0, 113, 66}
	forged, err := m.Pack()
	if err != nil {
		panic(err)
	}
	_, err = v.VerifyAnswer("www.example.", dns.TypeA, forged, a.Head, a.Proof)
	fmt.Println("forged:", err)
	// Output:
	// verified: zone example. serial 7: www.example. 3600 IN A 192.0.2.80
	// forged: answer for example. (serial 7) refused: www.example. A: signature does not verify with the trusted key
}

// withSigs is s's records followed by its RRSIGs, as a response carries
// them.
func withSigs(s *zone.RRset) []dns.RR {
	out := append([]dns.RR(nil), s.Records()...)
	for _, sig := range s.Signatures() {
		out = append(out, sig)
	}
	return out
}

// A denial verifies only for the names its NSEC records deny: the
// NXDOMAIN a group gives for nope.example. does not pass for
// www.example., which exists.
func ExampleVerifier_VerifyAnswer_denial() {
	z, key := exampleZone()
	v := client.NewVerifier(client.Anchors{"example.": &zone.Key{Zone: "example.", DNSKEY: key.DNSKEY}}, nil)

	// NXDOMAIN, as a group answers it: the zone's SOA and the NSEC that
	// covers the name (here it also denies the wildcard *.example.).
	deny := func(name string) *client.Answer {
		resp := new(dns.Msg)
		resp.SetQuestion(name, dns.TypeA)
		resp.Response, resp.Authoritative, resp.Rcode = true, true, dns.RcodeNameError
		resp.Ns = append(withSigs(z.Apex().RRset(dns.TypeSOA)), withSigs(z.Predecessor(name).RRset(dns.TypeNSEC))...)
		a, err := client.Prove(z, resp)
		if err != nil {
			panic(err)
		}
		return a
	}
	a := deny("nope.example.")
	got, err := v.VerifyAnswer("nope.example.", dns.TypeA, a.Msg, a.Head, a.Proof)
	if err != nil {
		panic(err)
	}
	fmt.Println("nope.example. A:", dns.RcodeToString[got.Msg.Rcode])

	// The same genuine records, sent as the answer for www.example.
	m := new(dns.Msg)
	if err := m.Unpack(a.Msg); err != nil {
		panic(err)
	}
	m.Question[0].Name = "www.example."
	forged, err := m.Pack()
	if err != nil {
		panic(err)
	}
	_, err = v.VerifyAnswer("www.example.", dns.TypeA, forged, a.Head, a.Proof)
	fmt.Println("www.example. A:", err)
	// Output:
	// nope.example. A: NXDOMAIN
	// www.example. A: answer for example. (serial 7) refused: response does not answer the question: NSEC proof missing: no NSEC covers www.example.
}
