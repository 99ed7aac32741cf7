package raftfsm

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// openLogStore opens a real raft-boltdb log store in a temp dir.
func openLogStore(t *testing.T) *raftboltdb.BoltStore {
	t.Helper()
	s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(t.TempDir(), RaftLogFile)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func logOf(idx uint64, size int) *raft.Log {
	return &raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(idx)}, size)}
}

// TestLogCacheBoundsBytes stores what a staged upload stores (chunks of
// 256 KiB, more than the ring has slots) among small commands: the cache
// must hold only the small ones, every entry must still read back whole
// (large ones from the store), and a deletion must empty it. With
// raft.LogCache(512) the same entries held 128 MiB.
func TestLogCacheBoundsBytes(t *testing.T) {
	const entries, max = 16, 1 << 10
	c := newLogCache(openLogStore(t), entries, max)
	sizes := map[uint64]int{}
	var batch []*raft.Log
	for i := uint64(1); i <= 3*entries; i++ {
		size := 256 << 10
		if i%5 == 0 {
			size = 600 // a one-RRset change
		}
		sizes[i] = size
		batch = append(batch, logOf(i, size))
		if len(batch) == 4 {
			if err := c.StoreLogs(batch); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	// Of the last 16 entries (33..48), 35, 40 and 45 are small.
	if got, want := c.cachedBytes(), 3*600; got != want {
		t.Errorf("cachedBytes() = %d, want %d (the 3 small entries among the last %d)", got, want, entries)
	}
	for i := uint64(1); i <= 3*entries; i++ {
		var l raft.Log
		if err := c.GetLog(i, &l); err != nil {
			t.Fatalf("GetLog(%d) = %v", i, err)
		}
		if l.Index != i || len(l.Data) != sizes[i] || (len(l.Data) > 0 && l.Data[0] != byte(i)) {
			t.Errorf("GetLog(%d) = index %d, %d bytes, want index %d, %d bytes of %d", i, l.Index, len(l.Data), i, sizes[i], byte(i))
		}
	}
	// A large entry replacing a cached small one in its slot must not
	// leave the small one to be served for the new index.
	if err := c.StoreLog(logOf(45+entries, 4096)); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := c.GetLog(45+entries, &l); err != nil || len(l.Data) != 4096 {
		t.Errorf("GetLog(%d) = %d bytes, %v; want 4096 bytes", 45+entries, len(l.Data), err)
	}
	if got, want := c.cachedBytes(), 2*600; got != want {
		t.Errorf("cachedBytes() after a large entry took a small one's slot = %d, want %d", got, want)
	}
	if err := c.DeleteRange(1, 45+entries); err != nil {
		t.Fatal(err)
	}
	if got := c.cachedBytes(); got != 0 {
		t.Errorf("cachedBytes() after DeleteRange = %d, want 0", got)
	}
	if err := c.GetLog(40, &l); err == nil {
		t.Errorf("GetLog(40) after DeleteRange succeeded with %d bytes, want raft.ErrLogNotFound", len(l.Data))
	}
}

// TestLogCacheSmallEntriesFromRing checks that a small entry comes from
// the ring: after the store behind it is closed, it still reads.
func TestLogCacheSmallEntriesFromRing(t *testing.T) {
	s := openLogStore(t)
	c := newLogCache(s, 8, 1<<10)
	if err := c.StoreLogs([]*raft.Log{logOf(1, 100), logOf(2, 2000)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var l raft.Log
	if err := c.GetLog(1, &l); err != nil || len(l.Data) != 100 {
		t.Errorf("GetLog(1) with the store closed = %d bytes, %v; want 100 bytes from the ring", len(l.Data), err)
	}
	if err := c.GetLog(2, &l); err == nil {
		t.Errorf("GetLog(2) with the store closed succeeded; a 2000-byte entry must not be cached")
	}
	if c.IsMonotonic() {
		t.Errorf("IsMonotonic() = true over raft-boltdb, which does not say it is")
	}
}
