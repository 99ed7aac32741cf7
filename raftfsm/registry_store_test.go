package raftfsm

import (
	"encoding/binary"
	"errors"
	"testing"
)

// TestRegistryStoreCorrupt: a registry value or log leaf the store cannot
// read makes loading fail with ErrCorrupt instead of serving a wrong
// registry or log.
func TestRegistryStoreCorrupt(t *testing.T) {
	tests := []struct {
		desc    string
		edit    func(fb kvBucket) error
		version bool // ErrVersion too
	}{
		{"claim value of version 3", func(fb kvBucket) error {
			b := fb.Bucket(regClaimsBucket)
			v := append([]byte{3}, b.Get([]byte("example."))[1:]...)
			return b.Put([]byte("example."), v)
		}, true},
		{"claim value of version 2 without a lease", func(fb kvBucket) error {
			b := fb.Bucket(regClaimsBucket)
			v := append([]byte{2}, b.Get([]byte("example."))[1:]...)
			return b.Put([]byte("example."), v)
		}, false},
		{"claim value of version 2 with an empty lease", func(fb kvBucket) error {
			b := fb.Bucket(regClaimsBucket)
			e := &encoder{b: append([]byte{2}, b.Get([]byte("example."))[1:]...)}
			e.lease(Lease{Key: "00000000000000a1"})
			return b.Put([]byte("example."), e.b)
		}, false},
		{"key value of version 2 with an empty parent", func(fb kvBucket) error {
			b := fb.Bucket(regKeysBucket)
			k := []byte("00000000000000a1")
			return b.Put(k, append(append([]byte{2}, b.Get(k)[1:]...), 0, 0))
		}, false},
		{"application value of version 3", func(fb kvBucket) error {
			b := fb.Bucket(regAppsBucket)
			return b.Put([]byte("app-1"), append([]byte{3}, b.Get([]byte("app-1"))[1:]...))
		}, true},
		{"application value of version 2 without its seal key", func(fb kvBucket) error {
			b := fb.Bucket(regAppsBucket)
			return b.Put([]byte("app-1"), append(append([]byte{2}, b.Get([]byte("app-1"))[1:]...), make([]byte, 32+4+8)...))
		}, false},
		{"claim under another zone's key", func(fb kvBucket) error {
			b := fb.Bucket(regClaimsBucket)
			return b.Put([]byte("example.net."), b.Get([]byte("example.")))
		}, false},
		{"key value with a trailing byte", func(fb kvBucket) error {
			b := fb.Bucket(regKeysBucket)
			k := []byte("00000000000000a1")
			return b.Put(k, append(b.Get(k), 0))
		}, false},
		{"node value truncated", func(fb kvBucket) error {
			b := fb.Bucket(regNodesBucket)
			v := b.Get([]byte("n1"))
			return b.Put([]byte("n1"), v[:len(v)-3])
		}, false},
		{"a gap in the log", func(fb kvBucket) error {
			return fb.Bucket(regLogBucket).Delete(binary.BigEndian.AppendUint64(nil, 1))
		}, false},
		{"a leaf that is no entry", func(fb kvBucket) error {
			return fb.Bucket(regLogBucket).Put(binary.BigEndian.AppendUint64(nil, 0), []byte{9, 9})
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			f := newTestFSM(t)
			f.applyAll(t, 1, regBase(t)...)
			if err := f.store.db.update(func(tx kvTx) error { return tt.edit(fsmBucketOf(tx)) }); err != nil {
				t.Fatal(err)
			}
			_, err := NewFSM(f.store, FSMOptions{})
			if !errors.Is(err, ErrCorrupt) || tt.version != errors.Is(err, ErrVersion) {
				t.Errorf("NewFSM = %v, want ErrCorrupt (ErrVersion %v)", err, tt.version)
			}
		})
	}
}
