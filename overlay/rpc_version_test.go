package overlay

import (
	"context"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// rejectingChecker refuses every dry run with a typed rejection.
type rejectingChecker struct{}

func (rejectingChecker) CheckChange(context.Context, string, []byte) (uint32, error) {
	return 0, &RPCError{Code: CodeRejected, Reason: "stale-serial", Message: "serial 3 is not above 4"}
}

// TestRPCVersions: a version-2 client and server carry a rejection's
// reason as a field; a version-1 peer (a stream of /ddnrs/rpc/1 opened by
// hand, as a node before version 2 does) gets version-1 frames with the
// reason in front of the message; and the client falls back to version 1
// for a peer that serves only that. The version-1 peer is this test's own
// handler on a real host: no older binary runs here.
func TestRPCVersions(t *testing.T) {
	p := newTestProviderWith(t, nil, ServerOptions{Checker: rejectingChecker{}})
	c := newTestClient(t, ClientOptions{})
	ctx := t.Context()
	req := &SubmitChangeRequest{Zone: "example.", Cmd: []byte{1}, DryRun: true}

	_, err := c.SubmitChange(ctx, p.info(), req)
	re, ok := errors.AsType[*RPCError](err)
	if !ok || re.Code != CodeRejected || re.Reason != "stale-serial" || re.Message != "serial 3 is not above 4" {
		t.Fatalf("version 2: SubmitChange = %v, want rejected (stale-serial) with the bare message", err)
	}

	// A version-1 peer asks the same server.
	h := rpcTestHost(t)
	h.Peerstore().AddAddrs(p.h.ID(), p.h.Addrs(), 1<<62)
	st, err := h.NewStream(ctx, p.h.ID(), protocol.ID(ProtocolIDV1))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := WriteFrame(st, 1, 5, req, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	v, id, m, err := ReadFrame(st, 0)
	want := &SubmitChangeResponse{Code: CodeRejected, Message: "stale-serial: serial 3 is not above 4"}
	if err != nil || v != 1 || id != 5 || *m.(*SubmitChangeResponse) != *want {
		t.Errorf("version 1 reply = v%d %d %#v %v, want v1 5 %#v", v, id, m, err, want)
	}

	// A peer that serves only version 1 answers the client in version 1.
	old := rpcTestHost(t)
	old.SetStreamHandler(protocol.ID(ProtocolIDV1), func(st network.Stream) {
		defer st.Close()
		v, id, _, err := ReadFrame(st, 0)
		if err != nil || v != 1 {
			t.Errorf("old peer read v%d, %v; want a version-1 request", v, err)
			_ = st.Reset()
			return
		}
		_ = WriteFrame(st, 1, id, &SubmitChangeResponse{Code: CodeRejected, Message: "wrong-key: signed by another key"}, 0)
	})
	_, err = c.SubmitChange(ctx, (&testProvider{h: old}).info(), req)
	re, ok = errors.AsType[*RPCError](err)
	if !ok || re.Code != CodeRejected || re.Reason != "" || re.Message != "wrong-key: signed by another key" {
		t.Errorf("version-1 peer: SubmitChange = %#v, want rejected without a reason field", err)
	}
}
