package zone

import (
	"encoding/binary"
	"fmt"

	"github.com/miekg/dns"
)

// ProofVersion is the format version, the first byte of every encoded
// Proof. UnmarshalBinary rejects any other.
const ProofVersion = 1

// ProofKind says what a Proof proves.
type ProofKind uint8

// The kinds of proof.
const (
	// Inclusion proves that each RRset of an answer is a leaf under the
	// head's root.
	Inclusion ProofKind = 1
	// Absence proves that no leaf has a given (name, type): the two
	// adjacent leaves it would sit between are both under the root.
	Absence ProofKind = 2
)

func (k ProofKind) String() string {
	switch k {
	case Inclusion:
		return "inclusion"
	case Absence:
		return "absence"
	}
	return fmt.Sprintf("ProofKind(%d)", uint8(k))
}

// maxPath bounds an audit path: a tree of 2^64 leaves has paths of at most
// 64 hashes.
const maxPath = 64

// LeafProof is one leaf with its RFC 6962 audit path.
type LeafProof struct {
	Index uint64     // leaf index, from 0
	Path  [][32]byte // sibling hashes, leaf to root
	// Data is the leaf data (LeafData of the RRset) in an absence proof,
	// so the verifier learns the leaf's (name, type) from bytes it hashes
	// itself; it is empty in an inclusion proof, whose leaves come from
	// the answer.
	Data []byte
}

// Proof ties an answer to a signed zone head. It is what a node sends
// beside the records; Verify checks it.
type Proof struct {
	Kind ProofKind
	Size uint64 // tree size (leaf count) the paths are for; equals the head's
	// Leaves holds, for an inclusion proof, one leaf per RRset of the
	// answer, in the answer's order.
	Leaves []*LeafProof
	// Left and Right are, for an absence proof, the leaves just before and
	// just after the missing (name, type). Left is nil when it sorts before
	// every leaf, Right is nil when it sorts after every leaf.
	Left, Right *LeafProof
}

// ProveInclusion returns the inclusion proof of the RRset (name, t). It
// returns ErrNoRRset when the zone has no such RRset.
func (z *Zone) ProveInclusion(name string, t uint16) (*Proof, error) {
	return z.proveRRsets([]rrKey{{CanonicalName(name), t}})
}

// ProveAnswer returns the inclusion proof of every RRset of a, in order:
// the proof Verify needs for an answer of several RRsets (a CNAME chain).
// It returns ErrNoRRset when one of them is not in the zone.
func (z *Zone) ProveAnswer(a Answer) (*Proof, error) {
	keys := make([]rrKey, len(a.RRsets))
	for i, s := range a.RRsets {
		keys[i] = rrKey{CanonicalName(s.Name), s.Type}
	}
	return z.proveRRsets(keys)
}

type rrKey struct {
	name string
	t    uint16
}

func (z *Zone) proveRRsets(keys []rrKey) (*Proof, error) {
	if len(keys) == 0 || len(keys) > 0xFFFF {
		return nil, fmt.Errorf("%w: %d RRsets to prove", ErrAnswerMismatch, len(keys))
	}
	t := z.Tree()
	p := &Proof{Kind: Inclusion, Size: t.Size()}
	for _, k := range keys {
		i, found := t.search(k.name, k.t)
		if !found {
			return nil, &RecordError{k.name, k.t, ErrNoRRset}
		}
		lp, err := t.leafProof(i, false)
		if err != nil {
			return nil, err
		}
		p.Leaves = append(p.Leaves, lp)
	}
	return p, nil
}

// ProveAbsence returns the proof that the zone has no RRset (name, t): the
// leaves just before and after where it would sit, with their inclusion
// proofs and data. It returns ErrRRsetExists when the RRset exists and
// ErrOutOfZone when name is not in the zone. Proving the absence of any
// type at a name proves the name owns no RRsets when both neighbours have
// other owner names (see Proof.NameAbsent).
func (z *Zone) ProveAbsence(name string, t uint16) (*Proof, error) {
	name = CanonicalName(name)
	if !dns.IsSubDomain(z.Origin, name) {
		return nil, &RecordError{name, t, ErrOutOfZone}
	}
	tree := z.Tree()
	i, found := tree.search(name, t)
	if found {
		return nil, &RecordError{name, t, ErrRRsetExists}
	}
	p := &Proof{Kind: Absence, Size: tree.Size()}
	var err error
	if i > 0 {
		if p.Left, err = tree.leafProof(i-1, true); err != nil {
			return nil, err
		}
	}
	if i < tree.size {
		if p.Right, err = tree.leafProof(i, true); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// NameAbsent reports whether an absence proof for (name, any type), once
// verified, also shows that name owns no RRset at all: neither neighbour
// is at name. (The name may still exist as an empty non-terminal.)
func (p *Proof) NameAbsent(name string) bool {
	if p.Kind != Absence {
		return false
	}
	name = CanonicalName(name)
	for _, lp := range []*LeafProof{p.Left, p.Right} {
		if lp == nil {
			continue
		}
		n, _, err := leafKey(lp.Data)
		if err != nil || n == name {
			return false
		}
	}
	return true
}

// MarshalBinary encodes p in format version 1 (testdata/vectors/README.md
// gives it byte by byte):
//
//	version u8 = 1 | kind u8 | size u64
//	inclusion: count u16 (>= 1) | count × leaf
//	absence:   flags u8 (0x01 left present, 0x02 right present) | [left leaf] | [right leaf]
//	leaf:      index u64 | path length u8 (<= 64) | path (32 bytes each) | data length u32 | data
//
// All integers are big-endian. Inclusion leaves carry no data; absence
// leaves must.
func (p *Proof) MarshalBinary() ([]byte, error) {
	b := []byte{ProofVersion, byte(p.Kind)}
	b = binary.BigEndian.AppendUint64(b, p.Size)
	switch p.Kind {
	case Inclusion:
		if len(p.Leaves) == 0 || len(p.Leaves) > 0xFFFF || p.Left != nil || p.Right != nil {
			return nil, fmt.Errorf("%w: inclusion proof with %d leaves", ErrMalformedProof, len(p.Leaves))
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.Leaves)))
		for _, lp := range p.Leaves {
			if lp == nil || len(lp.Data) != 0 {
				return nil, fmt.Errorf("%w: inclusion leaf missing or with data", ErrMalformedProof)
			}
			var err error
			if b, err = appendLeaf(b, lp); err != nil {
				return nil, err
			}
		}
	case Absence:
		if len(p.Leaves) != 0 {
			return nil, fmt.Errorf("%w: absence proof with inclusion leaves", ErrMalformedProof)
		}
		var flags byte
		if p.Left != nil {
			flags |= 1
		}
		if p.Right != nil {
			flags |= 2
		}
		if flags == 0 {
			return nil, fmt.Errorf("%w: absence proof without leaves", ErrMalformedProof)
		}
		b = append(b, flags)
		for _, lp := range []*LeafProof{p.Left, p.Right} {
			if lp == nil {
				continue
			}
			if len(lp.Data) == 0 {
				return nil, fmt.Errorf("%w: absence leaf without data", ErrMalformedProof)
			}
			var err error
			if b, err = appendLeaf(b, lp); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("%w: kind %d", ErrMalformedProof, p.Kind)
	}
	return b, nil
}

func appendLeaf(b []byte, lp *LeafProof) ([]byte, error) {
	if len(lp.Path) > maxPath || uint64(len(lp.Data)) > 0xFFFFFFFF {
		return nil, fmt.Errorf("%w: leaf path of %d hashes, data of %d bytes", ErrMalformedProof, len(lp.Path), len(lp.Data))
	}
	b = binary.BigEndian.AppendUint64(b, lp.Index)
	b = append(b, byte(len(lp.Path)))
	for _, h := range lp.Path {
		b = append(b, h[:]...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(lp.Data)))
	return append(b, lp.Data...), nil
}

// UnmarshalBinary decodes what MarshalBinary encodes, strictly: it returns
// ErrProofVersion for a first byte other than ProofVersion and
// ErrMalformedProof for anything else out of place, trailing bytes
// included. A decoded proof re-encodes to the same bytes. The proof is not
// checked against any head; that is Verify's job.
func (p *Proof) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", ErrMalformedProof)
	}
	if v := d.u8(); v != ProofVersion {
		return fmt.Errorf("%w: version %d", ErrProofVersion, v)
	}
	out := Proof{Kind: ProofKind(d.u8()), Size: d.u64()}
	switch out.Kind {
	case Inclusion:
		n := int(d.u16())
		if n == 0 {
			return fmt.Errorf("%w: inclusion proof without leaves", ErrMalformedProof)
		}
		if d.err == nil && n*leafMinLen > len(d.b) {
			return fmt.Errorf("%w: %d leaves in %d bytes", ErrMalformedProof, n, len(d.b))
		}
		out.Leaves = make([]*LeafProof, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			lp := d.leaf()
			if d.err == nil && len(lp.Data) != 0 {
				return fmt.Errorf("%w: inclusion leaf %d carries data", ErrMalformedProof, i)
			}
			out.Leaves = append(out.Leaves, lp)
		}
	case Absence:
		flags := d.u8()
		if d.err == nil && (flags == 0 || flags&^3 != 0) {
			return fmt.Errorf("%w: absence flags %#x", ErrMalformedProof, flags)
		}
		if flags&1 != 0 {
			out.Left = d.leaf()
		}
		if flags&2 != 0 {
			out.Right = d.leaf()
		}
		for _, lp := range []*LeafProof{out.Left, out.Right} {
			if d.err == nil && lp != nil && len(lp.Data) == 0 {
				return fmt.Errorf("%w: absence leaf without data", ErrMalformedProof)
			}
		}
	default:
		if d.err == nil {
			return fmt.Errorf("%w: kind %d", ErrMalformedProof, out.Kind)
		}
	}
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformedProof, len(d.b))
	}
	*p = out
	return nil
}

// leafMinLen is the encoded size of a leaf with no path and no data.
const leafMinLen = 8 + 1 + 4

// decoder reads big-endian fields, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.err = fmt.Errorf("%w: truncated", ErrMalformedProof)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if v := d.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) leaf() *LeafProof {
	lp := &LeafProof{Index: d.u64()}
	n := int(d.u8())
	if d.err == nil && n > maxPath {
		d.err = fmt.Errorf("%w: path of %d hashes", ErrMalformedProof, n)
	}
	if raw := d.take(32 * n); raw != nil && n > 0 {
		lp.Path = make([][32]byte, n)
		for i := range lp.Path {
			lp.Path[i] = [32]byte(raw[32*i:])
		}
	}
	size := d.u32()
	if d.err == nil && uint64(size) > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: leaf data of %d bytes, %d left", ErrMalformedProof, size, len(d.b))
	}
	if data := d.take(int(size)); len(data) > 0 {
		lp.Data = append([]byte(nil), data...)
	}
	return lp
}
