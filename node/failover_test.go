package node

import (
	"context"
	"testing"
)

// TestWriteRidesOutLeaderDeath (issue 17 item 8, the path REST and
// DDNRS-RPC writes take): right after the leader stops without handing
// over, a write through a follower, which still knows the dead node as
// leader and cannot reach it, waits for the new leader (within
// admin.leader_wait) instead of failing at once with "unavailable".
func TestWriteRidesOutLeaderDeath(t *testing.T) {
	nodes, _ := startGroup(t, 3)
	leader, followers := leaderOf(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := leader.close(ctx, false); err != nil {
		t.Fatalf("stopping the leader %s: %v", leader.ID(), err)
	}
	z, _, cmd := demoCommand(t)
	res, err := followers[0].Submit(ctx, z.Origin, cmd)
	if err != nil {
		t.Fatalf("write through %s right after the leader %s stopped: %v", followers[0].ID(), leader.ID(), err)
	}
	if res.Serial != z.Serial() {
		t.Errorf("write = %+v, want serial %d", res, z.Serial())
	}
}
