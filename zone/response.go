package zone

// response.go: the RRsets of a DNS response as a proof covers them. A
// member proves (ProveResponse), and a verifier checks, one RRset per
// (owner, type) of the answer, authority and additional sections
// (ResponseRRsets), the same rule on both sides.

import (
	"fmt"

	"github.com/miekg/dns"
)

// ResponseRRsets groups the records of m's answer, authority and
// additional sections (OPT aside) into RRsets, in order of first
// appearance per section, with their RRSIGs. A wildcard expansion (an
// RRSIG whose Labels is below the owner's label count, RFC 4035 §5.3.2)
// gets back its stored "*" owner, so the RRset is the one the zone's tree
// holds. It returns ErrAnswerMismatch (wrapped) for an RRSIG without its
// records.
func ResponseRRsets(m *dns.Msg) ([]*RRset, error) {
	var out []*RRset
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		type key struct {
			name string
			t    uint16
		}
		idx := make(map[key]*RRset)
		var order []*RRset
		for _, rr := range sec {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT {
				continue
			}
			t := h.Rrtype
			sig, isSig := rr.(*dns.RRSIG)
			if isSig {
				t = sig.TypeCovered
			}
			k := key{CanonicalName(h.Name), t}
			s := idx[k]
			if s == nil {
				s = &RRset{Name: k.name, Type: t, TTL: h.Ttl}
				idx[k] = s
				order = append(order, s)
			}
			if isSig {
				s.AddSignature(sig)
			} else {
				s.AddRecord(rr)
			}
		}
		for _, s := range order {
			if s.NumRecords() == 0 {
				return nil, fmt.Errorf("%w: RRSIG without records at %s %s", ErrAnswerMismatch, s.Name, dns.TypeToString[s.Type])
			}
			if w := wildcardOwner(s); w != "" {
				s = unexpand(s, w)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// ProveResponse returns the inclusion proof, under z's tree, of every
// RRset of m (ResponseRRsets), in order: what a member sends beside a
// response it computed from z. It returns ErrAnswerMismatch (wrapped) for
// a response without records, and ErrNoRRset (in a *RecordError) when an
// RRset of m is not in z. It is safe for concurrent use.
func (z *Zone) ProveResponse(m *dns.Msg) (*Proof, error) {
	sets, err := ResponseRRsets(m)
	if err != nil {
		return nil, err
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("%w: empty response", ErrAnswerMismatch)
	}
	return z.ProveAnswer(Answer{Name: sets[0].Name, Type: sets[0].Type, RRsets: sets})
}

// wildcardOwner returns the wildcard name s was expanded from, or "".
func wildcardOwner(s *RRset) string {
	if s.NumSignatures() == 0 {
		return ""
	}
	labels := dns.CountLabel(s.Name)
	l := int(s.Signatures()[0].Labels)
	if l >= labels {
		return ""
	}
	idx := dns.Split(s.Name)
	return "*." + s.Name[idx[labels-l]:]
}

// unexpand returns a copy of s owned by w.
func unexpand(s *RRset, w string) *RRset {
	c := &RRset{Name: w, Type: s.Type, TTL: s.TTL}
	for _, sig := range s.Signatures() {
		sig = dns.Copy(sig).(*dns.RRSIG)
		sig.Hdr.Name = w
		c.AddSignature(sig)
	}
	for _, rr := range s.Records() {
		rr = dns.Copy(rr)
		rr.Header().Name = w
		c.AddRecord(rr)
	}
	return c
}
