package dnsfront

import "github.com/miekg/dns"

// minUDPSize is the size every DNS client accepts over UDP (RFC 1035
// §4.2.1), and the floor of an EDNS buffer size (RFC 6891 §6.2.5).
const minUDPSize = 512

// maxMsgSize is the largest DNS message: TCP's two-byte length prefix.
const maxMsgSize = 65535

// limit returns the largest reply q may get over tr: over UDP the
// client's EDNS buffer size capped at maxUDP, 512 without EDNS (RFC 6891
// §6.2.3-5); over the stream transports, the largest message.
func limit(q *request, tr Transport, maxUDP uint16) int {
	if tr != UDP {
		return maxMsgSize
	}
	if !q.edns {
		return minUDPSize
	}
	size := max(int(q.udpSize), minUDPSize)
	return min(size, int(maxUDP))
}

// addOPT appends to resp the reply's OPT record, built in opt: version 0,
// our buffer size, and the query's DO bit echoed (RFC 3225 §3). The
// extended rcode bits are set when the message is packed.
func addOPT(resp *dns.Msg, opt *dns.OPT, do bool, maxUDP uint16) {
	*opt = dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: maxUDP}}
	if do {
		opt.SetDo()
	}
	resp.Extra = append(resp.Extra, opt)
}
