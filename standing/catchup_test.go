package standing

import (
	"errors"
	"testing"
)

// A member is not ready until it knows the leader's commit index as of
// its start and has applied up to it (less the lag); once it has, it
// stays ready whatever the indexes do next.
func TestCatchUpCheck(t *testing.T) {
	var c catchUp
	steps := []struct {
		what      string
		target    uint64 // 0: not known yet
		leaderFSM uint64 // the leader's processed index
		applied   uint64
		processed uint64
		lag       uint64
		ready     bool
	}{
		{"target unknown", 0, 0, 0, 0, 0, false},
		{"target unknown, applied 50", 0, 0, 50, 50, 0, false},
		{"behind", 100, 98, 50, 50, 0, false},
		{"one behind", 100, 98, 99, 98, 0, false},
		// Raft handed everything over; the state machine is still at it.
		{"raft applied, state machine behind", 100, 98, 100, 60, 0, false},
		{"within the lag", 100, 98, 95, 90, 10, true},
		{"then behind again (latched)", 100, 98, 10, 10, 0, true},
	}
	for _, st := range steps {
		if st.target > 0 {
			c.target.Store(st.target)
			c.processed.Store(st.leaderFSM)
			c.known.Store(true)
		}
		err := c.check(st.applied, st.processed, st.lag)
		if (err == nil) != st.ready || (err != nil && !errors.Is(err, ErrCatchingUp)) {
			t.Errorf("%s: check(applied %d, processed %d, lag %d) = %v, want ready %v (else ErrCatchingUp)", st.what, st.applied, st.processed, st.lag, err, st.ready)
		}
	}
	var exact catchUp
	exact.target.Store(100)
	exact.processed.Store(98)
	exact.known.Store(true)
	if err := exact.check(100, 98, 0); err != nil {
		t.Errorf("applied == target: check = %v, want ready", err)
	}
}
