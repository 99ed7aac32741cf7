package dnsfront

import (
	"encoding/binary"
	"encoding/hex"

	"github.com/miekg/dns"
)

// request is what the answer function needs from a request, read once
// either straight from the wire (the common case) or from a dns.Msg.
type request struct {
	id       uint16
	opcode   int
	rd, cd   bool
	response bool // QR set
	qdcount  int
	q        dns.Question // the question as asked, letter case included
	name     string       // q.Name canonical: lower-case, fully qualified

	edns    bool // exactly one well-formed OPT, in additional
	badOPT  bool // OPT outside additional, more than one, or not at the root
	version uint8
	do      bool
	udpSize uint16

	padding   bool // the OPT carries a Padding option (RFC 7830)
	keepalive bool // the OPT carries an edns-tcp-keepalive option (RFC 7828)
	trace     bool // the OPT carries the trace option (trace.go)
	anyOption bool // the OPT carries any option (packed.go)
	proofs    bool // the OPT carries the proofs option (proofs.go)

	// cookie is the client cookie of a COOKIE option (RFC 7873), nil
	// without one; badCookie: the option's length is invalid (FORMERR).
	cookie    [clientCookieLen]byte
	hasCookie bool
	badCookie bool
}

// fromWire reads the common query shape (one question, nothing in answer
// or authority, at most an OPT in additional, no trailing bytes) straight
// from raw, without building a dns.Msg. It reports false for anything
// else; the caller then unpacks raw fully and uses fromMsg.
func (q *request) fromWire(raw []byte) bool {
	if len(raw) < headerLen {
		return false
	}
	flags := binary.BigEndian.Uint16(raw[2:])
	qd := binary.BigEndian.Uint16(raw[4:])
	an := binary.BigEndian.Uint16(raw[6:])
	ns := binary.BigEndian.Uint16(raw[8:])
	ar := binary.BigEndian.Uint16(raw[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return false
	}
	name, off, err := dns.UnpackDomainName(raw, headerLen)
	if err != nil || off+4 > len(raw) {
		return false
	}
	*q = request{
		id:       binary.BigEndian.Uint16(raw),
		opcode:   int(flags>>11) & 0xF,
		rd:       flags&0x0100 != 0,
		cd:       flags&0x0010 != 0,
		response: flags&0x8000 != 0,
		qdcount:  1,
		q: dns.Question{
			Name:   name,
			Qtype:  binary.BigEndian.Uint16(raw[off:]),
			Qclass: binary.BigEndian.Uint16(raw[off+2:]),
		},
		name: canonical(name),
	}
	off += 4
	if ar == 1 {
		// OPT: root owner (one zero byte), type, class = UDP size,
		// TTL = extended rcode, version, flags; RDLENGTH; options.
		if off+11 > len(raw) || raw[off] != 0 || binary.BigEndian.Uint16(raw[off+1:]) != dns.TypeOPT {
			return false
		}
		q.edns = true
		q.udpSize = binary.BigEndian.Uint16(raw[off+3:])
		q.version = raw[off+6]
		q.do = raw[off+7]&0x80 != 0
		rdlen := int(binary.BigEndian.Uint16(raw[off+9:]))
		off += 11
		end := off + rdlen
		if end > len(raw) {
			return false
		}
		// Options are ignored (RFC 6891 §6.1.2), but must be well formed.
		for off < end {
			if off+4 > end {
				return false
			}
			n := int(binary.BigEndian.Uint16(raw[off+2:]))
			if off+4+n > end {
				return false
			}
			q.noteOption(binary.BigEndian.Uint16(raw[off:]), raw[off+4:off+4+n])
			off += 4 + n
		}
		if off != end {
			return false
		}
	}
	return off == len(raw)
}

// fromMsg reads a query from an unpacked message.
func (q *request) fromMsg(m *dns.Msg) {
	*q = request{
		id:       m.Id,
		opcode:   m.Opcode,
		rd:       m.RecursionDesired,
		cd:       m.CheckingDisabled,
		response: m.Response,
		qdcount:  len(m.Question),
	}
	if len(m.Question) == 1 {
		q.q = m.Question[0]
		q.name = canonical(q.q.Name)
	}
	for _, sec := range [...][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range sec {
			if rr.Header().Rrtype == dns.TypeOPT {
				q.badOPT = true
			}
		}
	}
	for _, rr := range m.Extra {
		opt, ok := rr.(*dns.OPT)
		if !ok {
			continue
		}
		if q.edns || opt.Hdr.Name != "." {
			q.badOPT = true
		}
		q.edns = true
		q.udpSize = opt.UDPSize()
		q.version = opt.Version()
		q.do = opt.Do()
		for _, o := range opt.Option {
			var data []byte
			if c, ok := o.(*dns.EDNS0_COOKIE); ok {
				if b, err := hex.DecodeString(c.Cookie); err == nil {
					data = b
				}
			} else if l, ok := o.(*dns.EDNS0_LOCAL); ok {
				data = l.Data
			}
			q.noteOption(o.Option(), data)
		}
	}
	if q.badOPT {
		q.edns = false
	}
}

// noteOption records the EDNS options the reply depends on; data is the
// option's content (only a COOKIE's is read).
func (q *request) noteOption(code uint16, data []byte) {
	q.anyOption = true
	switch code {
	case cookieOption:
		if q.hasCookie || q.badCookie || !cookieLenOK(len(data)) {
			q.badCookie = true
			q.hasCookie = false
			break
		}
		q.hasCookie = true
		copy(q.cookie[:], data)
	case dns.EDNS0PADDING:
		q.padding = true
	case dns.EDNS0TCPKEEPALIVE:
		q.keepalive = true
	case TraceOptionCode:
		q.trace = true
	case ProofsOptionCode:
		q.proofs = true
	}
}

// canonical returns name lower-cased and fully qualified, without
// allocating when it already is.
func canonical(name string) string {
	if name == "" {
		return "."
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			return dns.CanonicalName(name)
		}
	}
	if name[len(name)-1] != '.' {
		return name + "."
	}
	return name
}
