package node

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
		what    string
		target  uint64 // 0: not known yet
		applied uint64
		lag     uint64
		ready   bool
	}{
		{"target unknown", 0, 0, 0, false},
		{"target unknown, applied 50", 0, 50, 0, false},
		{"behind", 100, 50, 0, false},
		{"one behind", 100, 99, 0, false},
		{"within the lag", 100, 95, 10, true},
		{"then behind again (latched)", 100, 10, 0, true},
	}
	for _, st := range steps {
		if st.target > 0 {
			c.target.Store(st.target)
			c.known.Store(true)
		}
		err := c.check(st.applied, st.lag)
		if (err == nil) != st.ready || (err != nil && !errors.Is(err, ErrCatchingUp)) {
			t.Errorf("%s: check(applied %d, lag %d) = %v, want ready %v (else ErrCatchingUp)", st.what, st.applied, st.lag, err, st.ready)
		}
	}
	var exact catchUp
	exact.target.Store(100)
	exact.known.Store(true)
	if err := exact.check(100, 0); err != nil {
		t.Errorf("applied == target: check = %v, want ready", err)
	}
}
