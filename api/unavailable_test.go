package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// failingGroupBackend is a backend whose zone group answers every write
// with err (the real node returns these while its group elects a
// leader).
type failingGroupBackend struct {
	*testBackend
	err error
}

func (b failingGroupBackend) SubmitZone(context.Context, string, string, raftfsm.Encoded, bool) (uint32, error) {
	return 0, b.err
}

// TestGroupUnavailable: a write whose group has no leader, or whose
// outcome is unknown, is a 503 with a stable code and Retry-After; the
// outcome_unknown message tells the client to send the same request
// again.
func TestGroupUnavailable(t *testing.T) {
	for _, tt := range []struct {
		err   error
		code  string
		say   string
		check bool // the body names where to read the zone's state
	}{
		{fmt.Errorf("%w: %w", raftfsm.ErrNoQuorum, fmt.Errorf("leadership lost while committing log")), "outcome_unknown", "send the same request again", true},
		{fmt.Errorf("%w: election in progress", raftfsm.ErrNoLeader), "no_leader", "no leader", false},
	} {
		t.Run(tt.code, func(t *testing.T) {
			f := newFixture(t, func(o *Options) {
				o.Backend = failingGroupBackend{o.Backend.(*testBackend), tt.err}
			})
			user := f.issue("user", userScope("example.org."), bigLimits, time.Time{})
			tz := newTestZone(t, "example.org.")
			r := f.do("POST", "/v1/zones", user, tz.createBody(t))
			want(t, "create while the group is unavailable", r, http.StatusServiceUnavailable, tt.code)
			if got := r.header.Get("Retry-After"); got != "1" {
				t.Errorf("Retry-After = %q, want 1", got)
			}
			if !strings.Contains(string(r.body), tt.say) {
				t.Errorf("body %s does not say %q", r.body, tt.say)
			}
			if check := `"check":"/v1/zones/example.org."`; strings.Contains(string(r.body), check) != tt.check {
				t.Errorf("body %s: contains %s = %v, want %v", r.body, check, !tt.check, tt.check)
			}
		})
	}
}
