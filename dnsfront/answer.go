package dnsfront

import (
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// maxChain bounds the CNAME records followed for one query, so a long or
// looping chain costs a bounded amount of work. The resolver follows the
// rest.
const maxChain = 12

// respond fills resp with the answer to q, using sc for the records it
// builds, and returns the size limit of the reply over tr.
func (h *Handler) respond(q *request, resp *dns.Msg, sc *scratch, tr Transport) int {
	clear(resp.Question)
	clear(resp.Answer)
	clear(resp.Ns)
	clear(resp.Extra)
	*resp = dns.Msg{
		MsgHdr: dns.MsgHdr{
			Id:               q.id,
			Response:         true,
			Opcode:           q.opcode,
			RecursionDesired: q.rd,
			CheckingDisabled: q.cd,
		},
		Compress: true,
		Question: resp.Question[:0],
		Answer:   resp.Answer[:0],
		Ns:       resp.Ns[:0],
		Extra:    resp.Extra[:0],
	}
	lim := limit(q, tr, h.maxUDP)
	if q.qdcount != 1 || q.badOPT {
		// Without exactly one question there is nothing to echo; a
		// malformed OPT gets no OPT back (RFC 6891 §6.1.1).
		resp.Rcode = dns.RcodeFormatError
		if q.edns {
			addOPT(resp, &sc.opt, q.do, h.maxUDP)
		}
		return lim
	}
	resp.Question = append(resp.Question, q.q)
	if q.edns {
		addOPT(resp, &sc.opt, q.do, h.maxUDP)
		if q.version != 0 {
			resp.Rcode = dns.RcodeBadVers // the OPT we send is version 0
			return lim
		}
		if q.badCookie {
			resp.Rcode = dns.RcodeFormatError // RFC 7873 §5.2.2
			return lim
		}
	}
	switch {
	case q.response:
		resp.Rcode = dns.RcodeFormatError
		return lim
	case q.opcode != dns.OpcodeQuery:
		// NOTIFY and UPDATE included: zones change through their owner's
		// signed change sets, not through DNS.
		resp.Rcode = dns.RcodeNotImplemented
		return lim
	case q.q.Qclass != dns.ClassINET && q.q.Qclass != dns.ClassANY:
		// CHAOS (version.bind and friends) and other classes: we hold
		// only IN data. QCLASS * is answered as IN, as Knot does.
		resp.Rcode = dns.RcodeRefused
		return lim
	}
	switch q.q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		// Zone transfer is not offered; replicas copy zones over Raft.
		resp.Rcode = dns.RcodeRefused
		return lim
	case dns.TypeNone:
		resp.Rcode = dns.RcodeNotImplemented
		return lim
	}
	if h.suspended(q, resp, sc) {
		return lim
	}
	h.lookup(q, resp, sc)
	return lim
}

// lookup answers a well-formed IN query from the hosted zone enclosing it
// (RFC 1034 §4.3.2 with the DNSSEC additions of RFC 4035 §3.1).
func (h *Handler) lookup(q *request, resp *dns.Msg, sc *scratch) {
	z := h.zones.Zone(q.name)
	if z == nil || !zone.IsSubDomain(z.Origin, q.name) {
		// Never answer for a name outside the zones we hold; with a
		// OtherGroups, Handle passes the query on (othergroup.go).
		sc.otherGroup = h.otherGroups != nil
		resp.Rcode = dns.RcodeRefused
		return
	}
	if q.q.Qtype == dns.TypeDS && q.name == z.Origin && q.name != "." {
		// The DS RRset lives on the parent side of a cut (RFC 4035
		// §3.1.4.1): answer from the parent when we hold it, else NODATA
		// from the zone itself.
		if p := h.zones.Zone(zone.Parent(q.name)); p != nil {
			z = p
		}
	}
	resp.Authoritative = true
	sc.zone = z
	r := resolver{z: z, do: q.do && q.edns, resp: resp, sc: sc}
	name := q.name
	for hop := 0; ; hop++ {
		target, follow := r.step(name, q.q.Qtype)
		if !follow || hop == maxChain || !zone.IsSubDomain(z.Origin, target) || r.answered(target) {
			break
		}
		name = target
	}
	r.additional()
}

// resolver answers one query inside one zone.
type resolver struct {
	z    *zone.Zone
	do   bool // add RRSIGs and NSEC proofs
	resp *dns.Msg
	sc   *scratch
}

// step answers name/t, appending to the response. When name (or the
// wildcard it matches) holds a CNAME and t is not CNAME, it returns the
// CNAME's target and follow=true: the caller continues there.
func (r *resolver) step(name string, t uint16) (target string, follow bool) {
	z := r.z
	if cut := z.Delegation(name); cut != nil && (t != dns.TypeDS || cut.Name != name) {
		r.referral(cut)
		return "", false
	}
	n := z.Node(name)
	switch {
	case n == nil:
		return r.wildcard(name, t)
	case n.Empty():
		// An empty non-terminal exists (RFC 8020): NODATA, proved by
		// the NSEC of the name sorting just before it.
		r.nodata(z.Predecessor(name))
		return "", false
	case t == dns.TypeANY:
		r.any(n, "")
		return "", false
	case t == dns.TypeRRSIG:
		r.sigs(n, "")
		return "", false
	}
	if s := n.RRset(t); s != nil {
		r.add(&r.resp.Answer, s)
		return "", false
	}
	if c := n.RRset(dns.TypeCNAME); c != nil {
		r.add(&r.resp.Answer, c)
		return canonical(c.First().(*dns.CNAME).Target), true
	}
	r.nodata(n)
	return "", false
}

// wildcard answers name/t for a name that does not exist: from the
// wildcard at its closest encloser when there is one (RFC 4592 §4), else
// NXDOMAIN.
func (r *resolver) wildcard(name string, t uint16) (target string, follow bool) {
	z := r.z
	ce := zone.Parent(name)
	for z.Node(ce) == nil {
		ce = zone.Parent(ce)
	}
	wname := "*." + ce
	if ce == "." {
		wname = "*."
	}
	w := z.Node(wname)
	if w == nil {
		// NXDOMAIN (RFC 4035 §3.1.3.2): the NSEC covering the name and
		// the NSEC proving there is no wildcard at the closest encloser;
		// often one record, then it is sent once.
		r.resp.Rcode = dns.RcodeNameError
		r.soa()
		if r.do {
			r.proof(z.Predecessor(name))
			r.proof(z.Predecessor(wname))
		}
		return "", false
	}
	// The wildcard matches. With DO, the NSEC covering name proves that
	// name itself does not exist, so the expansion was legitimate (RFC
	// 4035 §3.1.3.3).
	switch {
	case w.Empty():
		r.nodata(z.Predecessor(wname))
	case t == dns.TypeANY:
		r.any(w, name)
	case t == dns.TypeRRSIG:
		r.sigs(w, name)
	case w.RRset(t) != nil:
		r.expand(w.RRset(t), name)
	case t != dns.TypeCNAME && w.RRset(dns.TypeCNAME) != nil:
		c := w.RRset(dns.TypeCNAME)
		r.expand(c, name)
		target, follow = canonical(c.First().(*dns.CNAME).Target), true
	default:
		// Wildcard NODATA (RFC 4035 §3.1.3.4): the wildcard's NSEC
		// shows the type is missing, and the covering NSEC.
		r.nodata(w)
	}
	if r.do {
		r.proof(z.Predecessor(name))
	}
	return target, follow
}

// referral answers with the delegation at cut (RFC 1034 §4.3.2 step 3b):
// the child's NS in authority, unsigned; with DO the signed DS, or the
// signed NSEC at the cut proving there is none (RFC 4035 §3.1.4). The
// glue comes with the other additional data (additional.go). AA is clear
// unless a CNAME from this zone led here.
func (r *resolver) referral(cut *zone.Node) {
	resp := r.resp
	if len(resp.Answer) == 0 {
		resp.Authoritative = false
	}
	ns := cut.RRset(dns.TypeNS)
	resp.Ns = append(resp.Ns, ns.Records()...)
	if r.do {
		if ds := cut.RRset(dns.TypeDS); ds != nil {
			r.add(&resp.Ns, ds)
		} else if nsec := cut.RRset(dns.TypeNSEC); nsec != nil {
			r.add(&resp.Ns, nsec)
		}
	}
}

// nodata answers NOERROR with no records (RFC 2308 §2.2): the SOA, and
// with DO the NSEC at proof showing the type is absent (or, for an empty
// non-terminal, the NSEC covering it).
func (r *resolver) nodata(proof *zone.Node) {
	r.soa()
	if r.do {
		r.proof(proof)
	}
}

// soa appends the zone's SOA to authority, its TTL lowered to the
// negative-caching TTL min(SOA TTL, MINIMUM) (RFC 2308 §3), with its
// RRSIGs likewise when DO is set. The copies live in the scratch.
func (r *resolver) soa() {
	set := r.z.Apex().RRset(dns.TypeSOA)
	orig := set.First().(*dns.SOA)
	ttl := min(orig.Hdr.Ttl, orig.Minttl)
	r.sc.soa = *orig
	r.sc.soa.Hdr.Ttl = ttl
	r.resp.Ns = append(r.resp.Ns, &r.sc.soa)
	if !r.do {
		return
	}
	sigs := r.sc.soaSigs[:0]
	for _, sig := range set.Signatures() {
		sigs = append(sigs, *sig)
		sigs[len(sigs)-1].Hdr.Ttl = ttl
	}
	r.sc.soaSigs = sigs
	for i := range sigs {
		r.resp.Ns = append(r.resp.Ns, &sigs[i])
	}
}

// proof appends the NSEC of n with its RRSIGs to authority, once.
func (r *resolver) proof(n *zone.Node) {
	if n == nil {
		return
	}
	s := n.RRset(dns.TypeNSEC)
	if s == nil {
		return
	}
	for _, rr := range r.resp.Ns {
		// One NSEC a name: its owner and type say it is already
		// there (the zone's records are decoded afresh for each
		// reply, so they cannot be compared by identity).
		if h := rr.Header(); h.Rrtype == dns.TypeNSEC && h.Name == s.Name {
			return
		}
	}
	r.add(&r.resp.Ns, s)
}

// add appends the RRset to sec, with its RRSIGs when DO is set.
func (r *resolver) add(sec *[]dns.RR, s *zone.RRset) {
	*sec = append(*sec, s.Records()...)
	if r.do {
		for _, sig := range s.Signatures() {
			*sec = append(*sec, sig)
		}
	}
}

// expand appends the wildcard RRset s to the answer with its owner
// rewritten to name (RFC 4592 §3.3.1). Its RRSIGs keep their Labels
// field, which tells a validator the answer was expanded.
func (r *resolver) expand(s *zone.RRset, name string) {
	for _, rr := range s.Records() {
		c := dns.Copy(rr)
		c.Header().Name = name
		r.resp.Answer = append(r.resp.Answer, c)
	}
	if r.do {
		for _, sig := range s.Signatures() {
			c := *sig
			c.Hdr.Name = name
			r.resp.Answer = append(r.resp.Answer, &c)
		}
	}
}

// any answers an ANY query minimally (RFC 8482 §4.2): one RRset of the
// node, the one with the lowest type, as Knot does. owner, when not
// empty, is the query name a wildcard node is expanded to.
func (r *resolver) any(n *zone.Node, owner string) {
	for _, s := range n.RRsets {
		if s.Type == dns.TypeRRSIG || s.Type == dns.TypeNSEC {
			continue
		}
		if owner != "" {
			r.expand(s, owner)
		} else {
			r.add(&r.resp.Answer, s)
		}
		return
	}
	r.nodata(n)
}

// sigs answers a query for type RRSIG minimally, as Knot does: the
// RRSIGs of the signed RRset with the lowest type at n, or NODATA when
// nothing at n is signed. owner, when not empty, is the query name a
// wildcard node is expanded to.
func (r *resolver) sigs(n *zone.Node, owner string) {
	for _, s := range n.RRsets {
		if s.NumSignatures() == 0 {
			continue
		}
		for _, sig := range s.Signatures() {
			if owner != "" {
				c := *sig
				c.Hdr.Name = owner
				sig = &c
			}
			r.resp.Answer = append(r.resp.Answer, sig)
		}
		return
	}
	r.nodata(n)
}

// answered reports whether the answer already holds a record owned by
// name: following a CNAME there would loop.
func (r *resolver) answered(name string) bool {
	for _, rr := range r.resp.Answer {
		if rr.Header().Name == name {
			return true
		}
	}
	return false
}
