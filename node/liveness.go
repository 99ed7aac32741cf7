package node

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// Node liveness without a Raft write per heartbeat (issue 15 item 1).
//
// A heartbeat (a registry member's own, or one a node of another group
// posts to a member's admin endpoint) is proposed as a NodeHeartbeat
// only when it changes the node's committed record (group, region,
// addresses, peer id, overlay addresses, transports: what others dial;
// and the leader of its group as it sees it, which changes once per
// election and which the directory's health names per group),
// when the directory does not list the node yet, or when the committed
// record is a heartbeat lease old ([registry] heartbeat_lease, default
// 10 x heartbeat_interval). Every other heartbeat only refreshes the
// member's memory (liveness below), and a member that is not the
// registry's leader passes it on to the leader's admin endpoint
// (marked forwarded, never passed on again), so the leader's memory
// holds every node's last heartbeat. A pass-on that fails (the leader
// unreachable, or changed by an election) is tried again, to the leader
// known then, up to passOnRetry's bound (3 tries, 100 and 200 ms apart).
//
// Directory health (Health, GET /v1/health) takes a node's record from
// this member's memory when it holds one (the last heartbeat it saw,
// with its live figures: applied index, leader), judged healthy within
// healthyAfter intervals as before; a node this member holds nothing
// about (after a leader change or a restart, on a follower) falls back
// to its committed record, judged healthy within one lease plus
// healthyAfter intervals. The state machine is unchanged: NodeHeartbeat
// still carries the member's time, set before proposing.
//
// At 3,600 nodes and the defaults that is 3,600 / 100 s = 36 commits/s
// instead of 360 (BenchmarkHeartbeatCommits prints both).

// heartbeatLease is the configured lease, or its default.
func (c RegistryConfig) heartbeatLease() time.Duration {
	if c.HeartbeatLease > 0 {
		return c.HeartbeatLease
	}
	return DefaultLeaseIntervals * c.HeartbeatInterval
}

// passOnRetry bounds the tries of a heartbeat's pass-on to the leader.
var passOnRetry = admin.Retry{Attempts: 3, Backoff: 100 * time.Millisecond}

// DefaultLeaseIntervals is the default [registry] heartbeat_lease in
// heartbeat intervals.
const DefaultLeaseIntervals = 10

// needsCommit is the commit rule (raftfsm.HeartbeatNeedsCommit; the
// simulation in bench/sim applies the same one).
var needsCommit = raftfsm.HeartbeatNeedsCommit

// noteHeartbeat handles a heartbeat on a registry member: it refreshes
// the member's memory, then proposes the record when needsCommit says
// so, else passes it on to the registry's leader unless this member is
// the leader or rec was forwarded to it already. Called by the
// heartbeat loop (the member's own record) and the admin endpoint.
func (n *Node) noteHeartbeat(ctx context.Context, rec raftfsm.NodeRecord, forwarded bool) error {
	fsm, grp, _, err := n.runningParts()
	if err != nil {
		return err
	}
	n.live.Note(rec)
	committed, ok := fsm.Registry().Node(rec.ID)
	if needsCommit(committed, ok, rec, n.cfg.Registry.heartbeatLease()) {
		cmd, err := raftfsm.EncodeCommand(&raftfsm.NodeHeartbeat{Node: rec})
		if err != nil {
			return err
		}
		return n.ProposeRegistry(ctx, cmd)
	}
	if forwarded || grp.IsLeader() {
		return nil
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	leader := func() string { id, _ := grp.Leader(); return id }
	err = n.writes.Forwarder().ToLeader(ctx, passOnRetry, leader, func(ctx context.Context, addr string) error {
		return n.client.ForwardJSON(ctx, addr, "/v1/registry/heartbeat", body)
	})
	if err != nil && admin.ErrorOf(err).Code == admin.CodeNoLeader {
		return nil // memory only until a leader is known; the next heartbeat tries again
	}
	return err
}

// liveRecords returns recs (the committed directory) with each node
// this member holds a heartbeat of replaced by that heartbeat, and
// whether each came from memory.
func (n *Node) liveRecords(recs []raftfsm.NodeRecord) []bool {
	fromMemory := make([]bool, len(recs))
	for i, r := range recs {
		if m, ok := n.live.Get(r.ID); ok && !m.Seen.Before(r.Seen) {
			recs[i], fromMemory[i] = m, true
		}
	}
	return fromMemory
}
