package dnsfront

// packed.go: replies packed once. Most queries are the same few questions
// asked again and again; their replies depend only on the question, the
// DO bit, the size limit and the zone. So the first reply to a plain
// query (any transport, no EDNS option, class IN) is kept in wire form, keyed
// by (name, type, EDNS, DO, size limit), with the zone it came from; the
// next identical query gets a copy with its own ID, RD and CD bits and the
// letter case of its question patched in, without building or packing a
// message (issue 16 item 1). Only replies to questions in canonical
// (lower) case are kept: a hit for a question in another case is that
// reply with the question's bytes replaced, so the names in records that
// point to the question (compression) read in the asker's case. An entry is used only while the Reader still
// returns the same *zone.Zone for the name (a changed zone is a new
// value; the entry holds it weakly) and the name is not suspended, so the reply is byte for byte the
// one the full path would build for the question in lower case
// (TestPackedRepliesMatch).

import (
	"bytes"
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// DefaultPackedReplies is the default of Options.PackedReplies.
const DefaultPackedReplies = 32768

// maxPackedLen is the largest reply kept.
const maxPackedLen = 4096

// packedGenBytes bounds the octets of the replies one generation holds:
// the cache holds at most 64 MiB of replies (two generations) however
// large the answers a client asks for over TCP.
const packedGenBytes = 32 << 20

type packedKey struct {
	name  string // canonical
	qtype uint16
	limit uint16 // the reply's size limit over UDP; 0 over TCP
	edns  bool
	do    bool
}

// packedReply is a reply and the zone it came from, held weakly: the
// cache must not keep a replaced zone, however large, in memory.
type packedReply struct {
	z    weak.Pointer[zone.Zone]
	wire []byte
}

// packedCache keeps replies in two generations: new replies go into
// cur; when cur holds max replies or packedGenBytes octets, it becomes
// old (the old old is dropped) and an empty cur starts. A hit in old is
// copied into cur. So a hot set of up to max questions is answered from
// the cache for good once seen (emptying the cache when full, as it was,
// kept missing when the questions asked were a little more than max),
// and the cache holds at most 2*max replies.
type packedCache struct {
	cur   atomic.Pointer[packedGen]
	old   atomic.Pointer[packedGen]
	n     atomic.Int64 // replies in cur
	bytes atomic.Int64 // their octets
	max   int64
	mu    sync.Mutex // held to turn cur into old
}

// packedGen is one generation: a map under a read-write lock. (A
// sync.Map's trie cost 7% of the UDP server's time in make bench, its
// lookups missing the cache level after level; a map is one or two
// probes.)
type packedGen struct {
	mu sync.RWMutex
	m  map[string]*packedReply // appendKey form -> reply
}

func newPackedGen() *packedGen { return &packedGen{m: make(map[string]*packedReply)} }

func (g *packedGen) load(key string) *packedReply {
	g.mu.RLock()
	e := g.m[key]
	g.mu.RUnlock()
	return e
}

func (g *packedGen) len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.m)
}

func newPackedCache(max int64) *packedCache {
	c := &packedCache{max: max}
	c.cur.Store(newPackedGen())
	c.old.Store(newPackedGen())
	return c
}

// load returns the reply kept under key, from cur or else from old (and
// then copies it into cur).
func (c *packedCache) load(key string) (*packedReply, bool) {
	if e := c.cur.Load().load(key); e != nil {
		return e, true
	}
	e := c.old.Load().load(key)
	if e == nil {
		return nil, false
	}
	c.store(strings.Clone(key), e)
	return e, true
}

// store keeps e under key in cur, turning cur into old first when full.
func (c *packedCache) store(key string, e *packedReply) {
	size := int64(len(e.wire) + len(key))
	if c.n.Add(1) > c.max || c.bytes.Add(size) > packedGenBytes {
		c.mu.Lock()
		if c.n.Load() > c.max || c.bytes.Load() > packedGenBytes {
			c.old.Store(c.cur.Load())
			c.cur.Store(newPackedGen())
			c.n.Store(1)
			c.bytes.Store(size)
		}
		c.mu.Unlock()
	}
	g := c.cur.Load()
	g.mu.Lock()
	g.m[key] = e
	g.mu.Unlock()
}

// packable reports whether q's reply may come from, and go to, the
// cache: the shapes whose reply depends only on the key and the zone.
func packable(q *request, tr Transport) bool {
	return !q.response && q.opcode == dns.OpcodeQuery && q.qdcount == 1 &&
		!q.badOPT && !q.anyOption && q.version == 0 && q.q.Qclass == dns.ClassINET &&
		q.q.Qtype != dns.TypeDS && q.q.Qtype != dns.TypeAXFR && q.q.Qtype != dns.TypeIXFR && q.q.Qtype != dns.TypeNone
}

// plainName reports whether name (presentation form) has only the
// characters quickKey reads.
func plainName(name string) bool {
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '*', c == '.':
		default:
			return false
		}
	}
	return true
}

func (h *Handler) packedKey(q *request, tr Transport) packedKey {
	k := packedKey{name: q.name, qtype: q.q.Qtype, edns: q.edns, do: q.do && q.edns}
	if tr == UDP {
		k.limit = uint16(limit(q, tr, h.maxUDP))
	}
	return k
}

// keyLen is the length of the key's suffix after the name: a string key
// hashes faster than the struct (one aeshash, no typehash).
const keyLen = 5

// appendKey appends the key's suffix (type, limit, flags) to b, which
// holds the name.
func (k packedKey) appendKey(b []byte) []byte {
	var f byte
	if k.edns {
		f |= 1
	}
	if k.do {
		f |= 2
	}
	return append(b, byte(k.qtype>>8), byte(k.qtype), byte(k.limit>>8), byte(k.limit), f)
}

// packedHit answers raw from the cache when it can, reading the query
// straight from the wire without building anything: the reply is
// appended to buf[:0] with raw's ID, RD, CD and question name patched in.
// It takes only the shape remember keeps (quickKey); anything else, and
// every miss, goes the full path.
func (h *Handler) packedHit(raw, buf []byte, tr Transport) (out []byte, z *zone.Zone, ok bool) {
	if h.packed == nil {
		return nil, nil, false
	}
	nb := nameBufs.Get().(*[maxNameLen + keyLen]byte) // on the stack it would escape: pooled
	defer nameBufs.Put(nb)
	k, end, ok := quickKey(raw, nb[:maxNameLen], tr, h.maxUDP)
	if !ok {
		return nil, nil, false
	}
	// The suffix goes after the name, in the room nb keeps for it.
	key := k.appendKey(nb[len(k.name):len(k.name):len(nb)])
	e, found := h.packed.load(unsafe.String(&nb[0], len(k.name)+len(key)))
	if !found {
		return nil, nil, false
	}
	// The Reader and Suspensions do not keep the name (their contracts),
	// which points into nb.
	if z = h.zones.Zone(k.name); z == nil || z != e.z.Value() {
		return nil, nil, false
	}
	if h.susp != nil {
		if _, _, s := h.susp.Suspended(k.name); s {
			return nil, nil, false
		}
	}
	if end > len(e.wire) || !bytes.EqualFold(raw[headerLen:end], e.wire[headerLen:end]) {
		return nil, nil, false
	}
	out = append(buf[:0], e.wire...)
	out[0], out[1] = raw[0], raw[1]
	out[2] = out[2]&^0x01 | raw[2]&0x01 // RD
	out[3] = out[3]&^0x10 | raw[3]&0x10 // CD
	copy(out[headerLen:end], raw[headerLen:end])
	return out, z, true
}

var nameBufs = sync.Pool{New: func() any { return new([maxNameLen + keyLen]byte) }}

// maxNameLen bounds a name in presentation form with only plain labels.
const maxNameLen = 256

// quickKey reads the cache key of raw, a query of the one shape the cache
// takes: QR clear, opcode QUERY, one question, no answer or authority
// records, at most an OPT of version 0 with no options and extended rcode
// 0, no byte after it, class IN, a name of plain labels (letters, digits,
// '-', '_', '*'; no compression). The name is written lower-cased into nb,
// and k.name points into it: k must not outlive nb. end is the offset just
// past the question's name.
func quickKey(raw, nb []byte, tr Transport, maxUDP uint16) (k packedKey, end int, ok bool) {
	if len(raw) < headerLen+5 || raw[2]&0xF8 != 0 || raw[4] != 0 || raw[5] != 1 ||
		raw[6]|raw[7]|raw[8]|raw[9]|raw[10] != 0 || raw[11] > 1 {
		return k, 0, false
	}
	off, n := headerLen, 0
	for {
		if off >= len(raw) {
			return k, 0, false
		}
		l := int(raw[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(raw) || n+l+1 > len(nb) {
			return k, 0, false
		}
		for _, c := range raw[off : off+l] {
			switch {
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '*':
			default:
				return k, 0, false
			}
			nb[n] = c
			n++
		}
		nb[n] = '.'
		n++
		off += l
	}
	if n == 0 {
		nb[0] = '.'
		n = 1
	}
	end = off
	if off+4 > len(raw) || binary.BigEndian.Uint16(raw[off+2:]) != dns.ClassINET {
		return k, 0, false
	}
	k.qtype = binary.BigEndian.Uint16(raw[off:])
	off += 4
	size := uint16(0)
	if raw[11] == 1 {
		// OPT: root owner, type 41, class = size, TTL = extended rcode 0,
		// version 0, flags; RDLENGTH 0.
		if off+11 != len(raw) || raw[off] != 0 || binary.BigEndian.Uint16(raw[off+1:]) != dns.TypeOPT ||
			raw[off+5] != 0 || raw[off+6] != 0 || raw[off+9] != 0 || raw[off+10] != 0 {
			return k, 0, false
		}
		k.edns = true
		k.do = raw[off+7]&0x80 != 0
		size = binary.BigEndian.Uint16(raw[off+3:])
	} else if off != len(raw) {
		return k, 0, false
	}
	if tr == UDP {
		k.limit = minUDPSize
		if k.edns {
			k.limit = min(max(size, minUDPSize), maxUDP)
		}
	}
	k.name = unsafe.String(&nb[0], n)
	return k, end, true
}

// remember keeps out, the reply to q built by the full path, when its
// shape allows.
func (h *Handler) remember(q *request, sc *scratch, tr Transport, out []byte) {
	if h.packed == nil || sc.zone == nil || !packable(q, tr) || len(out) < headerLen || q.q.Name != q.name || !plainName(q.name) {
		// Only a question in canonical case is kept, so a hit is the
		// reply to that question with the asker's case patched in:
		// records compressed against the question show the asker's
		// case, as Knot's and NSD's do, whoever asked first.
		return
	}
	if rc := out[3] & 0xF; (rc != dns.RcodeSuccess && rc != dns.RcodeNameError) || len(out) > maxPackedLen {
		return
	}
	k := h.packedKey(q, tr)
	h.packed.store(string(k.appendKey([]byte(k.name))), &packedReply{z: weak.Make(sc.zone), wire: bytes.Clone(out)})
}
