package standing

// removed_ids.go: a node id the registry removed from its node directory
// never joins a group again (issue 14 item 4). `ddnrs ops node remove`
// logs a node-removal entry; the registry refuses the id's heartbeats
// from then on, and every node that follows the log keeps the removed ids
// (client.LogState.Removed, follow.json version 5). A group's admin join
// (POST /v1/group/join, admin.Options.CheckJoin) asks RemovedIDs, so a
// wiped machine that comes back under its old id is refused by its group
// too, not only by the registry, before it enters the Raft configuration.

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// RemovedIDs is the set of node ids the registry's log removed, as the
// node's log follower last handed it over. The zero value knows of no
// removal (a node that follows no log refuses no join for it). Safe for
// concurrent use.
type RemovedIDs struct {
	m atomic.Pointer[map[string]client.LogRemoved]
}

// Learn takes the removals the follower read (logfollow.View.Removed);
// nil (not known yet) keeps what was known. Called from the follower's
// goroutine.
func (r *RemovedIDs) Learn(m map[string]client.LogRemoved) {
	if m != nil {
		r.m.Store(&m)
	}
}

// CheckJoin refuses a join of id when the log removed it: a
// *raftfsm.RejectedError with reason node-removed naming the
// node-removal entry (its log index, time, group and reason).
func (r *RemovedIDs) CheckJoin(id string) error {
	m := r.m.Load()
	if m == nil {
		return nil
	}
	rm, ok := (*m)[id]
	if !ok {
		return nil
	}
	return &raftfsm.RejectedError{Reason: raftfsm.ReasonNodeRemoved, Err: fmt.Errorf(
		"node %q was removed from the node directory for good by the registry log's node-removal entry %d (%s, group %q, reason %q): a removed id never joins again; give the machine a new node id",
		id, rm.Index, rm.Time.UTC().Format(time.RFC3339), rm.Group, rm.Reason)}
}
