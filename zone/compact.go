package zone

import "github.com/miekg/dns"

// compact.go: a served zone is held once per member (docs/large-zones.md,
// "Memory"); what it holds per RRset is mostly miekg/dns records. Every
// record decoded from the wire or a zone file carries its own copy of
// its owner name, its RRSIG's signer name and, for an NSEC, the next
// name: about 70 bytes an RRset of strings equal to one the zone holds
// anyway. The helpers here point them at one string each. They write
// only records the caller owns and no reader has seen (New's copies,
// checkSignedPut's copies, an assembled upload's RRsets): a served
// zone's records are never written.

// shareSetNames points the owner names of s's records and RRSIGs at
// s.Name, and a signer name equal to signer at signer. s must be owned
// by the caller and not yet shared.
func shareSetNames(s *RRset, signer string) {
	for _, rr := range s.RRs {
		rr.Header().Name = s.Name
	}
	for _, sig := range s.Sigs {
		sig.Hdr.Name = s.Name
		if sig.SignerName == signer {
			sig.SignerName = signer
		}
	}
}

// shareTargets points the names that records of sets name inside z (an
// NSEC's next name; an NS, MX, SRV or CNAME target) at the name z's
// index holds. sets must be z's own, not yet shared.
func (z *Zone) shareTargets(sets []*RRset) {
	share := func(name *string) {
		if n := z.names.get(*name); n != nil {
			*name = n.Name
		}
	}
	for _, s := range sets {
		for _, rr := range s.RRs {
			switch v := rr.(type) {
			case *dns.NSEC:
				share(&v.NextDomain)
			case *dns.NS:
				share(&v.Ns)
			case *dns.CNAME:
				share(&v.Target)
			case *dns.MX:
				share(&v.Mx)
			case *dns.SRV:
				share(&v.Target)
			}
		}
	}
}

// shareNames points the name of every RRset of z at its node's, then
// runs shareSetNames (signer: the origin) and shareTargets over them. z's
// RRsets must be owned by the caller and not yet shared (New, Assemble).
func (z *Zone) shareNames() {
	z.names.each(func(n *Node) {
		for _, s := range n.RRsets {
			s.Name = n.Name
			shareSetNames(s, z.Origin)
		}
		z.shareTargets(n.RRsets)
	})
}
