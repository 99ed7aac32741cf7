// Package raftfsm holds a group's replicated state: the zone store
// (Store), the Raft state machine that owns it (FSM, with its versioned
// commands and snapshots) and the Raft group around them (Group).
package raftfsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors returned by the Store.
var (
	// ErrLocked is returned by OpenStore when another process, or another
	// open Store in this process, holds the store file's lock for longer
	// than the lock timeout (1 s).
	ErrLocked = errors.New("data directory in use by another process")
	// ErrCorrupt is returned when the store file is not a bbolt database,
	// fails bbolt's consistency check, or holds a value that does not
	// decode. The error names the file.
	ErrCorrupt = errors.New("zone store is corrupt")
	// ErrVersion is returned (wrapped in ErrCorrupt) when a stored value
	// carries a format version this build does not know, typically one
	// written by a newer DDNRS.
	ErrVersion = errors.New("unknown format version")
	// ErrStaleSerial is returned by Put when the zone's SOA serial is not
	// above the stored one (RFC 1982 serial arithmetic) and its content
	// differs from what is stored. The stored zone is left as it was.
	ErrStaleSerial = errors.New("serial is not above the stored serial")
	// ErrNoZone is returned by Get and Delete when the store holds no zone
	// of that name.
	ErrNoZone = errors.New("no such zone in the store")
)

// StoreFile is the name of the zone store inside a node's data directory.
const StoreFile = "zones.db"

// StorePebbleDir is the name of the zone store directory inside a
// node's data directory with the pebble backend.
const StorePebbleDir = "zones.pebble"

// StorePath returns the path of the zone store in the data directory dir.
// The node and the ops commands both open the store through it.
func StorePath(dir string) string { return filepath.Join(dir, StoreFile) }

// BackendStorePath returns the path of the zone store of backend b in
// the data directory dir: StorePath for bbolt, dir/zones.pebble for
// pebble.
func BackendStorePath(dir string, b Backend) string {
	if b == BackendPebble {
		return filepath.Join(dir, StorePebbleDir)
	}
	return StorePath(dir)
}

// lockTimeout is how long OpenStore waits for another holder of the file
// lock before it returns ErrLocked.
const lockTimeout = time.Second

// formatBucket is a top-level bucket holding the store's format version.
// Its name has no trailing dot, so it never collides with a zone bucket,
// whose name is a canonical (fully qualified) zone name.
var (
	formatBucket = []byte("ddnrs")
	formatKey    = []byte("format")
	formatValue  = []byte{1}
)

// Store keeps zones in a bbolt file (or a pebble directory, see Backend
// and kv.go): one bucket per zone, named by the
// canonical zone name; in it one key per RRset, (owner name, type) encoded
// so that key order is canonical DNS order, whose value is the RRset in
// wire form with its RRSIGs; and one meta key with the serial and the
// signed zone head.
//
// A Store is safe for concurrent use; bbolt runs one writer at a time and
// readers beside it. In a node the FSM is its only writer.
type Store struct {
	db      kvDB
	path    string
	backend Backend
}

// OpenStore opens the zone store at path, creating it if it does not exist.
// It waits up to one second for the file lock and then returns ErrLocked;
// a file that is not a zone store, or fails bbolt's consistency check,
// gives ErrCorrupt. Both name the path.
func OpenStore(path string) (*Store, error) {
	return openStore(path, lockTimeout)
}

// OpenStoreBackend opens (or creates) the zone store of backend b at
// path (BackendStorePath). bbolt is OpenStore; pebble opens the
// directory, and another process holding it gives ErrLocked.
func OpenStoreBackend(path string, b Backend) (*Store, error) {
	switch b {
	case BackendBolt, "":
		return OpenStore(path)
	case BackendPebble:
		db, err := openPebble(path)
		if err != nil {
			if strings.Contains(err.Error(), "lock") {
				return nil, fmt.Errorf("%w: %s: %v", ErrLocked, path, err)
			}
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
		s := &Store{db: db, path: path, backend: BackendPebble}
		if err := s.check(); err != nil {
			db.close()
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("%w %q", ErrBackend, b)
}

// Backend returns the engine the store runs on.
func (s *Store) Backend() Backend {
	if s.backend == "" {
		return BackendBolt
	}
	return s.backend
}

func openStore(path string, timeout time.Duration) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	var pe *fs.PathError
	var errno syscall.Errno
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	case errors.As(err, &pe), errors.As(err, &errno):
		// The file could not be opened, locked or mapped: a system
		// problem (permissions, memory), not the file's content.
		return nil, fmt.Errorf("open zone store %s: %w", path, err)
	case err != nil:
		// bbolt read the file and did not like it: ErrInvalid,
		// ErrVersionMismatch, ErrChecksum, or a size that cannot be a
		// database ("file size too small").
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	s := &Store{db: boltDB{db}, path: path, backend: BackendBolt}
	if err := s.check(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// check runs bbolt's consistency check and checks (or, on a new file,
// writes) the store's format version.
func (s *Store) check() (err error) {
	defer func() {
		// bbolt panics on some page corruptions it meets while reading.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, s.path, r)
		}
	}()
	if err := s.db.check(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, s.path, err)
	}
	return s.db.update(func(tx kvTx) error {
		fb := tx.Bucket(formatBucket)
		if fb == nil {
			empty := true
			tx.ForEach(func([]byte) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("%w: %s: a %s store, but not a zone store", ErrCorrupt, s.path, s.Backend())
			}
			fb, err := tx.CreateBucket(formatBucket)
			if err != nil {
				return err
			}
			return fb.Put(formatKey, formatValue)
		}
		if v := fb.Get(formatKey); !bytes.Equal(v, formatValue) {
			return fmt.Errorf("%w: %s: %w: store format %x", ErrCorrupt, s.path, ErrVersion, v)
		}
		return nil
	})
}

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// Release lets go of the pages of the store file the process has
// mapped (bbolt), so a zone read to be loaded, or written, is held once,
// in the state machine's memory, and not also as resident file pages; the
// pages stay in the OS page cache. The FSM calls it after loading the
// store, after a snapshot restore and after a staged upload's commit.
// Safe beside any other use of the store.
func (s *Store) Release() error { return s.db.release() }

// Close closes the store file and releases its lock.
func (s *Store) Close() error { return s.db.close() }

// Put stores z, replacing the stored zone of the same origin, in one
// transaction: it writes only the RRsets whose stored bytes differ, deletes
// those z no longer has, and updates the meta key when the serial or head
// changed. It returns ErrStaleSerial, writing nothing, when z's serial is
// not above the stored one, unless z is identical to the stored zone, in
// which case Put does nothing and returns nil.
func (s *Store) Put(z *zone.Zone) error {
	_, err := s.put(z)
	return err
}

// putStats counts what one Put wrote.
type putStats struct {
	Written, Deleted int  // RRset keys
	Meta             bool // whether the meta key was written
}

type entry struct {
	key, val []byte
}

func (s *Store) put(z *zone.Zone) (putStats, error) {
	var st putStats
	err := s.db.update(func(tx kvTx) error {
		var err error
		st, err = s.putTx(tx, z)
		return err
	})
	if err != nil {
		return putStats{}, err
	}
	return st, nil
}

// putTx is Put inside the write transaction tx.
func (s *Store) putTx(tx kvTx, z *zone.Zone) (putStats, error) {
	var st putStats
	origin := zone.CanonicalName(z.Origin)
	sets := z.RRsets()
	entries := make([]entry, 0, len(sets))
	for _, rs := range sets {
		k, err := encodeKey(rs.Name, rs.Type)
		if err != nil {
			return st, fmt.Errorf("zone %s: %w", origin, err)
		}
		v, err := encodeRRset(rs)
		if err != nil {
			return st, fmt.Errorf("zone %s: %w", origin, err)
		}
		entries = append(entries, entry{k, v})
	}
	sort.Slice(entries, func(i, j int) bool { return bytes.Compare(entries[i].key, entries[j].key) < 0 })
	for i := 1; i < len(entries); i++ {
		if bytes.Equal(entries[i-1].key, entries[i].key) {
			return st, fmt.Errorf("zone %s: two RRsets under one key %x", origin, entries[i].key)
		}
	}
	newMeta := encodeMeta(meta{Serial: z.Serial(), Head: z.Head})

	err := func() error {
		b, err := tx.CreateBucketIfNotExists([]byte(origin))
		if err != nil {
			return fmt.Errorf("zone %s: %w", origin, err)
		}
		oldMeta := b.Get(metaKey)
		var puts []entry
		var dels [][]byte
		c := b.Cursor()
		k, v := c.First()
		if bytes.Equal(k, metaKey) {
			k, v = c.Next()
		}
		i := 0
		for k != nil || i < len(entries) {
			var cmp int
			switch {
			case k == nil:
				cmp = 1
			case i == len(entries):
				cmp = -1
			default:
				cmp = bytes.Compare(k, entries[i].key)
			}
			switch {
			case cmp < 0: // stored, no longer in z
				dels = append(dels, bytes.Clone(k))
				k, v = c.Next()
			case cmp > 0: // new in z
				puts = append(puts, entries[i])
				i++
			default:
				if !bytes.Equal(v, entries[i].val) {
					puts = append(puts, entries[i])
				}
				i++
				k, v = c.Next()
			}
		}
		metaChanged := !bytes.Equal(oldMeta, newMeta)
		if oldMeta != nil {
			old, err := decodeMeta(origin, oldMeta)
			if err != nil {
				return fmt.Errorf("%w: %s: zone %s meta: %w", ErrCorrupt, s.path, origin, err)
			}
			if !zone.SerialAbove(z.Serial(), old.Serial) {
				if len(puts) == 0 && len(dels) == 0 && !metaChanged {
					return nil
				}
				return fmt.Errorf("%w: zone %s serial %d, stored %d", ErrStaleSerial, origin, z.Serial(), old.Serial)
			}
		}
		for _, e := range puts {
			if err := b.Put(e.key, e.val); err != nil {
				return fmt.Errorf("zone %s: %w", origin, err)
			}
		}
		for _, k := range dels {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("zone %s: %w", origin, err)
			}
		}
		if metaChanged {
			if err := b.Put(metaKey, newMeta); err != nil {
				return fmt.Errorf("zone %s: %w", origin, err)
			}
		}
		st = putStats{Written: len(puts), Deleted: len(dels), Meta: metaChanged}
		return nil
	}()
	if err != nil {
		return putStats{}, err
	}
	return st, nil
}

// Get returns the stored zone of origin with its signed head, or
// ErrNoZone. A stored value that does not decode gives ErrCorrupt naming
// the file, the zone and the record.
func (s *Store) Get(origin string) (*zone.Zone, error) {
	origin = zone.CanonicalName(origin)
	var m meta
	var rrs []dns.RR
	err := s.db.view(func(tx kvTx) error {
		b := tx.Bucket([]byte(origin))
		if b == nil {
			return fmt.Errorf("%w: %s", ErrNoZone, origin)
		}
		mv := b.Get(metaKey)
		if mv == nil {
			return fmt.Errorf("%w: %s: zone %s has no meta value", ErrCorrupt, s.path, origin)
		}
		var err error
		if m, err = decodeMeta(origin, mv); err != nil {
			return fmt.Errorf("%w: %s: zone %s meta: %w", ErrCorrupt, s.path, origin, err)
		}
		return b.ForEach(func(k, v []byte) error {
			if bytes.Equal(k, metaKey) {
				return nil
			}
			rs, err := decodeRRset(v)
			if err != nil {
				return fmt.Errorf("%w: %s: zone %s key %x: %w", ErrCorrupt, s.path, origin, k, err)
			}
			if want, err := encodeKey(rs.Name, rs.Type); err != nil || !bytes.Equal(k, want) {
				return fmt.Errorf("%w: %s: zone %s key %x holds %s %s", ErrCorrupt, s.path, origin, k, rs.Name, dns.TypeToString[rs.Type])
			}
			rrs = append(rrs, rs.Records()...)
			for _, sig := range rs.Signatures() {
				rrs = append(rrs, sig)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	z, err := zone.New(origin, rrs)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: zone %s: %w", ErrCorrupt, s.path, origin, err)
	}
	if z.Serial() != m.Serial {
		return nil, fmt.Errorf("%w: %s: zone %s: SOA serial %d, meta serial %d", ErrCorrupt, s.path, origin, z.Serial(), m.Serial)
	}
	z.Head = m.Head
	return z, nil
}

// List returns the names of the stored zones in canonical order.
func (s *Store) List() ([]string, error) {
	var names []string
	err := s.db.view(func(tx kvTx) error {
		return tx.ForEach(func(name []byte) error {
			if !bytes.Equal(name, formatBucket) {
				names = append(names, string(name))
			}
			return nil
		})
	})
	sort.Slice(names, func(i, j int) bool { return zone.Compare(names[i], names[j]) < 0 })
	return names, err
}

// Delete removes the zone origin, or returns ErrNoZone.
func (s *Store) Delete(origin string) error {
	origin = zone.CanonicalName(origin)
	return s.db.update(func(tx kvTx) error {
		err := tx.DeleteBucket([]byte(origin))
		if errors.Is(err, errBucketMissing) {
			return fmt.Errorf("%w: %s", ErrNoZone, origin)
		}
		return err
	})
}

// The state machine's state beside the zones lives in the bucket "fsm"
// inside the format bucket, whose name is never a zone name:
//
//	applied           uint64, the last Raft log index applied
//	owners/<zone>     version 1, the owner DNSKEY in wire form
//	suspended/<zone>  version 1, byte 1 if suspended else 0, the reason of
//	                  the last Suspend or Unsuspend
//	members/<id>      version 1, admin string, DNS string (uint16 lengths)
//	rollbacks/<zone>  version 1, then the owner's rollback statement
//	                  (zone.Rollback's signed note; rollback.go)
//	reg-*             the registry (registry_store.go)
var (
	fsmBucket       = []byte("fsm")
	appliedKey      = []byte("applied")
	ownersBucket    = []byte("owners")
	suspendedBucket = []byte("suspended")
	membersBucket   = []byte("members")
	rollbacksBucket = []byte("rollbacks")
)

const fsmValueVersion1 = 1

// AppliedIndex returns the index of the last Raft log entry whose change
// the store holds (0 when none). The state machine writes it in the same
// transaction as the change, so after a crash the store and the index
// agree and Raft's replay of older entries is skipped.
func (s *Store) AppliedIndex() (uint64, error) {
	var idx uint64
	err := s.db.view(func(tx kvTx) error {
		var err error
		idx, err = readApplied(tx)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrCorrupt, s.path, err)
		}
		return nil
	})
	return idx, err
}

func readApplied(tx kvTx) (uint64, error) {
	fb := fsmBucketOf(tx)
	if fb == nil {
		return 0, nil
	}
	v := fb.Get(appliedKey)
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("applied index of %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func fsmBucketOf(tx kvTx) kvBucket {
	if b := tx.Bucket(formatBucket); b != nil {
		return b.Bucket(fsmBucket)
	}
	return nil
}

// fsmSub returns the nested bucket name of the fsm bucket, creating both.
func fsmSub(tx kvTx, name []byte) (kvBucket, error) {
	fb, err := tx.Bucket(formatBucket).CreateBucketIfNotExists(fsmBucket)
	if err != nil {
		return nil, err
	}
	if name == nil {
		return fb, nil
	}
	return fb.CreateBucketIfNotExists(name)
}

// commit runs ops and records applied as the last applied index, all in
// one write transaction: either everything is stored or nothing.
func (s *Store) commit(applied uint64, ops []func(kvTx) error) error {
	return s.db.update(func(tx kvTx) error {
		for _, op := range ops {
			if err := op(tx); err != nil {
				return err
			}
		}
		return setAppliedTx(tx, applied)
	})
}

func setAppliedTx(tx kvTx, applied uint64) error {
	fb, err := fsmSub(tx, nil)
	if err != nil {
		return err
	}
	return fb.Put(appliedKey, binary.BigEndian.AppendUint64(nil, applied))
}

// putChangeTx stores z, the result of the verified change cs to the
// stored zone, writing only the RRsets cs deletes or puts and the meta
// value.
func (s *Store) putChangeTx(tx kvTx, z *zone.Zone, cs zone.ChangeSet) error {
	origin := z.Origin
	b := tx.Bucket([]byte(origin))
	if b == nil {
		_, err := s.putTx(tx, z)
		return err
	}
	for _, d := range cs.Delete {
		k, err := encodeKey(zone.CanonicalName(d.Name), d.Type)
		if err != nil {
			return fmt.Errorf("zone %s: %w", origin, err)
		}
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("zone %s: %w", origin, err)
		}
	}
	for _, p := range cs.Put {
		name := zone.CanonicalName(p.Name)
		n := z.Node(name)
		if n == nil || n.RRset(p.Type) == nil {
			return fmt.Errorf("zone %s: put RRset %s %s missing from the result", origin, name, dns.TypeToString[p.Type])
		}
		k, err := encodeKey(name, p.Type)
		if err != nil {
			return fmt.Errorf("zone %s: %w", origin, err)
		}
		v, err := encodeRRset(n.RRset(p.Type))
		if err != nil {
			return fmt.Errorf("zone %s: %w", origin, err)
		}
		if err := b.Put(k, v); err != nil {
			return fmt.Errorf("zone %s: %w", origin, err)
		}
	}
	return b.Put(metaKey, encodeMeta(meta{Serial: z.Serial(), Head: z.Head}))
}

// deleteZoneTx removes a zone with its owner and suspension records.
func deleteZoneTx(tx kvTx, origin string) error {
	if err := tx.DeleteBucket([]byte(origin)); err != nil && !errors.Is(err, errBucketMissing) {
		return err
	}
	for _, name := range [][]byte{ownersBucket, suspendedBucket, rollbacksBucket} {
		b, err := fsmSub(tx, name)
		if err != nil {
			return err
		}
		if err := b.Delete([]byte(origin)); err != nil {
			return err
		}
	}
	return nil
}

func setOwnerTx(tx kvTx, origin string, dk *dns.DNSKEY) error {
	b, err := fsmSub(tx, ownersBucket)
	if err != nil {
		return err
	}
	var m dns.Msg
	v, err := appendRR([]byte{fsmValueVersion1}, &m, dk)
	if err != nil {
		return fmt.Errorf("owner key of %s: %w", origin, err)
	}
	return b.Put([]byte(origin), v)
}

func decodeOwner(origin string, v []byte) (*zone.Key, error) {
	if len(v) == 0 || v[0] != fsmValueVersion1 {
		return nil, fmt.Errorf("%w: owner value of %s", ErrVersion, origin)
	}
	rr, off, err := dns.UnpackRR(v, 1)
	if err != nil || rr == nil || off != len(v) {
		return nil, fmt.Errorf("owner value of %s does not unpack: %v", origin, err)
	}
	dk, ok := rr.(*dns.DNSKEY)
	if !ok {
		return nil, fmt.Errorf("owner value of %s is not a DNSKEY", origin)
	}
	return ownerKey(origin, dk)
}

// setRollbackTx keeps the rollback statement stmt of origin; nil drops it.
func setRollbackTx(tx kvTx, origin string, stmt []byte) error {
	b, err := fsmSub(tx, rollbacksBucket)
	if err != nil {
		return err
	}
	if stmt == nil {
		return b.Delete([]byte(origin))
	}
	return b.Put([]byte(origin), append([]byte{fsmValueVersion1}, stmt...))
}

func setSuspendedTx(tx kvTx, origin string, on bool, reason string) error {
	b, err := fsmSub(tx, suspendedBucket)
	if err != nil {
		return err
	}
	flag := byte(0)
	if on {
		flag = 1
	}
	return b.Put([]byte(origin), append([]byte{fsmValueVersion1, flag}, reason...))
}

func setMemberTx(tx kvTx, m MemberInfo) error {
	b, err := fsmSub(tx, membersBucket)
	if err != nil {
		return err
	}
	if m.Admin == "" && m.DNS == "" {
		return b.Delete([]byte(m.ID))
	}
	e := &encoder{b: []byte{fsmValueVersion1}}
	e.str(m.Admin)
	e.str(m.DNS)
	if e.err != nil {
		return e.err
	}
	return b.Put([]byte(m.ID), e.b)
}

func decodeMember(id string, v []byte) (MemberInfo, error) {
	if len(v) == 0 || v[0] != fsmValueVersion1 {
		return MemberInfo{}, fmt.Errorf("%w: member value of %q", ErrVersion, id)
	}
	d := newDecoder(v[1:])
	m := MemberInfo{ID: id, Admin: d.Str16(), DNS: d.Str16()}
	if d.Err == nil && len(d.B) > 0 {
		d.Err = fmt.Errorf("%d bytes after the member value", len(d.B))
	}
	return m, d.Err
}

// loadState reads the whole state machine state: every zone with its
// owner and suspension, the members and the applied index.
func (s *Store) loadState() (*fsmState, error) {
	st := newFSMState()
	names, err := s.List()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		z, err := s.Get(name)
		if err != nil {
			return nil, err
		}
		st.zones[name] = ZoneState{Zone: z}
	}
	err = s.db.view(func(tx kvTx) error {
		if st.applied, err = readApplied(tx); err != nil {
			return err
		}
		fb := fsmBucketOf(tx)
		if st.reg, err = loadRegistry(fb); err != nil {
			return err
		}
		if st.staging, err = loadStagings(fb); err != nil {
			return err
		}
		if fb == nil {
			return nil
		}
		if b := fb.Bucket(ownersBucket); b != nil {
			if err := b.ForEach(func(k, v []byte) error {
				e, ok := st.zones[string(k)]
				if !ok {
					return fmt.Errorf("owner key of %s, a zone not stored", k)
				}
				var err error
				e.Owner, err = decodeOwner(string(k), v)
				st.zones[string(k)] = e
				return err
			}); err != nil {
				return err
			}
		}
		if b := fb.Bucket(suspendedBucket); b != nil {
			if err := b.ForEach(func(k, v []byte) error {
				e, ok := st.zones[string(k)]
				if !ok {
					return fmt.Errorf("suspension of %s, a zone not stored", k)
				}
				if len(v) < 2 || v[0] != fsmValueVersion1 || v[1] > 1 {
					return fmt.Errorf("%w: suspension value of %s", ErrVersion, k)
				}
				e.Suspended, e.Reason = v[1] == 1, string(v[2:])
				st.zones[string(k)] = e
				return nil
			}); err != nil {
				return err
			}
		}
		if b := fb.Bucket(rollbacksBucket); b != nil {
			if err := b.ForEach(func(k, v []byte) error {
				e, ok := st.zones[string(k)]
				if !ok || e.Owner == nil {
					return fmt.Errorf("rollback of %s, a zone not stored with an owner", k)
				}
				if len(v) < 1 || v[0] != fsmValueVersion1 {
					return fmt.Errorf("%w: rollback value of %s", ErrVersion, k)
				}
				r, err := zone.ParseRollback(v[1:], e.Owner)
				if err != nil {
					return fmt.Errorf("rollback of %s: %w", k, err)
				}
				e.Rollback = r
				st.zones[string(k)] = e
				return nil
			}); err != nil {
				return err
			}
		}
		if b := fb.Bucket(membersBucket); b != nil {
			return b.ForEach(func(k, v []byte) error {
				m, err := decodeMember(string(k), v)
				st.members[m.ID] = m
				return err
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, s.path, err)
	}
	return st, nil
}

// replaceState replaces everything the store holds with st in one write
// transaction (snapshot restore).
func (s *Store) replaceState(st *fsmState) error {
	return s.db.update(func(tx kvTx) error {
		var zones [][]byte
		if err := tx.ForEach(func(name []byte) error {
			if !bytes.Equal(name, formatBucket) {
				zones = append(zones, bytes.Clone(name))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, name := range zones {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		if err := tx.Bucket(formatBucket).DeleteBucket(fsmBucket); err != nil && !errors.Is(err, errBucketMissing) {
			return err
		}
		for _, origin := range st.sortedZones() {
			e := st.zones[origin]
			if _, err := s.putTx(tx, e.Zone); err != nil {
				return err
			}
			if e.Owner != nil {
				if err := setOwnerTx(tx, origin, e.Owner.DNSKEY); err != nil {
					return err
				}
			}
			if e.Suspended || e.Reason != "" {
				if err := setSuspendedTx(tx, origin, e.Suspended, e.Reason); err != nil {
					return err
				}
			}
		}
		for _, m := range st.sortedMembers() {
			if err := setMemberTx(tx, m); err != nil {
				return err
			}
		}
		if err := putRegistryTx(tx, st.reg); err != nil {
			return err
		}
		for _, sg := range st.sortedStaging() {
			if err := putStagingTx(tx, sg); err != nil {
				return err
			}
		}
		return setAppliedTx(tx, st.applied)
	})
}
