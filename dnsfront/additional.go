package dnsfront

import (
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// additional fills the additional section (RFC 1034 §4.3.2 step 6, RFC
// 1035 §3.3.9 and §6.3.1, RFC 2782): for every NS, MX and SRV record in
// answer and authority, the A and AAAA RRsets of its target when the
// target is data of this zone, as Knot and NSD do. A target below a zone
// cut gets its glue, unsigned; any other target its authoritative
// addresses, with their RRSIGs when DO is set (RFC 4035 §3.1.1). Targets
// are never followed through a CNAME (RFC 2181 §10.3), targets in other
// zones are left to the resolver, and an RRset already in the response
// is not sent twice. The RRSIGs come after all the addresses, as Knot
// sends them, so when space runs short the signatures go first (RFC 4035
// §3.1.1 allows keeping an RRset without its RRSIGs).
//
// Which of these records may be dropped when the reply is too big is
// decided by dropOptional (truncate.go): all of them but the glue of a
// referral's in-domain name servers (RFC 9471).
func (r *resolver) additional() {
	resp := r.resp
	from := len(resp.Extra)
	// The sections only grow at the end of Extra below, so indexing
	// answer and authority as they are now is safe.
	for i, n := 0, len(resp.Answer)+len(resp.Ns); i < n; i++ {
		var rr dns.RR
		if i < len(resp.Answer) {
			rr = resp.Answer[i]
		} else {
			rr = resp.Ns[i-len(resp.Answer)]
		}
		if target, ok := zone.AdditionalTarget(rr); ok {
			r.addresses(canonical(target))
		}
	}
	if r.do {
		sigsLast(resp.Extra[from:])
	}
}

// sigsLast moves the RRSIGs of rrs after its other records, keeping the
// order within each part.
func sigsLast(rrs []dns.RR) {
	w := 0 // rrs[:w] holds the other records, rrs[w:i] RRSIGs
	for i, rr := range rrs {
		if _, ok := rr.(*dns.RRSIG); ok {
			continue
		}
		if i != w {
			copy(rrs[w+1:i+1], rrs[w:i])
			rrs[w] = rr
		}
		w++
	}
}

// addresses appends the A and AAAA RRsets of host, a canonical name,
// when this zone holds them: glue below a cut unsigned, authoritative
// data signed, a name that does not exist from the wildcard that
// matches it (RFC 4592 §4, as Knot does).
func (r *resolver) addresses(host string) {
	z := r.z
	if !zone.IsSubDomain(z.Origin, host) {
		return
	}
	glue := z.Delegation(host) != nil
	n := z.Node(host)
	expand := false
	if n == nil {
		if glue {
			return // no wildcard applies at or below a cut
		}
		if n = r.wildcardFor(host); n == nil {
			return
		}
		expand = true
	}
	for _, t := range [...]uint16{dns.TypeA, dns.TypeAAAA} {
		s := n.RRset(t)
		if s == nil || r.present(host, t) {
			continue
		}
		if expand {
			for _, rr := range s.Records() {
				c := dns.Copy(rr)
				c.Header().Name = host
				r.resp.Extra = append(r.resp.Extra, c)
			}
		} else {
			r.resp.Extra = append(r.resp.Extra, s.Records()...)
		}
		if !r.do || glue {
			continue // glue is not signed (RFC 4035 §2.2)
		}
		for _, sig := range s.Signatures() {
			if expand {
				c := *sig
				c.Hdr.Name = host
				sig = &c
			}
			r.resp.Extra = append(r.resp.Extra, sig)
		}
	}
}

// wildcardFor returns the wildcard node matching host, a name of this
// zone that does not exist and is not below a cut, or nil.
func (r *resolver) wildcardFor(host string) *zone.Node {
	z := r.z
	ce := zone.Parent(host)
	for z.Node(ce) == nil {
		ce = zone.Parent(ce)
	}
	if ce == "." {
		return z.Node("*.")
	}
	return z.Node("*." + ce)
}

// present reports whether the response already holds records of type t
// owned by name, in any section.
func (r *resolver) present(name string, t uint16) bool {
	for _, sec := range [...][]dns.RR{r.resp.Answer, r.resp.Ns, r.resp.Extra} {
		for _, rr := range sec {
			if h := rr.Header(); h.Rrtype == t && h.Name == name {
				return true
			}
		}
	}
	return false
}
