package node

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/miekg/dns"
)

// TestNodeOnPebble runs a node whose zone store is pebble ([group]
// store = "pebble"): it serves a published zone, and serves it again
// after a restart from its zones.pebble directory.
func TestNodeOnPebble(t *testing.T) {
	dir := t.TempDir()
	cfg := Default()
	cfg.DataDir = dir
	cfg.DNS = "127.0.0.1:0"
	cfg.Group.RaftBind = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Group.Store = "pebble"
	start := func() *Node {
		t.Helper()
		n, err := New(cfg, testLogger(t))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if err := n.Start(context.Background()); err != nil {
			t.Fatalf("Start: %v", err)
		}
		return n
	}
	n1 := start()
	z, _ := publishDemo(t, n1)
	if err := n1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, raftfsm.StorePebbleDir)); err != nil || !fi.IsDir() {
		t.Fatalf("no pebble store directory: %v", err)
	}
	n2 := start()
	t.Cleanup(func() { n2.Close(context.Background()) })
	r := exchange(t, n2, "tcp", "demo.ddnrs.", dns.TypeSOA, false)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != z.Serial() {
		t.Fatalf("SOA after restart on pebble = %v, want serial %d", r.Answer, z.Serial())
	}
}
