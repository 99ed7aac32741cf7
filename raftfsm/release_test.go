package raftfsm

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mappedKiB is how much of the file path this process holds resident
// through its mappings (the Rss of path's entries in /proc/self/smaps).
func mappedKiB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatalf("reading smaps (Linux only): %v", err)
	}
	defer f.Close()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	total, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) >= 6 && fields[len(fields)-1] == abs
			continue
		}
		if in && len(fields) >= 2 && fields[0] == "Rss:" {
			var kib int
			fmt.Sscan(fields[1], &kib)
			total += kib
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// TestReleaseDropsMappedPages checks that the zone a member loads is not
// held a second time as resident pages of bbolt's mapping of zones.db:
// reading a zone maps its pages in, Store.Release and NewFSM (which loads
// every zone) leave none resident, and the store still reads the same
// zone afterwards (the pages come back from the page cache).
func TestReleaseDropsMappedPages(t *testing.T) {
	if testBackend != BackendBolt {
		t.Skip("bbolt's mapping")
	}
	var extra []string
	for i := range 3000 {
		extra = append(extra, fmt.Sprintf("h%d IN A 10.0.%d.%d", i, i/256, i%256))
	}
	z := testZone(t, 1, extra...)
	s, path := openTestStore(t)
	if err := s.Put(z); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("example."); err != nil {
		t.Fatal(err)
	}
	read := mappedKiB(t, path)
	if read < 64 {
		t.Fatalf("after reading a %d-RRset zone the mapping of %s holds %d KiB resident; the test needs more to mean anything", len(z.RRsets()), path, read)
	}
	if err := s.Release(); err != nil {
		t.Fatalf("Release() = %v", err)
	}
	if got := mappedKiB(t, path); got != 0 {
		t.Errorf("after Release the mapping of %s holds %d KiB resident (%d before), want 0", path, got, read)
	}
	got, err := s.Get("example.")
	if err != nil {
		t.Fatalf("Get after Release: %v", err)
	}
	checkSameZone(t, got, z)

	s.Close()
	s = reopenTestStore(t, path)
	f := openFSM(t, s, path)
	if _, ok := f.Zone("example."); !ok {
		t.Fatal("the FSM loaded no zone example.")
	}
	if got := mappedKiB(t, path); got > 8 {
		t.Errorf("after NewFSM loaded the store the mapping of %s holds %d KiB resident, want at most 8 (the zone is in the FSM's memory)", path, got)
	}
}
