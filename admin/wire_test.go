package admin

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/raftfsm"
)

func TestErrorOf(t *testing.T) {
	tests := []struct {
		err    error
		code   string
		status int
	}{
		{&raftfsm.NotLeaderError{LeaderID: "n2", LeaderAddr: "127.0.0.1:1"}, CodeNotLeader, http.StatusMisdirectedRequest},
		{&raftfsm.NotLeaderError{}, CodeNoLeader, http.StatusServiceUnavailable},
		{fmt.Errorf("apply: %w", raftfsm.ErrNoLeader), CodeNoLeader, http.StatusServiceUnavailable},
		{fmt.Errorf("apply: %w", raftfsm.ErrNoQuorum), CodeNoQuorum, http.StatusServiceUnavailable},
		{&raftfsm.RejectedError{Reason: raftfsm.ReasonStaleSerial, Err: errors.New("x")}, CodeRejected, http.StatusUnprocessableEntity},
		{fmt.Errorf("%w: x", raftfsm.ErrNoZone), CodeNotFound, http.StatusNotFound},
		{raftfsm.ErrUnknownMember, CodeNotFound, http.StatusNotFound},
		{fmt.Errorf("%w: x", ErrBadRequest), CodeBadRequest, http.StatusBadRequest},
		{raftfsm.ErrBadSnapshot, CodeBadRequest, http.StatusBadRequest},
		{fmt.Errorf("%w: starting", ErrUnavailable), CodeUnavailable, http.StatusServiceUnavailable},
		{raftfsm.ErrClosed, CodeUnavailable, http.StatusServiceUnavailable},
		{errors.New("disk on fire"), CodeInternal, http.StatusInternalServerError},
		{&APIError{Status: 503, Code: CodeNoQuorum}, CodeNoQuorum, 503},
	}
	for _, tt := range tests {
		got := ErrorOf(tt.err)
		if got.Code != tt.code || got.Status != tt.status {
			t.Errorf("ErrorOf(%v) = %s %d, want %s %d", tt.err, got.Code, got.Status, tt.code, tt.status)
		}
	}
	rej := ErrorOf(&raftfsm.RejectedError{Reason: raftfsm.ReasonStaleSerial})
	if rej.Reason != "stale-serial" {
		t.Errorf("rejected reason = %q, want stale-serial", rej.Reason)
	}
	// An error from another node keeps its meaning for errors.Is.
	if !errors.Is(&APIError{Code: CodeNoQuorum}, raftfsm.ErrNoQuorum) || errors.Is(&APIError{Code: CodeNoLeader}, raftfsm.ErrNoQuorum) {
		t.Error("APIError.Is does not follow its code")
	}
}

// TestErrorOfOtherGroup: the codes of the overlay cases, through the one
// mapping place.
func TestErrorOfOtherGroup(t *testing.T) {
	cases := []struct {
		err        error
		code       string
		status     int
		hasMembers bool
	}{
		{&OtherGroupError{Zone: "x.", Members: []string{"/p2p/A"}}, CodeNotHere, http.StatusMisdirectedRequest, true},
		{fmt.Errorf("wrapped: %w", &OtherGroupError{Zone: "x.", Members: []string{"/p2p/A"}, Create: true}), CodeExistsElsewhere, http.StatusConflict, true},
		{fmt.Errorf("submit: %w", &overlay.RPCError{Code: overlay.CodeRejected, Message: "stale-serial: no"}), CodeRejected, http.StatusUnprocessableEntity, false},
		{&overlay.RPCError{Code: overlay.CodeBadRequest}, CodeBadRequest, http.StatusBadRequest, false},
		{&overlay.RPCError{Code: overlay.CodeNotFound}, CodeNotFound, http.StatusNotFound, false},
		{&overlay.RPCError{Code: overlay.CodeUnavailable}, CodeUnavailable, http.StatusServiceUnavailable, false},
		{&overlay.RPCError{Code: overlay.CodeInternal}, CodeInternal, http.StatusBadGateway, false},
	}
	for _, c := range cases {
		ae := ErrorOf(c.err)
		if ae.Code != c.code || ae.Status != c.status || (len(ae.Members) > 0) != c.hasMembers {
			t.Errorf("ErrorOf(%v) = %s %d members %v, want %s %d members %v", c.err, ae.Code, ae.Status, ae.Members, c.code, c.status, c.hasMembers)
		}
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"n1", true},
		{"east-1.a_b", true},
		{"", false},
		{"a b", false},
		{"ü", false},
		{string(make([]byte, 65)), false},
	}
	for _, tt := range tests {
		if got := ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}
