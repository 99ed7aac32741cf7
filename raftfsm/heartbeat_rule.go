package raftfsm

import (
	"slices"
	"time"
)

// HeartbeatNeedsCommit is the registry's commit rule for node heartbeats
// (issue 15): a registry member proposes heartbeat rec as a
// NodeHeartbeat only when the directory has no record of the node (ok
// false), when the committed record is lease old (rec.Seen minus
// committed.Seen), or when rec changes what others dial or the leader
// of its group the node sees, or its load band (NodeRecord.Load); any other heartbeat only refreshes the
// member's memory. node/liveness.go applies it to every heartbeat, and
// the simulation (bench/sim) to 3,600 nodes'. Pure: no clock, no state.
func HeartbeatNeedsCommit(committed NodeRecord, ok bool, rec NodeRecord, lease time.Duration) bool {
	if !ok || rec.Seen.Sub(committed.Seen) >= lease {
		return true
	}
	return committed.Group != rec.Group || committed.Leader != rec.Leader || committed.Region != rec.Region || committed.DNS != rec.DNS ||
		committed.Load != rec.Load || committed.Admin != rec.Admin || committed.API != rec.API || committed.PeerID != rec.PeerID ||
		!slices.Equal(committed.Overlay, rec.Overlay) || !slices.Equal(committed.Transports, rec.Transports)
}
