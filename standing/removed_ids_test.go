package standing

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// TestRemovedIDsCheckJoin: a join of an id the log removed is refused
// with reason node-removed, naming the removal entry; other ids pass, and
// so does every id before the follower handed anything over (nil), or
// when it hands over "not known" (nil) after a known set.
func TestRemovedIDsCheckJoin(t *testing.T) {
	var r RemovedIDs
	if err := r.CheckJoin("eu-3"); err != nil {
		t.Fatalf("CheckJoin before any log was read = %v, want nil", err)
	}
	at := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	r.Learn(map[string]client.LogRemoved{"eu-3": {Index: 42, Group: "eu", Reason: "disk died", Time: at}})
	r.Learn(nil) // not known: keeps the set
	for _, tt := range []struct {
		id   string
		want []string // nil: allowed
	}{
		{"eu-3", []string{`"eu-3"`, "node-removal entry 42", "2026-12-07T05:00:00Z", `"eu"`, `"disk died"`, "new node id"}},
		{"eu-4", nil},
		{"EU-3", nil}, // ids are compared as given, as Raft does
	} {
		err := r.CheckJoin(tt.id)
		if tt.want == nil {
			if err != nil {
				t.Errorf("CheckJoin(%s) = %v, want nil", tt.id, err)
			}
			continue
		}
		var rej *raftfsm.RejectedError
		if !errors.As(err, &rej) || rej.Reason != raftfsm.ReasonNodeRemoved {
			t.Fatalf("CheckJoin(%s) = %v, want a node-removed rejection", tt.id, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("CheckJoin(%s) = %q, want it to say %s", tt.id, err, w)
			}
		}
	}
}
