package raftfsm

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/hashicorp/raft"
	"github.com/miekg/dns"
)

// snapshotMagic opens every snapshot; snapshotVersion1 follows it.
const (
	snapshotMagic    = "DDNRSSNP"
	snapshotVersion1 = 1
	snapshotVersion2 = 2 // version 1 plus the registry (registry_snapshot.go)
	snapshotVersion3 = 3 // version 2 plus the open staged uploads (writeStagings)
	snapshotVersion4 = 4 // version 3 plus the sub-keys' parents and the claims' leases (writeRegistryExtra)
	snapshotVersion5 = 5 // version 4 plus the applications' sealed keys and the owed drops (writeRegistrySeals)
)

// ErrBadSnapshot is returned by Restore (and ReadSnapshot) when a
// snapshot does not start with the magic, has a format version this build
// does not know, fails its checksum or does not decode. The state is left
// as it was.
var ErrBadSnapshot = errors.New("bad snapshot")

// Snapshot captures the current state for Raft: zones are immutable, the
// maps are copied, so it returns at once and Persist may run beside
// Apply.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	st := &fsmState{zones: make(map[string]ZoneState, len(f.state.zones)), members: make(map[string]MemberInfo, len(f.state.members)), reg: f.state.reg, staging: make(map[string]*Staging, len(f.state.staging)), applied: f.state.applied}
	for k, v := range f.state.staging {
		st.staging[k] = v
	}
	for k, v := range f.state.zones {
		st.zones[k] = v
	}
	for k, v := range f.state.members {
		st.members[k] = v
	}
	return &fsmSnapshot{st: st}, nil
}

type fsmSnapshot struct{ st *fsmState }

// Persist writes the snapshot to sink (WriteSnapshot) and closes it, or
// cancels it on error.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeSnapshot(sink, s.st); err != nil {
		return errors.Join(err, sink.Cancel())
	}
	return sink.Close()
}

// Release does nothing: the snapshot holds only immutable values.
func (s *fsmSnapshot) Release() {}

// WriteSnapshot writes the current state as a snapshot to w, the same
// bytes Raft's snapshots hold (for `ddnrs ops snapshot save`).
func (f *FSM) WriteSnapshot(w io.Writer) error {
	snap, err := f.Snapshot()
	if err != nil {
		return err
	}
	return writeSnapshot(w, snap.(*fsmSnapshot).st)
}

// writeSnapshot writes st, format version 1:
//
//	"DDNRSSNP"  magic
//	byte        format version (1)
//	uint64      applied index
//	uint32      zone count, then per zone in canonical order:
//	            zone string; owner DNSKEY (wire form) as a byte string,
//	            empty when none; byte 1 if suspended else 0; reason string;
//	            meta value (encodeMeta) as a byte string; uint32 RRset
//	            count; each RRset value (encodeRRset) as a byte string
//	uint32      member count, then per member sorted by ID:
//	            id string, admin string, DNS string
//	[32]byte    SHA-256 of everything before it
//
// Format version 2, written when the registry holds anything, is version
// 1 with the registry section (writeRegistry) after the members; a
// snapshot of a group without a registry stays version 1, so older
// builds keep restoring it. Format version 3, written when an upload is
// open, is version 2 with the open uploads after the registry
// (writeStagings). Format version 4, written when a key is a sub-key or
// a claim has a lease, is version 3 with the parents and leases after
// the uploads (writeRegistryExtra). Format version 5, written when an
// application has a seal key or a drop is owed, is version 4 with those
// after the leases (writeRegistrySeals, teardown.go).
//
// Strings have a uint16 length, byte strings a uint32 length; integers
// are big-endian (the command format's primitives).
func writeSnapshot(w io.Writer, st *fsmState) error {
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 1<<16)
	version := byte(snapshotVersion1)
	if !st.reg.empty() {
		version = snapshotVersion2
	}
	if len(st.staging) > 0 {
		version = snapshotVersion3
	}
	if st.reg.hasExtra() {
		version = snapshotVersion4
	}
	if st.reg.hasSeals() {
		version = snapshotVersion5
	}
	e := &encoder{b: append([]byte(snapshotMagic), version)}
	e.b = binary.BigEndian.AppendUint64(e.b, st.applied)
	names := st.sortedZones()
	e.u32(uint32(len(names)))
	for _, origin := range names {
		s := st.zones[origin]
		e.str(origin)
		if s.Owner != nil {
			e.rr(s.Owner.DNSKEY)
		} else {
			e.bytes(nil)
		}
		if s.Suspended {
			e.b = append(e.b, 1)
		} else {
			e.b = append(e.b, 0)
		}
		e.str(s.Reason)
		e.bytes(encodeMeta(meta{Serial: s.Zone.Serial(), Head: s.Zone.Head}))
		sets := s.Zone.RRsets()
		e.u32(uint32(len(sets)))
		for _, rs := range sets {
			v, err := encodeRRset(rs)
			if err != nil {
				return fmt.Errorf("snapshot of zone %s: %w", origin, err)
			}
			e.bytes(v)
			if len(e.b) > 1<<16 {
				if _, err := bw.Write(e.b); err != nil {
					return err
				}
				e.b = e.b[:0]
			}
		}
	}
	members := st.sortedMembers()
	e.u32(uint32(len(members)))
	for _, m := range members {
		e.str(m.ID)
		e.str(m.Admin)
		e.str(m.DNS)
	}
	if version >= snapshotVersion2 {
		writeRegistry(e, st.reg)
	}
	if version >= snapshotVersion3 {
		if err := writeStagings(e, bw, st); err != nil {
			return err
		}
	}
	if version >= snapshotVersion4 {
		writeRegistryExtra(e, st.reg)
	}
	if version >= snapshotVersion5 {
		writeRegistrySeals(e, st.reg)
	}
	if e.err != nil {
		return fmt.Errorf("snapshot: %w", e.err)
	}
	if _, err := bw.Write(e.b); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(h.Sum(nil))
	return err
}

// readSnapshot parses and checks a snapshot written by writeSnapshot.
func readSnapshot(data []byte) (*fsmState, error) {
	if len(data) < len(snapshotMagic)+1+sha256.Size || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: no %s magic", ErrBadSnapshot, snapshotMagic)
	}
	v := data[len(snapshotMagic)]
	if v < snapshotVersion1 || v > snapshotVersion5 {
		return nil, fmt.Errorf("%w: %w: snapshot format version %d", ErrBadSnapshot, ErrVersion, v)
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if want := sha256.Sum256(body); !bytes.Equal(want[:], sum) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
	}
	st, err := decodeSnapshotBodyVersion(body[len(snapshotMagic)+1:], v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	return st, nil
}

func decodeSnapshotBody(b []byte) (*fsmState, error) {
	return decodeSnapshotBodyVersion(b, snapshotVersion1)
}

func decodeSnapshotBodyVersion(b []byte, version byte) (*fsmState, error) {
	d := newDecoder(b)
	st := newFSMState()
	st.applied = d.U64()
	n := d.Count(2 + 4 + 1 + 2 + 4 + 4)
	for range n {
		origin := d.Str16()
		ownerWire := d.bytes()
		flag := d.Take(1)
		reason := d.Str16()
		metaVal := d.bytes()
		sets := d.Count(4)
		if d.Err != nil {
			return nil, d.Err
		}
		if zone.CanonicalName(origin) != origin || origin == "" {
			return nil, fmt.Errorf("zone name %q is not canonical", origin)
		}
		if _, dup := st.zones[origin]; dup {
			return nil, fmt.Errorf("zone %s twice", origin)
		}
		s := ZoneState{Suspended: flag[0] == 1, Reason: reason}
		if flag[0] > 1 {
			return nil, fmt.Errorf("zone %s: suspended flag %d", origin, flag[0])
		}
		if len(ownerWire) > 0 {
			rr, off, err := dns.UnpackRR(ownerWire, 0)
			if err != nil || rr == nil || off != len(ownerWire) {
				return nil, fmt.Errorf("zone %s: owner key does not unpack: %v", origin, err)
			}
			dk, ok := rr.(*dns.DNSKEY)
			if !ok {
				return nil, fmt.Errorf("zone %s: owner key is not a DNSKEY", origin)
			}
			if s.Owner, err = ownerKey(origin, dk); err != nil {
				return nil, fmt.Errorf("zone %s: %w", origin, err)
			}
		}
		m, err := decodeMeta(origin, metaVal)
		if err != nil {
			return nil, fmt.Errorf("zone %s meta: %w", origin, err)
		}
		var rrs []dns.RR
		for range sets {
			v := d.bytes()
			if d.Err != nil {
				return nil, d.Err
			}
			rs, err := decodeRRset(v)
			if err != nil {
				return nil, fmt.Errorf("zone %s: %w", origin, err)
			}
			rrs = append(rrs, rs.Records()...)
			for _, sig := range rs.Signatures() {
				rrs = append(rrs, sig)
			}
		}
		z, err := zone.New(origin, rrs)
		if err != nil {
			return nil, fmt.Errorf("zone %s: %w", origin, err)
		}
		if z.Serial() != m.Serial {
			return nil, fmt.Errorf("zone %s: SOA serial %d, meta serial %d", origin, z.Serial(), m.Serial)
		}
		if m.Head != nil {
			if t := z.Tree(); t.Root() != m.Head.Root || t.Size() != m.Head.Size {
				return nil, fmt.Errorf("zone %s: records do not match the head's root", origin)
			}
		}
		z.Head = m.Head
		s.Zone = z
		st.zones[origin] = s
	}
	n = d.Count(6)
	for range n {
		m := MemberInfo{ID: d.Str16(), Admin: d.Str16(), DNS: d.Str16()}
		if d.Err != nil {
			return nil, d.Err
		}
		st.members[m.ID] = m
	}
	if version >= snapshotVersion2 {
		reg, err := readRegistry(d)
		if err != nil {
			return nil, err
		}
		st.reg = reg
	}
	if version >= snapshotVersion3 {
		sg, err := readStagings(d)
		if err != nil {
			return nil, err
		}
		st.staging = sg
	}
	if version >= snapshotVersion4 {
		if err := readRegistryExtra(d, st.reg); err != nil {
			return nil, err
		}
	}
	if version >= snapshotVersion5 {
		if err := readRegistrySeals(d, st.reg); err != nil {
			return nil, err
		}
	}
	if d.Err == nil && len(d.B) > 0 {
		d.Err = fmt.Errorf("%d bytes after the body", len(d.B))
	}
	if d.Err != nil {
		return nil, d.Err
	}
	return st, nil
}

// Restore replaces the whole state with the snapshot rc (and closes it):
// it checks magic, version and checksum and decodes everything before it
// replaces the store's contents in one transaction and then the memory
// state, and calls OnZone for every zone it holds and with nil for every zone
// that went.
// A bad snapshot gives ErrBadSnapshot and leaves the state as it was.
// Raft calls it with no Apply running beside it.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("reading snapshot: %w", err)
	}
	st, err := readSnapshot(data)
	if err != nil {
		return err
	}
	if err := f.store.replaceState(st); err != nil {
		return fmt.Errorf("restoring snapshot into the zone store: %w", err)
	}
	f.store.Release()
	returnMemory(st.zones)
	f.mu.Lock()
	old := f.state
	f.state = st
	f.mu.Unlock()
	if f.onZone != nil {
		for _, origin := range old.sortedZones() {
			if _, ok := st.zones[origin]; !ok {
				f.onZone(origin, nil)
			}
		}
		for _, origin := range st.sortedZones() {
			f.onZone(origin, st.zones[origin].served())
		}
	}
	f.proc.advance(st.applied)
	return nil
}

// writeStagings writes the open uploads of st (format version 3): uint32
// count, then per upload in canonical order of the zone names: zone
// string, its state (encodeStagingInfo) as a byte string, uint32 RRset
// count, each staged RRset value (encodeRRset) as a byte string.
func writeStagings(e *encoder, bw io.Writer, st *fsmState) error {
	sg := st.sortedStaging()
	e.u32(uint32(len(sg)))
	for _, s := range sg {
		e.str(s.Zone)
		info, err := encodeStagingInfo(s)
		if err != nil {
			return fmt.Errorf("snapshot of the upload of %s: %w", s.Zone, err)
		}
		e.bytes(info)
		e.u32(uint32(len(s.Sets)))
		for _, rs := range s.Sets {
			v, err := encodeRRset(rs)
			if err != nil {
				return fmt.Errorf("snapshot of the upload of %s: %w", s.Zone, err)
			}
			e.bytes(v)
			if len(e.b) > 1<<16 {
				if _, err := bw.Write(e.b); err != nil {
					return err
				}
				e.b = e.b[:0]
			}
		}
	}
	return nil
}

func readStagings(d *decoder) (map[string]*Staging, error) {
	out := map[string]*Staging{}
	n := d.Count(2 + 4 + 4)
	for range n {
		origin := d.Str16()
		info := d.bytes()
		sets := d.Count(4)
		if d.Err != nil {
			return nil, d.Err
		}
		if zone.CanonicalName(origin) != origin || origin == "" {
			return nil, fmt.Errorf("upload of zone %q: name is not canonical", origin)
		}
		if _, dup := out[origin]; dup {
			return nil, fmt.Errorf("two uploads of zone %s", origin)
		}
		s, err := decodeStagingInfo(origin, info)
		if err != nil {
			return nil, err
		}
		if uint64(sets) > s.Head.Size {
			return nil, fmt.Errorf("upload of zone %s: %d RRsets staged, its head has %d", origin, sets, s.Head.Size)
		}
		for range sets {
			v := d.Bytes32()
			if d.Err != nil {
				return nil, d.Err
			}
			rs, err := decodeRRset(v)
			if err != nil {
				return nil, fmt.Errorf("upload of zone %s: %w", origin, err)
			}
			if !dns.IsSubDomain(origin, rs.Name) {
				return nil, fmt.Errorf("upload of zone %s: %s is outside the zone", origin, rs.Name)
			}
			if k := len(s.Sets); k > 0 && zone.CompareRRsetKey(s.Sets[k-1].Name, s.Sets[k-1].Type, rs.Name, rs.Type) >= 0 {
				return nil, fmt.Errorf("upload of zone %s: RRsets out of canonical order at %s", origin, rs.Name)
			}
			s.Sets = append(s.Sets, rs)
		}
		s.Leaves = zone.Leaves(s.Sets)
		out[origin] = s
	}
	return out, nil
}
