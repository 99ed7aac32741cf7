package raftfsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// pebbleDB is the pebble backend: bbolt's nested buckets as key
// prefixes in one ordered key space. A bucket with prefix P keeps
//
//	P 0x01 key          -> value      its keys
//	P 0x02 name' 0x00 0x01 -> "B"     the marker of its nested bucket
//	                                  name, whose prefix is that key
//
// where name' is the name with 0x00 written 0x00 0xFF, so no bucket's
// prefix is a prefix of another's and all of a bucket lies in [prefix,
// prefix 0x03). The top level has the empty prefix. Deleting a bucket is
// one range deletion; moving one copies its keys. An update is one
// indexed batch, committed with sync; updates run one at a time, as in
// bbolt; a view reads a snapshot.
type pebbleDB struct {
	db     *pebble.DB
	mu     sync.Mutex // one update at a time; guards closed
	closed bool
	// isClosed is closed for readers, which do not take mu.
	isClosed atomic.Bool
}

func openPebble(dir string) (*pebbleDB, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebbleLogger{}})
	if err != nil {
		return nil, err
	}
	return &pebbleDB{db: db}, nil
}

func (d *pebbleDB) view(fn func(kvTx) error) error {
	if d.isClosed.Load() {
		return errPebbleClosed
	}
	s := d.db.NewSnapshot()
	defer s.Close()
	return fn(&pebbleTx{r: s})
}

func (d *pebbleDB) update(fn func(kvTx) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errPebbleClosed
	}
	b := d.db.NewIndexedBatch()
	if err := fn(&pebbleTx{r: b, w: b}); err != nil {
		return errors.Join(err, b.Close())
	}
	return b.Commit(pebble.Sync)
}

func (d *pebbleDB) check() error { return nil }

// release does nothing: pebble maps no file; its reads go through its
// block cache, bounded (pebble's default, 8 MiB), and its memtables.
func (d *pebbleDB) release() error { return nil }

// errPebbleClosed is returned by writes after close (pebble itself
// panics on them).
var errPebbleClosed = errors.New("zone store is closed")

// close closes the database once; later calls do nothing.
func (d *pebbleDB) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	d.isClosed.Store(true)
	return d.db.Close()
}

// quietPebbleLogger drops pebble's informational logs; errors still
// reach the caller as errors.
type quietPebbleLogger struct{}

func (quietPebbleLogger) Infof(string, ...interface{})  {}
func (quietPebbleLogger) Errorf(string, ...interface{}) {}
func (quietPebbleLogger) Fatalf(format string, args ...interface{}) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

type pebbleReader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

type pebbleTx struct {
	r pebbleReader
	w *pebble.Batch // nil in a view
}

const (
	pebbleKeyTag    = 0x01
	pebbleBucketTag = 0x02
	pebbleEndTag    = 0x03
)

var errReadOnly = errors.New("write in a read-only transaction")

func (t *pebbleTx) root() *pebbleBucket { return &pebbleBucket{t: t} }

func (t *pebbleTx) Bucket(name []byte) kvBucket { return t.root().Bucket(name) }
func (t *pebbleTx) CreateBucket(name []byte) (kvBucket, error) {
	return t.root().CreateBucket(name)
}
func (t *pebbleTx) CreateBucketIfNotExists(name []byte) (kvBucket, error) {
	return t.root().CreateBucketIfNotExists(name)
}
func (t *pebbleTx) DeleteBucket(name []byte) error { return t.root().DeleteBucket(name) }
func (t *pebbleTx) ForEach(fn func([]byte) error) error {
	return t.root().ForEachBucket(fn)
}

func (t *pebbleTx) MoveBucket(child []byte, src, dst kvBucket) error {
	if t.w == nil {
		return errReadOnly
	}
	sp, dp := []byte(nil), []byte(nil)
	if src != nil {
		sp = src.(*pebbleBucket).prefix
	}
	if dst != nil {
		dp = dst.(*pebbleBucket).prefix
	}
	from, to := childPrefix(sp, child), childPrefix(dp, child)
	if !t.has(from) {
		return errBucketMissing
	}
	if t.has(to) {
		return fmt.Errorf("move bucket %q: the destination has one of that name", child)
	}
	type kv struct{ k, v []byte }
	var all []kv
	if err := t.scan(from, rangeEnd(from), func(k, v []byte) error {
		all = append(all, kv{append(bytes.Clone(to), k[len(from):]...), bytes.Clone(v)})
		return nil
	}); err != nil {
		return err
	}
	for _, e := range all {
		if err := t.w.Set(e.k, e.v, nil); err != nil {
			return err
		}
	}
	return t.w.DeleteRange(from, rangeEnd(from), nil)
}

func (t *pebbleTx) get(key []byte) []byte {
	v, c, err := t.r.Get(key)
	if err != nil {
		return nil
	}
	out := bytes.Clone(v)
	c.Close()
	if out == nil {
		out = []byte{}
	}
	return out
}

func (t *pebbleTx) has(key []byte) bool { return t.get(key) != nil }

// scan calls fn for every key in [lo, hi).
func (t *pebbleTx) scan(lo, hi []byte, fn func(k, v []byte) error) error {
	it, err := t.r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return errors.Join(err, it.Close())
		}
	}
	return it.Close()
}

// childPrefix returns the prefix of bucket name inside the bucket with
// prefix parent (also its marker key).
func childPrefix(parent, name []byte) []byte {
	p := append(bytes.Clone(parent), pebbleBucketTag)
	for _, c := range name {
		if c == 0 {
			p = append(p, 0x00, 0xFF)
		} else {
			p = append(p, c)
		}
	}
	return append(p, 0x00, 0x01)
}

// rangeEnd is the end of the range holding everything of the bucket
// with prefix p.
func rangeEnd(p []byte) []byte { return append(bytes.Clone(p), pebbleEndTag) }

type pebbleBucket struct {
	t      *pebbleTx
	prefix []byte
}

func (b *pebbleBucket) key(k []byte) []byte {
	return append(append(append(make([]byte, 0, len(b.prefix)+1+len(k)), b.prefix...), pebbleKeyTag), k...)
}

func (b *pebbleBucket) Get(k []byte) []byte { return b.t.get(b.key(k)) }

func (b *pebbleBucket) Put(k, v []byte) error {
	if b.t.w == nil {
		return errReadOnly
	}
	return b.t.w.Set(b.key(k), v, nil)
}

func (b *pebbleBucket) Delete(k []byte) error {
	if b.t.w == nil {
		return errReadOnly
	}
	return b.t.w.Delete(b.key(k), nil)
}

func (b *pebbleBucket) keys() (lo, hi []byte) {
	lo = append(bytes.Clone(b.prefix), pebbleKeyTag)
	hi = append(bytes.Clone(b.prefix), pebbleKeyTag+1)
	return lo, hi
}

func (b *pebbleBucket) ForEach(fn func(k, v []byte) error) error {
	lo, hi := b.keys()
	return b.t.scan(lo, hi, func(k, v []byte) error { return fn(k[len(lo):], v) })
}

// Cursor reads the bucket's keys when it starts: the walks the store
// makes read a whole bucket anyway.
func (b *pebbleBucket) Cursor() kvCursor {
	c := &pebbleCursor{}
	lo, hi := b.keys()
	c.err = b.t.scan(lo, hi, func(k, v []byte) error {
		c.kv = append(c.kv, [2][]byte{bytes.Clone(k[len(lo):]), bytes.Clone(v)})
		return nil
	})
	return c
}

func (b *pebbleBucket) Bucket(name []byte) kvBucket {
	p := childPrefix(b.prefix, name)
	if !b.t.has(p) {
		return nil
	}
	return &pebbleBucket{t: b.t, prefix: p}
}

func (b *pebbleBucket) CreateBucket(name []byte) (kvBucket, error) {
	if b.t.w == nil {
		return nil, errReadOnly
	}
	p := childPrefix(b.prefix, name)
	if b.t.has(p) {
		return nil, fmt.Errorf("bucket %q exists", name)
	}
	if err := b.t.w.Set(p, []byte("B"), nil); err != nil {
		return nil, err
	}
	return &pebbleBucket{t: b.t, prefix: p}, nil
}

func (b *pebbleBucket) CreateBucketIfNotExists(name []byte) (kvBucket, error) {
	if nb := b.Bucket(name); nb != nil {
		return nb, nil
	}
	return b.CreateBucket(name)
}

func (b *pebbleBucket) DeleteBucket(name []byte) error {
	if b.t.w == nil {
		return errReadOnly
	}
	p := childPrefix(b.prefix, name)
	if !b.t.has(p) {
		return errBucketMissing
	}
	return b.t.w.DeleteRange(p, rangeEnd(p), nil)
}

func (b *pebbleBucket) ForEachBucket(fn func([]byte) error) error {
	lo := append(bytes.Clone(b.prefix), pebbleBucketTag)
	hi := append(bytes.Clone(b.prefix), pebbleBucketTag+1)
	var names [][]byte
	err := b.t.scan(lo, hi, func(k, _ []byte) error {
		name, rest, ok := unescapeName(k[len(lo):])
		if ok && len(rest) == 0 { // a marker, not a key below one
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := fn(n); err != nil {
			return err
		}
	}
	return nil
}

// unescapeName reads an escaped, terminated name off p.
func unescapeName(p []byte) (name, rest []byte, ok bool) {
	for i := 0; i+1 < len(p); i++ {
		if p[i] != 0 {
			name = append(name, p[i])
			continue
		}
		switch p[i+1] {
		case 0xFF:
			name = append(name, 0)
			i++
		case 0x01:
			return name, p[i+2:], true
		default:
			return nil, nil, false
		}
	}
	return nil, nil, false
}

type pebbleCursor struct {
	kv  [][2][]byte
	i   int
	err error
}

func (c *pebbleCursor) First() ([]byte, []byte) {
	c.i = 0
	return c.at()
}

func (c *pebbleCursor) Next() ([]byte, []byte) {
	c.i++
	return c.at()
}

func (c *pebbleCursor) at() ([]byte, []byte) {
	if c.i >= len(c.kv) {
		return nil, nil
	}
	return c.kv[c.i][0], c.kv[c.i][1]
}
