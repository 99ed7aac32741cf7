package dnsfront

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"net/netip"
	"time"
)

// DNS cookies (RFC 7873) with the interoperable server cookie of RFC 9018.
// The Handler (Options.Cookies) answers a UDP query carrying a COOKIE
// option with the client cookie and room for a server cookie; the
// UDPServer, which knows the client's address, fills that room and checks
// the server cookie a client sends back. A client returning a valid server
// cookie proves it receives at its address, so response rate limiting
// (rrl.go) lets it through.

// Sizes and lifetimes of cookies.
const (
	cookieOption    = 10 // EDNS option code (RFC 7873 §4)
	clientCookieLen = 8
	serverCookieLen = 16 // RFC 9018 §4: version, reserved, timestamp, hash
	// A server cookie is valid for an hour after its timestamp and up to
	// five minutes before it (clock skew between anycast nodes), RFC 9018
	// §4.3.
	cookieMaxAge   = uint32(time.Hour / time.Second)
	cookieMaxAhead = uint32(5 * time.Minute / time.Second)
)

// cookieJar makes and checks server cookies with one secret. Its methods
// are safe for concurrent use (the secret never changes).
type cookieJar struct {
	secret [16]byte
	now    func() time.Time
}

// newCookieJar returns a jar with secret, or a random one when secret is
// nil. Nodes answering behind one anycast address share a secret so a
// cookie from one is valid at the others.
func newCookieJar(secret []byte) *cookieJar {
	k := &cookieJar{now: time.Now}
	if len(secret) == len(k.secret) {
		copy(k.secret[:], secret)
	} else {
		rand.Read(k.secret[:])
	}
	return k
}

// serverCookie writes to dst the RFC 9018 server cookie of client cookie
// cc from address a at time ts (seconds since 1970, modulo 2^32):
// version 1, three reserved zero octets, the timestamp, and
// SipHash-2-4(cc | version | reserved | timestamp | address).
func (k *cookieJar) serverCookie(dst *[serverCookieLen]byte, cc []byte, a netip.Addr, ts uint32) {
	k.hash(dst, cc, [3]byte{}, a, ts)
}

// hash is serverCookie with the reserved octets given: RFC 9018 §4.3
// checks a received cookie's hash over the reserved octets it carries.
func (k *cookieJar) hash(dst *[serverCookieLen]byte, cc []byte, reserved [3]byte, a netip.Addr, ts uint32) {
	var in [clientCookieLen + 8 + 16]byte
	copy(in[:], cc[:clientCookieLen])
	in[8] = 1
	copy(in[9:12], reserved[:])
	binary.BigEndian.PutUint32(in[12:], ts)
	n := 16
	if a = a.Unmap(); a.Is4() {
		b := a.As4()
		n += copy(in[n:], b[:])
	} else {
		b := a.As16()
		n += copy(in[n:], b[:])
	}
	*dst = [serverCookieLen]byte{0: 1}
	copy(dst[1:4], reserved[:])
	binary.BigEndian.PutUint32(dst[4:], ts)
	binary.LittleEndian.PutUint64(dst[8:], sipHash24(&k.secret, in[:n]))
}

// valid reports whether opt, the data of a COOKIE option, holds a client
// cookie and a server cookie this jar made for address a that is still
// fresh.
func (k *cookieJar) valid(opt []byte, a netip.Addr) bool {
	if len(opt) != clientCookieLen+serverCookieLen || opt[clientCookieLen] != 1 {
		return false
	}
	ts := binary.BigEndian.Uint32(opt[clientCookieLen+4:])
	now := uint32(k.now().Unix())
	// Serial-number arithmetic: the timestamp wraps in 2106.
	if age := now - ts; age > cookieMaxAge && ts-now > cookieMaxAhead {
		return false
	}
	var want [serverCookieLen]byte
	k.hash(&want, opt, [3]byte(opt[clientCookieLen+1:clientCookieLen+4]), a, ts)
	return subtle.ConstantTimeCompare(want[:], opt[clientCookieLen:]) == 1
}

// fill writes a fresh server cookie into a COOKIE option's data opt (a
// reply's: the client cookie and serverCookieLen octets of room) for
// address a.
func (k *cookieJar) fill(opt []byte, a netip.Addr) {
	if len(opt) != clientCookieLen+serverCookieLen {
		return
	}
	var sc [serverCookieLen]byte
	k.serverCookie(&sc, opt, a, uint32(k.now().Unix()))
	copy(opt[clientCookieLen:], sc[:])
}

// findCookie returns the data of the COOKIE option in the OPT record of
// msg (a query or a reply), aliasing msg, or nil when there is none or
// msg is malformed. It reads only as far as the option.
func findCookie(msg []byte) []byte { return findOption(msg, cookieOption) }

// findOption returns the data of the first EDNS(0) option code in the OPT
// record of msg, aliasing msg: empty but not nil for an option without
// data, nil when there is none or msg is malformed.
func findOption(msg []byte, code uint16) []byte {
	d, _ := scanOptions(msg, code, 0)
	return d
}

// scanOptions reads the OPT record of msg once and returns the data of
// options a and b (nil for one absent), aliasing msg.
func scanOptions(msg []byte, a, b uint16) (da, db []byte) {
	if len(msg) < headerLen || binary.BigEndian.Uint16(msg[10:]) == 0 {
		return nil, nil
	}
	off := headerLen
	for i := int(binary.BigEndian.Uint16(msg[4:])); i > 0; i-- {
		if off = skipName(msg, off); off < 0 || off+4 > len(msg) {
			return nil, nil
		}
		off += 4
	}
	rrs := int(binary.BigEndian.Uint16(msg[6:])) + int(binary.BigEndian.Uint16(msg[8:]))
	ar := int(binary.BigEndian.Uint16(msg[10:]))
	for i := 0; i < rrs+ar; i++ {
		if off = skipName(msg, off); off < 0 || off+10 > len(msg) {
			return nil, nil
		}
		typ := binary.BigEndian.Uint16(msg[off:])
		end := off + 10 + int(binary.BigEndian.Uint16(msg[off+8:]))
		if end > len(msg) {
			return nil, nil
		}
		if i >= rrs && typ == 41 { // OPT
			for o := off + 10; o+4 <= end; {
				code := binary.BigEndian.Uint16(msg[o:])
				n := int(binary.BigEndian.Uint16(msg[o+2:]))
				if o+4+n > end {
					return nil, nil
				}
				switch {
				case code == a && da == nil:
					da = msg[o+4 : o+4+n : o+4+n]
				case code == b && b != 0 && db == nil:
					db = msg[o+4 : o+4+n : o+4+n]
				}
				o += 4 + n
			}
			return da, db
		}
		off = end
	}
	return nil, nil
}

// cookieLenOK reports whether n is a valid COOKIE option length: a client
// cookie alone, or with a server cookie of 8 to 32 octets (RFC 7873
// §5.2.2; anything else is FORMERR).
func cookieLenOK(n int) bool {
	return n == clientCookieLen || (n >= clientCookieLen+8 && n <= clientCookieLen+32)
}
