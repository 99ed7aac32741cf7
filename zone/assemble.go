package zone

import (
	"errors"

	"github.com/miekg/dns"
)

// This file holds the zone side of a staged upload (raftfsm's
// StageBegin, StageChunk and StageCommit): a replica checks the RRsets of
// a large zone chunk by chunk (CheckSignedRRset, VerifySigned) and, at
// the end, assembles the checked RRsets into the new zone (Assemble)
// without checking a signature twice.

// CheckSignedRRset checks one RRset of a signed zone sent to a replica
// (one name and type in the zone origin, one TTL, class IN, RRSIGs
// covering it, no RRSIG RRset of its own, an SOA only at the apex) and
// returns a canonical deep copy of it. It checks no signature
// (VerifySigned does). Errors are *RecordError wrapping ErrChange or
// New's errors.
func CheckSignedRRset(origin string, s *RRset) (*RRset, error) {
	return checkSignedPut(CanonicalName(origin), s)
}

// VerifySigned checks the RRSIGs of sets, RRsets of the zone owner's
// zone as CheckSignedRRset returns them: every RRSIG is by owner (key
// tag, algorithm, signer name), has the RRset's label count and original
// TTL, and verifies. The cryptography runs on all cores. Validity windows
// are not checked (no clock; see VerifyChange). Whether an RRset must
// carry an RRSIG at all depends on the whole zone and is Assemble's
// check. A refusal is a *ChangeError.
func VerifySigned(sets []*RRset, owner *Key) error {
	if owner == nil || owner.DNSKEY == nil {
		return refuse(ReasonMalformed, "no owner key")
	}
	tag := owner.Tag()
	for _, s := range sets {
		for _, sig := range s.Signatures() {
			if sig.KeyTag != tag || sig.Algorithm != owner.DNSKEY.Algorithm || CanonicalName(sig.SignerName) != owner.Zone {
				return refuse(ReasonWrongKey, "%s %s: RRSIG by key tag %d of %s, owner key tag %d",
					s.Name, dns.TypeToString[s.Type], sig.KeyTag, sig.SignerName, tag)
			}
		}
	}
	errs := make([]error, len(sets))
	parallel(len(sets), func(i int) { errs[i] = verifyChangeSigs(sets[i], owner) })
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ErrOrder is returned (in a *RecordError) by Assemble when its RRsets
// are not in strictly increasing canonical (name, type) order.
var ErrOrder = errors.New("RRsets out of canonical order")

// Assemble makes the signed zone origin from sets, every RRset of it in
// canonical (name, type) order, each already checked by CheckSignedRRset
// and VerifySigned, and leaves, their RFC 6962 leaf hashes (LeafHash). It
// checks what only the whole zone shows: one SOA at the apex, no CNAME
// beside other data, every RRset that must be signed carries an RRSIG
// and delegation NS and glue carry none, the owner key is in the apex
// DNSKEY RRset, and h (the head, already verified with ParseHead) gives
// the SOA serial, the number of RRsets and the Merkle root of leaves. It
// checks no signature. The zone takes ownership of sets and leaves; its
// Head is h. A refusal is a *ChangeError.
func Assemble(origin string, sets []*RRset, leaves [][32]byte, h *Head, owner *Key) (*Zone, error) {
	origin = CanonicalName(origin)
	if len(leaves) != len(sets) {
		return nil, refuse(ReasonMalformed, "%d leaf hashes for %d RRsets", len(leaves), len(sets))
	}
	for i := 1; i < len(sets); i++ {
		if compareKey(sets[i-1].Name, sets[i-1].Type, sets[i].Name, sets[i].Type) >= 0 {
			return nil, &ChangeError{ReasonMalformed, &RecordError{sets[i].Name, sets[i].Type, ErrOrder}}
		}
	}
	z := build(origin, sets)
	z.shareNames() // sets are the caller's, checked copies (compact.go)
	if apex := z.Apex(); apex == nil || apex.RRset(dns.TypeSOA) == nil || apex.RRset(dns.TypeSOA).NumRecords() != 1 {
		return nil, &ChangeError{ReasonMalformed, &RecordError{origin, dns.TypeSOA, ErrNoSOA}}
	}
	for _, n := range z.Nodes() {
		if n.RRset(dns.TypeCNAME) == nil {
			continue
		}
		for _, s := range n.RRsets {
			if s.Type != dns.TypeCNAME && s.Type != dns.TypeNSEC {
				return nil, &ChangeError{ReasonMalformed, &RecordError{n.Name, dns.TypeCNAME, ErrCNAMEAndOther}}
			}
		}
	}
	for _, n := range z.Nodes() {
		st := status(z, n)
		for _, s := range n.RRsets {
			must := signs(st, s.Type)
			switch {
			case must && s.NumSignatures() == 0:
				return nil, refuse(ReasonBadSignature, "%s %s has no RRSIG", s.Name, dns.TypeToString[s.Type])
			case !must && s.NumSignatures() > 0:
				return nil, refuse(ReasonMalformed, "%s %s: %v", s.Name, dns.TypeToString[s.Type], ErrUnexpectedRRSIG)
			}
		}
	}
	if !hasKey(z, owner) {
		return nil, refuse(ReasonMalformed, "the owner key (tag %d) is not in the apex DNSKEY RRset", owner.Tag())
	}
	if h == nil || h.Zone != origin {
		return nil, refuse(ReasonMalformed, "no head for %s", origin)
	}
	t := treeOf(sets, leaves)
	switch {
	case h.Serial != z.Serial():
		return nil, refuse(ReasonRootMismatch, "head serial %d, SOA serial %d", h.Serial, z.Serial())
	case h.Size != t.Size() || h.Root != t.Root():
		return nil, refuse(ReasonRootMismatch, "head has %d leaves, root %x; the RRsets give %d leaves, root %x",
			h.Size, h.Root[:8], t.Size(), t.Root())
	}
	if err := z.packAll(); err != nil {
		return nil, &ChangeError{ReasonMalformed, err}
	}
	z.tree.once.Do(func() { z.tree.tree = t })
	z.Head = h
	return z, nil
}

// ParseChangeHead verifies the signed head of a change or upload with the
// owner key, telling a head signed by another key (ReasonWrongKey) from a
// forged or damaged one (ReasonBadSignature) in its *ChangeError.
func ParseChangeHead(msg []byte, origin string, owner *Key) (*Head, error) {
	if owner == nil || owner.DNSKEY == nil {
		return nil, refuse(ReasonMalformed, "no owner key")
	}
	if err := owner.CheckZone(CanonicalName(origin)); err != nil {
		return nil, &ChangeError{ReasonWrongKey, err}
	}
	h, err := parseChangeHead(msg, CanonicalName(origin), owner)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Leaves returns the leaf hashes of sets (LeafHash), computed on all
// cores.
func Leaves(sets []*RRset) [][32]byte {
	out := make([][32]byte, len(sets))
	parallel(len(sets), func(i int) { out[i] = LeafHash(sets[i]) })
	return out
}

// CompareRRsetKey orders (name, type) pairs canonically (RFC 4034 §6.1
// for names, then type): the order of a zone's Merkle leaves.
func CompareRRsetKey(n1 string, t1 uint16, n2 string, t2 uint16) int {
	return compareKey(n1, t1, n2, t2)
}
