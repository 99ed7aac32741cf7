package zone

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/miekg/dns"
)

// packed.go: the form an RRset takes in a Zone (docs/large-zones.md,
// "Memory"). A member holds every RRset of its zones for as long as it
// serves them, and a miekg/dns record costs several times its wire form
// (an Ed25519 RRSIG: about 190 bytes of structs and base64 text for 94
// octets of RDATA). So a Zone keeps each RRset's records and RRSIGs as
// their RDATA in uncompressed wire form, back to back in one string cut
// from an arena the zone's RRsets share; the dns.RR values are made on
// demand (Records, Signatures: a reply, a proof, a store write), fresh
// each time, and dropped once used.
//
// An RRset being built (a change, a signing, an answer being verified)
// is loose: it holds dns.RR values, added with NewRRset, AddRecord and
// SetSignatures. Every constructor of a Zone (New, Assemble, WithChanges,
// Sign and the owner's Apply) packs the loose RRsets it takes before the
// Zone is returned, so a Zone any reader sees holds packed RRsets only,
// and never writes to them again.
//
// The packed layout (internal, never stored or sent; it outlives no
// process):
//
//	byte    flags: 1 = every RRSIG carries its own TTL (else the RRset's)
//	uint16  n records, uint16 m RRSIGs
//	n times: uint16 RDLENGTH, RDATA
//	m times: [uint32 TTL when flags&1], uint16 RDLENGTH, RDATA
//
// The RDATA is the record's as miekg/dns packs it without compression:
// names keep their case (an answer carries what the owner wrote), and a
// leaf hash lower-cases the embedded names of the types RFC 4034 §6.2
// lists after decoding (canonical_wire.go).

// RRset is the records of one owner name and type, with the RRSIGs that
// cover them. Records share Name (canonical), Class (IN) and TTL. Read it
// with Records, Signatures, NumRecords and NumSignatures; build one with
// NewRRset. The RRsets of a Zone are immutable (packed); a loose one is
// owned by whoever built it and is not safe for concurrent writes.
type RRset struct {
	Name string // canonical owner name
	Type uint16
	TTL  uint32
	// wire is the packed form (above); "" while loose.
	wire string
	// loose holds the records of an RRset being built; nil once packed.
	// A copy of the struct shares it (see Clone).
	loose *looseRRset
}

type looseRRset struct {
	rrs  []dns.RR
	sigs []*dns.RRSIG
}

// NewRRset returns a loose RRset of the records rrs with the RRSIGs sigs.
// It keeps the slices, not copies of them. Records are expected to have
// owner name, type and TTL as given; packing (when a Zone takes the set)
// uses name, t and ttl and ignores the records' own headers.
func NewRRset(name string, t uint16, ttl uint32, rrs []dns.RR, sigs []*dns.RRSIG) *RRset {
	return &RRset{Name: name, Type: t, TTL: ttl, loose: &looseRRset{rrs: rrs, sigs: sigs}}
}

// Records returns the records of s. For a packed RRset (every RRset of a
// Zone) they are decoded afresh: the caller may keep or modify them. For
// a loose one they are its own: do not modify them.
func (s *RRset) Records() []dns.RR {
	if s.wire == "" {
		if s.loose == nil {
			return nil
		}
		return s.loose.rrs
	}
	rrs, _, err := s.unpack(true, false)
	if err != nil {
		panic(fmt.Sprintf("zone: packed RRset %s %s does not decode: %v", s.Name, dns.TypeToString[s.Type], err))
	}
	return rrs
}

// Signatures returns the RRSIGs covering s, decoded afresh for a packed
// RRset (as Records).
func (s *RRset) Signatures() []*dns.RRSIG {
	if s.wire == "" {
		if s.loose == nil {
			return nil
		}
		return s.loose.sigs
	}
	_, sigs, err := s.unpack(false, true)
	if err != nil {
		panic(fmt.Sprintf("zone: packed RRSIGs of %s %s do not decode: %v", s.Name, dns.TypeToString[s.Type], err))
	}
	return sigs
}

// First returns the first record of s, or nil when it has none. For the
// one-record RRsets (SOA, CNAME, NSEC) it is the record.
func (s *RRset) First() dns.RR {
	if s.wire == "" {
		if s.loose == nil || len(s.loose.rrs) == 0 {
			return nil
		}
		return s.loose.rrs[0]
	}
	if s.NumRecords() == 0 {
		return nil
	}
	rr, _, err := s.decodeAt(packedHeader, false)
	if err != nil {
		panic(fmt.Sprintf("zone: packed RRset %s %s does not decode: %v", s.Name, dns.TypeToString[s.Type], err))
	}
	return rr
}

// NumRecords returns how many records s holds, without decoding them.
func (s *RRset) NumRecords() int {
	if s.wire == "" {
		if s.loose == nil {
			return 0
		}
		return len(s.loose.rrs)
	}
	return int(s.wire[1])<<8 | int(s.wire[2])
}

// NumSignatures returns how many RRSIGs cover s, without decoding them.
func (s *RRset) NumSignatures() int {
	if s.wire == "" {
		if s.loose == nil {
			return 0
		}
		return len(s.loose.sigs)
	}
	return int(s.wire[3])<<8 | int(s.wire[4])
}

// AddRecord appends rr to s, which becomes (or stays) loose. It writes
// to s's loose form in place, which a copy of the struct shares: change a
// copy made with Clone.
func (s *RRset) AddRecord(rr dns.RR) {
	l := s.own()
	l.rrs = append(l.rrs, rr)
}

// AddSignature appends sig to s's RRSIGs in place, as AddRecord.
func (s *RRset) AddSignature(sig *dns.RRSIG) {
	l := s.own()
	l.sigs = append(l.sigs, sig)
}

// SetSignatures replaces s's RRSIGs with sigs (kept, not copied); s
// becomes (or stays) loose. A copy of the struct made before keeps its
// RRSIGs.
func (s *RRset) SetSignatures(sigs []*dns.RRSIG) {
	rrs := s.Records()
	s.wire, s.loose = "", &looseRRset{rrs: rrs, sigs: sigs}
}

// SetRecords replaces s's records with rrs (kept, not copied), as
// SetSignatures.
func (s *RRset) SetRecords(rrs []dns.RR) {
	sigs := s.Signatures()
	s.wire, s.loose = "", &looseRRset{rrs: rrs, sigs: sigs}
}

// Clone returns a loose copy of s with slices of its own (the records
// themselves are shared for a loose s, fresh for a packed one).
func (s *RRset) Clone() *RRset {
	return NewRRset(s.Name, s.Type, s.TTL, slices.Clone(s.Records()), slices.Clone(s.Signatures()))
}

// own returns s's loose form, decoding a packed s into a new one.
func (s *RRset) own() *looseRRset {
	if s.wire != "" {
		rrs, sigs, err := s.unpack(true, true)
		if err != nil {
			panic(fmt.Sprintf("zone: packed RRset %s %s does not decode: %v", s.Name, dns.TypeToString[s.Type], err))
		}
		s.wire, s.loose = "", &looseRRset{rrs: rrs, sigs: sigs}
	}
	if s.loose == nil {
		s.loose = &looseRRset{}
	}
	return s.loose
}

// packed reports whether s holds the packed form.
func (s *RRset) packed() bool { return s.wire != "" }

const packedHeader = 5

// unpack decodes the records and/or RRSIGs of packed s.
func (s *RRset) unpack(wantRRs, wantSigs bool) ([]dns.RR, []*dns.RRSIG, error) {
	n, m := s.NumRecords(), s.NumSignatures()
	var rrs []dns.RR
	if wantRRs {
		rrs = make([]dns.RR, 0, n)
	}
	off := packedHeader
	for range n {
		if !wantRRs {
			if off+2 > len(s.wire) {
				return nil, nil, errors.New("short record")
			}
			off += 2 + (int(s.wire[off])<<8 | int(s.wire[off+1]))
			continue
		}
		rr, next, err := s.decodeAt(off, false)
		if err != nil {
			return nil, nil, err
		}
		rrs = append(rrs, rr)
		off = next
	}
	if !wantSigs {
		return rrs, nil, nil
	}
	sigs := make([]*dns.RRSIG, 0, m)
	for range m {
		rr, next, err := s.decodeAt(off, true)
		if err != nil {
			return nil, nil, err
		}
		sig, ok := rr.(*dns.RRSIG)
		if !ok {
			return nil, nil, errors.New("an RRSIG slot holds another type")
		}
		sigs = append(sigs, sig)
		off = next
	}
	return rrs, sigs, nil
}

// decodeAt decodes the record (sig false) or RRSIG (sig true) packed at
// off, returning the offset after it.
func (s *RRset) decodeAt(off int, sig bool) (dns.RR, int, error) {
	b := unsafe.Slice(unsafe.StringData(s.wire), len(s.wire)) // read only
	h := dns.RR_Header{Name: s.Name, Rrtype: s.Type, Class: dns.ClassINET, Ttl: s.TTL}
	if sig {
		h.Rrtype = dns.TypeRRSIG
		if b[0]&packedSigTTLs != 0 {
			if off+4 > len(b) {
				return nil, 0, errors.New("short RRSIG TTL")
			}
			h.Ttl = binary.BigEndian.Uint32(b[off:])
			off += 4
		}
	}
	if off+2 > len(b) {
		return nil, 0, errors.New("short record")
	}
	h.Rdlength = binary.BigEndian.Uint16(b[off:])
	off += 2
	end := off + int(h.Rdlength)
	if end > len(b) {
		return nil, 0, errors.New("short RDATA")
	}
	rr, next, err := dns.UnpackRRWithHeader(h, b[:end:end], off)
	if err != nil {
		return nil, 0, err
	}
	return rr, next, nil
}

// rdatas yields the RDATA of each record of packed s, as packed: read
// only, valid as long as s.
func (s *RRset) rdatas(yield func([]byte) bool) {
	b := unsafe.Slice(unsafe.StringData(s.wire), len(s.wire))
	off := packedHeader
	for range s.NumRecords() {
		l := int(binary.BigEndian.Uint16(b[off:]))
		if !yield(b[off+2 : off+2+l : off+2+l]) {
			return
		}
		off += 2 + l
	}
}

const packedSigTTLs = 1

// ErrPack is returned (in a *RecordError) when an RRset cannot take the
// packed form: more than 65,535 records or RRSIGs, or a record miekg/dns
// cannot pack.
var ErrPack = errors.New("RRset cannot be packed")

// packer packs loose RRsets into strings cut from shared arenas, so that
// a zone's RRsets cost their bytes and not a heap object each.
type packer struct {
	arena   []byte // the free part of the current arena
	chunk   int    // size of the next arena
	buf     []byte // one RRset being packed
	scratch []byte // one record being packed
	msg     dns.Msg
}

// newPacker returns a packer for about sets loose RRsets.
func newPacker(sets int) *packer {
	return &packer{chunk: min(max(sets*128, 512), 64<<10)}
}

// pack gives s its packed form, replacing the loose one. s must be owned
// by the caller: no other goroutine may read it while pack runs.
func (p *packer) pack(s *RRset) error {
	if s.wire != "" {
		return nil
	}
	var rrs []dns.RR
	var sigs []*dns.RRSIG
	if s.loose != nil {
		rrs, sigs = s.loose.rrs, s.loose.sigs
	}
	if len(rrs) > 0xFFFF || len(sigs) > 0xFFFF {
		return &RecordError{s.Name, s.Type, fmt.Errorf("%w: %d records, %d RRSIGs", ErrPack, len(rrs), len(sigs))}
	}
	var flags byte
	for _, sig := range sigs {
		if sig.Hdr.Ttl != s.TTL {
			flags |= packedSigTTLs
		}
	}
	b := append(p.buf[:0], flags)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rrs)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(sigs)))
	var err error
	for _, rr := range rrs {
		if b, err = p.appendRDATA(b, rr); err != nil {
			return &RecordError{s.Name, s.Type, fmt.Errorf("%w: %w", ErrPack, err)}
		}
	}
	for _, sig := range sigs {
		if flags&packedSigTTLs != 0 {
			b = binary.BigEndian.AppendUint32(b, sig.Hdr.Ttl)
		}
		if b, err = p.appendRDATA(b, sig); err != nil {
			return &RecordError{s.Name, s.Type, fmt.Errorf("%w: RRSIG: %w", ErrPack, err)}
		}
	}
	p.buf = b
	s.wire, s.loose = p.keep(b), nil
	return nil
}

// appendRDATA appends rr's RDLENGTH and uncompressed RDATA to b. Packed
// as the one answer of a scratch message, so nothing is written to rr
// (dns.PackRR would store its RDLENGTH).
func (p *packer) appendRDATA(b []byte, rr dns.RR) ([]byte, error) {
	const msgHeader = 12
	need := msgHeader + dns.Len(rr) + 1
	if cap(p.scratch) < need {
		p.scratch = make([]byte, need)
	}
	p.msg.Answer = append(p.msg.Answer[:0], rr)
	w, err := p.msg.PackBuffer(p.scratch[:need])
	p.msg.Answer[0] = nil
	if err != nil {
		return b, err
	}
	_, start, err := dns.UnpackDomainName(w, msgHeader)
	if err != nil {
		return b, err
	}
	start += 8 // type, class, TTL; RDLENGTH follows
	if start+2 > len(w) {
		return b, errors.New("short record")
	}
	return append(b, w[start:]...), nil
}

// keep copies b into the arena and returns it as a string.
func (p *packer) keep(b []byte) string {
	if len(b) > len(p.arena) {
		if len(b) >= p.chunk/4 {
			return string(b) // large: an allocation of its own
		}
		p.arena = make([]byte, p.chunk)
	}
	n := copy(p.arena, b)
	out := unsafe.String(&p.arena[0], n)
	p.arena = p.arena[n:]
	return out
}

// packAll packs every loose RRset of z's nodes. Called by a Zone's
// constructors before the Zone is returned; RRsets already packed (shared
// with the zone a change was made from) are left alone.
func (z *Zone) packAll() error {
	loose := 0
	z.names.each(func(n *Node) {
		for _, s := range n.RRsets {
			if !s.packed() {
				loose++
			}
		}
	})
	if loose == 0 {
		return nil
	}
	p := newPacker(loose)
	var errs []error
	z.names.each(func(n *Node) {
		for _, s := range n.RRsets {
			if err := p.pack(s); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}
