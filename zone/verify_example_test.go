package zone_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// The owner signs a zone; a node proves an answer and an absence; a client
// holding only the owner's public key verifies both.
func ExampleVerify() {
	key, err := zone.GenerateKey("example.", true, rand.Reader)
	if err != nil {
		panic(err)
	}
	unsigned, err := zone.ParseFile(strings.NewReader(`
$TTL 3600
@    SOA ns1 hostmaster 1 7200 3600 1209600 300
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

	// What a node sends: the RRset with its RRSIGs, the proof, the head.
	www := z.Node("www.example.").RRset(dns.TypeA)
	proof, _ := z.ProveInclusion("www.example.", dns.TypeA)
	wire, _ := proof.MarshalBinary()

	// What a client does with it, trusting only the public key.
	trusted := &zone.Key{Zone: key.Zone, DNSKEY: key.DNSKEY}
	var p zone.Proof
	if err := p.UnmarshalBinary(wire); err != nil {
		panic(err)
	}
	err = zone.Verify(zone.Answer{Name: "www.example.", Type: dns.TypeA, RRsets: []*zone.RRset{www}}, &p, z.Head.Note, trusted)
	fmt.Println("www A:", err)

	absent, _ := z.ProveAbsence("nope.example.", dns.TypeA)
	err = zone.Verify(zone.Answer{Name: "nope.example.", Type: dns.TypeA}, absent, z.Head.Note, trusted)
	fmt.Println("nope A absent:", err)

	// The same absence proof cannot deny www A.
	err = zone.Verify(zone.Answer{Name: "www.example.", Type: dns.TypeA}, absent, z.Head.Note, trusted)
	fmt.Println("www A denied:", errors.Is(err, zone.ErrNotBetween))
	// Output:
	// www A: <nil>
	// nope A absent: <nil>
	// www A denied: true
}
