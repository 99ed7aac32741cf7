package zone

import (
	"slices"

	"github.com/miekg/dns"
)

// nameStatus says what a zone is for a name: authoritative for its data,
// the parent side of a zone cut, or holding only glue below a cut.
type nameStatus uint8

const (
	statusAuth     nameStatus = iota // authoritative data: every RRset signed, in the NSEC chain
	statusCut                        // delegation point: DS and NSEC signed, NS and glue not
	statusOccluded                   // at or below a cut's child side: glue, nothing signed, no NSEC
)

// status returns the status of the node n of z (RFC 4035 §2.2, §2.3).
func status(z *Zone, n *Node) nameStatus {
	cut := z.Delegation(n.Name)
	switch {
	case cut == nil:
		return statusAuth
	case cut == n:
		return statusCut
	default:
		return statusOccluded
	}
}

// signs reports whether an RRset of type t at a name of status st carries
// RRSIGs (RFC 4035 §2.2: delegation NS and glue are not signed).
func signs(st nameStatus, t uint16) bool {
	switch st {
	case statusAuth:
		return true
	case statusCut:
		return t == dns.TypeDS || t == dns.TypeNSEC
	}
	return false
}

// nsecTTL is the TTL of every NSEC record: min(SOA TTL, SOA MINIMUM)
// (RFC 9077 §3).
func nsecTTL(z *Zone) uint32 {
	soa := z.SOA()
	return min(soa.Hdr.Ttl, soa.Minttl)
}

// isDNSSECType reports whether records of type t are made by signing and
// so are stripped before a zone is (re-)signed.
func isDNSSECType(t uint16) bool {
	switch t {
	case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeNSEC3PARAM:
		return true
	}
	return false
}

// nsecBitmap returns the types an NSEC at n lists (RFC 4034 §4.1.2): at
// an authoritative name every type present plus RRSIG and NSEC; at a
// delegation point only NS, DS when present, RRSIG and NSEC.
func nsecBitmap(n *Node, st nameStatus) []uint16 {
	types := []uint16{dns.TypeRRSIG, dns.TypeNSEC}
	for _, s := range n.RRsets {
		if isDNSSECType(s.Type) {
			continue
		}
		if st == statusCut && s.Type != dns.TypeNS && s.Type != dns.TypeDS {
			continue
		}
		types = append(types, s.Type)
	}
	slices.Sort(types)
	return slices.Compact(types)
}

// chainNode is one link of the NSEC chain under construction.
type chainNode struct {
	node *Node
	st   nameStatus
}

// chain returns the nodes an NSEC chain links, in canonical order:
// every name that owns records, except the names below zone cuts.
// Empty non-terminals own no records and are not linked (RFC 4034 §4.1.1).
func chain(z *Zone) []chainNode {
	out := make([]chainNode, 0, z.Len())
	for _, n := range z.Nodes() {
		if st := status(z, n); st != statusOccluded {
			out = append(out, chainNode{n, st})
		}
	}
	return out
}

// addNSEC adds the NSEC chain to z, which must hold no NSEC records: each
// linked name gets an NSEC pointing at the next linked name, the last at
// the apex.
func addNSEC(z *Zone, links []chainNode) {
	ttl := nsecTTL(z)
	for i, l := range links {
		next := links[(i+1)%len(links)].node.Name
		nsec := &dns.NSEC{
			Hdr:        dns.RR_Header{Name: l.node.Name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
			NextDomain: next,
			TypeBitMap: nsecBitmap(l.node, l.st),
		}
		insertRRset(l.node, NewRRset(l.node.Name, dns.TypeNSEC, ttl, []dns.RR{nsec}, nil))
	}
}

// insertRRset adds s to n keeping n.RRsets sorted by type.
func insertRRset(n *Node, s *RRset) {
	i, _ := slices.BinarySearchFunc(n.RRsets, s.Type, func(e *RRset, t uint16) int { return int(e.Type) - int(t) })
	n.RRsets = slices.Insert(n.RRsets, i, s)
}

// sameNSEC reports whether two NSEC records have the same TTL, next name
// and type bitmap.
func sameNSEC(a, b *dns.NSEC) bool {
	return a.Hdr.Ttl == b.Hdr.Ttl &&
		CanonicalName(a.NextDomain) == CanonicalName(b.NextDomain) &&
		slices.Equal(a.TypeBitMap, b.TypeBitMap)
}
