package admin

import (
	"context"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// Retry bounds how often ToLeader tries. Zero fields take the defaults
// named on each.
type Retry struct {
	// Attempts is the number of tries in all, the first included.
	// Default 3.
	Attempts int
	// Backoff is the wait before the second try; each later wait is
	// twice the one before. Default 100 ms.
	Backoff time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 3
	}
	if r.Backoff <= 0 {
		r.Backoff = 100 * time.Millisecond
	}
	return r
}

// ToLeader is To for a request that may be sent more than once (it is
// idempotent: a heartbeat pass-on, a status read): it asks leader() for
// the leader's id before every try, so a try after an election goes to
// the new leader, and tries again after a backoff while the answer says
// the leader could not be reached or has changed (unavailable,
// not_leader, no_leader, internal, a try's own timeout), at most r.Attempts times
// in all and never past ctx. An answer every try would get (bad
// request, rejected, forbidden, not found) returns at once. It returns
// nil on the first success, else the last try's error (a
// *raftfsm.NotLeaderError with no leader id when no try knew a leader).
//
// The caller's goroutine sleeps between tries: callers that must not
// wait call it on a goroutine of their own.
func (f Forwarder) ToLeader(ctx context.Context, r Retry, leader func() string, fn func(ctx context.Context, addr string) error) error {
	r = r.withDefaults()
	wait := r.Backoff
	var err error
	for try := 0; try < r.Attempts; try++ {
		if try > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
			wait *= 2
		}
		err = f.To(ctx, &raftfsm.NotLeaderError{LeaderID: leader()}, fn)
		if err == nil || ctx.Err() != nil || !retryable(err) {
			return err
		}
	}
	return err
}

// retryable reports whether err may go away on another try: the leader
// was not reached, or is not (or no longer) the leader, or the try ran
// out of its own time.
func retryable(err error) bool {
	switch ErrorOf(err).Code {
	case CodeUnavailable, CodeNotLeader, CodeNoLeader, CodeNoQuorum, CodeInternal:
		return true
	}
	return false
}
