// Package dnsfront answers DNS queries for the zones a node holds. One pure
// function computes the response to a request (Handler.Answer); Handle wraps
// it with the wire format, and the servers (UDP, TCP, DoT, DoH over HTTP/2
// and HTTP/3, DoQ) call only Handle, so every transport answers the same;
// the encrypted ones add EDNS(0) padding (padding.go).
package dnsfront

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// Reader gives the handler the zones it answers for.
type Reader interface {
	// Zone returns the hosted zone closest to name (the one whose origin
	// is the longest suffix of name), or nil when no hosted zone encloses
	// name. name is canonical: lower-case and fully qualified. Zone is
	// called from many goroutines at once, on every query: it must not
	// block and must not keep name.
	Zone(name string) *zone.Zone
}

// Transport says how a query arrived. It decides the size limit of the
// reply: only UDP replies are truncated.
type Transport uint8

// The transports a query can arrive over.
const (
	UDP   Transport = iota // DNS over UDP (RFC 1035 §4.2.1)
	TCP                    // DNS over TCP (RFC 7766)
	TLS                    // DNS over TLS (RFC 7858)
	HTTPS                  // DNS over HTTPS (RFC 8484)
	QUIC                   // DNS over QUIC (RFC 9250)
)

var transportNames = [...]string{"UDP", "TCP", "TLS", "HTTPS", "QUIC"}

func (t Transport) String() string {
	if int(t) < len(transportNames) {
		return transportNames[t]
	}
	return "Transport(" + strconv.Itoa(int(t)) + ")"
}

// Options tunes a Handler. The zero value is usable.
type Options struct {
	// MaxUDPSize is the largest reply sent over UDP and the size
	// advertised in the reply's OPT record. Default 1232 (DNS Flag Day
	// 2020); values below 512 are raised to 512.
	MaxUDPSize int
	// PadBlock is the block size replies over the encrypted transports
	// (TLS, HTTPS, QUIC) are padded to when the query carries the EDNS(0)
	// Padding option (RFC 7830 §4, block-length policy of RFC 8467 §4.1).
	// Default 468; negative turns padding off. Replies over UDP and TCP
	// are never padded.
	PadBlock int
	// TCPKeepalive is the idle timeout announced in the edns-tcp-keepalive
	// option (RFC 7828) of replies over TCP and TLS to queries that carry
	// that option; the node sets it to its stream servers' idle timeout.
	// Default 10s (TCPOptions' default); negative: never announced.
	TCPKeepalive time.Duration
	// OtherGroups, when set, answers queries for names no zone of the
	// Reader encloses, from the other groups of the overlay
	// (othergroup.go), instead of REFUSED. The local path is unchanged.
	// Default nil: such queries are REFUSED. A Handler with an
	// OtherGroups runs a pool of goroutines that Close stops.
	OtherGroups OtherGroups
	// OtherGroupWorkers is the number of goroutines answering deferred
	// queries for other groups. Default DefaultOtherGroupWorkers.
	OtherGroupWorkers int
	// OtherGroupQueue is how many deferred queries for other groups may wait for a
	// worker; beyond it they get SERVFAIL at once. Default
	// DefaultOtherGroupQueue.
	OtherGroupQueue int
	// OtherGroupTimeout bounds one lookup in another group. Default
	// DefaultOtherGroupTimeout.
	OtherGroupTimeout time.Duration
	// Cookies answers UDP queries that carry a COOKIE option (RFC 7873)
	// with the client cookie and sixteen octets of room for the server
	// cookie, which the UDPServer fills for the client's address (RFC
	// 9018, cookie.go): set it only for a Handler behind a UDPServer.
	// Default false: the option is ignored (a malformed one still gets
	// FORMERR).
	Cookies bool
	// Suspensions, when set, names the zones the registry suspended:
	// queries for their names, held here or by another group, get REFUSED with EDE 15
	// (Blocked) (suspend.go). Default nil: nothing is suspended.
	Suspensions Suspensions
	// NodeID names this node in the hops of a query trace (trace.go):
	// the node sets its overlay peer id, or its Raft server id without
	// the overlay. Default "": traces name the node "".
	NodeID string
	// NoTrace ignores the trace option (TraceOptionCode) in queries.
	// Default false: a query carrying it gets the trace in its reply.
	NoTrace bool
	// PackedReplies is how many replies (of at most 4096 octets each)
	// a generation of the packed cache keeps, to answer the same plain
	// question again without building the reply (packed.go): the cache
	// keeps up to twice as many, and at most 64 MiB. Default
	// DefaultPackedReplies (32768); negative: none kept.
	PackedReplies int
	// Metrics, when set, counts every query answered (observe.go).
	// Default nil: nothing counted, nothing timed.
	Metrics *Metrics
	// Tap, when set, logs every query and its reply in dnstap form
	// (dnstap.go); the servers tell the Handler the client's address
	// through AddrResponder. Default nil: no log.
	Tap *Tap
}

// DefaultMaxUDPSize is the default of Options.MaxUDPSize.
const DefaultMaxUDPSize = 1232

// Handler answers queries authoritatively from the zones of a Reader. It
// is safe for concurrent use.
type Handler struct {
	zones       Reader
	maxUDP      uint16
	padBlock    int             // 0: off
	keepalive   uint16          // in units of 100 ms; 0: off
	pool        sync.Pool       // of *exchange
	otherGroups *otherGroupPool // nil without Options.OtherGroups
	susp        Suspensions     // nil without Options.Suspensions
	cookies     bool
	nodeID      string
	trace       bool // Options.NoTrace unset
	metrics     *Metrics
	tap         *Tap
	observing   bool         // metrics or tap set
	packed      *packedCache // nil: Options.PackedReplies < 0
}

// NewHandler returns a Handler answering from zones.
func NewHandler(zones Reader, opt Options) *Handler {
	size := opt.MaxUDPSize
	switch {
	case size == 0:
		size = DefaultMaxUDPSize
	case size < 512:
		size = 512
	case size > 65535:
		size = 65535
	}
	h := &Handler{zones: zones, maxUDP: uint16(size), susp: opt.Suspensions, cookies: opt.Cookies,
		nodeID: opt.NodeID, trace: !opt.NoTrace,
		metrics: opt.Metrics, tap: opt.Tap, observing: opt.Metrics != nil || opt.Tap != nil}
	switch {
	case opt.PadBlock == 0:
		h.padBlock = DefaultPadBlock
	case opt.PadBlock > 0:
		h.padBlock = min(opt.PadBlock, maxMsg)
	}
	switch {
	case opt.TCPKeepalive == 0:
		h.keepalive = 100 // 10 s
	case opt.TCPKeepalive > 0:
		h.keepalive = uint16(min(max(opt.TCPKeepalive/(100*time.Millisecond), 1), 65535))
	}
	h.pool.New = func() any { return new(exchange) }
	switch {
	case opt.PackedReplies == 0:
		h.packed = newPackedCache(DefaultPackedReplies)
	case opt.PackedReplies > 0:
		h.packed = newPackedCache(int64(opt.PackedReplies))
	}
	if opt.OtherGroups != nil {
		h.startOtherGroups(opt)
	}
	return h
}

// exchange holds what one query needs besides the zone data, so Handle
// can reuse it through a sync.Pool.
type exchange struct {
	req, resp dns.Msg
	q         request
	scratch   scratch
}

// scratch holds records the answer builds instead of copying from the
// zone: the reply's OPT and the negative-answer SOA with its TTL lowered.
// Records in a response may point into it, so it lives as long as the
// response.
type scratch struct {
	opt        dns.OPT
	optBuf     [1]dns.EDNS0 // backing array of opt.Option
	ka         dns.EDNS0_TCP_KEEPALIVE
	ck         dns.EDNS0_LOCAL // COOKIE: client cookie, room for the server's
	cookie     [clientCookieLen + serverCookieLen]byte
	soa        dns.SOA
	soaSigs    []dns.RRSIG
	otherGroup bool // no local zone encloses the name and OtherGroups is set
	optLen     int  // RDATA octets of options already in opt (suspend.go's EDE)

	start time.Time       // arrival of a query asking for a trace
	trace dns.EDNS0_LOCAL // the trace option (trace.go)
	trBuf [traceMaxHop]byte
	zone  *zone.Zone // the zone that answered, for the proofs option (proofs.go)
}

// Answer fills resp (reset first) with the response to req as it arrived
// over tr. It never fails: every request gets a response, FORMERR,
// NOTIMP, REFUSED or BADVERS when it cannot be answered. Over UDP a
// response larger than the limit (the client's EDNS buffer size capped at
// MaxUDPSize, 512 without EDNS) has TC set and its records dropped. A
// request with QR set gets FORMERR here; Handle drops it instead.
//
// resp may point into the zone returned by the Reader: treat its records
// as read-only. Answer is safe for concurrent use.
func (h *Handler) Answer(req, resp *dns.Msg, tr Transport) {
	var q request
	q.fromMsg(req)
	sc := new(scratch)
	if q.trace {
		sc.start = time.Now()
	}
	limit := h.respond(&q, resp, sc, tr)
	proved := h.addProofs(&q, resp, sc)
	pad := h.finishOPT(&q, resp, sc, tr)
	defer func() {
		if pad >= 0 {
			padMsg(resp, h.padBlock)
		}
	}()
	if req.Response {
		resp.Rcode = dns.RcodeFormatError
		resp.Authoritative = false
		resp.Answer, resp.Ns = resp.Answer[:0], resp.Ns[:0]
		resp.Extra = keepOPT(resp.Extra)
		return
	}
	if resp.Len() > limit {
		if proved {
			fitProofs(resp, &sc.opt, &sc.optLen, limit)
		} else if !shrink(resp, limit) {
			truncate(resp)
		}
	}
}

// Handle answers the DNS message raw and appends the wire-form reply to
// buf[:0], using buf's capacity when it is large enough (servers pass a
// 64 KiB buffer so nothing is allocated for the reply). ok=false means
// send nothing: raw is shorter than a DNS header or is itself a response
// (QR set). A message whose header parses but whose body does not gets
// FORMERR with the header's ID.
//
// Handle is safe for concurrent use; the servers call it from many
// goroutines at once. It does not keep raw or buf.
func (h *Handler) Handle(raw, buf []byte, tr Transport) (out []byte, ok bool) {
	return h.HandleFrom(raw, buf, tr, netip.AddrPort{})
}

// HandleFrom is Handle for a query from the client at from, which the
// query log (Options.Tap) records; the zero AddrPort when unknown. It
// implements AddrResponder.
func (h *Handler) HandleFrom(raw, buf []byte, tr Transport, from netip.AddrPort) (out []byte, ok bool) {
	var start time.Time
	if h.observing {
		start = time.Now()
	}
	out, ok, other, zone := h.handle(raw, buf, tr)
	if other {
		if start.IsZero() {
			start = time.Now()
		}
		out, via := h.resolveOtherGroup(h.otherGroups.ctx, raw, buf, tr, start)
		if h.observing {
			h.observe(tr, raw, out, via, "", start, from)
		}
		return out, true
	}
	if h.observing && ok {
		h.observe(tr, raw, out, relayInfo{}, zone, start, from)
	}
	return out, ok
}

// HandleCached answers raw only when its reply is in the packed cache
// (packed.go), appending it to buf[:0] and observing it as HandleFrom
// does; ok=false means not answered and nothing observed: call
// HandleFrom. It never waits, so the stream servers call it from their
// reader goroutine (CachedResponder).
func (h *Handler) HandleCached(raw, buf []byte, tr Transport, from netip.AddrPort) (out []byte, ok bool) {
	if len(raw) < headerLen || raw[2]&0x80 != 0 {
		return nil, false
	}
	var start time.Time
	if h.observing {
		start = time.Now()
	}
	out, z, hit := h.packedHit(raw, buf, tr)
	if !hit {
		return nil, false
	}
	if h.observing {
		h.observe(tr, raw, out, relayInfo{}, z.Origin, start, from)
	}
	return out, true
}

// handle is Handle for the local zones; other=true (and nothing else)
// when the query is for the OtherGroups. zone is the origin of the local
// zone that answered, "" when none did.
func (h *Handler) handle(raw, buf []byte, tr Transport) (out []byte, ok, other bool, zone string) {
	if len(raw) < headerLen || raw[2]&0x80 != 0 {
		return buf[:0], false, false, ""
	}
	if out, z, hit := h.packedHit(raw, buf, tr); hit { // packed.go
		return out, true, false, z.Origin
	}
	x := h.pool.Get().(*exchange)
	defer h.release(x)
	if !x.q.fromWire(raw) {
		// Strictly: every record the counts announce, nothing after them
		// (miekg/dns accepts both short sections and trailing bytes).
		if !wellFormed(raw) {
			return formErr(raw, buf), true, false, x.scratch.origin()
		}
		if err := x.req.Unpack(raw); err != nil {
			return formErr(raw, buf), true, false, x.scratch.origin()
		}
		x.q.fromMsg(&x.req)
	}
	if x.q.trace {
		x.scratch.start = time.Now()
	}
	limit := h.respond(&x.q, &x.resp, &x.scratch, tr)
	if x.scratch.otherGroup {
		return buf[:0], false, true, ""
	}
	proved := h.addProofs(&x.q, &x.resp, &x.scratch)
	pad := h.finishOPT(&x.q, &x.resp, &x.scratch, tr)
	out, err := x.resp.PackBuffer(buf[:cap(buf)])
	if err == nil && len(out) <= limit {
		if pad >= 0 {
			out = padWire(out, pad, h.padBlock)
		}
		h.remember(&x.q, &x.scratch, tr, out)
		return out, true, false, x.scratch.origin()
	}
	if proved {
		// With proofs: truncated over UDP, the proofs left out over a
		// stream (the reply and its proofs exceed 64 KiB).
		before := x.scratch.optLen
		fitProofs(&x.resp, &x.scratch.opt, &x.scratch.optLen, limit)
		if pad >= 0 {
			pad += x.scratch.optLen - before
		}
	} else if err == nil {
		if !shrink(&x.resp, limit) {
			truncate(&x.resp)
		}
	} else {
		// A record we hold cannot be packed (or the reply exceeds 64 KiB
		// over TCP): say so rather than go silent (RFC 8906).
		serverFailure(&x.resp)
	}
	out, err = x.resp.PackBuffer(buf[:cap(buf)])
	if err != nil {
		return formErr(raw, buf), true, false, x.scratch.origin()
	}
	if pad >= 0 {
		out = padWire(out, pad, h.padBlock)
	}
	h.remember(&x.q, &x.scratch, tr, out)
	return out, true, false, x.scratch.origin()
}

// origin is the origin of the zone that answered, "" when none did.
func (sc *scratch) origin() string {
	if sc.zone == nil {
		return ""
	}
	return sc.zone.Origin
}

// release clears the references an exchange holds into zone data, so the
// pool does not keep an old zone alive, and returns it to the pool.
func (h *Handler) release(x *exchange) {
	for _, m := range [...]*dns.Msg{&x.req, &x.resp} {
		clear(m.Question)
		clear(m.Answer)
		clear(m.Ns)
		clear(m.Extra)
		m.Question, m.Answer, m.Ns, m.Extra = m.Question[:0], m.Answer[:0], m.Ns[:0], m.Extra[:0]
	}
	x.q = request{}
	x.scratch.otherGroup = false
	x.scratch.optLen = 0
	x.scratch.zone = nil
	clear(x.scratch.soaSigs)
	x.scratch.soaSigs = x.scratch.soaSigs[:0]
	h.pool.Put(x)
}

const headerLen = 12

// wellFormed reports whether raw holds exactly the sections its header
// announces: QDCOUNT questions (name, type, class), then ANCOUNT + NSCOUNT
// + ARCOUNT records each with its whole RDATA, and no byte after the
// last. A count larger than what follows (ANCOUNT=65535 with no records)
// or trailing bytes make it malformed: FORMERR (RFC 1035 §4.1.1).
func wellFormed(raw []byte) bool {
	if len(raw) < headerLen {
		return false
	}
	off := headerLen
	qd := int(binary.BigEndian.Uint16(raw[4:]))
	for i := 0; i < qd; i++ {
		if off = skipName(raw, off); off < 0 || off+4 > len(raw) {
			return false
		}
		off += 4
	}
	rrs := int(binary.BigEndian.Uint16(raw[6:])) + int(binary.BigEndian.Uint16(raw[8:])) + int(binary.BigEndian.Uint16(raw[10:]))
	for i := 0; i < rrs; i++ {
		if off = skipName(raw, off); off < 0 || off+10 > len(raw) {
			return false
		}
		off += 10 + int(binary.BigEndian.Uint16(raw[off+8:]))
		if off > len(raw) {
			return false
		}
	}
	return off == len(raw)
}

// formErr appends to buf[:0] a FORMERR reply to raw, which must hold at
// least a header: same ID, opcode and RD, and the first question echoed
// when it parses (its name uncompressed), no other section.
func formErr(raw, buf []byte) []byte {
	out := append(buf[:0], raw[:headerLen]...)
	flags := binary.BigEndian.Uint16(raw[2:])
	flags = 0x8000 | flags&0x7800 | flags&0x0100 | dns.RcodeFormatError
	binary.BigEndian.PutUint16(out[2:], flags)
	clear(out[4:headerLen])
	if binary.BigEndian.Uint16(raw[4:]) == 0 {
		return out
	}
	name, off, err := dns.UnpackDomainName(raw, headerLen)
	if err != nil || off+4 > len(raw) {
		return out
	}
	var nb [256]byte
	n, err := dns.PackDomainName(name, nb[:], 0, nil, false)
	if err != nil {
		return out
	}
	out = append(out, nb[:n]...)
	out = append(out, raw[off:off+4]...)
	out[5] = 1 // QDCOUNT
	return out
}
