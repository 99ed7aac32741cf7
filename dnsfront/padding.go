package dnsfront

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// EDNS(0) padding (RFC 7830) with the block-length policy of RFC 8467
// §4.1: queries are padded to a multiple of 128 octets, responses to a
// multiple of 468. Padding hides the length of a message from whoever
// watches an encrypted transport; on UDP and plain TCP it only costs bytes,
// so it is applied on TLS, HTTPS and QUIC only.
const (
	// DefaultPadBlock is the default of Options.PadBlock: the response
	// block size of RFC 8467 §4.1.
	DefaultPadBlock = 468
	// QueryPadBlock is the query block size of RFC 8467 §4.1, used by
	// PadQuery.
	QueryPadBlock = 128
)

// optFixedLen is the length of an OPT record before its RDATA: root owner
// (1), TYPE (2), CLASS (2), TTL (4), RDLENGTH (2).
const optFixedLen = 11

// Encrypted reports whether t hides messages from the path (TLS, HTTPS,
// QUIC), and so whether replies over it are padded.
func (t Transport) Encrypted() bool { return t == TLS || t == HTTPS || t == QUIC }

// finishOPT completes the reply's OPT for the transport: over TCP and TLS
// it announces the keepalive timeout when the query carried the
// edns-tcp-keepalive option (RFC 7828 §3.3.2); when the reply is to be
// padded (an encrypted transport and a query with the Padding option,
// RFC 7830 §4) it moves the OPT to the end of the additional section so
// padWire can grow it in place. It returns the RDATA length the OPT has
// when packed if the reply is to be padded, else -1.
func (h *Handler) finishOPT(q *request, resp *dns.Msg, sc *scratch, tr Transport) int {
	i := slices.IndexFunc(resp.Extra, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeOPT })
	if i < 0 {
		return -1
	}
	rdlen := sc.optLen
	if q.keepalive && h.keepalive > 0 && (tr == TCP || tr == TLS) && resp.Extra[i] == dns.RR(&sc.opt) {
		sc.ka = dns.EDNS0_TCP_KEEPALIVE{Code: dns.EDNS0TCPKEEPALIVE, Timeout: h.keepalive}
		if len(sc.opt.Option) == 0 {
			sc.optBuf[0] = &sc.ka
			sc.opt.Option = sc.optBuf[:1]
		} else {
			sc.opt.Option = append(sc.opt.Option, &sc.ka)
		}
		rdlen += 4 + 2
	}
	if q.hasCookie && h.cookies && tr == UDP && resp.Extra[i] == dns.RR(&sc.opt) {
		// The client cookie and room for the server cookie, which the
		// UDP server fills (cookie.go).
		copy(sc.cookie[:], q.cookie[:])
		clear(sc.cookie[clientCookieLen:])
		sc.ck = dns.EDNS0_LOCAL{Code: cookieOption, Data: sc.cookie[:]}
		if len(sc.opt.Option) == 0 {
			sc.optBuf[0] = &sc.ck
			sc.opt.Option = sc.optBuf[:1]
		} else {
			sc.opt.Option = append(sc.opt.Option, &sc.ck)
		}
		rdlen += 4 + len(sc.cookie)
	}
	if q.trace && h.trace && resp.Extra[i] == dns.RR(&sc.opt) {
		data := AppendTrace(sc.trBuf[:0], []TraceHop{{Kind: TraceLocal, Node: h.nodeID, Elapsed: time.Since(sc.start)}})
		sc.trace = dns.EDNS0_LOCAL{Code: TraceOptionCode, Data: data}
		if len(sc.opt.Option) == 0 {
			sc.optBuf[0] = &sc.trace
			sc.opt.Option = sc.optBuf[:1]
		} else {
			sc.opt.Option = append(sc.opt.Option, &sc.trace)
		}
		rdlen += 4 + len(data)
	}
	if !q.padding || h.padBlock == 0 || !tr.Encrypted() {
		return -1
	}
	if last := len(resp.Extra) - 1; i != last {
		opt := resp.Extra[i]
		copy(resp.Extra[i:], resp.Extra[i+1:])
		resp.Extra[last] = opt
	}
	return rdlen
}

// padLen returns how many padding octets bring a message of n octets,
// the padding option's own 4-octet header included, to a multiple of
// block, without exceeding the largest DNS message; -1 when even the
// option's header does not fit.
func padLen(n, block int) int {
	n += 4
	if n > maxMsg {
		return -1
	}
	p := (block - n%block) % block
	return min(p, maxMsg-n)
}

// padWire appends a Padding option to the packed reply msg, whose last
// record must be its OPT with rdlen octets of RDATA, so that msg becomes a
// multiple of block octets long. msg is returned unchanged when its last
// record is not such an OPT.
func padWire(msg []byte, rdlen, block int) []byte {
	at := len(msg) - rdlen - 2 // RDLENGTH of the OPT
	if at-optFixedLen+2 < headerLen || binary.BigEndian.Uint16(msg[10:]) == 0 {
		return msg
	}
	start := at - optFixedLen + 2
	if msg[start] != 0 || binary.BigEndian.Uint16(msg[start+1:]) != dns.TypeOPT ||
		int(binary.BigEndian.Uint16(msg[at:])) != rdlen {
		return msg
	}
	n := padLen(len(msg), block)
	if n < 0 {
		return msg
	}
	binary.BigEndian.PutUint16(msg[at:], uint16(rdlen+4+n))
	l := len(msg)
	msg = slices.Grow(msg, 4+n)[:l+4+n]
	binary.BigEndian.PutUint16(msg[l:], dns.EDNS0PADDING)
	binary.BigEndian.PutUint16(msg[l+2:], uint16(n))
	clear(msg[l+4:])
	return msg
}

// padMsg adds a Padding option to the OPT of m so that m packs to a
// multiple of block octets. It does nothing when m has no OPT or does not
// pack.
func padMsg(m *dns.Msg, block int) {
	opt := m.IsEdns0()
	if opt == nil {
		return
	}
	opt.Option = slices.DeleteFunc(opt.Option, func(o dns.EDNS0) bool { return o.Option() == dns.EDNS0PADDING })
	raw, err := m.Pack()
	if err != nil {
		return
	}
	if n := padLen(len(raw), block); n >= 0 {
		opt.Option = append(opt.Option, &dns.EDNS0_PADDING{Padding: make([]byte, n)})
	}
}

// PadQuery pads the query m for an encrypted transport as RFC 8467 §4.1
// asks of clients: an OPT is added when m has none (buffer size 1232),
// and a Padding option brings the packed query to a multiple of 128
// octets. A query that carries the Padding option also gets its reply
// padded (to 468). It returns the error of packing m.
func PadQuery(m *dns.Msg) error {
	if m.IsEdns0() == nil {
		m.SetEdns0(DefaultMaxUDPSize, false)
	}
	if _, err := m.Pack(); err != nil {
		return err
	}
	padMsg(m, QueryPadBlock)
	return nil
}
