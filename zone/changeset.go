package zone

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"
	"golang.org/x/mod/sumdb/note"
)

// ChangeSet is a signed change to a zone as it travels to the replicas:
// the RRsets to put, already signed (RRSIGs in Sigs, NSEC RRsets
// included), the RRsets to delete, and the new signed zone head. The
// owner makes it with SignedDiff; a replica checks it with VerifyChange.
type ChangeSet struct {
	Zone   string   // canonical zone name
	Put    []*RRset // RRsets that are new or changed, data or signatures
	Delete []RRKey  // RRsets the new zone no longer has
	Head   []byte   // the new zone's signed head (Head.Note)
}

// Serial returns the serial of the SOA cs puts; ok is false when cs puts
// no SOA (a change set that is not a valid change).
func (cs ChangeSet) Serial() (serial uint32, ok bool) {
	for _, set := range cs.Put {
		if set.Type == dns.TypeSOA && set.NumRecords() > 0 {
			if soa, isSOA := set.First().(*dns.SOA); isSOA {
				return soa.Serial, true
			}
		}
	}
	return 0, false
}

// ChangeReason says why a replica refused a ChangeSet. The values are
// stable: they travel in API errors and metric labels.
type ChangeReason string

// The reasons VerifyChange gives.
const (
	// ReasonBadSignature: an RRSIG or the head does not verify with the
	// owner key, or an RRset that must be signed has no RRSIG.
	ReasonBadSignature ChangeReason = "bad-signature"
	// ReasonWrongKey: an RRSIG or the head is made by a key other than
	// the zone's owner key.
	ReasonWrongKey ChangeReason = "wrong-key"
	// ReasonStaleSerial: the new serial is not above the current one
	// (RFC 1982).
	ReasonStaleSerial ChangeReason = "stale-serial"
	// ReasonRootMismatch: the head's serial, leaf count or Merkle root is
	// not that of the zone the change produces.
	ReasonRootMismatch ChangeReason = "root-mismatch"
	// ReasonMalformed: the change cannot be applied (records outside the
	// zone, an RRset without records, no SOA, CNAME beside other data,
	// the owner key missing from the apex DNSKEY RRset, ...).
	ReasonMalformed ChangeReason = "malformed"
)

// ChangeError is returned by VerifyChange when it refuses a change.
type ChangeError struct {
	Reason ChangeReason
	Err    error // details
}

func (e *ChangeError) Error() string { return fmt.Sprintf("change refused (%s): %v", e.Reason, e.Err) }

func (e *ChangeError) Unwrap() error { return e.Err }

func refuse(r ChangeReason, format string, args ...any) *ChangeError {
	return &ChangeError{Reason: r, Err: fmt.Errorf(format, args...)}
}

// SignedDiff returns the ChangeSet that turns the signed zone old into the
// signed zone new: every RRset of new whose records, TTL or RRSIGs differ
// from old's (NSEC and DNSKEY RRsets included), every RRset of old that new
// lacks, and new's head. A nil old gives the whole of new, the ChangeSet
// that creates the zone. Put RRsets are shared with new, not copied. It is
// the owner's side of a change; new must carry a Head.
func SignedDiff(old, new *Zone) ChangeSet {
	cs := ChangeSet{Zone: new.Origin}
	if new.Head != nil {
		cs.Head = new.Head.Note
	}
	if old != nil {
		if puts, ok := diffReplaced(old, new); ok { // incremental.go
			cs.Put = puts
			return cs
		}
	}
	for _, s := range new.RRsets() {
		var o *RRset
		if old != nil {
			if n := old.Node(s.Name); n != nil {
				o = n.RRset(s.Type)
			}
		}
		if o == nil || !sameSigned(o, s) {
			cs.Put = append(cs.Put, s)
		}
	}
	if old != nil {
		for _, s := range old.RRsets() {
			if n := new.Node(s.Name); n == nil || n.RRset(s.Type) == nil {
				cs.Delete = append(cs.Delete, RRKey{s.Name, s.Type})
			}
		}
	}
	return cs
}

// sameSigned reports whether a and b hold the same records, TTL and
// RRSIGs.
func sameSigned(a, b *RRset) bool {
	if a.TTL != b.TTL || a.NumSignatures() != b.NumSignatures() || !bytes.Equal(LeafData(a), LeafData(b)) {
		return false
	}
	for i := range a.Signatures() {
		if !dns.IsDuplicate(a.Signatures()[i], b.Signatures()[i]) || a.Signatures()[i].Hdr.Ttl != b.Signatures()[i].Hdr.Ttl {
			return false
		}
	}
	return true
}

// WithChanges returns z with the already-signed RRsets of cs put and its
// deletions made, without signing anything and without looking at
// cs.Head: the result's Head is nil (VerifyChange sets it once it has
// checked it). It checks only that the result is a zone (New's rules) and
// that each put RRset is consistent (one name, type, TTL, class IN, in the
// zone, RRSIGs covering it); a nil z starts from an empty zone named
// cs.Zone. Errors are *RecordError wrapping ErrChange or New's errors. z
// and cs are not modified; the result shares no records with cs.
func (z *Zone) WithChanges(cs ChangeSet) (*Zone, error) {
	origin := CanonicalName(cs.Zone)
	if z != nil && origin != z.Origin {
		return nil, &RecordError{origin, dns.TypeSOA, fmt.Errorf("%w: change for %s applied to %s", ErrChange, origin, z.Origin)}
	}
	if _, ok := dns.IsDomainName(origin); !ok || cs.Zone == "" {
		return nil, &RecordError{cs.Zone, 0, fmt.Errorf("%w: zone name %q", ErrChange, cs.Zone)}
	}
	var errs []error
	puts := make([]*RRset, 0, len(cs.Put))
	for _, p := range cs.Put {
		s, err := checkSignedPut(origin, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		puts = append(puts, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// The zone holds them packed (packed.go). One that does not pack
	// stays loose, as it was: its RRSIG cannot verify either (it packs
	// the records), so VerifyChange refuses it for that reason.
	pk := newPacker(len(puts))
	for _, s := range puts {
		_ = pk.pack(s)
	}
	if z != nil && len(cs.Delete) == 0 {
		// Only replacements: no rebuild (incremental.go). The zone's
		// rules held before and its names and types stay: they hold.
		if nz, ok := z.withReplaced(puts); ok {
			return nz, nil
		}
	}
	if z != nil {
		// No zone cut moves: the changed names only (incremental.go).
		if nz, ok, err := z.withChanged(puts, cs.Delete); ok {
			return nz, err
		}
	}
	sets := make(map[RRKey]*RRset)
	if z != nil {
		for _, s := range z.RRsets() {
			sets[RRKey{s.Name, s.Type}] = s
		}
	}
	for _, d := range cs.Delete {
		delete(sets, RRKey{CanonicalName(d.Name), d.Type})
	}
	for _, s := range puts {
		sets[RRKey{s.Name, s.Type}] = s
	}
	list := make([]*RRset, 0, len(sets))
	for _, s := range sets {
		list = append(list, s)
	}
	nz := build(origin, list)
	if apex := nz.Apex(); apex == nil || apex.RRset(dns.TypeSOA) == nil || apex.RRset(dns.TypeSOA).NumRecords() != 1 {
		return nil, &RecordError{origin, dns.TypeSOA, ErrNoSOA}
	}
	for _, n := range nz.Nodes() {
		if n.RRset(dns.TypeCNAME) == nil {
			continue
		}
		for _, s := range n.RRsets {
			if s.Type != dns.TypeCNAME && s.Type != dns.TypeNSEC {
				errs = append(errs, &RecordError{n.Name, dns.TypeCNAME, ErrCNAMEAndOther})
				break
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return nz, nil
}

// checkSignedPut checks one RRset of a ChangeSet and returns a canonical
// deep copy of it.
func checkSignedPut(origin string, p *RRset) (*RRset, error) {
	if p == nil || p.NumRecords() == 0 {
		name, t := "", uint16(0)
		if p != nil {
			name, t = p.Name, p.Type
		}
		return nil, &RecordError{name, t, fmt.Errorf("%w: an RRset to put has no records", ErrChange)}
	}
	name := CanonicalName(p.Name)
	bad := func(err error) error { return &RecordError{name, p.Type, err} }
	if _, ok := dns.IsDomainName(name); !ok || p.Name == "" {
		return nil, bad(fmt.Errorf("%w: owner name %q", ErrChange, p.Name))
	}
	switch {
	case p.Type == dns.TypeRRSIG:
		return nil, bad(fmt.Errorf("%w: RRSIGs travel with the RRset they cover", ErrChange))
	case !dns.IsSubDomain(origin, name):
		return nil, bad(ErrOutOfZone)
	case p.Type == dns.TypeSOA && name != origin:
		return nil, bad(fmt.Errorf("%w: an SOA below the apex", ErrChange))
	case p.Type == dns.TypeSOA && p.NumRecords() != 1:
		return nil, bad(ErrNoSOA)
	}
	s := NewRRset(name, p.Type, p.TTL, make([]dns.RR, 0, p.NumRecords()), nil)
	for _, rr := range p.Records() {
		h := rr.Header()
		switch {
		case h.Class != dns.ClassINET:
			return nil, bad(ErrClass)
		case h.Rrtype != p.Type || CanonicalName(h.Name) != name:
			return nil, bad(fmt.Errorf("%w: record %s %s in the RRset of %s %s", ErrChange,
				h.Name, dns.TypeToString[h.Rrtype], name, dns.TypeToString[p.Type]))
		case h.Ttl != p.TTL:
			return nil, bad(ErrTTLMismatch)
		}
		c := dns.Copy(rr)
		c.Header().Name = name
		if !containsRR(s.Records(), c) {
			s.AddRecord(c)
		}
	}
	for _, sig := range p.Signatures() {
		if sig == nil || sig.TypeCovered != p.Type || CanonicalName(sig.Hdr.Name) != name || sig.Hdr.Class != dns.ClassINET {
			return nil, bad(fmt.Errorf("%w: an RRSIG that does not cover the RRset", ErrChange))
		}
		c := dns.Copy(sig).(*dns.RRSIG)
		c.Hdr.Name = name
		s.AddSignature(c)
	}
	return s, nil
}

// VerifyChange checks a ChangeSet against the zone it changes (old; nil
// when the change creates the zone) and the zone's owner key, and returns
// the new zone with its Head set. It checks that:
//
//   - the change applies (WithChanges) and the owner key is in the new
//     apex DNSKEY RRset;
//   - every put RRset that must be signed carries an RRSIG by the owner
//     key that verifies, and every RRSIG on a put RRset is by that key and
//     verifies; every RRset of the new zone that must be signed has an
//     RRSIG, and delegation NS and glue have none;
//   - the head is signed by the owner key, names the zone, and its serial,
//     leaf count and root are the new zone's;
//   - the new serial is above old's (RFC 1982).
//
// Only the cryptography of RRSIGs is checked, not their validity window:
// VerifyChange reads no clock, so every replica reaches the same verdict
// (the Raft state machine depends on it). The owner keeps signatures
// fresh. A refusal is a *ChangeError whose Reason says why.
func VerifyChange(old *Zone, cs ChangeSet, owner *Key) (*Zone, error) {
	return verifyChange(old, cs, owner, false, nil)
}

// VerifyChangePreverified is VerifyChange for a caller that has itself
// verified the cryptography of the put RRsets' RRSIGs with owner
// (VerifySigned of their CheckSignedRRset forms, each put): the Raft state
// machine, which checks an entry's signatures on all cores before it is
// applied (raftfsm/preverify.go). Every other check, key tags and signer
// names included, is made as VerifyChange makes it. head, when not nil,
// is what ParseHead(cs.Head, owner) returned to that caller (the head's
// signature checked with owner): it is used when its note is cs.Head
// byte for byte, and cs.Head is parsed and checked here otherwise.
func VerifyChangePreverified(old *Zone, cs ChangeSet, owner *Key, head *Head) (*Zone, error) {
	return verifyChange(old, cs, owner, true, head)
}

func verifyChange(old *Zone, cs ChangeSet, owner *Key, preverified bool, head *Head) (*Zone, error) {
	origin := CanonicalName(cs.Zone)
	if owner == nil || owner.DNSKEY == nil || owner.DNSKEY.Algorithm != dns.ED25519 || len(owner.Public()) != ed25519.PublicKeySize {
		return nil, refuse(ReasonMalformed, "no usable Ed25519 owner key")
	}
	if err := owner.CheckZone(origin); err != nil {
		return nil, &ChangeError{ReasonWrongKey, err}
	}
	nz, err := old.WithChanges(cs)
	if err != nil {
		return nil, &ChangeError{ReasonMalformed, err}
	}
	if old != nil && !nz.incremental {
		nz.adoptTree(old)
	}
	if err := checkPutSigs(nz, cs.Put, owner, preverified); err != nil {
		return nil, err
	}
	if !hasKey(nz, owner) {
		return nil, refuse(ReasonMalformed, "the owner key (tag %d) is not in the apex DNSKEY RRset", owner.Tag())
	}
	h := head
	if h == nil || !bytes.Equal(h.Note, cs.Head) {
		if h, err = parseChangeHead(cs.Head, origin, owner); err != nil {
			return nil, err
		}
	}
	if old != nil && !SerialAbove(nz.Serial(), old.Serial()) {
		return nil, refuse(ReasonStaleSerial, "serial %d is not above %d", nz.Serial(), old.Serial())
	}
	tree := nz.Tree()
	switch {
	case h.Serial != nz.Serial():
		return nil, refuse(ReasonRootMismatch, "head serial %d, SOA serial %d", h.Serial, nz.Serial())
	case h.Size != tree.Size() || h.Root != tree.Root():
		return nil, refuse(ReasonRootMismatch, "head has %d leaves, root %x; the change gives %d leaves, root %x",
			h.Size, h.Root[:8], tree.Size(), tree.Root())
	}
	nz.Head = h
	return nz, nil
}

// SerialAbove reports whether SOA serial a is above b in RFC 1982 serial
// number arithmetic (SERIAL_BITS 32): a-b is between 1 and 2^31-1 modulo
// 2^32. Two serials exactly 2^31 apart are neither above nor below each
// other. This is the one serial comparison of DDNRS (the state machine's
// anti-rollback check, the owner's Prepare, the answer verifier's highest
// serial seen).
func SerialAbove(a, b uint32) bool { return a != b && a-b < 1<<31 }

func hasKey(z *Zone, k *Key) bool {
	ks := z.Apex().RRset(dns.TypeDNSKEY)
	if ks == nil {
		return false
	}
	for _, rr := range ks.Records() {
		if SameKey(rr.(*dns.DNSKEY), k.DNSKEY) {
			return true
		}
	}
	return false
}

// checkPutSigs checks the RRSIGs of the put RRsets (cryptography, Labels,
// original TTL, signer) and that the new zone signs exactly what it must.
func checkPutSigs(nz *Zone, puts []*RRset, owner *Key, preverified bool) error {
	tag := owner.Tag()
	var toVerify []*RRset
	for _, p := range puts {
		name := CanonicalName(p.Name)
		s := nz.Node(name).RRset(p.Type)
		for _, sig := range s.Signatures() {
			if sig.KeyTag != tag || sig.Algorithm != owner.DNSKEY.Algorithm || CanonicalName(sig.SignerName) != nz.Origin {
				return refuse(ReasonWrongKey, "%s %s: RRSIG by key tag %d of %s, owner key tag %d",
					name, dns.TypeToString[p.Type], sig.KeyTag, sig.SignerName, tag)
			}
		}
		if s.NumSignatures() > 0 {
			toVerify = append(toVerify, s)
		}
	}
	// Which RRsets must be signed depends on zone cuts, which a change
	// may move, so look at every RRset of the new zone (no cryptography
	// for those not put: their RRSIGs were verified when they were). A
	// change that only replaced RRsets (incremental) moved no cut: the
	// nodes it put at are enough.
	nodes := nz.Nodes()
	if nz.incremental {
		nodes = make([]*Node, 0, len(puts))
		for _, p := range puts {
			nodes = append(nodes, nz.Node(CanonicalName(p.Name)))
		}
	}
	for _, n := range nodes {
		st := status(nz, n)
		for _, s := range n.RRsets {
			must := signs(st, s.Type)
			switch {
			case must && s.NumSignatures() == 0:
				return refuse(ReasonBadSignature, "%s %s has no RRSIG", s.Name, dns.TypeToString[s.Type])
			case !must && s.NumSignatures() > 0:
				return refuse(ReasonMalformed, "%s %s: %v", s.Name, dns.TypeToString[s.Type], ErrUnexpectedRRSIG)
			}
		}
	}
	if preverified {
		return nil
	}
	errs := make([]error, len(toVerify))
	parallel(len(toVerify), func(i int) { errs[i] = verifyChangeSigs(toVerify[i], owner) })
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// verifyChangeSigs verifies every RRSIG of s with the owner key, ignoring time.
func verifyChangeSigs(s *RRset, owner *Key) error {
	labels := uint8(dns.CountLabel(s.Name))
	if strings.HasPrefix(s.Name, "*.") {
		labels--
	}
	for _, sig := range s.Signatures() {
		var err error
		switch {
		case sig.Labels != labels:
			err = fmt.Errorf("Labels %d, want %d", sig.Labels, labels)
		case sig.OrigTtl != s.TTL:
			err = fmt.Errorf("original TTL %d, RRset TTL %d", sig.OrigTtl, s.TTL)
		default:
			err = sig.Verify(owner.DNSKEY, s.Records())
		}
		if err != nil {
			return &ChangeError{ReasonBadSignature, &RecordError{s.Name, s.Type, fmt.Errorf("%w: %w", ErrInvalidRRSIG, err)}}
		}
	}
	return nil
}

// parseChangeHead verifies the head of a change, telling a head signed by
// another key (wrong-key) from a forged or damaged one (bad-signature).
func parseChangeHead(msg []byte, origin string, owner *Key) (*Head, error) {
	h, err := ParseHead(msg, owner)
	if err == nil {
		return h, nil
	}
	if errors.Is(err, ErrBadHead) {
		return nil, &ChangeError{ReasonMalformed, err}
	}
	if errors.Is(err, ErrWrongZone) {
		return nil, &ChangeError{ReasonWrongKey, err}
	}
	// Is there a signature line by the owner key at all?
	_, oerr := note.Open(msg, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if errors.As(oerr, &unverified) {
		name := noteName(origin)
		hash := noteKeyHash(name, owner.Public())
		for _, s := range unverified.Note.UnverifiedSigs {
			if s.Name == name && s.Hash == hash {
				return nil, &ChangeError{ReasonBadSignature, err}
			}
		}
		return nil, &ChangeError{ReasonWrongKey, err}
	}
	return nil, &ChangeError{ReasonBadSignature, err}
}

// adoptTree builds z's Merkle tree reusing the leaf hashes of old's tree
// for the RRsets z shares with old (WithChanges keeps unchanged RRsets as
// they are, so they are the same pointers, in the same order), hashing
// only the RRsets a change put. It must be called before anything else
// asks z for its tree.
func (z *Zone) adoptTree(old *Zone) {
	ot := old.Tree()
	osets := make([]*RRset, 0, ot.size)
	oleaves := make([][32]byte, 0, ot.size)
	ot.each(func(_ int, s *RRset, leaf [32]byte) bool {
		osets, oleaves = append(osets, s), append(oleaves, leaf)
		return true
	})
	sets := z.RRsets()
	leaves := make([][32]byte, len(sets))
	var e leafEncoder
	i := 0
	for j, s := range sets {
		for i < len(osets) && osets[i] != s && compareKey(osets[i].Name, osets[i].Type, s.Name, s.Type) < 0 {
			i++ // old RRset deleted or replaced
		}
		if i < len(osets) && osets[i] == s {
			leaves[j] = oleaves[i]
			i++
			continue
		}
		leaves[j], _ = e.hash(s, s.TTL)
	}
	t := treeOf(sets, leaves)
	z.tree.once.Do(func() { z.tree.tree = t })
}
