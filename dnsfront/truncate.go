package dnsfront

import (
	"slices"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// truncate turns resp into the reply for a client whose buffer it
// exceeds: TC set, the question and the OPT kept, every other record
// dropped, as Knot and NSD do. The client retries over TCP (RFC 7766
// §5); a partial RRset is never sent.
func truncate(resp *dns.Msg) {
	resp.Truncated = true
	clear(resp.Answer)
	clear(resp.Ns)
	resp.Answer, resp.Ns = resp.Answer[:0], resp.Ns[:0]
	resp.Extra = keepOPT(resp.Extra)
}

// keepOPT returns extra with every record but the OPT removed, in place.
func keepOPT(extra []dns.RR) []dns.RR {
	out := extra[:0]
	for _, rr := range extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			out = append(out, rr)
		}
	}
	clear(extra[len(out):])
	return out
}

// serverFailure turns resp into a SERVFAIL with only the question and OPT.
func serverFailure(resp *dns.Msg) {
	resp.Rcode = dns.RcodeServerFailure
	resp.Authoritative = false
	clear(resp.Answer)
	clear(resp.Ns)
	resp.Answer, resp.Ns = resp.Answer[:0], resp.Ns[:0]
	resp.Extra = keepOPT(resp.Extra)
}

// shrink drops additional data from resp, which exceeds limit, until it
// fits, and reports whether it does. Additional data that does not fit
// is left out without TC (RFC 2181 §9), whole RRsets with their RRSIGs
// from the end, as Knot does; the glue of a referral's in-domain name
// servers is never dropped (RFC 9471 §3: it is required, so a reply it
// does not fit in is truncated). false means truncate.
func shrink(resp *dns.Msg, limit int) bool {
	for dropOptional(resp) {
		if resp.Len() <= limit {
			return true
		}
	}
	return false
}

// dropOptional removes from resp's additional section the last RRset,
// with the RRSIGs that follow it, that is neither the OPT nor required
// glue, and reports whether there was one.
func dropOptional(resp *dns.Msg) bool {
	cut := referralCut(resp)
	extra := resp.Extra
	j := len(extra) - 1
	for j >= 0 && required(extra[j], cut) {
		j--
	}
	if j < 0 {
		return false
	}
	name, t := rrsetKey(extra[j])
	i := j
	for i > 0 && !required(extra[i-1], cut) {
		if n, u := rrsetKey(extra[i-1]); n != name || u != t {
			break
		}
		i--
	}
	resp.Extra = slices.Delete(extra, i, j+1)
	return true
}

// referralCut returns the owner of the NS RRset in resp's authority
// section, the zone cut of a referral (the only answers with NS in
// authority), or "" when there is none.
func referralCut(resp *dns.Msg) string {
	for _, rr := range resp.Ns {
		if ns, ok := rr.(*dns.NS); ok {
			return ns.Hdr.Name
		}
	}
	return ""
}

// required reports whether rr may not be dropped from the additional
// section: the OPT, or an address at or below the referral's cut (glue
// for an in-domain name server, RFC 9471).
func required(rr dns.RR, cut string) bool {
	h := rr.Header()
	switch h.Rrtype {
	case dns.TypeOPT:
		return true
	case dns.TypeA, dns.TypeAAAA:
		return cut != "" && zone.IsSubDomain(cut, h.Name)
	}
	return false
}

// rrsetKey returns the owner and type of the RRset rr belongs to; for an
// RRSIG, the type it covers, so a signature goes with its RRset.
func rrsetKey(rr dns.RR) (string, uint16) {
	if sig, ok := rr.(*dns.RRSIG); ok {
		return sig.Hdr.Name, sig.TypeCovered
	}
	h := rr.Header()
	return h.Name, h.Rrtype
}
