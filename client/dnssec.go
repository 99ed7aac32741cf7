package client

// dnssec.go: verifying a plain DNS answer. A DNS client asking a node
// over UDP, TCP, DoT, DoH or DoQ gets the response alone: the RRsets with
// their RRSIGs and the NSEC records of a denial, but not the zone's
// signed head nor the Merkle proof (issue 13 carries them in band).
// VerifyDNSSEC checks what such a response allows, with the zone owner's
// key as the trust anchor, as a validating resolver would (RFC 4035 §5):
// every RRset's RRSIG, and that the response answers the question (the
// CNAME chain, the NSEC denial, the NSEC behind a wildcard answer). What
// it cannot check without the head and proof: that the zone's serial is
// not older than one already seen (a replay of an older version still
// inside its signatures' validity), and the unsigned records RFC 4035
// §2.2 allows (a referral's NS and glue), which it reports.

import (
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/zone"
)

// DNSSECAnswer is a plain DNS response that passed VerifyDNSSEC.
type DNSSECAnswer struct {
	Zone string    // the zone whose anchor verified it
	Key  *zone.Key // that anchor
	Msg  *dns.Msg
	// Unsigned lists the RRsets left unsigned that VerifyDNSSEC could
	// not vouch for ("sub.example. NS"): a referral's NS and glue, which
	// only the Merkle proof covers.
	Unsigned []string
	// TTL is how long the answer may be used, as Verified.TTL.
	TTL time.Duration
}

// VerifyDNSSEC checks m, a DNS response to (name, t) with DO set, against
// the owner key of the closest enclosing zone among the Verifier's
// anchors, at the Verifier's clock: the question is (name, t); the rcode
// is NOERROR or NXDOMAIN; the additional section holds only addresses of
// NS, MX and SRV targets; every RRset of the answer and authority
// sections carries an RRSIG by the anchor, over the records, valid now,
// but for a delegation's NS RRset; every signed additional RRset too,
// unsigned ones listed in Unsigned; and the response answers the
// question (denial.go). It neither reads nor raises the highest serial
// seen (a plain response carries no signed head). Any error is a
// *VerifyError wrapping ErrNoTrustAnchor, ErrNotAnswer (with
// ErrNSECMissing or ErrUnexpectedAdditional), ErrBadResponse, ErrExpired,
// zone.ErrUnsigned, zone.ErrWrongZone or zone.ErrBadSignature.
func (v *Verifier) VerifyDNSSEC(name string, t uint16, m *dns.Msg) (*DNSSECAnswer, error) {
	name = zone.CanonicalName(name)
	origin, key := v.find(name)
	if key == nil {
		return nil, &VerifyError{Zone: name, Err: ErrNoTrustAnchor}
	}
	serial := uint32(0)
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			serial = soa.Serial
		}
	}
	fail := func(err error) (*DNSSECAnswer, error) {
		return nil, &VerifyError{Zone: origin, Serial: serial, Err: err}
	}
	if len(m.Question) != 1 || zone.CanonicalName(m.Question[0].Name) != name || m.Question[0].Qtype != t {
		return fail(fmt.Errorf("%w: question differs", ErrNotAnswer))
	}
	if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
		return fail(fmt.Errorf("%w: rcode %s", ErrBadResponse, dns.RcodeToString[m.Rcode]))
	}
	if err := checkAdditional(m, origin); err != nil {
		return fail(err)
	}
	now := v.now()
	out := &DNSSECAnswer{Zone: origin, Key: key, Msg: m}
	for i, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		sets, err := ResponseRRsets(&dns.Msg{Answer: sec})
		if err != nil {
			return fail(err)
		}
		for _, s := range sets {
			if !zone.IsSubDomain(origin, s.Name) {
				return fail(&zone.RecordError{Name: s.Name, Type: s.Type, Err: zone.ErrWrongZone})
			}
			if s.NumSignatures() == 0 {
				delegation := i == 1 && s.Type == dns.TypeNS && s.Name != origin
				if !delegation && i != 2 {
					return fail(&zone.RecordError{Name: s.Name, Type: s.Type, Err: zone.ErrUnsigned})
				}
				out.Unsigned = append(out.Unsigned, s.Name+" "+dns.TypeToString[s.Type])
				continue
			}
			if err := checkSigs(s, origin, key, now); err != nil {
				return fail(&zone.RecordError{Name: s.Name, Type: s.Type, Err: err})
			}
		}
	}
	if len(m.Answer)+len(m.Ns) == 0 {
		return fail(fmt.Errorf("%w: empty response", ErrNotAnswer))
	}
	if err := answers(m, name, t, origin); err != nil {
		return fail(err)
	}
	ttl, err := answerTTL(m, now)
	if err != nil {
		return fail(err)
	}
	out.TTL = ttl
	return out, nil
}

// checkSigs returns nil when an RRSIG of s by key (signer origin)
// verifies over s's records and is valid at now; ErrExpired when the
// only ones that verify are outside their validity window;
// zone.ErrBadSignature otherwise.
func checkSigs(s *zone.RRset, origin string, key *zone.Key, now time.Time) error {
	err := zone.ErrBadSignature
	for _, sig := range s.Signatures() {
		if sig.TypeCovered != s.Type || zone.CanonicalName(sig.SignerName) != origin {
			continue
		}
		if sig.Verify(key.DNSKEY, s.Records()) != nil {
			continue
		}
		if !sig.ValidityPeriod(now) {
			err = fmt.Errorf("%w: RRSIG valid from %s to %s", ErrExpired,
				time.Unix(sigTime(sig.Inception, now), 0).UTC(), time.Unix(sigTime(sig.Expiration, now), 0).UTC())
			continue
		}
		return nil
	}
	return err
}
