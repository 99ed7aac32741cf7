package dnsfront

// packed.go: replies packed once. Most queries are the same few questions
// asked again and again; their replies depend only on the question, the
// DO bit, the size limit and the zone. So the first reply to a plain
// query (UDP or TCP, no EDNS option, class IN) is kept in wire form, keyed
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
	"sync"
	"sync/atomic"
	"weak"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// DefaultPackedReplies is the default of Options.PackedReplies.
const DefaultPackedReplies = 16384

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

// packedCache holds at most max replies; when full it is emptied and
// refilled by the queries that follow (the hot set comes back at once).
type packedCache struct {
	m   sync.Map // packedKey -> *packedReply
	n   atomic.Int64
	max int64
}

// packable reports whether q's reply may come from, and go to, the
// cache: the shapes whose reply depends only on the key and the zone.
func packable(q *request, tr Transport) bool {
	return (tr == UDP || tr == TCP) && !q.response && q.opcode == dns.OpcodeQuery && q.qdcount == 1 &&
		!q.badOPT && !q.anyOption && q.version == 0 && q.q.Qclass == dns.ClassINET &&
		q.q.Qtype != dns.TypeDS && q.q.Qtype != dns.TypeAXFR && q.q.Qtype != dns.TypeIXFR && q.q.Qtype != dns.TypeNone
}

func (h *Handler) packedKey(q *request, tr Transport) packedKey {
	k := packedKey{name: q.name, qtype: q.q.Qtype, edns: q.edns, do: q.do && q.edns}
	if tr == UDP {
		k.limit = uint16(limit(q, tr, h.maxUDP))
	}
	return k
}

// packedHit answers q from the cache when it can: the reply is appended
// to buf[:0] with raw's ID, RD, CD and question name patched in.
func (h *Handler) packedHit(q *request, raw, buf []byte, tr Transport) (out []byte, z *zone.Zone, ok bool) {
	if h.packed == nil || !packable(q, tr) {
		return nil, nil, false
	}
	v, found := h.packed.m.Load(h.packedKey(q, tr))
	if !found {
		return nil, nil, false
	}
	e := v.(*packedReply)
	if z = h.zones.Zone(q.name); z == nil || z != e.z.Value() {
		return nil, nil, false
	}
	if h.susp != nil {
		if _, _, s := h.susp.Suspended(q.name); s {
			return nil, nil, false
		}
	}
	end := skipName(raw, headerLen)
	if end < 0 || end > len(e.wire) || !bytes.EqualFold(raw[headerLen:end], e.wire[headerLen:end]) {
		return nil, nil, false // a compressed or otherwise odd question name
	}
	out = append(buf[:0], e.wire...)
	out[0], out[1] = raw[0], raw[1]
	out[2] = out[2]&^0x01 | raw[2]&0x01 // RD
	out[3] = out[3]&^0x10 | raw[3]&0x10 // CD
	copy(out[headerLen:end], raw[headerLen:end])
	return out, z, true
}

// remember keeps out, the reply to q built by the full path, when its
// shape allows.
func (h *Handler) remember(q *request, sc *scratch, tr Transport, out []byte) {
	if h.packed == nil || sc.zone == nil || !packable(q, tr) || len(out) < headerLen || q.q.Name != q.name {
		// Only a question in canonical case is kept, so a hit is the
		// reply to that question with the asker's case patched in:
		// records compressed against the question show the asker's
		// case, as Knot's and NSD's do, whoever asked first.
		return
	}
	if rc := out[3] & 0xF; rc != dns.RcodeSuccess && rc != dns.RcodeNameError {
		return
	}
	if h.packed.n.Add(1) > h.packed.max {
		h.packed.m.Clear()
		h.packed.n.Store(1)
	}
	h.packed.m.Store(h.packedKey(q, tr), &packedReply{z: weak.Make(sc.zone), wire: bytes.Clone(out)})
}
