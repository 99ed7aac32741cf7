package zone

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Errors CheckSigned reports, each inside a *RecordError naming the owner
// name and type.
var (
	// ErrNoAnchor is returned when the trust anchor key is not in the
	// apex DNSKEY RRset.
	ErrNoAnchor = errors.New("anchor key is not in the apex DNSKEY RRset")
	// ErrMissingRRSIG is returned when an RRset that must be signed has
	// no RRSIG by the anchor key.
	ErrMissingRRSIG = errors.New("no RRSIG by the anchor key")
	// ErrInvalidRRSIG is returned when an RRSIG does not verify, or its
	// Labels or original TTL do not fit the RRset it covers.
	ErrInvalidRRSIG = errors.New("RRSIG does not verify")
	// ErrRRSIGTime is returned when an RRSIG is not valid at the time of
	// the check (not yet, or expired).
	ErrRRSIGTime = errors.New("RRSIG outside its validity period")
	// ErrUnexpectedRRSIG is returned when a delegation NS RRset or glue
	// carries an RRSIG (RFC 4035 §2.2).
	ErrUnexpectedRRSIG = errors.New("RRSIG on delegation NS or glue")
	// ErrNSECChain is returned when an NSEC is missing, extra (below a
	// zone cut), or points at the wrong next name, so the chain is not
	// complete, closed and in canonical order.
	ErrNSECChain = errors.New("NSEC chain broken")
	// ErrNSECBitmap is returned when an NSEC type bitmap does not list
	// exactly the types it must (RFC 4034 §4.1.2).
	ErrNSECBitmap = errors.New("NSEC type bitmap wrong")
)

// CheckSigned checks that z is correctly signed by anchor at time now:
// every RRset that must be signed carries a valid RRSIG by anchor within
// its validity period (RRSIGs by other apex keys must verify too), no
// delegation NS or glue is signed, and the NSEC chain links every
// authoritative name and delegation point in canonical order, closes at
// the apex and has the right type bitmaps. Every problem is returned,
// joined, each a *RecordError naming the owner name and type. It verifies
// on all CPUs and is used by `ddnrs zone verify` and by tests.
func CheckSigned(z *Zone, anchor *Key, now time.Time) error {
	var errs []error
	problem := func(name string, t uint16, err error) {
		errs = append(errs, &RecordError{Name: name, Type: t, Err: err})
	}
	if err := anchor.CheckZone(z.Origin); err != nil {
		problem(z.Origin, dns.TypeDNSKEY, err)
	}
	keys := map[uint16][]*dns.DNSKEY{}
	anchored := false
	if ks := z.Apex().RRset(dns.TypeDNSKEY); ks != nil {
		for _, rr := range ks.Records() {
			dk := rr.(*dns.DNSKEY)
			keys[dk.KeyTag()] = append(keys[dk.KeyTag()], dk)
			anchored = anchored || SameKey(dk, anchor.DNSKEY)
		}
	}
	if !anchored {
		problem(z.Origin, dns.TypeDNSKEY, fmt.Errorf("%w (key tag %d)", ErrNoAnchor, anchor.Tag()))
	}

	var toVerify []*RRset
	for _, n := range z.Nodes() {
		st := status(z, n)
		for _, s := range n.RRsets {
			switch {
			case signs(st, s.Type):
				toVerify = append(toVerify, s)
			case s.NumSignatures() > 0:
				problem(s.Name, s.Type, ErrUnexpectedRRSIG)
			}
			if s.Type == dns.TypeNSEC && st == statusOccluded {
				problem(s.Name, s.Type, fmt.Errorf("%w: NSEC below the zone cut at %s", ErrNSECChain, z.Delegation(n.Name).Name))
			}
		}
	}
	sigErrs := make([][]error, len(toVerify))
	parallel(len(toVerify), func(i int) {
		sigErrs[i] = checkRRSIGs(toVerify[i], anchor, keys, now)
	})
	for _, e := range sigErrs {
		errs = append(errs, e...)
	}

	links := chain(z)
	for i, l := range links {
		name := l.node.Name
		set := l.node.RRset(dns.TypeNSEC)
		if set == nil {
			problem(name, dns.TypeNSEC, fmt.Errorf("%w: missing NSEC", ErrNSECChain))
			continue
		}
		if set.NumRecords() != 1 {
			problem(name, dns.TypeNSEC, fmt.Errorf("%w: %d NSEC records, want 1", ErrNSECChain, set.NumRecords()))
		}
		nsec := set.First().(*dns.NSEC)
		if want := links[(i+1)%len(links)].node.Name; CanonicalName(nsec.NextDomain) != want {
			problem(name, dns.TypeNSEC, fmt.Errorf("%w: next name %s, want %s", ErrNSECChain, nsec.NextDomain, want))
		}
		want := nsecBitmap(l.node, l.st)
		got := slices.Clone(nsec.TypeBitMap)
		slices.Sort(got)
		if got = slices.Compact(got); !slices.Equal(got, want) {
			problem(name, dns.TypeNSEC, fmt.Errorf("%w: lists %s, want %s", ErrNSECBitmap, typeList(got), typeList(want)))
		}
	}
	return errors.Join(errs...)
}

// checkRRSIGs checks the RRSIGs of one RRset that must be signed.
func checkRRSIGs(s *RRset, anchor *Key, keys map[uint16][]*dns.DNSKEY, now time.Time) []error {
	var errs []error
	problem := func(err error) { errs = append(errs, &RecordError{Name: s.Name, Type: s.Type, Err: err}) }
	labels := uint8(dns.CountLabel(s.Name))
	if strings.HasPrefix(s.Name, "*.") {
		labels--
	}
	tag := anchor.Tag()
	byAnchor := false
	for _, sig := range s.Signatures() {
		isAnchor := sig.KeyTag == tag && sig.Algorithm == anchor.DNSKEY.Algorithm
		byAnchor = byAnchor || isAnchor
		cands := keys[sig.KeyTag]
		if isAnchor {
			cands = []*dns.DNSKEY{anchor.DNSKEY}
		}
		var err error = fmt.Errorf("%w: key tag %d is not in the apex DNSKEY RRset", ErrInvalidRRSIG, sig.KeyTag)
		for _, dk := range cands {
			if err = sig.Verify(dk, s.Records()); err == nil {
				break
			}
			err = fmt.Errorf("%w: key tag %d: %w", ErrInvalidRRSIG, sig.KeyTag, err)
		}
		switch {
		case err != nil:
			problem(err)
		case sig.Labels != labels:
			problem(fmt.Errorf("%w: Labels %d, want %d", ErrInvalidRRSIG, sig.Labels, labels))
		case sig.OrigTtl != s.TTL:
			problem(fmt.Errorf("%w: original TTL %d, RRset TTL %d", ErrInvalidRRSIG, sig.OrigTtl, s.TTL))
		case !sig.ValidityPeriod(now):
			problem(fmt.Errorf("%w: valid %s to %s, checked at %s", ErrRRSIGTime,
				sigTime(sig.Inception, now).UTC().Format(time.RFC3339),
				sigTime(sig.Expiration, now).UTC().Format(time.RFC3339),
				now.UTC().Format(time.RFC3339)))
		}
	}
	if !byAnchor {
		problem(fmt.Errorf("%w (key tag %d)", ErrMissingRRSIG, tag))
	}
	return errs
}

func typeList(ts []uint16) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = dns.Type(t).String()
	}
	return "[" + strings.Join(names, " ") + "]"
}
