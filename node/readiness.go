package node

// readiness.go: /readyz tells the truth after a restart (issue 17 item
// 6). A member that was down keeps its old copy of the zones; it knows a
// leader as soon as one heartbeat arrives, long before it has applied
// what the group committed meanwhile. It is ready only once it has
// applied up to the leader's commit index as of its start (less
// group.ready_lag entries).
//
// Limit: "applied" is Raft's applied index, the entries handed to the
// state machine; the state machine may still be applying the last ones
// (TestReadyAfterCatchUp saw it serve serials 1 -> 101 over about a
// second after Raft's index reached the target, a hundred changes with
// their signature checks). Closing that gap needs raftfsm to report the
// last index it has processed, rejected entries included.

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// ErrCatchingUp is what /readyz reports while the member has not applied
// up to the leader's commit index as of its start, or does not know that
// index yet.
var ErrCatchingUp = errors.New("catching up with the leader")

// catchUp is the member's progress towards the leader's commit index as
// of its start.
type catchUp struct {
	target atomic.Uint64 // the leader's commit index; valid once known
	known  atomic.Bool
	done   atomic.Bool // latched: once caught up, ready stays true
}

// check returns nil once applied is within lag of the target, and from
// then on; ErrCatchingUp (wrapped, with the indexes) before.
func (c *catchUp) check(applied, lag uint64) error {
	if c.done.Load() {
		return nil
	}
	if !c.known.Load() {
		return fmt.Errorf("%w: the leader's commit index is not known yet", ErrCatchingUp)
	}
	if t := c.target.Load(); applied+lag < t {
		return fmt.Errorf("%w: applied %d of the leader's %d", ErrCatchingUp, applied, t)
	}
	c.done.Store(true)
	return nil
}

// learnCommitTarget asks the leader, once, for its commit index (through
// its admin endpoint; the leader's own index when this node leads) and
// records it as the catch-up target, retrying with backoff until it
// succeeds or ctx ends. It runs on its own goroutine, owned by Start and
// stopped by Close.
func (n *Node) learnCommitTarget(ctx context.Context) {
	delay := retryMin
	for {
		t, err := n.leaderCommit(ctx)
		if err == nil {
			n.catchUp.target.Store(t)
			n.catchUp.known.Store(true)
			n.log.Debug("catch-up target known", "commit_index", t)
			return
		}
		n.log.Debug("catch-up target: will retry", "err", err, "in", delay)
		tm := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			tm.Stop()
			return
		case <-tm.C:
		}
		delay = min(2*delay, retryMax)
	}
}

// leaderCommit returns the leader's commit index.
func (n *Node) leaderCommit(ctx context.Context) (uint64, error) {
	id, _ := n.group.Leader()
	switch {
	case id == "":
		return 0, ErrNoLeaderYet
	case id == n.cfg.Group.ID:
		return n.group.Stats().CommitIndex, nil
	}
	m, ok := n.lookupMember(id)
	if !ok || m.Admin == "" {
		return 0, fmt.Errorf("leader %s: admin address not known yet", id)
	}
	cctx, cancel := context.WithTimeout(ctx, n.cfg.Admin.ForwardTimeout)
	defer cancel()
	st, err := n.client.Status(cctx, m.Admin)
	if err != nil {
		return 0, fmt.Errorf("leader %s: %w", id, err)
	}
	return st.CommitIndex, nil
}
