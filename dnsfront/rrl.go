package dnsfront

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// Response rate limiting on UDP, as Knot DNS, NSD and BIND do it: the
// responses going to one source prefix (a /24 for IPv4, a /56 for IPv6)
// are counted per answer class and name in a token bucket refilled at
// Rate per second (burst: one second's worth). The name is that of the
// response, so a busy resolver asking for many names is not limited by
// their sum (BIND's "identical responses"): the question's name and type
// for a positive answer; the zone (the owner of the first authority
// record, the SOA) for NXDOMAIN and NODATA, so a flood of random names
// under one zone shares one bucket; the delegation point for a referral;
// none for errors (REFUSED, SERVFAIL, FORMERR), all counted together. Over the rate a response is
// dropped, except every Slip-th, which is sent truncated (TC=1, question
// only) so a real client behind a forged flood retries over TCP; a client
// that sent a DNS cookie gets BADCOOKIE with a server cookie instead
// (BIND's choice), and retrying with that cookie exempts it. A forged
// source cannot learn the server cookie, so the amplification of a
// reflected flood falls from the answer's size to that of the truncated
// reply every Slip-th query.

// Defaults of RRLOptions.
const (
	// DefaultRRLRate is 20 responses per second per prefix and class, the
	// value Knot's documentation and BIND's examples suggest for an
	// authoritative server.
	DefaultRRLRate = 20
	// DefaultRRLSlip sends every second dropped response truncated
	// (BIND's and NSD's default).
	DefaultRRLSlip = 2
	// DefaultRRLIPv4Prefix and DefaultRRLIPv6Prefix are the source
	// prefixes counted together (Knot, NSD and BIND: /24 and /56).
	DefaultRRLIPv4Prefix = 24
	DefaultRRLIPv6Prefix = 56
	// DefaultRRLTableSize is the number of buckets (about 32 octets
	// each). Sources hashing to a taken bucket reset it, which can only
	// let more through.
	DefaultRRLTableSize = 1 << 16
)

// RRLOptions configures response rate limiting of a UDPServer. Rate 0
// (the zero value) turns it off.
type RRLOptions struct {
	// Rate is the responses per second one source prefix gets in one
	// answer class (positive, NXDOMAIN, NODATA or referral, error), with
	// a burst of as many. 0: no rate limiting. The node's default is
	// DefaultRRLRate.
	Rate int
	// Slip sends every Slip-th response over the rate truncated (or as
	// BADCOOKIE to a client with a cookie); 1 sends all of them, a
	// negative value none. Default (0) DefaultRRLSlip.
	Slip int
	// IPv4Prefix and IPv6Prefix are the prefix lengths of a source.
	// Defaults 24 and 56.
	IPv4Prefix, IPv6Prefix int
	// TableSize is the number of buckets. Default DefaultRRLTableSize.
	TableSize int
	// Exempt lists source prefixes never limited (Knot's and NSD's
	// whitelist). The node exempts loopback: a forged source cannot
	// reach it from the network, and the node's own tools and tests
	// query over it. Default none.
	Exempt []netip.Prefix
}

// answerClass is the class of a response RRL counts apart.
type answerClass uint8

const (
	classPositive answerClass = iota // NOERROR with answers
	classNXDomain                    // NXDOMAIN
	classNoData                      // NOERROR without answers: NODATA or a referral
	classError                       // any other rcode
)

// classify returns the class of the packed reply out.
func classify(out []byte) answerClass {
	switch out[3] & 0xF {
	case 0: // NOERROR
		if binary.BigEndian.Uint16(out[6:]) > 0 {
			return classPositive
		}
		return classNoData
	case 3:
		return classNXDomain
	}
	return classError
}

// rrlVerdict is what to do with one response.
type rrlVerdict uint8

const (
	rrlSend rrlVerdict = iota
	rrlDrop
	rrlSlip
)

// rrl is the bucket table. check is safe for concurrent use: buckets are
// guarded by striped locks.
type rrl struct {
	opt     RRLOptions
	seed    maphash.Seed
	buckets []rrlBucket
	locks   [64]sync.Mutex
	start   time.Time
	now     func() time.Time
}

type rrlBucket struct {
	key     uint64
	tokens  int64 // millionths of a token
	last    int64 // µs since start of the last refill
	dropped uint32
}

func newRRL(opt RRLOptions) *rrl {
	if opt.Rate <= 0 {
		return nil
	}
	if opt.Slip == 0 {
		opt.Slip = DefaultRRLSlip
	}
	if opt.IPv4Prefix <= 0 || opt.IPv4Prefix > 32 {
		opt.IPv4Prefix = DefaultRRLIPv4Prefix
	}
	if opt.IPv6Prefix <= 0 || opt.IPv6Prefix > 128 {
		opt.IPv6Prefix = DefaultRRLIPv6Prefix
	}
	if opt.TableSize <= 0 {
		opt.TableSize = DefaultRRLTableSize
	}
	return &rrl{
		opt: opt, seed: maphash.MakeSeed(), buckets: make([]rrlBucket, opt.TableSize),
		start: time.Now(), now: time.Now,
	}
}

// prefix returns a's source prefix as an address (IPv4 unmapped).
func (r *rrl) prefix(a netip.Addr) netip.Addr {
	a = a.Unmap()
	bits := r.opt.IPv6Prefix
	if a.Is4() {
		bits = r.opt.IPv4Prefix
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return a
	}
	return p.Addr()
}

// check counts the response out (a packed reply of at least a header)
// to a and says whether to send it, drop it or send it slipped.
func (r *rrl) check(a netip.Addr, out []byte) rrlVerdict {
	for _, p := range r.opt.Exempt {
		if p.Contains(a.Unmap()) {
			return rrlSend
		}
	}
	c := classify(out)
	var kb [17]byte
	p := r.prefix(a).As16()
	copy(kb[:], p[:])
	kb[16] = byte(c)
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.Write(kb[:])
	hashResponseName(&h, out, c)
	key := h.Sum64() | 1 // never 0: 0 marks an unused bucket
	i := key % uint64(len(r.buckets))
	mu := &r.locks[i%uint64(len(r.locks))]
	now := r.now().Sub(r.start).Microseconds()
	// Tokens are counted in millionths: Rate tokens per second is Rate
	// millionths per microsecond; the bucket holds at most Rate tokens.
	const unit = 1_000_000
	full := int64(r.opt.Rate) * unit
	mu.Lock()
	defer mu.Unlock()
	b := &r.buckets[i]
	if b.key != key {
		*b = rrlBucket{key: key, tokens: full, last: now}
	}
	if d := now - b.last; d > 0 {
		b.tokens = min(full, b.tokens+d*int64(r.opt.Rate))
		b.last = now
	}
	if b.tokens >= unit {
		b.tokens -= unit
		return rrlSend
	}
	b.dropped++
	if r.opt.Slip > 0 && b.dropped%uint32(r.opt.Slip) == 0 {
		return rrlSlip
	}
	return rrlDrop
}

// slipReply writes to buf the slipped form of the reply out: its header
// and question with TC set and no records; or, when out carries a COOKIE
// option (the client sent a cookie), BADCOOKIE with that option, whose
// server cookie jar fills for a. It returns nil when out cannot be read.
func slipReply(out, buf []byte, ck []byte, jar *cookieJar, a netip.Addr) []byte {
	if len(out) < headerLen {
		return nil
	}
	end := headerLen
	if binary.BigEndian.Uint16(out[4:]) == 1 {
		if end = skipName(out, end); end < 0 || end+4 > len(out) {
			return nil
		}
		end += 4
	}
	msg := append(buf[:0], out[:end]...)
	clear(msg[6:headerLen]) // ANCOUNT, NSCOUNT, ARCOUNT
	if len(ck) != clientCookieLen+serverCookieLen || jar == nil {
		msg[2] |= 0x02 // TC
		return msg
	}
	// BADCOOKIE is extended rcode 23: 7 in the header, 1 in the OPT.
	msg[3] = msg[3]&0xF0 | 7
	msg[11] = 1
	opt := [11 + 4 + clientCookieLen + serverCookieLen]byte{
		0,     // root owner
		0, 41, // OPT
		byte(DefaultMaxUDPSize >> 8), byte(DefaultMaxUDPSize & 0xFF),
		1, 0, 0, 0, // extended rcode 1, version 0, flags
		0, 4 + clientCookieLen + serverCookieLen,
		0, cookieOption, 0, clientCookieLen + serverCookieLen,
	}
	copy(opt[15:], ck[:clientCookieLen])
	msg = append(msg, opt[:]...)
	jar.fill(msg[len(msg)-clientCookieLen-serverCookieLen:], a)
	return msg
}

// hashResponseName writes to h the name a response of class c is counted
// under (see the top of this file), lower-cased and uncompressed: the
// question's name and type for a positive answer, the owner of the first
// authority record for NXDOMAIN, NODATA and referrals (the question's
// name when there is none), nothing for errors. A reply it cannot read
// is counted under its class alone.
func hashResponseName(h *maphash.Hash, out []byte, c answerClass) {
	if c == classError || binary.BigEndian.Uint16(out[4:]) != 1 {
		return
	}
	qend := skipName(out, headerLen)
	if qend < 0 || qend+4 > len(out) {
		return
	}
	if c == classPositive {
		writeName(h, out, headerLen)
		h.Write(out[qend : qend+2]) // the type
		return
	}
	off := qend + 4
	for range binary.BigEndian.Uint16(out[6:]) { // a CNAME chain before the denial
		if off = skipRecord(out, off); off < 0 {
			return
		}
	}
	if binary.BigEndian.Uint16(out[8:]) > 0 && skipName(out, off) > 0 {
		writeName(h, out, off)
		return
	}
	writeName(h, out, headerLen)
}

// skipRecord returns the offset after the resource record at off, or -1.
func skipRecord(msg []byte, off int) int {
	if off = skipName(msg, off); off < 0 || off+10 > len(msg) {
		return -1
	}
	end := off + 10 + int(binary.BigEndian.Uint16(msg[off+8:]))
	if end > len(msg) {
		return -1
	}
	return end
}

// writeName writes the name at off in msg to h, following compression
// pointers (at most as many as the message has octets before off, which
// ends loops), lower-cased, as length-prefixed labels ending in 0.
func writeName(h *maphash.Hash, msg []byte, off int) {
	for jumps := 0; off < len(msg) && jumps < 64; {
		l := int(msg[off])
		switch {
		case l == 0:
			h.WriteByte(0)
			return
		case l&0xC0 == 0xC0:
			if off+2 > len(msg) {
				return
			}
			next := int(binary.BigEndian.Uint16(msg[off:]) & 0x3FFF)
			if next >= off {
				return // pointers go backwards only
			}
			off = next
			jumps++
			continue
		case l&0xC0 != 0 || off+1+l > len(msg):
			return
		}
		h.WriteByte(byte(l))
		for _, b := range msg[off+1 : off+1+l] {
			if 'A' <= b && b <= 'Z' {
				b += 'a' - 'A'
			}
			h.WriteByte(b)
		}
		off += 1 + l
	}
}
