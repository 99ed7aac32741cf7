package raftfsm

import (
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// The zone store is written on a small ordered key-value interface with
// nested buckets and atomic transactions: bbolt's model, which bbolt
// (the default) implements directly and an LSM engine (pebble) by key
// prefixes (kv_pebble.go). The store (store.go, stage_store.go,
// registry_store.go) uses only these methods.

// Backend names a zone store engine (GroupConfig's store setting).
type Backend string

// The backends.
const (
	// BackendBolt is bbolt: one B+tree file (zones.db), memory-mapped;
	// reads are cheapest, writes rewrite pages. The default.
	BackendBolt Backend = "bbolt"
	// BackendPebble is pebble (CockroachDB's LSM engine, RocksDB's
	// format family): a directory (zones.pebble); writes are appends,
	// bulk loads and deletions of whole zones are cheaper.
	BackendPebble Backend = "pebble"
)

// ErrBackend is returned by OpenStoreBackend for a backend name it does
// not know.
var ErrBackend = errors.New("unknown store backend")

// ParseBackend returns the backend named s ("" is the default, bbolt).
func ParseBackend(s string) (Backend, error) {
	switch Backend(strings.ToLower(s)) {
	case "", BackendBolt:
		return BackendBolt, nil
	case BackendPebble:
		return BackendPebble, nil
	}
	return "", fmt.Errorf("%w %q: want %q or %q", ErrBackend, s, BackendBolt, BackendPebble)
}

// errBucketMissing is returned by DeleteBucket and MoveBucket for a
// bucket that does not exist.
var errBucketMissing = errors.New("bucket not found")

// kvTx is one transaction: read-only inside kvDB.view, read-write inside
// kvDB.update, where every write commits together or not at all.
type kvTx interface {
	// Bucket returns the top-level bucket name, or nil.
	Bucket(name []byte) kvBucket
	CreateBucket(name []byte) (kvBucket, error)
	CreateBucketIfNotExists(name []byte) (kvBucket, error)
	// DeleteBucket deletes a top-level bucket and all it holds; a
	// missing one gives errBucketMissing.
	DeleteBucket(name []byte) error
	// ForEach calls fn with the name of every top-level bucket, in byte
	// order.
	ForEach(fn func(name []byte) error) error
	// MoveBucket moves the bucket child of src (nil: top level) into
	// dst (nil: top level), where no bucket of that name may exist. The
	// moved bucket is as committed before this transaction plus what
	// earlier transactions wrote: write it after the move.
	MoveBucket(child []byte, src, dst kvBucket) error
}

// kvBucket holds keys and nested buckets. Keys and values returned are
// valid only during the transaction.
type kvBucket interface {
	Get(key []byte) []byte
	Put(key, value []byte) error
	Delete(key []byte) error
	// ForEach calls fn for every key (not nested buckets) in byte order.
	ForEach(fn func(k, v []byte) error) error
	// Cursor walks the keys (not nested buckets) in byte order.
	Cursor() kvCursor
	Bucket(name []byte) kvBucket
	CreateBucket(name []byte) (kvBucket, error)
	CreateBucketIfNotExists(name []byte) (kvBucket, error)
	DeleteBucket(name []byte) error
	// ForEachBucket calls fn with the name of every nested bucket.
	ForEachBucket(fn func(name []byte) error) error
}

// kvCursor walks a bucket's keys; a nil key means the end.
type kvCursor interface {
	First() (k, v []byte)
	Next() (k, v []byte)
}

// kvDB is an open backend.
type kvDB interface {
	view(fn func(kvTx) error) error
	update(fn func(kvTx) error) error
	// check verifies the engine's own consistency, if it can.
	check() error
	// release lets go of the store's pages this process holds mapped,
	// so what a load or a large write read is not resident in the
	// process (it stays in the OS page cache and is read again on use).
	// Safe beside readers and writers.
	release() error
	close() error
}

// boltDB is the bbolt backend.
type boltDB struct{ db *bolt.DB }

func (d boltDB) view(fn func(kvTx) error) error {
	return d.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (d boltDB) update(fn func(kvTx) error) error {
	return d.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

func (d boltDB) check() error {
	return d.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	})
}

func (d boltDB) close() error { return d.db.Close() }

// release advises the kernel that the pages of bbolt's read-only
// shared mapping of the file are not needed (MADV_DONTNEED): they leave
// the process's resident set and stay in the page cache, clean, to be
// faulted in again when read. Inside a read transaction, which keeps
// bbolt from remapping the file meanwhile.
func (d boltDB) release() error {
	return d.db.View(func(tx *bolt.Tx) error {
		info := d.db.Info()
		if info.Data == 0 || tx.Size() == 0 {
			return nil
		}
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, info.Data, uintptr(tx.Size()), unix.MADV_DONTNEED)
		if errno != 0 {
			return fmt.Errorf("madvise %s: %w", d.db.Path(), errno)
		}
		return nil
	})
}

type boltTx struct{ tx *bolt.Tx }

func boltBucketOf(b *bolt.Bucket) kvBucket {
	if b == nil {
		return nil
	}
	return boltBucket{b}
}

func boltErr(err error) error {
	if errors.Is(err, bolt.ErrBucketNotFound) {
		return errBucketMissing
	}
	return err
}

func (t boltTx) Bucket(name []byte) kvBucket { return boltBucketOf(t.tx.Bucket(name)) }
func (t boltTx) CreateBucket(name []byte) (kvBucket, error) {
	b, err := t.tx.CreateBucket(name)
	return boltBucketOf(b), err
}
func (t boltTx) CreateBucketIfNotExists(name []byte) (kvBucket, error) {
	b, err := t.tx.CreateBucketIfNotExists(name)
	return boltBucketOf(b), err
}
func (t boltTx) DeleteBucket(name []byte) error { return boltErr(t.tx.DeleteBucket(name)) }
func (t boltTx) ForEach(fn func([]byte) error) error {
	return t.tx.ForEach(func(name []byte, _ *bolt.Bucket) error { return fn(name) })
}
func (t boltTx) MoveBucket(child []byte, src, dst kvBucket) error {
	var s, d *bolt.Bucket
	if src != nil {
		s = src.(boltBucket).b
	}
	if dst != nil {
		d = dst.(boltBucket).b
	}
	return boltErr(t.tx.MoveBucket(child, s, d))
}

type boltBucket struct{ b *bolt.Bucket }

func (b boltBucket) Get(k []byte) []byte      { return b.b.Get(k) }
func (b boltBucket) Put(k, v []byte) error    { return b.b.Put(k, v) }
func (b boltBucket) Delete(k []byte) error    { return b.b.Delete(k) }
func (b boltBucket) Cursor() kvCursor         { return boltCursor{b.b.Cursor()} }
func (b boltBucket) Bucket(n []byte) kvBucket { return boltBucketOf(b.b.Bucket(n)) }
func (b boltBucket) ForEach(fn func(k, v []byte) error) error {
	return b.b.ForEach(func(k, v []byte) error {
		if v == nil { // a nested bucket
			return nil
		}
		return fn(k, v)
	})
}
func (b boltBucket) CreateBucket(n []byte) (kvBucket, error) {
	nb, err := b.b.CreateBucket(n)
	return boltBucketOf(nb), err
}
func (b boltBucket) CreateBucketIfNotExists(n []byte) (kvBucket, error) {
	nb, err := b.b.CreateBucketIfNotExists(n)
	return boltBucketOf(nb), err
}
func (b boltBucket) DeleteBucket(n []byte) error { return boltErr(b.b.DeleteBucket(n)) }
func (b boltBucket) ForEachBucket(fn func([]byte) error) error {
	return b.b.ForEachBucket(fn)
}

type boltCursor struct{ c *bolt.Cursor }

func (c boltCursor) First() ([]byte, []byte) { return c.skipBuckets(c.c.First()) }
func (c boltCursor) Next() ([]byte, []byte)  { return c.skipBuckets(c.c.Next()) }

func (c boltCursor) skipBuckets(k, v []byte) ([]byte, []byte) {
	for k != nil && v == nil {
		k, v = c.c.Next()
	}
	return k, v
}
