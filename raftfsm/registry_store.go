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
//	reg-apps/<id>      version 1, Application (registry_codec.go)
//	reg-keys/<id>      version 1, APIKey
//	reg-claims/<zone>  version 1, Claim
//	reg-nodes/<id>     version 1, NodeRecord
//	reg-log/<uint64 big-endian index>  the leaf data (translog.Entry.MarshalBinary, itself versioned)
var (
	regAppsBucket   = []byte("reg-apps")
	regKeysBucket   = []byte("reg-keys")
	regClaimsBucket = []byte("reg-claims")
	regNodesBucket  = []byte("reg-nodes")
	regLogBucket    = []byte("reg-log")
)

func putRegValueTx(tx kvTx, bucket []byte, key string, enc func(*encoder)) error {
	b, err := fsmSub(tx, bucket)
	if err != nil {
		return err
	}
	e := &encoder{b: []byte{fsmValueVersion1}}
	enc(e)
	if e.err != nil {
		return fmt.Errorf("%s/%s: %w", bucket, key, e.err)
	}
	return b.Put([]byte(key), e.b)
}

func putApplicationTx(tx kvTx, a Application) error {
	return putRegValueTx(tx, regAppsBucket, a.ID, func(e *encoder) { e.application(a) })
}

func putKeyTx(tx kvTx, k APIKey) error {
	return putRegValueTx(tx, regKeysBucket, k.ID, func(e *encoder) { e.apiKey(k) })
}

func putClaimTx(tx kvTx, c Claim) error {
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
	for _, c := range r.claims {
		if err := putClaimTx(tx, c); err != nil {
			return err
		}
	}
	for _, n := range r.nodes {
		if err := putNodeTx(tx, n); err != nil {
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

// regValue checks a stored registry value's version and returns a decoder
// of its body.
func regValue(bucket, key, v []byte) (*decoder, error) {
	if len(v) == 0 || v[0] != fsmValueVersion1 {
		return nil, fmt.Errorf("%w: %s value of %q", ErrVersion, bucket, key)
	}
	return newDecoder(v[1:]), nil
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
	each := func(bucket []byte, fn func(k []byte, d *decoder) error) error {
		b := fb.Bucket(bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			d, err := regValue(bucket, k, v)
			if err != nil {
				return err
			}
			if err := fn(k, d); err != nil {
				return err
			}
			return regDone(d, bucket, k)
		})
	}
	if err := each(regAppsBucket, func(k []byte, d *decoder) error {
		a := d.application()
		if d.Err == nil && a.ID != string(k) {
			return fmt.Errorf("application %q under key %q", a.ID, k)
		}
		r.setApp(a)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := each(regKeysBucket, func(k []byte, d *decoder) error {
		key := d.apiKey()
		if d.Err == nil && key.ID != string(k) {
			return fmt.Errorf("key %q under key %q", key.ID, k)
		}
		r.keys[key.ID] = key
		return nil
	}); err != nil {
		return nil, err
	}
	if err := each(regClaimsBucket, func(k []byte, d *decoder) error {
		c := d.claim()
		if d.Err == nil && (c.Zone != string(k) || zone.CanonicalName(c.Zone) != c.Zone) {
			return fmt.Errorf("claim of %q under key %q", c.Zone, k)
		}
		r.claims[c.Zone] = c
		return nil
	}); err != nil {
		return nil, err
	}
	if err := each(regNodesBucket, func(k []byte, d *decoder) error {
		n := d.nodeRecord()
		if d.Err == nil && n.ID != string(k) {
			return fmt.Errorf("node %q under key %q", n.ID, k)
		}
		r.nodes[n.ID] = n
		return nil
	}); err != nil {
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
	if _, err := translog.ParseEntry(leaf); err != nil {
		return fmt.Errorf("log leaf %d: %w", r.size, err)
	}
	leaf = append([]byte(nil), leaf...)
	r.tree.Append(leaf)
	r.leaves = append(r.leaves, leaf)
	r.size++
	return nil
}
