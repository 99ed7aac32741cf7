package client

// denial.go: does a response whose records are genuine answer the
// question? The answer section follows the name (through CNAMEs), and a
// negative or wildcard answer carries the NSEC records that prove it
// (RFC 4035 §3.1.3, RFC 4592).

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/zone"
)

// answers checks that m, whose records are genuine, answers (name, t) of
// zone origin: the first answer RRset is at name (or a CNAME there), a
// CNAME chain links up, wildcard expansions come with the NSEC covering
// the expanded name, and a negative answer carries the NSEC records that
// deny the name or type (RFC 4035 §3.1.3).
func answers(m *dns.Msg, name string, t uint16, origin string) error {
	var nsecs []*dns.NSEC
	hasSOA := false
	for _, rr := range m.Ns {
		switch r := rr.(type) {
		case *dns.NSEC:
			nsecs = append(nsecs, r)
		case *dns.SOA:
			hasSOA = zone.CanonicalName(r.Hdr.Name) == origin
		}
	}
	// Follow the answer section from name.
	cur := name
	found := false
	for _, rr := range m.Answer {
		h := rr.Header()
		if h.Rrtype == dns.TypeRRSIG {
			if sig := rr.(*dns.RRSIG); int(sig.Labels) < dns.CountLabel(h.Name) && !literalWildcard(h.Name, sig.Labels) {
				if !covered(nsecs, zone.CanonicalName(h.Name)) {
					return fmt.Errorf("%w: %w: wildcard answer for %s without a covering NSEC", ErrNotAnswer, ErrNSECMissing, h.Name)
				}
			}
			continue
		}
		owner := zone.CanonicalName(h.Name)
		if owner != cur {
			return fmt.Errorf("%w: answer record %s is not at %s", ErrNotAnswer, owner, cur)
		}
		switch {
		case h.Rrtype == t || t == dns.TypeANY:
			found = true
		case h.Rrtype == dns.TypeCNAME:
			cur = zone.CanonicalName(rr.(*dns.CNAME).Target)
		default:
			return fmt.Errorf("%w: answer record %s %s for type %s", ErrNotAnswer, owner, dns.TypeToString[h.Rrtype], dns.TypeToString[t])
		}
	}
	if found && m.Rcode == dns.RcodeSuccess {
		return nil
	}
	if !zone.IsSubDomain(origin, cur) {
		// A chain that leaves the zone ends here; the client follows it.
		if m.Rcode != dns.RcodeSuccess {
			return fmt.Errorf("%w: NXDOMAIN for a name outside the zone", ErrNotAnswer)
		}
		return nil
	}
	if m.Rcode == dns.RcodeSuccess && !hasSOA {
		// A referral: NS records at a cut above cur, no SOA.
		for _, rr := range m.Ns {
			if rr.Header().Rrtype == dns.TypeNS {
				cut := zone.CanonicalName(rr.Header().Name)
				if cut != origin && zone.IsSubDomain(cut, cur) {
					return nil
				}
			}
		}
		return fmt.Errorf("%w: no answer, SOA or referral for %s", ErrNotAnswer, cur)
	}
	if !hasSOA {
		return fmt.Errorf("%w: negative answer without the zone's SOA", ErrNotAnswer)
	}
	if m.Rcode == dns.RcodeNameError {
		return denyName(nsecs, cur)
	}
	return denyType(nsecs, cur, t)
}

// denyName checks the NSEC proof of NXDOMAIN for name: an NSEC covers name
// and one covers the wildcard at its closest encloser.
func denyName(nsecs []*dns.NSEC, name string) error {
	var n *dns.NSEC
	for _, r := range nsecs {
		if nsecCovers(r, name) {
			n = r
			break
		}
	}
	if n == nil {
		return fmt.Errorf("%w: %w: no NSEC covers %s", ErrNotAnswer, ErrNSECMissing, name)
	}
	ce := closestEncloser(name, n)
	if !covered(nsecs, "*."+ce) {
		return fmt.Errorf("%w: %w: no NSEC denies the wildcard *.%s", ErrNotAnswer, ErrNSECMissing, ce)
	}
	return nil
}

// denyType checks the NSEC proof of NODATA for (name, t): the NSEC at name
// without t or CNAME; or, for an empty non-terminal, the NSEC covering name
// whose next name is below it; or a wildcard NODATA (the NSEC covering
// name and the NSEC at the wildcard without t).
func denyType(nsecs []*dns.NSEC, name string, t uint16) error {
	for _, r := range nsecs {
		owner := zone.CanonicalName(r.Hdr.Name)
		if owner == name {
			if hasType(r, t) || hasType(r, dns.TypeCNAME) {
				return fmt.Errorf("%w: NSEC at %s lists the type denied", ErrNotAnswer, name)
			}
			return nil
		}
	}
	for _, r := range nsecs {
		if !nsecCovers(r, name) {
			continue
		}
		if next := zone.CanonicalName(r.NextDomain); zone.IsSubDomain(name, next) && next != name {
			return nil // empty non-terminal
		}
		w := "*." + closestEncloser(name, r)
		for _, x := range nsecs {
			if zone.CanonicalName(x.Hdr.Name) == w && !hasType(x, t) && !hasType(x, dns.TypeCNAME) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %w: no NSEC denies %s %s", ErrNotAnswer, ErrNSECMissing, name, dns.TypeToString[t])
}

func hasType(r *dns.NSEC, t uint16) bool {
	for _, x := range r.TypeBitMap {
		if x == t {
			return true
		}
	}
	return false
}

func covered(nsecs []*dns.NSEC, name string) bool {
	for _, r := range nsecs {
		if nsecCovers(r, name) {
			return true
		}
	}
	return false
}

// nsecCovers reports whether name sorts strictly between r's owner and
// next name, the last NSEC of the chain (next name before the owner)
// covering everything after its owner.
func nsecCovers(r *dns.NSEC, name string) bool {
	owner, next := zone.CanonicalName(r.Hdr.Name), zone.CanonicalName(r.NextDomain)
	if zone.Compare(owner, name) >= 0 {
		return false
	}
	if zone.Compare(owner, next) >= 0 { // last in the chain
		return zone.IsSubDomain(next, name)
	}
	return zone.Compare(name, next) < 0
}

// closestEncloser is the longest ancestor of name that exists, judged from
// the NSEC covering name: the longer of the common suffixes of name with
// its owner and with its next name (RFC 4592 §3.3.1).
func closestEncloser(name string, r *dns.NSEC) string {
	a := commonSuffix(name, zone.CanonicalName(r.Hdr.Name))
	b := commonSuffix(name, zone.CanonicalName(r.NextDomain))
	if dns.CountLabel(b) > dns.CountLabel(a) {
		return b
	}
	return a
}

func commonSuffix(a, b string) string {
	n := dns.CompareDomainName(a, b)
	if n == 0 {
		return "."
	}
	idx := dns.Split(a)
	return a[idx[len(idx)-n]:]
}

// literalWildcard reports whether an RRSIG with labels at owner is the
// wildcard's own, asked for by its literal name ("*.wild.example."):
// its Labels leaves out the "*" (RFC 4034 §3.1.3), yet nothing was
// expanded, so no NSEC is needed (RFC 4592 §2.2.1).
func literalWildcard(owner string, labels uint8) bool {
	return strings.HasPrefix(owner, "*.") && int(labels) == dns.CountLabel(owner)-1
}
