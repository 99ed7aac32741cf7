package overlay

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// countingSubmitter counts Submit calls: a dry run must never reach it.
type countingSubmitter struct{ calls atomic.Int64 }

func (s *countingSubmitter) Submit(ctx context.Context, zone string, cmd []byte) (uint32, uint64, error) {
	s.calls.Add(1)
	return 1, 1, nil
}

// testChecker accepts a one-byte command for "example." (serial 7 +
// the byte), refuses longer ones as rejected, and holds no other zone.
type testChecker struct{ calls atomic.Int64 }

func (c *testChecker) CheckChange(ctx context.Context, zone string, cmd []byte) (uint32, error) {
	c.calls.Add(1)
	switch {
	case zone != "example.":
		return 0, &RPCError{Code: CodeNotFound, Message: "no zone " + zone}
	case len(cmd) != 1:
		return 0, &RPCError{Code: CodeRejected, Message: "bad-signature: wrong key"}
	}
	return 7 + uint32(cmd[0]), nil
}

// A dry run goes to the Checker, never the Submitter, and comes back with
// the serial and no index, or the Checker's refusal; a server without a
// Checker answers unsupported and applies nothing.
func TestSubmitChangeDryRun(t *testing.T) {
	sub, chk := &countingSubmitter{}, &testChecker{}
	p := newTestProviderWith(t, nil, ServerOptions{Submitter: sub, Checker: chk})
	noChecker := newTestProviderWith(t, nil, ServerOptions{Submitter: sub})
	c := newTestClient(t, ClientOptions{})
	ctx := t.Context()

	resp, err := c.SubmitChange(ctx, p.info(), &SubmitChangeRequest{Zone: "example.", Cmd: []byte{3}, DryRun: true})
	if err != nil || *resp != (SubmitChangeResponse{Serial: 10}) {
		t.Fatalf("dry run = %+v, %v, want serial 10 and index 0", resp, err)
	}
	tests := []struct {
		name string
		p    *testProvider
		zone string
		cmd  []byte
		code string
		msg  string
	}{
		{"rejected", p, "example.", []byte{1, 2}, CodeRejected, "bad-signature: wrong key"},
		{"no such zone", p, "other.", []byte{1}, CodeNotFound, "no zone other."},
		{"no checker", noChecker, "example.", []byte{1}, CodeUnsupported, "this node checks no changes (dry run)"},
	}
	for _, tt := range tests {
		resp, err := c.SubmitChange(ctx, tt.p.info(), &SubmitChangeRequest{Zone: tt.zone, Cmd: tt.cmd, DryRun: true})
		re, ok := errors.AsType[*RPCError](err)
		if !ok || re.Code != tt.code || re.Message != tt.msg || resp == nil || resp.Serial != 0 {
			t.Errorf("%s: dry run = %+v, %v, want code %s %q", tt.name, resp, err, tt.code, tt.msg)
		}
	}
	if n := sub.calls.Load(); n != 0 {
		t.Errorf("Submitter called %d times by dry runs, want 0", n)
	}
	if n := chk.calls.Load(); n != 3 {
		t.Errorf("Checker called %d times, want 3", n)
	}
	if st := p.srv.Stats(); st.Checks != 3 || st.Changes != 0 {
		t.Errorf("Stats() = %+v, want 3 checks and no changes", st)
	}
	// The same server still applies a real change through the Submitter.
	if _, err := c.SubmitChange(ctx, p.info(), &SubmitChangeRequest{Zone: "example.", Cmd: []byte{3}}); err != nil || sub.calls.Load() != 1 {
		t.Errorf("real change = %v with %d Submit calls, want applied once", err, sub.calls.Load())
	}
}
