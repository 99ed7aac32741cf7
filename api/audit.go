package api

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AuditFile is the audit log's file name in Options.DataDir. The audit log
// is node-local: each node records the keyed requests it served itself
// (requests it proxied to the registry are recorded there).
const AuditFile = "audit.db"

// maxAudit bounds the audit log: past it, the oldest records are dropped.
const maxAudit = 100_000

// Audit query limits.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

var auditBucket = []byte("audit-v1")

// AuditRecord is one keyed request.
type AuditRecord struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	KeyID  string    `json:"key_id"`
	Action string    `json:"action"`         // the endpoint, e.g. "zones.changes"
	Zone   string    `json:"zone,omitempty"` // canonical
	Result string    `json:"result"`         // "ok" or the error code
	Status int       `json:"status"`
}

// AuditFilter selects records; zero fields select everything.
type AuditFilter struct {
	Zone         string
	KeyID        string
	Since, Until time.Time // Since inclusive, Until exclusive
	Limit        int       // default 100, at most 1000
}

// auditLog is the bbolt audit store. Requests hand records to one writer
// goroutine, which commits whatever has queued in one transaction, so a
// request does not wait for an fsync of its own. The goroutine is owned
// by the auditLog: close stops it after writing everything queued.
type auditLog struct {
	db  *bolt.DB
	max uint64 // records kept; maxAudit

	mu     sync.RWMutex // held for reading while sending on ch; close takes it for writing
	closed bool
	ch     chan auditItem
	done   chan struct{} // closed when the writer has returned
	err    error         // the writer's last error, read after done
}

// auditItem is a record to write, or (rec nil) a flush: flushed is closed
// once everything queued before it is committed.
type auditItem struct {
	rec     *AuditRecord
	flushed chan struct{}
}

// errAuditClosed is returned by add and query after close.
var errAuditClosed = errors.New("audit log closed")

func openAudit(dir string) (*auditLog, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("api: audit log: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, AuditFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("api: audit log %s: %w", filepath.Join(dir, AuditFile), err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(auditBucket)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("api: audit log: %w", err)
	}
	a := &auditLog{db: db, max: maxAudit, ch: make(chan auditItem, 1024), done: make(chan struct{})}
	go a.run()
	return a, nil
}

// close writes what is queued, stops the writer and closes the file.
func (a *auditLog) close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	close(a.ch)
	a.mu.Unlock()
	<-a.done
	return errors.Join(a.err, a.db.Close())
}

// send queues it; false after close.
func (a *auditLog) send(it auditItem) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return false
	}
	a.ch <- it
	return true
}

// add queues rec (its Seq is assigned when written). The oldest records
// past a.max are dropped.
func (a *auditLog) add(rec AuditRecord) error {
	if !a.send(auditItem{rec: &rec}) {
		return errAuditClosed
	}
	return nil
}

// flush returns once every record queued before it is committed.
func (a *auditLog) flush() error {
	it := auditItem{flushed: make(chan struct{})}
	if !a.send(it) {
		return errAuditClosed
	}
	<-it.flushed
	return nil
}

// run is the writer: it commits each batch of queued records in one
// transaction until ch is closed.
func (a *auditLog) run() {
	defer close(a.done)
	for it := range a.ch {
		batch := []auditItem{it}
	more:
		for len(batch) < 1000 {
			select {
			case it, ok := <-a.ch:
				if !ok {
					break more
				}
				batch = append(batch, it)
			default:
				break more
			}
		}
		if err := a.write(batch); err != nil {
			a.err = err
		}
		for _, it := range batch {
			if it.flushed != nil {
				close(it.flushed)
			}
		}
	}
}

// write commits the records of batch and trims the log to a.max.
func (a *auditLog) write(batch []auditItem) error {
	return a.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(auditBucket)
		var seq uint64
		for _, it := range batch {
			if it.rec == nil {
				continue
			}
			var err error
			if seq, err = b.NextSequence(); err != nil {
				return err
			}
			it.rec.Seq = seq
			v, err := json.Marshal(it.rec)
			if err != nil {
				return err
			}
			if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
				return err
			}
		}
		if seq > a.max {
			var old [][]byte
			c := b.Cursor()
			for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= seq-a.max; k, _ = c.Next() {
				old = append(old, k)
			}
			for _, k := range old {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// query returns matching records, newest first.
func (a *auditLog) query(f AuditFilter) ([]AuditRecord, error) {
	if err := a.flush(); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultAuditLimit
	}
	limit = min(limit, maxAuditLimit)
	out := []AuditRecord{}
	err := a.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(auditBucket).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var rec AuditRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("audit record %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if f.KeyID != "" && rec.KeyID != f.KeyID || f.Zone != "" && rec.Zone != f.Zone ||
				!f.Since.IsZero() && rec.Time.Before(f.Since) || !f.Until.IsZero() && !rec.Time.Before(f.Until) {
				continue
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}
