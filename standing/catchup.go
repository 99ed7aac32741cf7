package standing

// catchup.go: /readyz tells the truth after a restart (issue 17 item 6).
// A member that was down keeps its old copy of the zones; it knows a
// leader as soon as one heartbeat arrives, long before it has applied
// what the group committed meanwhile. It is ready only once it has
// applied up to the leader's commit index as of its start (less
// group.ready_lag entries).
//
// "Applied" is two indexes. Raft's applied index counts the entries
// handed to the state machine's goroutine, which may still be applying
// the last ones (TestReadyAfterCatchUp saw a member serve serials 1 ->
// 101 over about a second after Raft's index reached the target). So the
// member also waits until its state machine has processed (raftfsm
// FSM.Processed: applied, rejected, skipped) up to what the leader's had
// processed as of the member's start. Raft never hands the state machine
// its no-op entries, so the leader's processed index, not its commit
// index, is the target there. A leader of an older build reports no
// processed index: then only Raft's index counts.

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Backoff of the catch-up target's retries.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 2 * time.Second
)

// errNoLeader: the leader is not known yet (learnCommitTarget retries).
var errNoLeader = errors.New("no leader known yet")

// catchUp is the member's progress towards the leader's commit index as
// of its start.
type catchUp struct {
	target    atomic.Uint64 // the leader's commit index; valid once known
	processed atomic.Uint64 // the leader's processed index (0: not reported)
	known     atomic.Bool
	done      atomic.Bool // latched: once caught up, ready stays true
}

// check returns nil once Raft's applied index is within lag of the
// leader's commit index and the state machine's processed index within
// lag of the leader's, and from then on; ErrCatchingUp (wrapped, with
// the indexes) before.
func (c *catchUp) check(applied, processed, lag uint64) error {
	if c.done.Load() {
		return nil
	}
	if !c.known.Load() {
		return fmt.Errorf("%w: the leader's commit index is not known yet", ErrCatchingUp)
	}
	if t := c.target.Load(); applied+lag < t {
		return fmt.Errorf("%w: applied %d of the leader's %d", ErrCatchingUp, applied, t)
	}
	if t := c.processed.Load(); processed+lag < t {
		return fmt.Errorf("%w: the state machine processed %d of the leader's %d", ErrCatchingUp, processed, t)
	}
	c.done.Store(true)
	return nil
}

// learnCommitTarget asks the leader, once, for its commit index (through
// its admin endpoint; the leader's own index when this member leads) and
// records it as the catch-up target, retrying with backoff until it
// succeeds or ctx ends.
func (s *Standing) learnCommitTarget(ctx context.Context) {
	delay := retryMin
	for {
		t, p, err := s.leaderCommit(ctx)
		if err == nil {
			s.catchUp.target.Store(t)
			s.catchUp.processed.Store(p)
			s.catchUp.known.Store(true)
			s.o.Log.Debug("catch-up target known", "commit_index", t, "processed_index", p)
			return
		}
		s.o.Log.Debug("catch-up target: will retry", "err", err, "in", delay)
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

// leaderCommit returns the leader's commit index and its state
// machine's processed index (0 from a leader that does not report it).
func (s *Standing) leaderCommit(ctx context.Context) (commit, processed uint64, err error) {
	id, _ := s.o.Group.Leader()
	switch {
	case id == "":
		return 0, 0, errNoLeader
	case id == s.o.Self:
		if s.o.Processed != nil {
			processed = s.o.Processed()
		}
		return s.o.Group.Stats().CommitIndex, processed, nil
	}
	addr, ok := s.o.Admin(id)
	if !ok || addr == "" {
		return 0, 0, fmt.Errorf("leader %s: admin address not known yet", id)
	}
	cctx, cancel := context.WithTimeout(ctx, s.o.AskTimeout)
	defer cancel()
	st, err := s.o.Client.Status(cctx, addr)
	if err != nil {
		return 0, 0, fmt.Errorf("leader %s: %w", id, err)
	}
	return st.CommitIndex, st.ProcessedIndex, nil
}
