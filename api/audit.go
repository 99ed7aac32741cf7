package api

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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

// auditLog is the bbolt audit store. Writes are batched by bbolt (Batch),
// so concurrent requests share a commit.
type auditLog struct {
	db  *bolt.DB
	max uint64 // records kept; maxAudit
}

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
	return &auditLog{db: db, max: maxAudit}, nil
}

func (a *auditLog) close() error { return a.db.Close() }

// add appends rec (its Seq is assigned) and drops the oldest records past
// a.max.
func (a *auditLog) add(rec AuditRecord) error {
	return a.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(auditBucket)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		rec.Seq = seq
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
			return err
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
