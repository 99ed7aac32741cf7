package zone

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"
	"github.com/transparency-dev/merkle/proof"
)

// Errors of the Merkle tree, the signed zone head, proofs and Verify.
var (
	// ErrBadHead is returned by ParseHead and Verify when the head is not a
	// well-formed signed note or its text is not a version 1 zone head.
	ErrBadHead = errors.New("malformed signed zone head")
	// ErrBadSignature is returned when the head carries no valid signature
	// by the trusted key (tampered text, tampered signature, another key),
	// or when an answered RRset's RRSIGs include none by the trusted key
	// that verifies.
	ErrBadSignature = errors.New("signature does not verify with the trusted key")
	// ErrWrongZone is returned when the head is signed for or names a zone
	// other than the trusted key's, or an answered name lies outside it.
	ErrWrongZone = errors.New("head or answer is for another zone")
	// ErrSignatureWindow is returned by Verify when every RRSIG of an
	// RRset that verifies has a validity window that does not contain the
	// head's time.
	ErrSignatureWindow = errors.New("RRSIG not valid at the head's time")
	// ErrUnsigned is returned by Verify when an authoritative RRset of the
	// answer carries no RRSIG (only delegation NS and glue A/AAAA may be
	// unsigned, RFC 4035 §2.2).
	ErrUnsigned = errors.New("RRset has no RRSIG")
	// ErrNotIncluded is returned by Verify when a leaf's audit path does
	// not lead to the head's root: the RRset or the proof was changed, or
	// the proof is for another tree.
	ErrNotIncluded = errors.New("leaf is not included under the head's root")
	// ErrTreeSize is returned by Verify when the proof is for a tree of
	// another size than the head's.
	ErrTreeSize = errors.New("proof is for another tree size than the head")
	// ErrNotAdjacent is returned by Verify when the two leaves of an
	// absence proof are not neighbours (i and i+1), or a missing edge leaf
	// is not the first or last leaf.
	ErrNotAdjacent = errors.New("absence proof leaves are not adjacent")
	// ErrNotBetween is returned by Verify when the (name, type) an absence
	// proof is for does not sort strictly between its two leaves: it may
	// exist.
	ErrNotBetween = errors.New("(name, type) does not sort between the absence proof's leaves")
	// ErrAnswerMismatch is returned by Verify and ProveAnswer when the
	// answer does not fit its question or its proof: wrong proof kind,
	// a count of leaves other than the count of RRsets, an RRset that is
	// empty, mixes names or types, or is not for the question.
	ErrAnswerMismatch = errors.New("answer does not match its question or proof")
	// ErrMalformedProof is returned by UnmarshalBinary, MarshalBinary and
	// Verify when a proof is not well formed.
	ErrMalformedProof = errors.New("malformed proof")
	// ErrProofVersion is returned by UnmarshalBinary for a format version
	// it does not know.
	ErrProofVersion = errors.New("unknown proof format version")
	// ErrNoRRset is returned by ProveInclusion and ProveAnswer when the
	// zone has no RRset of that name and type.
	ErrNoRRset = errors.New("no such RRset in the zone")
	// ErrRRsetExists is returned by ProveAbsence when the RRset exists.
	ErrRRsetExists = errors.New("RRset exists")
)

// Answer is what a node returned for the question (Name, Type): the RRsets
// with their RRSIGs, as stored (a wildcard RRset keeps its wildcard owner).
// For an inclusion proof the first RRset is at Name and has Type, or is a
// CNAME at Name (the rest of the chain follows); Type ANY accepts any
// type at Name. For an absence proof RRsets is empty.
//
// A wildcard answer (RFC 4592) is checked in two calls: the wildcard RRset
// as stored, asked as (its "*" owner, type) with an inclusion proof, and
// the query name's absence, asked as (query name, type) with an absence
// proof whose NameAbsent(query name) is true. Verify does not rebuild a
// wildcard owner from an expanded RRSIG.
type Answer struct {
	Name   string
	Type   uint16
	RRsets []*RRset
}

// Verify checks an answer against a proof and a signed zone head, with the
// zone owner's key as the only trust. It is pure (no clock, no I/O) and
// safe for concurrent use. It checks, in order:
//
//   - head is signed by trusted and names trusted's zone (ParseHead);
//   - the proof is for the head's tree size;
//   - inclusion: every RRset lies in the zone, is a well-formed RRset, has
//     an RRSIG by trusted that verifies and whose validity window contains
//     the head's time, and its leaf is under the head's root;
//   - absence: the leaves are adjacent (or the first/last leaf), both are
//     under the root, and (Name, Type) sorts strictly between them.
//
// RRSIG validity is judged at the head's time, not the caller's clock: the
// owner's tools re-sign (and make a new head) before signatures expire, so
// a head vouches for signatures valid when it was made. Freshness is the
// caller's job: it compares the head's time with its clock and the head's
// serial with the highest serial it has verified for the zone, rejecting
// older serials (rollback); Verify cannot, being stateless. Parse the head
// with ParseHead to read its serial and time.
//
// The leaf of a signed RRset is computed with the TTL the RRSIG gives as
// original TTL, so answers whose TTLs a cache decremented still verify.
// Delegation NS RRsets (below the apex) and A/AAAA glue may be unsigned
// (RFC 4035 §2.2): the head's signature over the root vouches for them.
//
// Errors wrap the sentinels above; errors about one RRset or leaf are a
// *RecordError naming it.
func Verify(a Answer, p *Proof, head []byte, trusted *Key) error {
	h, err := ParseHead(head, trusted)
	if err != nil {
		return err
	}
	return VerifyParsed(a, p, h, trusted)
}

// VerifyParsed is Verify with the head already parsed and its signature
// checked: h must be what ParseHead returned for trusted. A verifier that
// sees many answers under one head (every answer of a zone at one serial)
// checks the head's signature once and keeps h.
func VerifyParsed(a Answer, p *Proof, h *Head, trusted *Key) error {
	if h == nil {
		return fmt.Errorf("%w: no head", ErrBadHead)
	}
	if p == nil {
		return fmt.Errorf("%w: no proof", ErrMalformedProof)
	}
	if p.Size != h.Size {
		return fmt.Errorf("%w: proof for %d leaves, head has %d", ErrTreeSize, p.Size, h.Size)
	}
	name := CanonicalName(a.Name)
	if !dns.IsSubDomain(h.Zone, name) {
		return &RecordError{name, a.Type, ErrWrongZone}
	}
	switch p.Kind {
	case Inclusion:
		return verifyInclusion(a, name, p, h, trusted)
	case Absence:
		return verifyAbsence(a, name, p, h)
	}
	return fmt.Errorf("%w: kind %d", ErrMalformedProof, p.Kind)
}

func verifyInclusion(a Answer, name string, p *Proof, h *Head, trusted *Key) error {
	if len(a.RRsets) == 0 || len(a.RRsets) != len(p.Leaves) {
		return fmt.Errorf("%w: %d RRsets, %d leaves in the proof", ErrAnswerMismatch, len(a.RRsets), len(p.Leaves))
	}
	first := a.RRsets[0]
	if first == nil || CanonicalName(first.Name) != name ||
		(first.Type != a.Type && first.Type != dns.TypeCNAME && a.Type != dns.TypeANY) {
		return &RecordError{name, a.Type, fmt.Errorf("%w: first RRset is not for the question", ErrAnswerMismatch)}
	}
	for i, s := range a.RRsets {
		if s == nil {
			return fmt.Errorf("%w: RRset %d is nil", ErrAnswerMismatch, i)
		}
		if err := verifyRRset(s, h, trusted, p.Leaves[i]); err != nil {
			return &RecordError{CanonicalName(s.Name), s.Type, err}
		}
	}
	return nil
}

// verifyRRset checks one answered RRset: shape, RRSIG, inclusion.
func verifyRRset(s *RRset, h *Head, trusted *Key, lp *LeafProof) error {
	name := CanonicalName(s.Name)
	if !dns.IsSubDomain(h.Zone, name) {
		return ErrWrongZone
	}
	if s.NumRecords() == 0 {
		return fmt.Errorf("%w: empty RRset", ErrAnswerMismatch)
	}
	for _, rr := range s.Records() {
		hd := rr.Header()
		if CanonicalName(hd.Name) != name || hd.Rrtype != s.Type || hd.Class != dns.ClassINET {
			return fmt.Errorf("%w: record %s does not belong to the RRset", ErrAnswerMismatch, rr)
		}
	}
	ttl := s.TTL
	switch {
	case s.NumSignatures() > 0:
		sig, err := verifySigs(s, h, trusted)
		if err != nil {
			return err
		}
		ttl = sig.OrigTtl
	case mayBeUnsigned(s, h.Zone):
	default:
		return ErrUnsigned
	}
	if lp == nil || len(lp.Data) != 0 {
		return fmt.Errorf("%w: inclusion leaf missing or carrying data", ErrMalformedProof)
	}
	var e leafEncoder
	lh, err := e.hash(s, ttl)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAnswerMismatch, err)
	}
	return verifyLeaf(lh, lp, h)
}

// verifySigs returns the first RRSIG of s made by trusted that verifies
// and is valid at the head's time.
func verifySigs(s *RRset, h *Head, trusted *Key) (*dns.RRSIG, error) {
	err := ErrBadSignature
	for _, sig := range s.Signatures() {
		if sig == nil || sig.TypeCovered != s.Type || CanonicalName(sig.SignerName) != h.Zone {
			continue
		}
		if sig.Verify(trusted.DNSKEY, s.Records()) != nil {
			continue
		}
		if !sig.ValidityPeriod(h.Time) {
			err = ErrSignatureWindow
			continue
		}
		return sig, nil
	}
	return nil, err
}

// mayBeUnsigned reports whether s is data RFC 4035 §2.2 leaves unsigned:
// NS below the apex (a delegation) or address records (glue).
func mayBeUnsigned(s *RRset, zone string) bool {
	switch s.Type {
	case dns.TypeNS:
		return CanonicalName(s.Name) != zone
	case dns.TypeA, dns.TypeAAAA:
		return true
	}
	return false
}

// verifyLeaf checks that leaf hash lh at lp.Index is under h's root.
func verifyLeaf(lh [32]byte, lp *LeafProof, h *Head) error {
	if lp.Index >= h.Size {
		return fmt.Errorf("%w: leaf %d of a tree of %d", ErrNotIncluded, lp.Index, h.Size)
	}
	path := make([][]byte, len(lp.Path))
	for i := range lp.Path {
		path[i] = lp.Path[i][:]
	}
	if err := proof.VerifyInclusion(hasher, lp.Index, h.Size, lh[:], path, h.Root[:]); err != nil {
		return fmt.Errorf("%w: leaf %d: %v", ErrNotIncluded, lp.Index, err)
	}
	return nil
}

func verifyAbsence(a Answer, name string, p *Proof, h *Head) error {
	if len(a.RRsets) != 0 || len(p.Leaves) != 0 {
		return fmt.Errorf("%w: absence answer with %d RRsets, proof with %d inclusion leaves", ErrAnswerMismatch, len(a.RRsets), len(p.Leaves))
	}
	l, r := p.Left, p.Right
	switch {
	case l == nil && r == nil:
		return fmt.Errorf("%w: absence proof without leaves", ErrMalformedProof)
	case l == nil && r.Index != 0:
		return fmt.Errorf("%w: no left leaf, right leaf is %d, not 0", ErrNotAdjacent, r.Index)
	case r == nil && l.Index != h.Size-1:
		return fmt.Errorf("%w: no right leaf, left leaf is %d, not the last (%d)", ErrNotAdjacent, l.Index, h.Size-1)
	case l != nil && r != nil && (l.Index == ^uint64(0) || r.Index != l.Index+1):
		return fmt.Errorf("%w: leaves %d and %d", ErrNotAdjacent, l.Index, r.Index)
	}
	if l != nil {
		if err := verifyNeighbour(l, h, name, a.Type, -1); err != nil {
			return err
		}
	}
	if r != nil {
		if err := verifyNeighbour(r, h, name, a.Type, +1); err != nil {
			return err
		}
	}
	return nil
}

// verifyNeighbour checks that an absence proof's leaf is included and
// sorts on side (-1 before, +1 after) of (name, t).
func verifyNeighbour(lp *LeafProof, h *Head, name string, t uint16, side int) error {
	ln, lt, err := leafKey(lp.Data)
	if err != nil {
		return err
	}
	if err := verifyLeaf(hashLeaf(lp.Data), lp, h); err != nil {
		return &RecordError{ln, lt, err}
	}
	if compareKey(ln, lt, name, t) != side {
		return &RecordError{name, t, fmt.Errorf("%w: leaf %d is %s %s", ErrNotBetween, lp.Index, ln, dns.TypeToString[lt])}
	}
	return nil
}
