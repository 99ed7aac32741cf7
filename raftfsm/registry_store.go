package raftfsm

import (
	"encoding/binary"
	"fmt"

	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
)

// The registry lives in buckets inside the fsm bucket, written in the
// same transaction as the applied index:
//
//	reg-apps/<id>      version 1, Application (registry_codec.go); version 2
//	                   (an application with a seal key, keyseal.go):
//	                   Application, then seal key (32 bytes), sealed key
//	                   (byte string), collected time
//	reg-keys/<id>      version 1, APIKey; version 2 (a sub-key): APIKey,
//	                   then the parent key id (a non-empty string)
//	reg-claims/<zone>  version 1, Claim; version 2 (a leased claim): Claim,
//	                   then the Lease (lease.go)
//	reg-nodes/<id>     version 1, NodeRecord
//	reg-drops/<zone NUL owner>  version 1, an owed drop (teardown.go)
//	reg-log/<uint64 big-endian index>  the leaf data (translog.Entry.MarshalBinary, itself versioned)
var (
	regAppsBucket   = []byte("reg-apps")
	regKeysBucket   = []byte("reg-keys")
	regClaimsBucket = []byte("reg-claims")
	regNodesBucket  = []byte("reg-nodes")
	regLogBucket    = []byte("reg-log")
)

// regValueVersion2 is the version of a key value of a sub-key and of a
// claim value with a lease; the others stay version 1, so a store
// without them is read by older builds.
const regValueVersion2 = 2

func putRegValueTx(tx kvTx, bucket []byte, key string, enc func(*encoder)) error {
	return putRegValueVersionTx(tx, bucket, key, fsmValueVersion1, enc)
}

func putRegValueVersionTx(tx kvTx, bucket []byte, key string, version byte, enc func(*encoder)) error {
	b, err := fsmSub(tx, bucket)
	if err != nil {
		return err
	}
	e := &encoder{b: []byte{version}}
	enc(e)
	if e.err != nil {
		return fmt.Errorf("%s/%s: %w", bucket, key, e.err)
	}
	return b.Put([]byte(key), e.b)
}

func putApplicationTx(tx kvTx, a Application) error {
	if a.sealed() {
		return putRegValueVersionTx(tx, regAppsBucket, a.ID, regValueVersion2, func(e *encoder) { e.application(a); e.sealFields(a) })
	}
	return putRegValueTx(tx, regAppsBucket, a.ID, func(e *encoder) { e.application(a) })
}

func putKeyTx(tx kvTx, k APIKey) error {
	if k.Parent != "" {
		return putRegValueVersionTx(tx, regKeysBucket, k.ID, regValueVersion2, func(e *encoder) { e.apiKey(k); e.str(k.Parent) })
	}
	return putRegValueTx(tx, regKeysBucket, k.ID, func(e *encoder) { e.apiKey(k) })
}

func putClaimTx(tx kvTx, c Claim) error {
	if !c.Lease.IsZero() {
		return putRegValueVersionTx(tx, regClaimsBucket, c.Zone, regValueVersion2, func(e *encoder) { e.claim(c); e.lease(c.Lease) })
	}
	return putRegValueTx(tx, regClaimsBucket, c.Zone, func(e *encoder) { e.claim(c) })
}

func putNodeTx(tx kvTx, n NodeRecord) error {
	return putRegValueTx(tx, regNodesBucket, n.ID, func(e *encoder) { e.nodeRecord(n) })
}

func deleteClaimTx(tx kvTx, origin string) error {
	b, err := fsmSub(tx, regClaimsBucket)
	if err != nil {
		return err
	}
	return b.Delete([]byte(origin))
}

func putLeafTx(tx kvTx, index uint64, leaf []byte) error {
	b, err := fsmSub(tx, regLogBucket)
	if err != nil {
		return err
	}
	return b.Put(binary.BigEndian.AppendUint64(nil, index), leaf)
}

// putRegistryTx writes the whole registry r (snapshot restore; the fsm
// bucket was emptied before).
func putRegistryTx(tx kvTx, r *RegistryState) error {
	for _, a := range r.apps.All() {
		if err := putApplicationTx(tx, a); err != nil {
			return err
		}
	}
	for _, k := range r.keys {
		if err := putKeyTx(tx, k); err != nil {
			return err
		}
	}
	for _, c := range r.claims.All() {
		if err := putClaimTx(tx, c); err != nil {
			return err
		}
	}
	for _, n := range r.nodes {
		if err := putNodeTx(tx, n); err != nil {
			return err
		}
	}
	for _, d := range r.drops {
		if err := putDropTx(tx, d); err != nil {
			return err
		}
	}
	for i := range r.size {
		if err := putLeafTx(tx, i, r.leaves[i]); err != nil {
			return err
		}
	}
	return nil
}

// regValue checks a stored registry value's version (1, or 2 where
// versions2 says the bucket has one) and returns a decoder of its body
// and the version.
func regValue(bucket, key, v []byte) (*decoder, byte, error) {
	if len(v) == 0 || v[0] != fsmValueVersion1 && !(v[0] == regValueVersion2 && versions2(bucket)) {
		return nil, 0, fmt.Errorf("%w: %s value of %q", ErrVersion, bucket, key)
	}
	return newDecoder(v[1:]), v[0], nil
}

// versions2 reports whether values of bucket have a version 2.
func versions2(bucket []byte) bool {
	return string(bucket) == string(regKeysBucket) || string(bucket) == string(regClaimsBucket) || string(bucket) == string(regAppsBucket)
}

func regDone(d *decoder, bucket, key []byte) error {
	if d.Err == nil && len(d.B) > 0 {
		d.Err = fmt.Errorf("%d bytes after the value", len(d.B))
	}
	if d.Err != nil {
		return fmt.Errorf("%s value of %q: %w", bucket, key, d.Err)
	}
	return nil
}

// loadRegistry reads the registry from the fsm bucket fb (nil: empty)
// and rebuilds the log's tree.
func loadRegistry(fb kvBucket) (*RegistryState, error) {
	r := newRegistryState()
	if fb == nil {
		return r, nil
	}
	each := func(bucket []byte, fn func(k []byte, d *decoder, version byte) error) error {
		b := fb.Bucket(bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			d, version, err := regValue(bucket, k, v)
			if err != nil {
				return err
			}
			if err := fn(k, d, version); err != nil {
				return err
			}
			return regDone(d, bucket, k)
		})
	}
	if err := each(regAppsBucket, func(k []byte, d *decoder, version byte) error {
		a := d.application()
		if version == regValueVersion2 {
			d.sealFields(&a)
		}
		if d.Err == nil && a.ID != string(k) {
			return fmt.Errorf("application %q under key %q", a.ID, k)
		}
		r.setApp(a)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := each(regKeysBucket, func(k []byte, d *decoder, version byte) error {
		key := d.apiKey()
		if version == regValueVersion2 {
			if key.Parent = d.Str16(); key.Parent == "" && d.Err == nil {
				return fmt.Errorf("sub-key %q without a parent", key.ID)
			}
		}
		if d.Err == nil && key.ID != string(k) {
			return fmt.Errorf("key %q under key %q", key.ID, k)
		}
		r.keys[key.ID] = key
		return nil
	}); err != nil {
		return nil, err
	}
	if err := each(regClaimsBucket, func(k []byte, d *decoder, version byte) error {
		c := d.claim()
		if version == regValueVersion2 {
			if c.Lease = d.lease(); c.Lease.IsZero() && d.Err == nil {
				return fmt.Errorf("claim value version 2 of %q without a lease", c.Zone)
			}
		}
		if d.Err == nil && (c.Zone != string(k) || zone.CanonicalName(c.Zone) != c.Zone) {
			return fmt.Errorf("claim of %q under key %q", c.Zone, k)
		}
		r.setClaim(c)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := each(regNodesBucket, func(k []byte, d *decoder, _ byte) error {
		n := d.nodeRecord()
		if d.Err == nil && n.ID != string(k) {
			return fmt.Errorf("node %q under key %q", n.ID, k)
		}
		r.nodes[n.ID] = n
		return nil
	}); err != nil {
		return nil, err
	}
	if err := loadDrops(fb, r); err != nil {
		return nil, err
	}
	if b := fb.Bucket(regLogBucket); b != nil {
		if err := b.ForEach(func(k, v []byte) error {
			if len(k) != 8 || binary.BigEndian.Uint64(k) != r.size {
				return fmt.Errorf("log leaf key %x where leaf %d belongs", k, r.size)
			}
			return r.appendLoaded(v)
		}); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// appendLoaded appends a leaf read from the store or a snapshot, after
// checking it parses.
func (r *RegistryState) appendLoaded(leaf []byte) error {
	e, err := translog.ParseEntry(leaf)
	if err != nil {
		return fmt.Errorf("log leaf %d: %w", r.size, err)
	}
	r.noteLoaded(e)
	leaf = append([]byte(nil), leaf...)
	r.tree.Append(leaf)
	r.leaves = append(r.leaves, leaf)
	r.size++
	return nil
}
