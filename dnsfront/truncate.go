package dnsfront

import "github.com/miekg/dns"

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
