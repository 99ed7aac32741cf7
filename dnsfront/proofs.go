package dnsfront

// proofs.go: the proofs option (EDNS(0) 65002, docs/proofs-option.md).
// A client that puts it, empty, in a query with DO gets in the reply's
// OPT record the zone's signed head and the Merkle proof of every RRset
// of the response, so it can verify the answer with only the owner's key
// (package client, VerifyResponse). A local answer is proved from the
// zone snapshot it was computed from; an answer from another group
// carries the head and proof its member sent and this node verified.
// A reply with proofs is never shrunk (dropping additional records
// would leave the proof covering records that are not there): when it
// does not fit the client's UDP buffer it is truncated (TC), and the
// client asks again over TCP, DoT, DoH or DoQ; when it does not fit a
// DNS message (64 KiB) the proofs are left out, status TooLarge.

import (
	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/zone"
)

// ProofsOptionCode is the EDNS(0) option of the proofs in band
// (zone.ProofsOptionCode, docs/proofs-option.md).
const ProofsOptionCode = zone.ProofsOptionCode

// proofsStatus says what a reply to q can carry in its proofs option,
// given the zone z that answered (nil: none) and the response.
func proofsStatus(q *request, z *zone.Zone, resp *dns.Msg) zone.ProofsStatus {
	switch {
	case !q.do:
		return zone.NeedDO
	case z == nil || z.Head == nil || resp.Truncated ||
		(resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError):
		return zone.NotProvable
	}
	return zone.Proved
}

// addProofs puts the proofs option in the reply's OPT (sc.opt, which
// must be resp's) when q asked for it: the head of z and the proof of
// every RRset of resp under it, or the status saying why not. It
// reports whether the reply now carries proofs: such a reply must be
// truncated rather than shrunk.
func (h *Handler) addProofs(q *request, resp *dns.Msg, sc *scratch) bool {
	if !q.proofs || !q.edns || !hasOPT(resp, &sc.opt) {
		return false
	}
	z := sc.zone
	status := proofsStatus(q, z, resp)
	var head, proof []byte
	if status == zone.Proved {
		p, err := z.ProveResponse(resp)
		if err == nil {
			proof, err = p.MarshalBinary()
		}
		if err != nil {
			status = zone.NotProvable // nothing in it the tree holds: REFUSED-like
		} else {
			head = z.Head.Note
		}
	}
	return setProofs(&sc.opt, &sc.optLen, status, head, proof)
}

// setProofs appends the proofs option to opt, counting its RDATA in
// *optLen (for padding), and reports whether it carries proofs.
func setProofs(opt *dns.OPT, optLen *int, status zone.ProofsStatus, head, proof []byte) bool {
	data, err := zone.EncodeProofsOption(status, head, proof)
	if err != nil {
		status = zone.TooLarge
		data, _ = zone.EncodeProofsOption(status, nil, nil)
	}
	opt.Option = append(opt.Option, &dns.EDNS0_LOCAL{Code: ProofsOptionCode, Data: data})
	*optLen += 4 + len(data)
	return status == zone.Proved
}

// dropProofs replaces the proofs in opt with status (TooLarge for a
// reply they do not fit in, or removes the option when status is
// Proved: a truncated reply carries no records to prove).
func dropProofs(opt *dns.OPT, optLen *int, status zone.ProofsStatus) {
	for i, e := range opt.Option {
		l, ok := e.(*dns.EDNS0_LOCAL)
		if !ok || l.Code != ProofsOptionCode {
			continue
		}
		*optLen -= 4 + len(l.Data)
		if status == zone.Proved {
			opt.Option = append(opt.Option[:i:i], opt.Option[i+1:]...)
			return
		}
		data, _ := zone.EncodeProofsOption(status, nil, nil)
		opt.Option[i] = &dns.EDNS0_LOCAL{Code: ProofsOptionCode, Data: data}
		*optLen += 4 + len(data)
		return
	}
}

// hasOPT reports whether opt is resp's OPT record.
func hasOPT(resp *dns.Msg, opt *dns.OPT) bool {
	for _, rr := range resp.Extra {
		if rr == dns.RR(opt) {
			return true
		}
	}
	return false
}

// fitProofs makes resp, which carries proofs and exceeds limit, fit:
// over UDP it is truncated (its proofs option dropped with its records);
// over a stream (limit 65535) the proofs are left out, status
// TooLarge, and resp is shrunk or truncated as any reply.
func fitProofs(resp *dns.Msg, opt *dns.OPT, optLen *int, limit int) {
	if limit < maxMsgSize {
		dropProofs(opt, optLen, zone.Proved)
		truncate(resp)
		return
	}
	dropProofs(opt, optLen, zone.TooLarge)
	if resp.Len() > limit && !shrink(resp, limit) {
		truncate(resp)
	}
}

// carriesProofs reports whether the packed reply out carries proofs in
// band: a proofs option whose status is Proved (docs/proofs-option.md:
// version, status, then the head and the proof).
func carriesProofs(out []byte) bool {
	d := findOption(out, ProofsOptionCode)
	return len(d) > 2 && d[1] == byte(zone.Proved)
}
