package ops

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// A join that failed because the group was between leaders or could not
// commit in time is retried; a refused or malformed one is not.
func TestRetryableJoin(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"leadership lost (no_quorum)", &admin.APIError{Code: admin.CodeNoQuorum}, true},
		{"no leader", &admin.APIError{Code: admin.CodeNoLeader}, true},
		{"not leader", &admin.APIError{Code: admin.CodeNotLeader, LeaderID: "2"}, true},
		{"unavailable", &admin.APIError{Code: admin.CodeUnavailable}, true},
		{"wrapped no quorum", fmt.Errorf("join: %w", raftfsm.ErrNoQuorum), true},
		{"bad request", &admin.APIError{Code: admin.CodeBadRequest}, false},
		{"internal", &admin.APIError{Code: admin.CodeInternal}, false},
		{"canceled", context.Canceled, false},
		{"other", errors.New("disk full"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryableJoin(tt.err); got != tt.want {
				t.Errorf("retryableJoin(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
