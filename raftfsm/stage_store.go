package raftfsm

import (
	"errors"
	"fmt"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// Open uploads live in the store beside the zones, in the bucket
// fsm/staging/<zone> of the format bucket: the RRsets staged so far under
// the zone bucket's keys and values (encodeKey, encodeRRset), and under
// stagingInfoKey the upload's state (encodeStagingInfo). The commit
// moves the bucket into the zone's place (bbolt MoveBucket), so a commit
// writes the meta value, not the zone again.
var (
	stagingBucket  = []byte("staging")
	stagingInfoKey = []byte{0x01} // one byte: never an RRset key, which is at least four
)

const stagingInfoVersion1 = 1

// encodeStagingInfo returns the stored form of s's state, version 1:
//
//	byte      version (1)
//	[32]byte  upload ID
//	uint64    log index of the StageBegin
//	bytes     head note (uint32 length)
//	bytes     owner DNSKEY, wire form (uint32 length)
//	byte      1 when the upload creates the zone
//	uint32    chunks announced, uint64 bytes announced, uint32 largest
//	          RRset announced (records)
//	uint32    chunks accepted, uint64 bytes accepted
func encodeStagingInfo(s *Staging) ([]byte, error) {
	e := &encoder{b: []byte{stagingInfoVersion1}}
	e.b = append(e.b, s.Upload[:]...)
	e.u64(s.Begin)
	e.bytes(s.Head.Note)
	e.rr(s.Owner.DNSKEY)
	e.boolean(s.Create)
	e.u32(s.Chunks)
	e.u64(s.Bytes)
	e.u32(s.Largest)
	e.u32(s.Got)
	e.u64(s.Stored)
	return e.b, e.err
}

// decodeStagingInfo parses encodeStagingInfo's bytes for origin; it
// checks the head's signature with the owner key. Sets and Leaves are
// left empty.
func decodeStagingInfo(origin string, v []byte) (*Staging, error) {
	if len(v) == 0 || v[0] != stagingInfoVersion1 {
		return nil, fmt.Errorf("%w: staging value of %s", ErrVersion, origin)
	}
	d := newDecoder(v[1:])
	s := &Staging{Zone: origin}
	copy(s.Upload[:], d.Take(32))
	s.Begin = d.U64()
	note := d.bytes()
	dk := d.dnskey()
	create := d.Take(1)
	s.Chunks = d.U32()
	s.Bytes = d.U64()
	s.Largest = d.U32()
	s.Got = d.U32()
	s.Stored = d.U64()
	if d.Err == nil && len(d.B) > 0 {
		d.Err = fmt.Errorf("%d bytes after the staging value", len(d.B))
	}
	if d.Err != nil {
		return nil, fmt.Errorf("staging value of %s: %w", origin, d.Err)
	}
	if create[0] > 1 {
		return nil, fmt.Errorf("staging value of %s: create flag %d", origin, create[0])
	}
	s.Create = create[0] == 1
	var err error
	if s.Owner, err = ownerKey(origin, dk); err != nil {
		return nil, fmt.Errorf("staging of %s: %w", origin, err)
	}
	if s.Head, err = zone.ParseHead(note, s.Owner); err != nil {
		return nil, fmt.Errorf("staging of %s: %w", origin, err)
	}
	if UploadID(note) != s.Upload {
		return nil, fmt.Errorf("staging of %s: upload ID is not the head's", origin)
	}
	return s, nil
}

func stagingParent(tx kvTx) (kvBucket, error) { return fsmSub(tx, stagingBucket) }

// putStagingInfoTx starts origin's staging bucket afresh with s's state.
func putStagingInfoTx(tx kvTx, s *Staging) error {
	if err := deleteStagingTx(tx, s.Zone); err != nil {
		return err
	}
	p, err := stagingParent(tx)
	if err != nil {
		return err
	}
	b, err := p.CreateBucket([]byte(s.Zone))
	if err != nil {
		return fmt.Errorf("staging of %s: %w", s.Zone, err)
	}
	v, err := encodeStagingInfo(s)
	if err != nil {
		return fmt.Errorf("staging of %s: %w", s.Zone, err)
	}
	return b.Put(stagingInfoKey, v)
}

// putStagingChunkTx adds a chunk's RRsets (vals, their encodeRRset form)
// to s's bucket and stores s, the state after the chunk.
func putStagingChunkTx(tx kvTx, s *Staging, sets []*zone.RRset, vals [][]byte) error {
	p, err := stagingParent(tx)
	if err != nil {
		return err
	}
	b := p.Bucket([]byte(s.Zone))
	if b == nil {
		return fmt.Errorf("%w: staging bucket of %s missing", ErrCorrupt, s.Zone)
	}
	for i, set := range sets {
		k, err := encodeKey(set.Name, set.Type)
		if err != nil {
			return err
		}
		if err := b.Put(k, vals[i]); err != nil {
			return err
		}
	}
	v, err := encodeStagingInfo(s)
	if err != nil {
		return err
	}
	return b.Put(stagingInfoKey, v)
}

// deleteStagingTx drops origin's staging bucket, if any.
func deleteStagingTx(tx kvTx, origin string) error {
	p, err := stagingParent(tx)
	if err != nil {
		return err
	}
	if err := p.DeleteBucket([]byte(origin)); err != nil && !errors.Is(err, errBucketMissing) {
		return err
	}
	return nil
}

// commitStagingTx makes origin's staging bucket the zone z, owned by
// owner: the staged RRsets are z's.
func commitStagingTx(tx kvTx, origin string, z *zone.Zone, owner *zone.Key) error {
	p, err := stagingParent(tx)
	if err != nil {
		return err
	}
	b := p.Bucket([]byte(origin))
	if b == nil {
		return fmt.Errorf("%w: staging bucket of %s missing", ErrCorrupt, origin)
	}
	if err := tx.DeleteBucket([]byte(origin)); err != nil && !errors.Is(err, errBucketMissing) {
		return err
	}
	if err := tx.MoveBucket([]byte(origin), p, nil); err != nil {
		return fmt.Errorf("zone %s: moving the staged upload in place: %w", origin, err)
	}
	// Written after the move: bbolt's MoveBucket carries the bucket as
	// last committed plus what its own cursor wrote, not writes through
	// a handle taken before it.
	if b = tx.Bucket([]byte(origin)); b == nil {
		return fmt.Errorf("%w: zone %s missing after the move", ErrCorrupt, origin)
	}
	if err := b.Delete(stagingInfoKey); err != nil {
		return err
	}
	if err := b.Put(metaKey, encodeMeta(meta{Serial: z.Serial(), Head: z.Head})); err != nil {
		return err
	}
	return setOwnerTx(tx, origin, owner.DNSKEY)
}

// loadStagings reads every open upload under the fsm bucket fb.
func loadStagings(fb kvBucket) (map[string]*Staging, error) {
	out := map[string]*Staging{}
	if fb == nil {
		return out, nil
	}
	p := fb.Bucket(stagingBucket)
	if p == nil {
		return out, nil
	}
	err := p.ForEachBucket(func(name []byte) error {
		origin := string(name)
		b := p.Bucket(name)
		info := b.Get(stagingInfoKey)
		if info == nil {
			return fmt.Errorf("staging of %s has no state", origin)
		}
		s, err := decodeStagingInfo(origin, info)
		if err != nil {
			return err
		}
		err = b.ForEach(func(k, v []byte) error {
			if len(k) == len(stagingInfoKey) {
				return nil
			}
			rs, err := decodeRRset(v)
			if err != nil {
				return fmt.Errorf("staging of %s key %x: %w", origin, k, err)
			}
			if want, err := encodeKey(rs.Name, rs.Type); err != nil || string(k) != string(want) {
				return fmt.Errorf("staging of %s key %x holds %s %s", origin, k, rs.Name, dns.TypeToString[rs.Type])
			}
			s.Sets = append(s.Sets, rs)
			return nil
		})
		if err != nil {
			return err
		}
		s.Leaves = zone.Leaves(s.Sets)
		out[origin] = s
		return nil
	})
	return out, err
}

// putStagingTx writes s whole (snapshot restore).
func putStagingTx(tx kvTx, s *Staging) error {
	if err := putStagingInfoTx(tx, s); err != nil {
		return err
	}
	vals := make([][]byte, len(s.Sets))
	for i, set := range s.Sets {
		v, err := encodeRRset(set)
		if err != nil {
			return err
		}
		vals[i] = v
	}
	return putStagingChunkTx(tx, s, s.Sets, vals)
}
