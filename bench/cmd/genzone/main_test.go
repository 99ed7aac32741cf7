package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/zone"
)

// TestGenzone runs the command and checks that the zone parses with the
// n names asked for and that the query mix is about 80/20.
func TestGenzone(t *testing.T) {
	dir := t.TempDir()
	zf, qf := filepath.Join(dir, "bench.zone"), filepath.Join(dir, "q.txt")
	os.Args = []string{"genzone", "-n", "500", "-count", "2000", "-zone", zf, "-queries", qf}
	if err := run(); err != nil {
		t.Fatalf("run() = %v", err)
	}
	f, err := os.Open(zf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := zone.ParseFile(f, "bench.", zf)
	if err != nil {
		t.Fatalf("ParseFile(%s) = %v", zf, err)
	}
	// 500 hosts, ns1, ns2 and the apex.
	if got := z.Len(); got != 503 {
		t.Errorf("generated zone has %d names, want 503", got)
	}
	q, err := os.Open(qf)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var total, nx int
	sc := bufio.NewScanner(q)
	for sc.Scan() {
		total++
		if strings.HasPrefix(sc.Text(), "nx") {
			nx++
		}
	}
	if total != 2000 || nx < 300 || nx > 500 {
		t.Errorf("query file: %d queries, %d NXDOMAIN, want 2000 with about 400", total, nx)
	}
}
