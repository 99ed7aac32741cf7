package raftfsm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// A staged upload carries a zone too large for one Raft log entry through
// Raft in bounded pieces (docs/large-zones.md, "Staged upload"):
//
//  1. StageBegin names the zone, its owner key and the new zone's signed
//     head (serial, RRset count, Merkle root), and how many chunks and
//     bytes follow. Its upload ID is the SHA-256 of the head note.
//  2. StageChunk, numbered from 0, each carries the next RRsets of the
//     new zone in canonical order, at most MaxEntryBytes in all. Each is
//     checked when applied: shape, order, and every RRSIG with the owner
//     key (on all cores; pre-verified before it is proposed on the
//     leader, and as soon as it is stored on a follower).
//  3. StageCommit makes the staged RRsets the zone in one apply, after
//     checking what only the whole zone shows and that the head's
//     Merkle root and RRset count are those of everything staged.
//
// Until the commit the staged RRsets are never served: readers see the
// old zone, then the new one. One upload per zone is open at a time; a
// StageBegin with another head drops the open one, and so do a deletion
// or key rotation of the zone and, StagingLifetime log entries after its
// StageBegin, any later entry: abandonment is decided by log index,
// never by a clock, so every member drops the same staging at the same
// entry. Snapshots carry open uploads (format version 3).

// MaxEntryBytes bounds every Raft log entry a Group proposes (1 MiB):
// Group.Apply refuses a larger command with ReasonTooLarge. A zone whose
// change does not fit goes as a staged upload (UploadCommands).
const MaxEntryBytes = 1 << 20

// ChunkBytes is the size UploadCommands aims each StageChunk at, leaving
// room under MaxEntryBytes for the chunk's header and one large RRset.
// Smaller chunks keep each apply (and each replication round) short:
// 256 KiB is about 1,500 signed RRsets.
const ChunkBytes = 256 << 10

// StagingLifetime is how many log entries after its StageBegin an open
// upload may stay open; the first entry applied beyond that drops it.
const StagingLifetime = 200_000

// StageBegin opens a staged upload of the whole zone whose signed head
// (zone.Head.Note) is Head. Owner is the owner key: the key the zone is
// created with, or the zone's current owner key when the upload replaces
// it. Chunks, Bytes and Largest announce how many StageChunks follow,
// the total stored size of their RRsets (encodeRRset) and the number of
// records of the largest RRset; the chunks may not exceed them. A node
// checks them against its configured limits before the upload begins.
type StageBegin struct {
	Zone    string
	Head    []byte
	Owner   *dns.DNSKEY
	Chunks  uint32
	Bytes   uint64
	Largest uint32
}

// StageChunk carries RRsets Seq of the upload Upload (UploadID of its
// head): RRsets with their RRSIGs, in canonical (name, type) order and
// continuing the order of the chunks before it.
type StageChunk struct {
	Zone   string
	Upload [32]byte
	Seq    uint32
	Sets   []*zone.RRset
}

// StageCommit makes the upload Upload, with Chunks chunks, the zone.
type StageCommit struct {
	Zone   string
	Upload [32]byte
	Chunks uint32
}

func (*StageBegin) Type() CommandType  { return TypeStageBegin }
func (*StageChunk) Type() CommandType  { return TypeStageChunk }
func (*StageCommit) Type() CommandType { return TypeStageCommit }

// UploadID returns the ID of the upload of the zone whose signed head
// note is head: its SHA-256.
func UploadID(head []byte) [32]byte { return sha256.Sum256(head) }

// Staging is an open staged upload as the state machine holds it. A
// Staging value is immutable once stored: an accepted chunk makes a new
// one (Sets and Leaves grow by append, so older values still see their
// own prefix).
type Staging struct {
	Zone   string
	Upload [32]byte
	Begin  uint64 // log index of the StageBegin
	Head   *zone.Head
	Owner  *zone.Key
	Create bool   // the zone did not exist at StageBegin
	Chunks uint32 // announced chunks
	Bytes  uint64 // announced bytes
	// Largest is the announced record count of the largest RRset.
	Largest uint32
	Got     uint32 // chunks accepted so far
	Stored  uint64 // bytes accepted so far
	Sets    []*zone.RRset
	Leaves  [][32]byte
}

// StagingInfo describes an open upload (FSM.Staging).
type StagingInfo struct {
	Zone   string
	Upload [32]byte
	Begin  uint64 // log index of its StageBegin
	Serial uint32 // the serial it uploads
	Chunks uint32 // announced
	Got    uint32 // accepted
	RRsets int    // RRsets accepted
	Total  uint64 // RRsets announced (the head's size)
}

func (s *Staging) info() StagingInfo {
	return StagingInfo{Zone: s.Zone, Upload: s.Upload, Begin: s.Begin, Serial: s.Head.Serial, Chunks: s.Chunks, Got: s.Got, RRsets: len(s.Sets), Total: s.Head.Size}
}

// Staging returns the open upload of origin, if any.
func (f *FSM) Staging(origin string) (StagingInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s, ok := f.state.staging[zone.CanonicalName(origin)]
	if !ok {
		return StagingInfo{}, false
	}
	return s.info(), true
}

// staging returns the open upload of origin in w.
func (w *work) staging(origin string) (*Staging, bool) {
	if s, ok := w.stagings[origin]; ok {
		return s, s != nil
	}
	s, ok := w.base.staging[origin]
	return s, ok
}

// dropStaging records the end of origin's open upload, if any.
func (w *work) dropStaging(origin string) []func(kvTx) error {
	if _, ok := w.staging(origin); !ok {
		return nil
	}
	w.stagings[origin] = nil
	return []func(kvTx) error{func(tx kvTx) error { return deleteStagingTx(tx, origin) }}
}

// expireStagings drops every open upload whose StageBegin is more than
// StagingLifetime entries before index.
func (w *work) expireStagings(index uint64, log *slog.Logger) []func(kvTx) error {
	var ops []func(kvTx) error
	check := func(origin string, s *Staging) {
		if s != nil && index > s.Begin+StagingLifetime {
			log.Info("dropping an abandoned upload", "zone", origin, "begin", s.Begin, "index", index, "chunks", s.Got, "of", s.Chunks)
			ops = append(ops, w.dropStaging(origin)...)
		}
	}
	for origin, s := range w.base.staging {
		if _, ok := w.stagings[origin]; !ok {
			check(origin, s)
		}
	}
	for origin, s := range w.stagings {
		check(origin, s)
	}
	return ops
}

// uploadDone reports whether the zone s already is what the upload id
// makes it (an earlier commit of the same upload).
func uploadDone(s ZoneState, ok bool, id [32]byte) bool {
	return ok && s.Zone != nil && s.Zone.Head != nil && UploadID(s.Zone.Head.Note) == id
}

func (w *work) applyStageBegin(c *StageBegin, res *ApplyResult, index uint64, log *slog.Logger) ([]func(kvTx) error, error) {
	origin := zone.CanonicalName(c.Zone)
	id := UploadID(c.Head)
	cur, exists := w.zone(origin)
	if exists && isRepeat(&cur, c.Head, c.Owner) {
		res.Serial, res.Repeat, res.Staged = cur.Zone.Serial(), true, c.Chunks
		return nil, nil
	}
	if st, ok := w.staging(origin); ok && st.Upload == id {
		log.Info("upload resumed", "zone", origin, "begin", st.Begin, "chunks", st.Got, "of", st.Chunks)
		res.Serial, res.Repeat, res.Staged = st.Head.Serial, true, st.Got
		return nil, nil
	}
	owner, err := ownerKey(origin, c.Owner)
	if err != nil {
		return nil, reject(ReasonMalformed, "zone %s: %v", origin, err)
	}
	if exists {
		if cur.Owner == nil {
			return nil, reject(ReasonWrongKey, "zone %s has no owner key in the group", origin)
		}
		if !sameDNSKEY(cur.Owner.DNSKEY, c.Owner) {
			return nil, reject(ReasonWrongKey, "zone %s: the upload is for key tag %d, the zone's owner key is tag %d (rotate the key first)", origin, owner.Tag(), cur.Owner.Tag())
		}
	}
	h, err := zone.ParseChangeHead(c.Head, origin, owner)
	if err != nil {
		return nil, rejectChange(err)
	}
	if exists && !zone.SerialAbove(h.Serial, cur.Zone.Serial()) {
		return nil, reject(ReasonStaleSerial, "zone %s: upload of serial %d, zone is at %d", origin, h.Serial, cur.Zone.Serial())
	}
	if c.Chunks == 0 || uint64(c.Chunks) > h.Size || h.Size == 0 {
		return nil, reject(ReasonMalformed, "zone %s: upload of %d RRsets in %d chunks", origin, h.Size, c.Chunks)
	}
	ops := w.dropStaging(origin)
	st := &Staging{Zone: origin, Upload: id, Begin: index, Head: h, Owner: owner, Create: !exists, Chunks: c.Chunks, Bytes: c.Bytes, Largest: c.Largest}
	w.stagings[origin] = st
	ops = append(ops, func(tx kvTx) error { return putStagingInfoTx(tx, st) })
	res.Serial = h.Serial
	return ops, nil
}

func sameDNSKEY(a, b *dns.DNSKEY) bool {
	return a != nil && b != nil && a.PublicKey == b.PublicKey && a.Algorithm == b.Algorithm && a.Flags == b.Flags
}

func (w *work) applyStageChunk(c *StageChunk, l []byte, res *ApplyResult, pre *preverifier) ([]func(kvTx) error, error) {
	origin := zone.CanonicalName(c.Zone)
	st, ok := w.staging(origin)
	if !ok || st.Upload != c.Upload {
		cur, exists := w.zone(origin)
		if uploadDone(cur, exists, c.Upload) {
			res.Serial, res.Repeat = cur.Zone.Serial(), true
			return nil, nil
		}
		return nil, reject(ReasonNoStaging, "zone %s: no open upload %x (begin it again)", origin, c.Upload[:8])
	}
	switch {
	case c.Seq < st.Got:
		res.Serial, res.Repeat, res.Staged = st.Head.Serial, true, st.Got
		return nil, nil
	case c.Seq > st.Got:
		return nil, reject(ReasonChunkOrder, "zone %s: chunk %d, the upload expects chunk %d next", origin, c.Seq, st.Got)
	case c.Seq >= st.Chunks:
		return nil, reject(ReasonChunkOrder, "zone %s: chunk %d of an upload of %d chunks", origin, c.Seq, st.Chunks)
	case len(c.Sets) == 0:
		return nil, reject(ReasonMalformed, "zone %s: chunk %d holds no RRsets", origin, c.Seq)
	case uint64(len(st.Sets)+len(c.Sets)) > st.Head.Size:
		return nil, reject(ReasonMalformed, "zone %s: chunk %d brings the upload to %d RRsets, the head has %d", origin, c.Seq, len(st.Sets)+len(c.Sets), st.Head.Size)
	}
	sets := make([]*zone.RRset, len(c.Sets))
	vals := make([][]byte, len(c.Sets))
	stored := st.Stored
	for i, p := range c.Sets {
		s, err := zone.CheckSignedRRset(origin, p)
		if err != nil {
			return nil, reject(ReasonMalformed, "zone %s chunk %d: %v", origin, c.Seq, err)
		}
		var prev *zone.RRset
		if i > 0 {
			prev = sets[i-1]
		} else if len(st.Sets) > 0 {
			prev = st.Sets[len(st.Sets)-1]
		}
		if prev != nil && zone.CompareRRsetKey(prev.Name, prev.Type, s.Name, s.Type) >= 0 {
			return nil, reject(ReasonChunkOrder, "zone %s chunk %d: %s %s does not sort after %s %s", origin, c.Seq, s.Name, dns.TypeToString[s.Type], prev.Name, dns.TypeToString[prev.Type])
		}
		if s.NumRecords() > int(st.Largest) {
			return nil, reject(ReasonTooLarge, "zone %s chunk %d: %s %s holds %d records, its StageBegin announced at most %d", origin, c.Seq, s.Name, dns.TypeToString[s.Type], s.NumRecords(), st.Largest)
		}
		v, err := encodeRRset(s)
		if err != nil {
			return nil, reject(ReasonMalformed, "zone %s chunk %d: %v", origin, c.Seq, err)
		}
		stored += uint64(len(v))
		sets[i], vals[i] = s, v
	}
	if stored > st.Bytes {
		return nil, reject(ReasonTooLarge, "zone %s chunk %d: the upload's RRsets reach %d bytes, its StageBegin announced %d", origin, c.Seq, stored, st.Bytes)
	}
	if !pre.verified(l, st.Owner) {
		if err := zone.VerifySigned(sets, st.Owner); err != nil {
			return nil, rejectChange(err)
		}
	}
	next := *st
	next.Got++
	next.Stored = stored
	next.Sets = append(st.Sets, sets...)
	next.Leaves = append(st.Leaves, zone.Leaves(sets)...)
	w.stagings[origin] = &next
	res.Serial, res.Staged = st.Head.Serial, next.Got
	return []func(kvTx) error{func(tx kvTx) error { return putStagingChunkTx(tx, &next, sets, vals) }}, nil
}

func (w *work) applyStageCommit(c *StageCommit, res *ApplyResult) ([]func(kvTx) error, error) {
	origin := zone.CanonicalName(c.Zone)
	cur, exists := w.zone(origin)
	st, ok := w.staging(origin)
	if !ok || st.Upload != c.Upload {
		if uploadDone(cur, exists, c.Upload) {
			res.Serial, res.Repeat = cur.Zone.Serial(), true
			return nil, nil
		}
		return nil, reject(ReasonNoStaging, "zone %s: no open upload %x (begin it again)", origin, c.Upload[:8])
	}
	if c.Chunks != st.Chunks || st.Got != st.Chunks {
		return nil, reject(ReasonChunkOrder, "zone %s: commit of %d chunks; the upload announced %d and holds %d", origin, c.Chunks, st.Chunks, st.Got)
	}
	switch {
	case st.Create && exists:
		return nil, reject(ReasonZoneExists, "zone %s was created while the upload was open", origin)
	case !st.Create && !exists:
		return nil, reject(ReasonNoZone, "zone %s was deleted while the upload was open", origin)
	case exists && !zone.SerialAbove(st.Head.Serial, cur.Zone.Serial()):
		return nil, reject(ReasonStaleSerial, "zone %s: upload of serial %d, zone is at %d", origin, st.Head.Serial, cur.Zone.Serial())
	case exists && cur.Rollback != nil && !zone.SerialAbove(st.Head.Serial, cur.Rollback.From):
		return nil, reject(ReasonStaleSerial, "zone %s was rolled back from serial %d with its owner's consent: its next serial must be above %d, got %d", origin, cur.Rollback.From, cur.Rollback.From, st.Head.Serial)
	}
	z, err := zone.Assemble(origin, st.Sets, st.Leaves, st.Head, st.Owner)
	if err != nil {
		return nil, rejectChange(err)
	}
	s := ZoneState{Zone: z, Owner: st.Owner}
	if exists {
		s.Suspended, s.Reason = cur.Suspended, cur.Reason
	}
	w.zones[origin] = &s
	w.stagings[origin] = nil
	res.Serial, res.Staged = z.Serial(), st.Got
	ops := []func(kvTx) error{func(tx kvTx) error { return commitStagingTx(tx, origin, z, st.Owner) }}
	if exists && cur.Rollback != nil {
		ops = append(ops, func(tx kvTx) error { return setRollbackTx(tx, origin, nil) })
	}
	return ops, nil
}

// UploadCommands returns the commands an owner sends to make next, a zone
// signed by k, the group's copy: one CreateZone or PublishChange
// (ChangeCommand) when it fits in ChunkBytes, else a staged upload of the
// whole zone: StageBegin, the StageChunks, StageCommit. old is the group's
// current copy (nil when it has none).
func UploadCommands(old, next *zone.Zone, k *zone.Key) ([][]byte, error) {
	cmd, err := ChangeCommand(old, next, k)
	if err != nil {
		return nil, err
	}
	if len(cmd) <= ChunkBytes {
		return [][]byte{cmd}, nil
	}
	return StagedCommands(next, k)
}

// StagedCommands returns the staged upload of the whole of next, signed
// by k: StageBegin, StageChunks of about ChunkBytes, StageCommit.
func StagedCommands(next *zone.Zone, k *zone.Key) ([][]byte, error) {
	return stagedCommands(next, k, ChunkBytes)
}

func stagedCommands(next *zone.Zone, k *zone.Key, chunkBytes int) ([][]byte, error) {
	if next == nil || next.Head == nil || k == nil || k.DNSKEY == nil {
		return nil, fmt.Errorf("%w: a staged upload needs the signed zone and its key", ErrMalformedCommand)
	}
	var chunks [][]*zone.RRset
	var cur []*zone.RRset
	size, total, largest := 0, uint64(0), 0
	for _, s := range next.RRsets() {
		largest = max(largest, s.NumRecords())
		v, err := encodeRRset(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformedCommand, err)
		}
		if len(v)+64 > MaxEntryBytes-1024 {
			return nil, fmt.Errorf("%w: %s %s alone is %d bytes, above the %d-byte entry bound", ErrTooLarge, s.Name, dns.TypeToString[s.Type], len(v), MaxEntryBytes)
		}
		if len(cur) > 0 && size+len(v)+4 > chunkBytes {
			chunks = append(chunks, cur)
			cur, size = nil, 0
		}
		cur = append(cur, s)
		size += len(v) + 4
		total += uint64(len(v))
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	cmds := make([][]byte, 0, len(chunks)+2)
	b, err := EncodeCommand(&StageBegin{Zone: next.Origin, Head: next.Head.Note, Owner: k.DNSKEY, Chunks: uint32(len(chunks)), Bytes: total, Largest: uint32(largest)})
	if err != nil {
		return nil, err
	}
	cmds = append(cmds, b)
	id := UploadID(next.Head.Note)
	for i, sets := range chunks {
		b, err := EncodeCommand(&StageChunk{Zone: next.Origin, Upload: id, Seq: uint32(i), Sets: sets})
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, b)
	}
	b, err = EncodeCommand(&StageCommit{Zone: next.Origin, Upload: id, Chunks: uint32(len(chunks))})
	if err != nil {
		return nil, err
	}
	return append(cmds, b), nil
}

// ErrTooLarge is returned by StagedCommands when one RRset alone does
// not fit in a Raft log entry (MaxEntryBytes).
var ErrTooLarge = errors.New("too large for a raft log entry")

// encode and decode of the three commands (EncodeCommand's format):
//
//	StageBegin:  zone string, head (byte string), owner DNSKEY, uint32 chunks, uint64 bytes, uint32 largest
//	StageChunk:  zone string, [32]byte upload, uint32 seq, uint32 count, each RRset value (encodeRRset) as a byte string
//	StageCommit: zone string, [32]byte upload, uint32 chunks
func encodeStageCommand(e *encoder, c Command) bool {
	switch c := c.(type) {
	case *StageBegin:
		e.str(c.Zone)
		e.bytes(c.Head)
		e.dnskey(c.Owner)
		e.u32(c.Chunks)
		e.u64(c.Bytes)
		e.u32(c.Largest)
	case *StageChunk:
		e.str(c.Zone)
		e.b = append(e.b, c.Upload[:]...)
		e.u32(c.Seq)
		e.u32(uint32(len(c.Sets)))
		for _, s := range c.Sets {
			if s == nil {
				e.fail(errors.New("nil RRset"))
				return true
			}
			v, err := encodeRRset(s)
			if err != nil {
				e.fail(err)
				return true
			}
			e.bytes(v)
		}
	case *StageCommit:
		e.str(c.Zone)
		e.b = append(e.b, c.Upload[:]...)
		e.u32(c.Chunks)
	default:
		return false
	}
	return true
}

func newStageCommand(t CommandType) Command {
	switch t {
	case TypeStageBegin:
		return &StageBegin{}
	case TypeStageChunk:
		return &StageChunk{}
	case TypeStageCommit:
		return &StageCommit{}
	}
	return nil
}

func decodeStageCommand(d *decoder, c Command) bool {
	switch c := c.(type) {
	case *StageBegin:
		c.Zone = d.Str16()
		c.Head = d.bytes()
		c.Owner = d.dnskey()
		c.Chunks = d.U32()
		c.Bytes = d.U64()
		c.Largest = d.U32()
	case *StageChunk:
		c.Zone = d.Str16()
		copy(c.Upload[:], d.Take(32))
		c.Seq = d.U32()
		n := d.Count(4)
		for range n {
			v := d.Bytes32()
			if d.Err != nil {
				return true
			}
			s, err := decodeRRset(v)
			if err != nil {
				d.Err = fmt.Errorf("RRset %d: %w", len(c.Sets), err)
				return true
			}
			c.Sets = append(c.Sets, s)
		}
	case *StageCommit:
		c.Zone = d.Str16()
		copy(c.Upload[:], d.Take(32))
		c.Chunks = d.U32()
	default:
		return false
	}
	return true
}

// isStageChunk reports cheaply whether log bytes are a StageChunk.
func isStageChunk(b []byte) bool {
	return len(b) > 2 && CommandType(b[0]) == TypeStageChunk && bytes.Equal(b[1:2], []byte{commandVersion1})
}
