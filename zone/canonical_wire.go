package zone

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/miekg/dns"
)

// LeafData returns the Merkle leaf data of s: the RRset in canonical wire
// form (RFC 4034 §6.2, §6.3) without its RRSIGs. Each record is the
// lower-cased owner name in uncompressed wire form, type, class, the
// RRset's TTL, RDLENGTH and RDATA, with the domain names inside RDATA
// lower-cased for the types RFC 4034 §6.2 lists (as amended by RFC 6840
// §5.1); records are sorted by RDATA as left-justified unsigned octets and
// identical records appear once. A record that cannot be packed (a
// malformed RR built by hand) is left out; RRsets from New always pack.
func LeafData(s *RRset) []byte {
	var e leafEncoder
	b, _ := e.encode(s, s.TTL)
	return b
}

// leafEncoder builds leaf data, reusing its buffers from one RRset to the
// next. The zero value is ready; it is not safe for concurrent use.
type leafEncoder struct {
	// out holds 0x00 ‖ leaf data, so the leaf hash is SHA-256(out).
	out []byte
	// rdata holds the RRset's canonical RDATAs back to back; spans
	// indexes them.
	rdata []byte
	spans [][2]int
	pack  []byte  // packing scratch
	msg   dns.Msg // packs one record; reused
}

// encode returns the leaf data of s with the given TTL. The result points
// into e's buffer and is valid until the next call. Verify passes the
// original TTL from the RRSIG, so an answer whose TTLs a cache decremented
// still hashes to its leaf.
func (e *leafEncoder) encode(s *RRset, ttl uint32) ([]byte, error) {
	e.rdata, e.spans = e.rdata[:0], e.spans[:0]
	if s.packed() && !lowersNames(s.Type) {
		// The packed RDATA is the canonical RDATA: nothing to lower.
		for rd := range s.rdatas {
			start := len(e.rdata)
			e.rdata = append(e.rdata, rd...)
			e.spans = append(e.spans, [2]int{start, len(e.rdata)})
		}
	} else {
		for _, rr := range s.Records() {
			start := len(e.rdata)
			if err := e.appendRDATA(rr); err != nil {
				return nil, err
			}
			e.spans = append(e.spans, [2]int{start, len(e.rdata)})
		}
	}
	rd := func(i int) []byte { return e.rdata[e.spans[i][0]:e.spans[i][1]] }
	if len(e.spans) > 1 {
		sort.Slice(e.spans, func(i, j int) bool { return bytes.Compare(rd(i), rd(j)) < 0 })
	}

	e.out = append(e.out[:0], rfc6962LeafPrefix)
	var err error
	if e.out, err = appendName(e.out, CanonicalName(s.Name)); err != nil {
		return nil, fmt.Errorf("owner name %q: %w", s.Name, err)
	}
	ownerLen := len(e.out) - 1
	for i := range e.spans {
		if i > 0 && bytes.Equal(rd(i), rd(i-1)) {
			continue // RFC 4034 §6.3: duplicates are suppressed
		}
		if i > 0 {
			e.out = append(e.out, e.out[1:1+ownerLen]...)
		}
		e.out = binary.BigEndian.AppendUint16(e.out, s.Type)
		e.out = binary.BigEndian.AppendUint16(e.out, dns.ClassINET)
		e.out = binary.BigEndian.AppendUint32(e.out, ttl)
		e.out = binary.BigEndian.AppendUint16(e.out, uint16(len(rd(i))))
		e.out = append(e.out, rd(i)...)
	}
	return e.out[1:], nil
}

// hash returns the leaf hash of s with the given TTL.
func (e *leafEncoder) hash(s *RRset, ttl uint32) ([32]byte, error) {
	if _, err := e.encode(s, ttl); err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(e.out), nil
}

// appendName appends name in uncompressed wire form.
func appendName(b []byte, name string) ([]byte, error) {
	var buf [256]byte
	n, err := dns.PackDomainName(name, buf[:], 0, nil, false)
	if err != nil {
		return b, err
	}
	return append(b, buf[:n]...), nil
}

// canonicalRDATA returns a fresh copy of rr's RDATA in canonical form
// (RFC 4034 §6.2), the key records of an RRset sort by (§6.3). scratch is
// reused between calls to save allocations.
func canonicalRDATA(rr dns.RR, scratch *[]byte) ([]byte, error) {
	e := leafEncoder{pack: *scratch}
	err := e.appendRDATA(rr)
	*scratch = e.pack
	return e.rdata, err
}

// appendRDATA appends rr's RDATA in canonical form to e.rdata.
func (e *leafEncoder) appendRDATA(rr dns.RR) error {
	rr = lowerEmbeddedNames(rr)
	// Packed as the one answer of an uncompressed message: unlike
	// dns.PackRR, which stores RDLENGTH into rr's header, this writes
	// nothing to rr, so zones being served (packed by the DNS servers at
	// the same time) can be encoded without a data race.
	const msgHeader = 12
	need := msgHeader + dns.Len(rr) + 1
	if cap(e.pack) < need {
		e.pack = make([]byte, need)
	}
	e.msg.Answer = append(e.msg.Answer[:0], rr)
	buf, err := e.msg.PackBuffer(e.pack[:need])
	e.msg.Answer[0] = nil
	if err != nil {
		return fmt.Errorf("%s %s: %w", rr.Header().Name, dns.TypeToString[rr.Header().Rrtype], err)
	}
	_, start, err := dns.UnpackDomainName(buf, msgHeader)
	if err != nil {
		return err
	}
	start += 10 // type, class, TTL, RDLENGTH
	if start > len(buf) {
		return errors.New("short record")
	}
	e.rdata = append(e.rdata, buf[start:]...)
	return nil
}

// lowersNames reports whether lowerEmbeddedNames may change a record of
// type t: the types it lists.
func lowersNames(t uint16) bool {
	switch t {
	case dns.TypeNS, dns.TypeMD, dns.TypeMF, dns.TypeCNAME, dns.TypeSOA, dns.TypeMB, dns.TypeMG,
		dns.TypeMR, dns.TypePTR, dns.TypeMINFO, dns.TypeMX, dns.TypeRP, dns.TypeAFSDB, dns.TypeRT,
		dns.TypeSIG, dns.TypePX, dns.TypeNAPTR, dns.TypeKX, dns.TypeSRV, dns.TypeDNAME:
		return true
	}
	return false
}

// lowerEmbeddedNames returns rr, or a copy of it with the domain names in
// its RDATA lower-cased when its type is one RFC 4034 §6.2 item 3 names
// (HINFO excluded per RFC 6840 §5.1; NXT and A6 are not supported by
// miekg/dns). It mirrors miekg/dns's RRSIG signing, so the leaf holds
// exactly the records the RRSIG covers.
func lowerEmbeddedNames(rr dns.RR) dns.RR {
	lc := dns.CanonicalName
	switch x := rr.(type) {
	case *dns.NS:
		if x.Ns != lc(x.Ns) {
			y := *x
			y.Ns = lc(x.Ns)
			return &y
		}
	case *dns.MD:
		if x.Md != lc(x.Md) {
			y := *x
			y.Md = lc(x.Md)
			return &y
		}
	case *dns.MF:
		if x.Mf != lc(x.Mf) {
			y := *x
			y.Mf = lc(x.Mf)
			return &y
		}
	case *dns.CNAME:
		if x.Target != lc(x.Target) {
			y := *x
			y.Target = lc(x.Target)
			return &y
		}
	case *dns.SOA:
		if x.Ns != lc(x.Ns) || x.Mbox != lc(x.Mbox) {
			y := *x
			y.Ns, y.Mbox = lc(x.Ns), lc(x.Mbox)
			return &y
		}
	case *dns.MB:
		if x.Mb != lc(x.Mb) {
			y := *x
			y.Mb = lc(x.Mb)
			return &y
		}
	case *dns.MG:
		if x.Mg != lc(x.Mg) {
			y := *x
			y.Mg = lc(x.Mg)
			return &y
		}
	case *dns.MR:
		if x.Mr != lc(x.Mr) {
			y := *x
			y.Mr = lc(x.Mr)
			return &y
		}
	case *dns.PTR:
		if x.Ptr != lc(x.Ptr) {
			y := *x
			y.Ptr = lc(x.Ptr)
			return &y
		}
	case *dns.MINFO:
		if x.Rmail != lc(x.Rmail) || x.Email != lc(x.Email) {
			y := *x
			y.Rmail, y.Email = lc(x.Rmail), lc(x.Email)
			return &y
		}
	case *dns.MX:
		if x.Mx != lc(x.Mx) {
			y := *x
			y.Mx = lc(x.Mx)
			return &y
		}
	case *dns.RP:
		if x.Mbox != lc(x.Mbox) || x.Txt != lc(x.Txt) {
			y := *x
			y.Mbox, y.Txt = lc(x.Mbox), lc(x.Txt)
			return &y
		}
	case *dns.AFSDB:
		if x.Hostname != lc(x.Hostname) {
			y := *x
			y.Hostname = lc(x.Hostname)
			return &y
		}
	case *dns.RT:
		if x.Host != lc(x.Host) {
			y := *x
			y.Host = lc(x.Host)
			return &y
		}
	case *dns.SIG:
		if x.SignerName != lc(x.SignerName) {
			y := *x
			y.SignerName = lc(x.SignerName)
			return &y
		}
	case *dns.PX:
		if x.Map822 != lc(x.Map822) || x.Mapx400 != lc(x.Mapx400) {
			y := *x
			y.Map822, y.Mapx400 = lc(x.Map822), lc(x.Mapx400)
			return &y
		}
	case *dns.NAPTR:
		if x.Replacement != lc(x.Replacement) {
			y := *x
			y.Replacement = lc(x.Replacement)
			return &y
		}
	case *dns.KX:
		if x.Exchanger != lc(x.Exchanger) {
			y := *x
			y.Exchanger = lc(x.Exchanger)
			return &y
		}
	case *dns.SRV:
		if x.Target != lc(x.Target) {
			y := *x
			y.Target = lc(x.Target)
			return &y
		}
	case *dns.DNAME:
		if x.Target != lc(x.Target) {
			y := *x
			y.Target = lc(x.Target)
			return &y
		}
	}
	return rr
}

// leafKey reads the (owner name, type) of a leaf from its data: the owner
// and type of its first record. It returns ErrMalformedProof when the data
// does not start with a wire-form name and a type.
func leafKey(data []byte) (string, uint16, error) {
	if len(data) == 0 {
		return "", 0, fmt.Errorf("%w: empty leaf data", ErrMalformedProof)
	}
	name, off, err := dns.UnpackDomainName(data, 0)
	if err != nil || off+2 > len(data) {
		return "", 0, fmt.Errorf("%w: leaf data does not start with an owner name and type", ErrMalformedProof)
	}
	// Compression pointers have no place in canonical form.
	for i := 0; i < off; {
		l := int(data[i])
		if l&0xC0 != 0 {
			return "", 0, fmt.Errorf("%w: compressed name in leaf data", ErrMalformedProof)
		}
		if l == 0 {
			break
		}
		i += l + 1
	}
	return CanonicalName(name), binary.BigEndian.Uint16(data[off:]), nil
}

// compareKey orders (name, type) pairs as the Merkle leaves are ordered:
// canonical name order (RFC 4034 §6.1), then type number.
func compareKey(n1 string, t1 uint16, n2 string, t2 uint16) int {
	if c := Compare(n1, n2); c != 0 {
		return c
	}
	switch {
	case t1 < t2:
		return -1
	case t1 > t2:
		return 1
	}
	return 0
}
