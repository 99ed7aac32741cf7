package raftfsm

import (
	"sync"

	"github.com/hashicorp/raft"
)

// Log cache bounds (logCache). raft.LogCache keeps the last N entries
// whatever their size, so after a staged upload its ring held the
// upload's chunks, up to 1 MiB each (MaxEntryBytes): a second copy of
// a large zone in memory for as long as nothing overwrote them (issue
// 11 item 3). Ours keeps only entries of at most logCacheEntryBytes,
// so it holds at most logCacheEntries * logCacheEntryBytes bytes of
// entry data (8 MiB); a larger entry is read from the log store (an
// mmap of raft.db) the few times Raft needs it again.
const (
	// logCacheEntries is the number of recent entries the cache can
	// hold, as raft.NewLogCache(512, ...) held before.
	logCacheEntries = 512
	// logCacheEntryBytes is the largest entry (Data plus Extensions)
	// the cache keeps: a one-RRset change, a registry command or a
	// heartbeat fits, a staged chunk does not.
	logCacheEntryBytes = 16 << 10
)

// logCache wraps the Raft log store with an in-memory ring of the most
// recent small entries, serving the leader's replication and the FSM's
// apply of fresh entries without a read of the store. It is safe for
// concurrent use (Raft calls it from several goroutines).
type logCache struct {
	store raft.LogStore
	max   int // logCacheEntryBytes, smaller in tests

	mu    sync.RWMutex
	ring  []*raft.Log
	bytes int // entry bytes the ring holds (Data + Extensions)
}

// newLogCache returns a cache of entries entries of at most max bytes
// each in front of store.
func newLogCache(store raft.LogStore, entries, max int) *logCache {
	return &logCache{store: store, max: max, ring: make([]*raft.Log, entries)}
}

func entryBytes(l *raft.Log) int { return len(l.Data) + len(l.Extensions) }

// IsMonotonic passes on the store's raft.MonotonicLogStore answer.
func (c *logCache) IsMonotonic() bool {
	m, ok := c.store.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// GetLog returns entry idx from the ring, or from the store.
func (c *logCache) GetLog(idx uint64, l *raft.Log) error {
	c.mu.RLock()
	cached := c.ring[idx%uint64(len(c.ring))]
	c.mu.RUnlock()
	if cached != nil && cached.Index == idx {
		*l = *cached
		return nil
	}
	return c.store.GetLog(idx, l)
}

// StoreLog stores one entry (StoreLogs).
func (c *logCache) StoreLog(l *raft.Log) error { return c.StoreLogs([]*raft.Log{l}) }

// StoreLogs writes logs to the store and, once stored, puts the small
// ones in the ring; a large one empties its slot, so the ring never
// returns an older entry for its index.
func (c *logCache) StoreLogs(logs []*raft.Log) error {
	if err := c.store.StoreLogs(logs); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range logs {
		slot := &c.ring[l.Index%uint64(len(c.ring))]
		if *slot != nil {
			c.bytes -= entryBytes(*slot)
			*slot = nil
		}
		if n := entryBytes(l); n <= c.max {
			*slot = l
			c.bytes += n
		}
	}
	return nil
}

// FirstIndex is the store's.
func (c *logCache) FirstIndex() (uint64, error) { return c.store.FirstIndex() }

// LastIndex is the store's.
func (c *logCache) LastIndex() (uint64, error) { return c.store.LastIndex() }

// DeleteRange empties the ring and deletes [min, max] from the store.
func (c *logCache) DeleteRange(min, max uint64) error {
	c.mu.Lock()
	clear(c.ring)
	c.bytes = 0
	c.mu.Unlock()
	return c.store.DeleteRange(min, max)
}

// cachedBytes is the entry data the ring holds.
func (c *logCache) cachedBytes() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.bytes
}
