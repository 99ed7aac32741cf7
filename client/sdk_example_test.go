package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/zone"
)

// startNode serves z with DDNRS's DNS handler over TCP on a free
// loopback port, as a node does, and returns its address and a stop.
func startNode(z *zone.Zone) (addr string, stop func()) {
	h := dnsfront.NewHandler(oneZone{z}, dnsfront.Options{})
	tcp, err := dnsfront.ListenTCP("127.0.0.1:0", h, dnsfront.TCPOptions{})
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() { tcp.Serve(context.Background()); close(done) }()
	return tcp.Addr().String(), func() {
		tcp.Close()
		<-done
		h.Close()
	}
}

// oneZone is a dnsfront.Reader holding one zone.
type oneZone struct{ z *zone.Zone }

func (o oneZone) Zone(name string) *zone.Zone {
	if zone.IsSubDomain(o.z.Origin, name) {
		return o.z
	}
	return nil
}

// A program that knows only the zone owner's public key asks any node,
// trusted or not, and gets an answer it verified itself: the node sends
// the zone's signed head and the Merkle proof of every record with the
// answer (EDNS option 65002), and the Resolver checks them.
func ExampleResolver_Resolve() {
	z, key := exampleZone()
	addr, stop := startNode(z) // a node serving the zone, on loopback
	defer stop()

	// The owner's public key: pinned here (client.LoadAnchors reads an
	// owner's .key file); LogState.Follow takes it from the registry's log.
	anchors := client.Anchors{"example.": &zone.Key{Zone: "example.", DNSKEY: key.DNSKEY}}
	// Net: udp (the default, TCP again on TC), tcp, tcp-tls or https.
	r := &client.Resolver{Server: addr, Net: client.NetTCP, Verifier: client.NewVerifier(anchors, nil)}

	got, err := r.Resolve(context.Background(), "www.example.", dns.TypeA)
	if err != nil {
		panic(err)
	}
	fmt.Printf("verified: zone %s serial %d\n", got.Zone, got.Serial)
	fmt.Println(strings.Join(strings.Fields(got.Msg.Answer[0].String()), " "))

	// A name that does not exist: the NXDOMAIN is verified too (the NSEC
	// records that prove it are in the proof).
	got, err = r.Resolve(context.Background(), "nothere.example.", dns.TypeA)
	if err != nil {
		panic(err)
	}
	fmt.Println(dns.RcodeToString[got.Msg.Rcode], "verified")
	// Output:
	// verified: zone example. serial 7
	// www.example. 3600 IN A 192.0.2.80
	// NXDOMAIN verified
}

// VerifyResponse checks a reply a program got by its own means (its own
// DNS library, a cache, a file): here a node that lies about a record.
func ExampleVerifier_VerifyResponse() {
	z, key := exampleZone()
	addr, stop := startNode(z)
	defer stop()
	anchors := client.Anchors{"example.": &zone.Key{Zone: "example.", DNSKEY: key.DNSKEY}}
	v := client.NewVerifier(anchors, nil)

	c := &dns.Client{Net: "tcp"}
	reply, _, err := c.Exchange(client.NewQuery("www.example.", dns.TypeA), addr)
	if err != nil {
		panic(err)
	}
	reply.Answer[0].(*dns.A).A = net.ParseIP("203.0.113.66") // the lie
	_, err = v.VerifyResponse("www.example.", dns.TypeA, reply)
	fmt.Println("refused:", errors.Is(err, zone.ErrBadSignature))

	// A node that leaves the proofs out is refused as well.
	reply, _, _ = c.Exchange(client.NewQuery("www.example.", dns.TypeA), addr)
	reply.IsEdns0().Option = nil
	_, err = v.VerifyResponse("www.example.", dns.TypeA, reply)
	fmt.Println("no proofs:", errors.Is(err, client.ErrNoProof))
	// Output:
	// refused: true
	// no proofs: true
}
