package client

// response.go: the records of a response as the proof covers them. A
// member proves, and a verifier checks, one RRset per (owner, type) of
// the answer, authority and additional sections (ResponseRRsets); Prove
// makes the proof a member sends.

import (
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/zone"
)

// Answer is an answer as a member of the zone's group sends it, each
// part in wire form: what VerifyAnswer takes.
type Answer struct {
	Msg   []byte // the DNS response, packed
	Head  []byte // the zone's signed head note (zone.Head.Note)
	Proof []byte // zone.Proof, binary form, of every RRset of Msg
}

// Prove returns the answer a member of z's group sends for resp, the
// response it computed from z for a question (with DO set and every
// section whole, as over TCP; dnsfront's handler computes it in a node):
// resp packed, z's head, and the proof of every RRset of resp
// (ResponseRRsets) under the head. z must be signed (its Head set).
// Errors: ErrNotAnswer (wrapped) for a response with no records, or an
// RRSIG without its records; zone.ErrNoRRset (wrapped) when an RRset of
// resp is not in z. It is pure and safe for concurrent use.
func Prove(z *zone.Zone, resp *dns.Msg) (*Answer, error) {
	if z.Head == nil {
		return nil, fmt.Errorf("zone %s is not signed (no head)", z.Origin)
	}
	msg, err := resp.Pack()
	if err != nil {
		return nil, err
	}
	sets, err := ResponseRRsets(resp)
	if err != nil {
		return nil, err
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("%w: empty response", ErrNotAnswer)
	}
	p, err := z.ProveAnswer(zone.Answer{Name: sets[0].Name, Type: sets[0].Type, RRsets: sets})
	if err != nil {
		return nil, err
	}
	proof, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &Answer{Msg: msg, Head: z.Head.Note, Proof: proof}, nil
}

// checkAdditional checks that every record of m's additional section
// (the OPT aside) is one the owning group puts there (zone.AdditionalTarget,
// the rule dnsfront's answer builder follows): an A or AAAA record, or its RRSIG, inside zone origin and
// owned by the target of an NS, MX or SRV record of the answer or
// authority section. Whether the records are genuine is zone.Verify's
// job, with the rest of the response.
func checkAdditional(m *dns.Msg, origin string) error {
	var targets map[string]bool
	for _, sec := range [][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range sec {
			target, ok := zone.AdditionalTarget(rr)
			if !ok {
				continue
			}
			if targets == nil {
				targets = make(map[string]bool)
			}
			targets[zone.CanonicalName(target)] = true
		}
	}
	for _, rr := range m.Extra {
		h := rr.Header()
		t := h.Rrtype
		switch t {
		case dns.TypeOPT:
			continue
		case dns.TypeRRSIG:
			t = rr.(*dns.RRSIG).TypeCovered
		}
		owner := zone.CanonicalName(h.Name)
		switch {
		case !zone.IsSubDomain(origin, owner):
			return &zone.RecordError{Name: owner, Type: t, Err: fmt.Errorf("%w: additional record outside %s", zone.ErrWrongZone, origin)}
		case t != dns.TypeA && t != dns.TypeAAAA:
			return fmt.Errorf("%w: %w: %s %s", ErrNotAnswer, ErrUnexpectedAdditional, owner, dns.TypeToString[t])
		case !targets[owner]:
			return fmt.Errorf("%w: %w: %s %s is no NS, MX or SRV target of the response", ErrNotAnswer, ErrUnexpectedAdditional, owner, dns.TypeToString[t])
		}
	}
	return nil
}

// ResponseRRsets groups the records of m's answer, authority and
// additional sections (OPT aside) into RRsets, with their RRSIGs, a
// wildcard expansion back under its "*" owner (zone.ResponseRRsets, the
// one rule a member and a verifier share). An RRSIG without its records
// is ErrNotAnswer (wrapped).
func ResponseRRsets(m *dns.Msg) ([]*zone.RRset, error) {
	sets, err := zone.ResponseRRsets(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotAnswer, err)
	}
	return sets, nil
}

// answerTTL is how long m may be cached at now: the smallest TTL of its
// records in every section, the additional addresses included (the SOA's
// bounded by its MINIMUM for a negative answer, RFC 2308 §5), and no
// later than the first expiry of any of its signatures.
func answerTTL(m *dns.Msg, now time.Time) (time.Duration, error) {
	ttl := uint32(1<<31 - 1)
	expire := int64(1<<62 - 1)
	negative := m.Rcode == dns.RcodeNameError
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue // its TTL field holds flags, not a TTL
			}
			ttl = min(ttl, rr.Header().Ttl)
			switch r := rr.(type) {
			case *dns.RRSIG:
				exp := sigTime(r.Expiration, now)
				if exp <= now.Unix() {
					return 0, fmt.Errorf("%w: RRSIG %s %s at %s", ErrExpired, r.Hdr.Name, dns.TypeToString[r.TypeCovered], time.Unix(exp, 0).UTC())
				}
				expire = min(expire, exp)
			case *dns.SOA:
				if negative || len(m.Answer) == 0 {
					ttl = min(ttl, r.Minttl)
				}
			}
		}
	}
	d := time.Duration(ttl) * time.Second
	if left := time.Unix(expire, 0).Sub(now); left < d {
		d = left
	}
	return d, nil
}

// sigTime turns an RRSIG's 32-bit time into Unix seconds, in the window
// of 68 years around now (RFC 4034 §3.1.5).
func sigTime(t uint32, now time.Time) int64 {
	n := now.Unix()
	d := int64(int32(t - uint32(n)))
	return n + d
}
