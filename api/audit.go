package api

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// AuditFile is the audit log's file name in Options.DataDir. The audit log
// is node-local: each node records the keyed requests it served itself
// (requests it proxied to the registry are recorded there), with one
// writer per node. A read is cluster-wide: GET /v1/audit merges this
// node's records with every peer's (Options.AuditPeers), see
// clusterAudit.
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
	// Node is the id of the node that served the request and holds the
	// record (Options.NodeID); Seq numbers that node's records.
	Node   string    `json:"node"`
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	KeyID  string    `json:"key_id"`
	Action string    `json:"action"`         // the endpoint, e.g. "zones.changes"
	Zone   string    `json:"zone,omitempty"` // canonical
	// Target is the key a keys.issue or keys.revoke request issued or
	// revoked (a sub-key's issue is recorded under its parent's KeyID
	// with the sub-key here).
	Target string `json:"target,omitempty"`
	Result string `json:"result"` // "ok" or the error code
	Status int    `json:"status"`
}

// AuditFilter selects records; zero fields select everything.
type AuditFilter struct {
	Zone string
	// KeyID selects the records of requests made with the key and those
	// that issued or revoked it (Target).
	KeyID        string
	Since, Until time.Time // Since inclusive, Until exclusive
	Limit        int       // default 100, at most 1000
}

// match reports whether rec is one f selects (the limit aside).
func (f AuditFilter) match(rec AuditRecord) bool {
	return (f.KeyID == "" || rec.KeyID == f.KeyID || rec.Target == f.KeyID) && (f.Zone == "" || rec.Zone == f.Zone) &&
		(f.Since.IsZero() || !rec.Time.Before(f.Since)) && (f.Until.IsZero() || rec.Time.Before(f.Until))
}

// limit is f's limit with the default and the bound applied.
func (f AuditFilter) limit() int {
	if f.Limit <= 0 {
		return defaultAuditLimit
	}
	return min(f.Limit, maxAuditLimit)
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

// query returns matching records, newest first. Records are stored
// without their node id: query does not set Node.
func (a *auditLog) query(f AuditFilter) ([]AuditRecord, error) {
	if err := a.flush(); err != nil {
		return nil, err
	}
	limit := f.limit()
	out := []AuditRecord{}
	err := a.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(auditBucket).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var rec AuditRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("audit record %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if !f.match(rec) {
				continue
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// Audit reads across the cluster.
const (
	// DefaultPeerTimeout bounds the whole fan-out of a cluster-wide
	// audit read (Options.PeerTimeout).
	DefaultPeerTimeout = 2 * time.Second
	// maxPeerAuditBody bounds a peer's answer: maxAuditLimit records.
	maxPeerAuditBody = 4 << 20
	// maxPeerFanout is how many peers are asked at once.
	maxPeerFanout = 16
)

// Audit read scopes: query parameter scope of GET /v1/audit.
const (
	ScopeCluster = "cluster" // default: this node's records and every peer's
	ScopeNode    = "node"    // this node's records only (what a peer is asked)
)

// ErrPeerAnswer is returned (wrapped in *PeerError) when a peer answered a
// scope=node audit read with something other than its own records: a
// status other than 200, a body that is not the AuditList, or records of
// another node or outside the filter.
var ErrPeerAnswer = errors.New("peer did not answer with its audit records")

// PeerError is returned when one peer's records could not be read; Err is
// the transport error, the context's, or ErrPeerAnswer.
type PeerError struct {
	Node string
	URL  string
	Err  error
}

func (e *PeerError) Error() string {
	return fmt.Sprintf("audit records of node %s (%s): %v", e.Node, e.URL, e.Err)
}

func (e *PeerError) Unwrap() error { return e.Err }

// Peer is another node whose audit log a cluster-wide read merges.
type Peer struct {
	// ID is the node id its records carry (its Options.NodeID).
	ID string
	// URL is its API base URL ("http://host:port"); "" when it has no
	// reachable API address, which makes every cluster-wide read partial.
	URL string
}

// auditList is the answer of GET /v1/audit.
type auditList struct {
	Records []AuditRecord `json:"records"`
	// Partial is set when the records of some node could not be read
	// within Options.PeerTimeout; Unreachable names those nodes.
	Partial     bool     `json:"partial,omitempty"`
	Unreachable []string `json:"unreachable,omitempty"`
}

// clusterAudit reads the records f selects from this node's log and,
// unless scope is ScopeNode or there are no peers, from every peer's
// (GET /v1/audit?scope=node with auth, the caller's own Authorization
// header), each peer answering its own records only. It merges them
// newest first (time, then node id ascending, then seq descending),
// drops duplicates (same node and seq) and cuts the list to f's limit.
// A peer that does not answer with its records before PeerTimeout is in
// Unreachable, and the list is Partial.
func (s *Server) clusterAudit(ctx context.Context, f AuditFilter, scope, auth string) (auditList, error) {
	own, err := s.audit.query(f)
	if err != nil {
		return auditList{}, err
	}
	for i := range own {
		own[i].Node = s.opt.NodeID
	}
	out := auditList{Records: own}
	if scope == ScopeNode || s.opt.AuditPeers == nil {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opt.PeerTimeout)
	defer cancel()
	peers, err := s.opt.AuditPeers(ctx)
	if err != nil {
		// Who the peers are is unknown: only this node's records.
		s.log.Warn("audit read: the peers are unknown; answering with this node's records", "err", err)
		out.Partial = true
		return out, nil
	}
	peers = slices.DeleteFunc(slices.Clone(peers), func(p Peer) bool { return p.ID == s.opt.NodeID })
	got := make([][]AuditRecord, len(peers))
	errs := make([]error, len(peers))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxPeerFanout)
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				errs[i] = &PeerError{Node: p.ID, URL: p.URL, Err: ctx.Err()}
				return
			}
			got[i], errs[i] = s.peerAudit(ctx, p, f, auth)
		}()
	}
	wg.Wait()
	for i, p := range peers {
		if errs[i] != nil {
			s.log.Warn("audit read: a node's records are missing", "node", p.ID, "err", errs[i])
			out.Partial = true
			out.Unreachable = append(out.Unreachable, p.ID)
			continue
		}
		out.Records = append(out.Records, got[i]...)
	}
	out.Records = mergeAudit(out.Records, f.limit())
	slices.Sort(out.Unreachable)
	return out, nil
}

// mergeAudit sorts recs newest first (time descending, then node id
// ascending, then seq descending), drops duplicates and keeps the first
// limit.
func mergeAudit(recs []AuditRecord, limit int) []AuditRecord {
	slices.SortFunc(recs, func(a, b AuditRecord) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return cmp.Compare(b.Seq, a.Seq)
	})
	recs = slices.CompactFunc(recs, func(a, b AuditRecord) bool { return a.Node == b.Node && a.Seq == b.Seq })
	if len(recs) > limit {
		recs = recs[:limit]
	}
	return recs
}

// peerAudit asks p for its own records that f selects.
func (s *Server) peerAudit(ctx context.Context, p Peer, f AuditFilter, auth string) ([]AuditRecord, error) {
	fail := func(err error) ([]AuditRecord, error) { return nil, &PeerError{Node: p.ID, URL: p.URL, Err: err} }
	if p.URL == "" {
		return fail(fmt.Errorf("%w: the node has no API address", ErrPeerAnswer))
	}
	q := url.Values{"scope": {ScopeNode}, "limit": {strconv.Itoa(f.limit())}}
	if f.KeyID != "" {
		q.Set("key", f.KeyID)
	}
	if f.Zone != "" {
		q.Set("zone", f.Zone)
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p.URL, "/")+"/v1/audit?"+q.Encode(), nil)
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	res, err := s.peerClient.Do(req)
	if err != nil {
		return fail(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxPeerAuditBody+1))
	if err != nil {
		return fail(err)
	}
	if res.StatusCode != http.StatusOK {
		var e errorBody
		_ = json.Unmarshal(body, &e)
		return fail(fmt.Errorf("%w: %s %s", ErrPeerAnswer, res.Status, e.Error.Code))
	}
	if len(body) > maxPeerAuditBody {
		return fail(fmt.Errorf("%w: the answer is over %d bytes", ErrPeerAnswer, maxPeerAuditBody))
	}
	var l auditList
	if err := json.Unmarshal(body, &l); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrPeerAnswer, err))
	}
	if len(l.Records) > f.limit() {
		return fail(fmt.Errorf("%w: %d records, over the limit %d", ErrPeerAnswer, len(l.Records), f.limit()))
	}
	for _, rec := range l.Records {
		// A peer URL that leads to another node, or a node that
		// ignores the filter, must not put records in the list that
		// are not that node's or that the caller may not read.
		if rec.Node != p.ID {
			return fail(fmt.Errorf("%w: a record of node %q", ErrPeerAnswer, rec.Node))
		}
		if !f.match(rec) {
			return fail(fmt.Errorf("%w: record %d is outside the filter", ErrPeerAnswer, rec.Seq))
		}
	}
	return l.Records, nil
}
