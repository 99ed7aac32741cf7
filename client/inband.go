package client

// inband.go: answers that carry their own proofs. A client asks a node
// with the proofs option (EDNS(0) 65002, docs/proofs-option.md) and DO
// set; the node returns, inside the DNS response, the zone's signed head
// and the Merkle proof of every RRset in it. VerifyResponse checks such
// a response with only the zone owner's key, so one untrusted node
// suffices: it cannot forge, drop or roll back what it serves unnoticed.

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/zone"
)

// ProofsOptionCode is the EDNS(0) option code of the proofs option
// (zone.ProofsOptionCode).
const ProofsOptionCode = zone.ProofsOptionCode

var (
	// ErrNoProof is returned by VerifyResponse when the response carries
	// no proofs: no proofs option (a node that does not know it, or a
	// middlebox that dropped it), or one whose status is not
	// zone.Proved (ProofsError says which). An answer of a zone with a
	// trust anchor must not be used without its proofs.
	ErrNoProof = errors.New("response carries no proofs")
	// ErrTruncated is returned by VerifyResponse when the response has TC
	// set: it did not fit (with its proofs, replies are never shrunk);
	// ask again over TCP, DoT, DoH or DoQ.
	ErrTruncated = errors.New("response truncated: ask again over TCP")
)

// ProofsError is ErrNoProof with the status a node gave: why it sent no
// proofs (zone.NeedDO, zone.NotProvable, zone.TooLarge).
type ProofsError struct{ Status zone.ProofsStatus }

func (e *ProofsError) Error() string {
	return fmt.Sprintf("%v: the node says %v", ErrNoProof, e.Status)
}

func (e *ProofsError) Unwrap() error { return ErrNoProof }

// NewQuery returns a query for (name, t) that asks for proofs: DO set,
// an EDNS(0) buffer of 1232 bytes (what fits UDP without fragmentation,
// DNS Flag Day 2020) and the empty proofs option. RD is clear: a DDNRS
// node answers from its zones and its overlay, not by recursion. Add
// other options (the audit option, 65001) to its OPT record as needed.
func NewQuery(name string, t uint16) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), t)
	q.RecursionDesired = false
	q.SetEdns0(1232, true)
	o := q.IsEdns0()
	o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: ProofsOptionCode})
	return q
}

// ProofsOf returns the proofs option data of m's OPT record, or nil
// when it has none.
func ProofsOf(m *dns.Msg) []byte {
	o := m.IsEdns0()
	if o == nil {
		return nil
	}
	for _, e := range o.Option {
		if l, ok := e.(*dns.EDNS0_LOCAL); ok && l.Code == ProofsOptionCode {
			if l.Data == nil {
				return []byte{}
			}
			return l.Data
		}
	}
	return nil
}

// VerifyResponse checks m, a node's response to the question (name, t)
// asked with the proofs option (NewQuery), with only the zone owner's
// key: the head and proof it carries, the RRSIGs, that it answers the
// question (CNAME chain, NSEC denial), that the additional section holds
// only addresses the answer calls for, and that the zone's serial is not
// below the highest this Verifier has seen, as VerifyAnswer does for an
// answer between nodes. The caller passes the question it asked: a
// response to another question is refused (ErrNotAnswer).
//
// Errors: ErrTruncated when TC is set; ErrNoTrustAnchor (in a
// *VerifyError) when no anchor encloses name, so the answer is not a
// DDNRS zone's as far as this Verifier knows; ErrNoProof (a
// *ProofsError when the node said why) when the proofs are missing; any
// error of VerifyAnswer, in a *VerifyError. On success the Verified's
// Head and Proof are the proofs, and Msg is m. Safe for concurrent use.
func (v *Verifier) VerifyResponse(name string, t uint16, m *dns.Msg) (*Verified, error) {
	if m == nil {
		return nil, &VerifyError{Zone: zone.CanonicalName(name), Err: fmt.Errorf("%w: no message", ErrBadResponse)}
	}
	if m.Truncated {
		return nil, ErrTruncated
	}
	origin, key := v.find(zone.CanonicalName(name))
	if key == nil {
		return nil, &VerifyError{Zone: zone.CanonicalName(name), Err: ErrNoTrustAnchor}
	}
	data := ProofsOf(m)
	if data == nil {
		return nil, &VerifyError{Zone: origin, Err: fmt.Errorf("%w: no proofs option (code %d) in the response", ErrNoProof, ProofsOptionCode)}
	}
	status, head, proof, err := zone.DecodeProofsOption(data)
	if err != nil {
		return nil, &VerifyError{Zone: origin, Err: fmt.Errorf("%w: %w", ErrNoProof, err)}
	}
	if status != zone.Proved {
		return nil, &VerifyError{Zone: origin, Err: &ProofsError{Status: status}}
	}
	msg, err := m.Pack()
	if err != nil {
		return nil, &VerifyError{Zone: origin, Err: fmt.Errorf("%w: %v", ErrBadResponse, err)}
	}
	return v.verify(name, t, m, msg, head, proof)
}
