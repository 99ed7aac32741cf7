package intergroup

import (
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// TestLivenessKeepsTheLatest: a heartbeat older than the one held (a
// pass-on that arrives after the node's next heartbeat) does not replace
// it.
func TestLivenessKeepsTheLatest(t *testing.T) {
	var l Liveness
	t0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	if _, ok := l.Get("e1"); ok {
		t.Fatal("Get on an empty Liveness found a record")
	}
	l.Note(raftfsm.NodeRecord{ID: "e1", Seen: t0.Add(10 * time.Second), Applied: 2})
	l.Note(raftfsm.NodeRecord{ID: "e1", Seen: t0, Applied: 1})
	if r, ok := l.Get("e1"); !ok || r.Applied != 2 {
		t.Errorf("Get(e1) = %+v, %v after an older heartbeat arrived last; want the later one (applied 2)", r, ok)
	}
	l.Note(raftfsm.NodeRecord{ID: "e1", Seen: t0.Add(20 * time.Second), Applied: 3})
	if r, _ := l.Get("e1"); r.Applied != 3 {
		t.Errorf("Get(e1) = %+v, want the newest heartbeat (applied 3)", r)
	}
}
