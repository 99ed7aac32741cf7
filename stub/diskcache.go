package stub

// diskcache.go: verified answers kept on disk (data directory, cache.db,
// bbolt), so a restarted stub answers at once. An entry is the answer as
// the node sent it, its proofs included, so it is verified again, with
// the owner's key and the serial floor, when loaded: an entry altered on
// disk, or older than a serial seen since, is dropped (and counted), never
// served.
//
// Value format, version 1: 0x01 | stored (Unix seconds, u64 big-endian) |
// the DNS message in wire form. Key: the canonical name, a zero byte, the
// type (u16 big-endian). Bucket "answers".

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"
	bolt "go.etcd.io/bbolt"

	"github.com/ddnrs/ddnrs/client"
)

// diskValueVersion is the version byte of a cached answer on disk.
const diskValueVersion = 1

var answersBucket = []byte("answers")

// errBadEntry is why a disk entry could not be decoded.
var errBadEntry = errors.New("bad cache entry")

func diskKey(name string, t uint16) []byte {
	k := make([]byte, 0, len(name)+3)
	k = append(k, name...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint16(k, t)
}

func parseDiskKey(k []byte) (string, uint16, error) {
	if len(k) < 4 || k[len(k)-3] != 0 {
		return "", 0, fmt.Errorf("%w: key %q", errBadEntry, k)
	}
	return string(k[:len(k)-3]), binary.BigEndian.Uint16(k[len(k)-2:]), nil
}

func encodeDiskValue(stored time.Time, wire []byte) []byte {
	v := make([]byte, 0, 9+len(wire))
	v = append(v, diskValueVersion)
	v = binary.BigEndian.AppendUint64(v, uint64(stored.Unix()))
	return append(v, wire...)
}

func decodeDiskValue(v []byte) (time.Time, *dns.Msg, error) {
	if len(v) < 9 || v[0] != diskValueVersion {
		return time.Time{}, nil, fmt.Errorf("%w: version or length", errBadEntry)
	}
	m := new(dns.Msg)
	if err := m.Unpack(v[9:]); err != nil {
		return time.Time{}, nil, fmt.Errorf("%w: %v", errBadEntry, err)
	}
	return time.Unix(int64(binary.BigEndian.Uint64(v[1:9])), 0), m, nil
}

// diskPut is one answer to write.
type diskPut struct {
	name string
	t    uint16
	v    []byte
}

// openDisk opens the cache file and loads every entry that still
// verifies into s.cache; it returns how many were loaded and dropped.
func (s *Stub) openDisk(path string) (loaded, dropped int, err error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return 0, 0, fmt.Errorf("answer cache %s: %w (is another ddnrs stub using this data directory?)", path, err)
	}
	s.db = db
	now := s.now()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(answersBucket)
		if err != nil {
			return err
		}
		var bad [][]byte
		err = b.ForEach(func(k, val []byte) error {
			name, t, err := parseDiskKey(k)
			var stored time.Time
			var m *dns.Msg
			if err == nil {
				stored, m, err = decodeDiskValue(val)
			}
			var v *client.Verified
			if err == nil {
				v, err = s.verifier.VerifyResponse(name, t, m)
			}
			age := now.Sub(stored)
			if err == nil && (age < 0 || v.TTL <= age) {
				err = errExpired
			}
			if err != nil {
				bad = append(bad, append([]byte(nil), k...))
				if !errors.Is(err, errExpired) {
					s.met.cacheDropped.Inc()
					s.log.Warn("cached answer dropped: it no longer verifies", "name", name, "type", dns.TypeToString[t], "err", err)
				}
				return nil
			}
			lowerTTLs(v.Msg, age)
			v.TTL -= age
			s.cache.Put(name, t, v)
			loaded++
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range bad {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		dropped = len(bad)
		return nil
	})
	if err != nil {
		db.Close()
		return 0, 0, fmt.Errorf("answer cache %s: %w", path, err)
	}
	return loaded, dropped, nil
}

var errExpired = errors.New("expired")

// lowerTTLs lowers every record TTL of m but the OPT's by age.
func lowerTTLs(m *dns.Msg, age time.Duration) {
	a := uint32(age / time.Second)
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT {
				continue
			}
			if h.Ttl > a {
				h.Ttl -= a
			} else {
				h.Ttl = 0
			}
		}
	}
}

// keep queues a verified answer for the disk; when the writer is behind,
// the answer stays in memory only.
func (s *Stub) keep(name string, t uint16, v *client.Verified) {
	wire, err := v.Msg.Pack()
	if err != nil {
		return
	}
	select {
	case s.writes <- diskPut{name: name, t: t, v: encodeDiskValue(s.now(), wire)}:
	default:
		s.met.cacheDiskSkipped.Inc()
	}
}

// writer writes queued answers, a batch per transaction, until writes
// is closed.
func (s *Stub) writer() {
	for p := range s.writes {
		batch := []diskPut{p}
	more:
		for len(batch) < 256 {
			select {
			case q, ok := <-s.writes:
				if !ok {
					break more
				}
				batch = append(batch, q)
			default:
				break more
			}
		}
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(answersBucket)
			for _, p := range batch {
				if err := b.Put(diskKey(p.name, p.t), p.v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			s.log.Error("writing verified answers to the cache file", "err", err)
		}
	}
}
