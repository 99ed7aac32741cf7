package integration

import (
	"context"
	"testing"
	"time"

	raftbench "github.com/ddnrs/ddnrs/bench/raft"
)

// TestReadyAfterCatchUp (issue 17, item 6): a member killed while the
// group commits a hundred changes is restarted and its /readyz status
// polled from the moment its process is up: the first time it says
// ready, its Raft applied index is at least what the leader had
// committed when it started (ready_lag 0), its state machine has
// processed what the leader's had, and it serves the last acknowledged
// serial; before, it said ready at the leader's first heartbeat, and
// then while its state machine was still a second behind Raft.
func TestReadyAfterCatchUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 node processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := startGroupOf(t, ctx, 3)
	o, err := c.NewOwner(0, "ready.test.", true)
	if err != nil {
		t.Fatal(err)
	}
	h := &history{}
	settle(t, ctx, c, o, h)
	if err := c.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m *raftbench.Member
	for _, x := range c.Members {
		if x != l {
			m = x
			break
		}
	}
	m.Kill()
	for range 100 {
		settle(t, ctx, c, o, h)
	}
	l, err = c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lst, err := c.Client.Status(ctx, l.Admin)
	if err != nil {
		t.Fatal(err)
	}
	target, processed := lst.CommitIndex, lst.ProcessedIndex
	t0 := time.Now()
	if err := c.StartMember(ctx, m); err != nil {
		t.Fatal(err)
	}
	polls := 0
	for {
		st, err := c.Client.Status(ctx, m.Admin)
		polls++
		if err == nil && st.Ready {
			if st.AppliedIndex < target || st.ProcessedIndex < processed {
				t.Fatalf("%s says ready with applied index %d, processed %d, below the leader's commit index %d or processed index %d when it started", m.ID, st.AppliedIndex, st.ProcessedIndex, target, processed)
			}
			t.Logf("%s ready %v after its restart (%d polls), applied %d, processed %d, leader's commit index at restart %d, processed %d",
				m.ID, time.Since(t0).Round(time.Millisecond), polls, st.AppliedIndex, st.ProcessedIndex, target, processed)
			serial, err := raftbench.SOASerial(ctx, m.DNS, o.Origin)
			if err != nil || serial != o.Serial() {
				t.Fatalf("%s serves %s serial %d (%v) when first ready; the last acknowledged is %d", m.ID, o.Origin, serial, err, o.Serial())
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%s never ready: %v %+v", m.ID, err, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
