package raftfsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// Format versions of the values the store writes. A value starts with its
// version byte; a reader refuses a version it does not know rather than
// guess at its layout.
const (
	rrsetVersion1 = 1
	metaVersion1  = 1
)

// metaKey is the key of a zone bucket's meta value (serial and signed
// head). Every RRset key is at least four bytes long, so this one-byte key
// never collides with one, and it sorts before them all.
var metaKey = []byte{0x00}

// encodeKey returns the bucket key of the RRset (name, t): the labels of
// name from the root down, each lower-cased, byte-escaped and terminated,
// then an end-of-name mark and the type, big-endian. Byte order of the keys
// is canonical DNS order of (name, type) (RFC 4034 §6.1), so a cursor walks
// a zone the way its Merkle leaves and NSEC chain run.
//
// Within a label 0x00 is written 0x00 0xFF; a label ends with 0x00 0x01;
// the name ends with 0x00 0x00. The terminator sorts below any label byte,
// so a label sorts before its extensions, and the end mark sorts below a
// next label, so a name sorts before the names below it.
func encodeKey(name string, t uint16) ([]byte, error) {
	var wire [256]byte
	n, err := dns.PackDomainName(dns.Fqdn(name), wire[:], 0, nil, false)
	if err != nil {
		return nil, fmt.Errorf("name %q: %w", name, err)
	}
	// Collect label offsets, leftmost first.
	var offs [128]int
	labels := 0
	for off := 0; off < n && wire[off] != 0; off += int(wire[off]) + 1 {
		offs[labels] = off
		labels++
	}
	key := make([]byte, 0, n+labels*2+4)
	for i := labels - 1; i >= 0; i-- {
		off := offs[i]
		for _, c := range wire[off+1 : off+1+int(wire[off])] {
			switch {
			case c == 0:
				key = append(key, 0x00, 0xFF)
			case c >= 'A' && c <= 'Z':
				key = append(key, c+'a'-'A')
			default:
				key = append(key, c)
			}
		}
		key = append(key, 0x00, 0x01)
	}
	key = append(key, 0x00, 0x00)
	key = binary.BigEndian.AppendUint16(key, t)
	return key, nil
}

// encodeRRset returns the stored form of s, version 1:
//
//	byte    version (1)
//	uint16  number of records n (at least 1)
//	uint16  number of RRSIGs m
//	n records, then m RRSIGs, each an uncompressed wire-format RR
//	(RFC 1035 §4.1.3), owner name as held (canonical)
//
// All integers are big-endian.
func encodeRRset(s *zone.RRset) ([]byte, error) {
	if s.NumRecords() == 0 || s.NumRecords() > 0xFFFF || s.NumSignatures() > 0xFFFF {
		return nil, fmt.Errorf("RRset %s %s: %d records, %d signatures: cannot encode", s.Name, dns.TypeToString[s.Type], s.NumRecords(), s.NumSignatures())
	}
	size := 5
	for _, rr := range s.Records() {
		size += dns.Len(rr)
	}
	for _, sig := range s.Signatures() {
		size += dns.Len(sig)
	}
	buf := make([]byte, size)
	buf[0] = rrsetVersion1
	binary.BigEndian.PutUint16(buf[1:], uint16(s.NumRecords()))
	binary.BigEndian.PutUint16(buf[3:], uint16(s.NumSignatures()))
	out := buf[:5]
	var (
		err error
		m   dns.Msg
	)
	for _, rr := range s.Records() {
		if out, err = appendRR(out, &m, rr); err != nil {
			return nil, fmt.Errorf("RRset %s %s: %w", s.Name, dns.TypeToString[s.Type], err)
		}
	}
	for _, sig := range s.Signatures() {
		if out, err = appendRR(out, &m, sig); err != nil {
			return nil, fmt.Errorf("RRSIG of %s %s: %w", s.Name, dns.TypeToString[s.Type], err)
		}
	}
	return out, nil
}

// appendRR appends rr's uncompressed wire form to b, packed as the one
// answer of m, a scratch message. Unlike dns.PackRR, which stores
// RDLENGTH into rr's header, it writes nothing to rr: the records
// encoded here (store writes, snapshots) are being packed by the DNS
// servers at the same time.
func appendRR(b []byte, m *dns.Msg, rr dns.RR) ([]byte, error) {
	const msgHeader = 12
	m.Answer = append(m.Answer[:0], rr)
	wire, err := m.Pack()
	m.Answer[0] = nil
	if err != nil {
		return b, err
	}
	return append(b, wire[msgHeader:]...), nil
}

// decodeRRset parses a value written by encodeRRset. It checks that the
// records form one RRset (one owner name, returned canonical, one type, class IN,
// one TTL) and that every RRSIG covers it; it rejects unknown versions
// (ErrVersion) and trailing bytes.
func decodeRRset(b []byte) (*zone.RRset, error) {
	if len(b) == 0 {
		return nil, errors.New("empty value")
	}
	if b[0] != rrsetVersion1 {
		return nil, fmt.Errorf("%w: RRset value version %d", ErrVersion, b[0])
	}
	if len(b) < 5 {
		return nil, errors.New("RRset value shorter than its header")
	}
	n := int(binary.BigEndian.Uint16(b[1:]))
	m := int(binary.BigEndian.Uint16(b[3:]))
	if n == 0 {
		return nil, errors.New("RRset value holds no records")
	}
	s := zone.NewRRset("", 0, 0, make([]dns.RR, 0, min(n, len(b)/11)), make([]*dns.RRSIG, 0, min(m, len(b)/11)))
	off := 5
	for i := 0; i < n+m; i++ {
		rr, next, err := dns.UnpackRR(b, off)
		if err != nil {
			return nil, fmt.Errorf("record %d at offset %d: %w", i, off, err)
		}
		if rr == nil {
			return nil, fmt.Errorf("record %d at offset %d: empty", i, off)
		}
		off = next
		h := rr.Header()
		if h.Class != dns.ClassINET {
			return nil, fmt.Errorf("record %d: class %d, want IN", i, h.Class)
		}
		// Wire form keeps the case of escaped letters (\065) that
		// CanonicalName leaves alone in presentation form; fold it.
		h.Name = dns.CanonicalName(h.Name)
		if i == 0 {
			s.Name, s.Type, s.TTL = h.Name, h.Rrtype, h.Ttl
			if s.Type == dns.TypeRRSIG {
				return nil, errors.New("RRset of type RRSIG")
			}
		} else if h.Name != s.Name {
			return nil, fmt.Errorf("record %d: owner %s in the RRset of %s", i, h.Name, s.Name)
		}
		if i < n {
			if h.Rrtype != s.Type || h.Ttl != s.TTL {
				return nil, fmt.Errorf("record %d: %s TTL %d in an RRset of %s TTL %d", i, dns.TypeToString[h.Rrtype], h.Ttl, dns.TypeToString[s.Type], s.TTL)
			}
			s.AddRecord(rr)
			continue
		}
		sig, ok := rr.(*dns.RRSIG)
		if !ok {
			return nil, fmt.Errorf("record %d: %s where an RRSIG belongs", i, dns.TypeToString[h.Rrtype])
		}
		if sig.TypeCovered != s.Type {
			return nil, fmt.Errorf("record %d: RRSIG covers %s in an RRset of %s", i, dns.TypeToString[sig.TypeCovered], dns.TypeToString[s.Type])
		}
		s.AddSignature(sig)
	}
	if off != len(b) {
		return nil, fmt.Errorf("%d bytes after the last record", len(b)-off)
	}
	return s, nil
}

// meta is what a zone bucket holds beside its RRsets.
type meta struct {
	Serial uint32
	Head   *zone.Head // nil for an unsigned zone
}

// encodeMeta returns the stored form of m, version 1:
//
//	byte    version (1)
//	uint32  SOA serial
//	byte    1 when a signed head follows, 0 otherwise
//	head:   uint32 serial, uint64 size, [32]byte root,
//	        int64 Unix seconds, uint32 nanoseconds,
//	        uint32 note length, note bytes
//
// The head's zone name is the bucket's name and is not repeated.
func encodeMeta(m meta) []byte {
	b := []byte{metaVersion1}
	b = binary.BigEndian.AppendUint32(b, m.Serial)
	if m.Head == nil {
		return append(b, 0)
	}
	h := m.Head
	b = append(b, 1)
	b = binary.BigEndian.AppendUint32(b, h.Serial)
	b = binary.BigEndian.AppendUint64(b, h.Size)
	b = append(b, h.Root[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Time.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(h.Time.Nanosecond()))
	b = binary.BigEndian.AppendUint32(b, uint32(len(h.Note)))
	return append(b, h.Note...)
}

// decodeMeta parses a value written by encodeMeta for the zone origin.
func decodeMeta(origin string, b []byte) (meta, error) {
	var m meta
	if len(b) == 0 {
		return m, errors.New("empty meta value")
	}
	if b[0] != metaVersion1 {
		return m, fmt.Errorf("%w: meta value version %d", ErrVersion, b[0])
	}
	if len(b) < 6 {
		return m, errors.New("meta value shorter than its header")
	}
	m.Serial = binary.BigEndian.Uint32(b[1:])
	switch b[5] {
	case 0:
		if len(b) != 6 {
			return m, fmt.Errorf("%d bytes after the meta value", len(b)-6)
		}
		return m, nil
	case 1:
	default:
		return m, fmt.Errorf("meta head flag %d", b[5])
	}
	const fixed = 6 + 4 + 8 + 32 + 8 + 4 + 4
	if len(b) < fixed {
		return m, errors.New("meta value shorter than its head")
	}
	h := &zone.Head{Zone: origin}
	p := b[6:]
	h.Serial = binary.BigEndian.Uint32(p)
	h.Size = binary.BigEndian.Uint64(p[4:])
	copy(h.Root[:], p[12:44])
	sec := int64(binary.BigEndian.Uint64(p[44:]))
	nsec := binary.BigEndian.Uint32(p[52:])
	if nsec >= 1e9 {
		return m, fmt.Errorf("head time nanoseconds %d", nsec)
	}
	h.Time = time.Unix(sec, int64(nsec)).UTC()
	l := binary.BigEndian.Uint32(p[56:])
	if uint64(l) != uint64(len(b)-fixed) {
		return m, fmt.Errorf("head note of %d bytes in %d", l, len(b)-fixed)
	}
	h.Note = bytes.Clone(p[60:])
	m.Head = h
	return m, nil
}
