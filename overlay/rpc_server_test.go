package overlay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// testSubmitter accepts changes to "example." and refuses others as a
// follower would.
type testSubmitter struct{}

func (testSubmitter) Submit(ctx context.Context, zone string, cmd []byte) (uint32, uint64, error) {
	if zone != "example." {
		return 0, 0, &RPCError{Code: CodeNotLeader, Message: "leader is elsewhere"}
	}
	return 2026112700 + uint32(len(cmd)), 17, nil
}

func TestSubmitChangeAndPing(t *testing.T) {
	p := newTestProvider(t, &testAnswerer{}, testSubmitter{})
	bare := newTestProvider(t, nil, nil)
	c := newTestClient(t, ClientOptions{})
	ctx := t.Context()

	resp, err := c.SubmitChange(ctx, p.info(), &SubmitChangeRequest{Zone: "example.", Cmd: []byte{1, 2, 3}})
	if err != nil {
		t.Fatalf("SubmitChange error: %v", err)
	}
	if want := (SubmitChangeResponse{Serial: 2026112703, Index: 17}); *resp != want {
		t.Errorf("SubmitChange = %+v, want %+v", *resp, want)
	}

	tests := []struct {
		name string
		to   peer.AddrInfo
		zone string
		code string
	}{
		{"follower", p.info(), "other.", CodeNotLeader},
		{"no submitter", bare.info(), "example.", CodeUnsupported},
	}
	for _, tt := range tests {
		resp, err := c.SubmitChange(ctx, tt.to, &SubmitChangeRequest{Zone: tt.zone})
		re, ok := errors.AsType[*RPCError](err)
		if !ok || re.Code != tt.code || resp == nil || resp.Code != tt.code {
			t.Errorf("%s: SubmitChange = %+v, %v, want code %s", tt.name, resp, err, tt.code)
		}
	}

	if rtt, err := c.Ping(ctx, bare.info()); err != nil || rtt <= 0 {
		t.Errorf("Ping = %v, %v, want a positive RTT", rtt, err)
	}
	if _, ok := c.Scores().RTT(bare.h.ID()); !ok {
		t.Errorf("Ping did not enter the peer's RTT")
	}
}

// rawExchange opens a DDNRS-RPC stream from c to p, writes frames, closes
// the write side when closeWrite is set, and reads one message back.
func rawExchange(t *testing.T, c host.Host, p peer.AddrInfo, frames []byte, closeWrite bool) (Message, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c.Peerstore().AddAddrs(p.ID, p.Addrs, time.Minute)
	st, err := c.NewStream(ctx, p.ID, protocol.ID(ProtocolID))
	if err != nil {
		t.Fatalf("NewStream: %v", err)
	}
	defer st.Reset()
	if err := st.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(frames); err != nil {
		t.Fatalf("writing frames: %v", err)
	}
	var cwErr error
	if closeWrite {
		// A server that refuses the request early replies and stops
		// reading: CloseWrite then fails if that stop arrives first, and
		// the reply is still there to read.
		cwErr = st.CloseWrite()
	}
	_, m, err := ReadMessage(st, 0)
	if err != nil && cwErr != nil {
		return m, fmt.Errorf("CloseWrite: %w; reading: %w", cwErr, err)
	}
	return m, err
}

func frame(t *testing.T, id uint64, m Message) []byte {
	t.Helper()
	b, err := AppendMessage(nil, id, m, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The server answers protocol violations it can name with a bad_request
// ErrorResponse and never calls the Answerer for them.
func TestServerRejectsViolations(t *testing.T) {
	ans := &testAnswerer{}
	h := rpcTestHost(t)
	srv := NewServer(h, ServerOptions{Answerer: ans, MaxMessageSize: 4096, Timeout: 500 * time.Millisecond})
	t.Cleanup(func() { srv.Close() })
	p := peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
	c := rpcTestHost(t)

	query := frame(t, 1, &QueryRequest{Name: "a.example.", Type: 1})
	badVersion := bytes.Clone(query)
	badVersion[2] = 9
	tooBig := bytes.Clone(query)
	tooBig[12], tooBig[13] = 0, 1 // 65536 bytes > 4096
	tests := []struct {
		name   string
		frames []byte
	}{
		{"unknown version", badVersion},
		{"over the size limit", tooBig},
		{"two requests on one stream", append(bytes.Clone(query), query...)},
		{"response kind as request", frame(t, 1, &Pong{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := rawExchange(t, c, p, tt.frames, true)
			if e, ok := m.(*ErrorResponse); err != nil || !ok || e.Code != CodeBadRequest {
				t.Errorf("reply = %#v, %v, want ErrorResponse %s", m, err, CodeBadRequest)
			}
		})
	}
	if n := ans.calls.Load(); n != 0 {
		t.Errorf("Answerer called %d times for violations, want 0", n)
	}

	// A client that never half-closes gets no answer: the server's
	// deadline ends the stream.
	if m, err := rawExchange(t, c, p, query, false); err == nil {
		t.Errorf("reply without half-close = %#v, want the stream ended without a reply", m)
	}
	if n := ans.calls.Load(); n != 0 {
		t.Errorf("Answerer called %d times without half-close, want 0", n)
	}
	// The well-formed exchange on the same server works.
	if m, err := rawExchange(t, c, p, query, true); err != nil || m.Kind() != KindQueryResponse {
		t.Errorf("valid exchange = %#v, %v, want a QueryResponse", m, err)
	}
	if st, want := srv.Stats(), (ServerStats{Queries: 1, Refused: 4, Failed: 1}); st != want {
		t.Errorf("Stats() = %+v, want %+v", st, want)
	}
}

// Close cancels running calls, waits for their handlers, and unregisters
// the protocol so later streams are refused.
func TestServerClose(t *testing.T) {
	ans := &testAnswerer{block: true}
	p := newTestProvider(t, ans, nil)
	c := newTestClient(t, ClientOptions{})
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Query(t.Context(), []peer.AddrInfo{p.info()}, &QueryRequest{Name: "a.example."})
		errc <- err
	}()
	for ans.calls.Load() == 0 {
		select {
		case err := <-errc:
			t.Fatalf("Query returned %v before reaching the Answerer", err)
		case <-time.After(time.Millisecond):
		}
	}
	if err := p.srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := ans.done.Load(); n != 1 {
		t.Errorf("after Close, %d AnswerLocal calls returned, want 1", n)
	}
	err := <-errc
	if _, ok := errors.AsType[*AllFailedError](err); !ok {
		t.Errorf("Query during Close error = %v, want *AllFailedError", err)
	}
	if _, err := c.Ping(t.Context(), p.info()); err == nil {
		t.Errorf("Ping after Close succeeded, want the protocol refused")
	}
	if err := p.srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Beyond MaxConcurrent calls the server answers unavailable at once, and
// the client takes that as the member's failure and asks the next.
func TestServerMaxConcurrent(t *testing.T) {
	busy := newTestProviderWith(t, &testAnswerer{block: true}, ServerOptions{MaxConcurrent: 1})
	other := newTestProvider(t, &testAnswerer{}, nil)
	c := newTestClient(t, ClientOptions{HedgeDelay: time.Hour, MaxHedgeDelay: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Query(ctx, []peer.AddrInfo{busy.info()}, &QueryRequest{Name: "a.example."})
		errc <- err
	}()
	for busy.ans.calls.Load() == 0 {
		select {
		case err := <-errc:
			t.Fatalf("first Query returned %v before reaching the Answerer", err)
		case <-time.After(time.Millisecond):
		}
	}
	c2 := newTestClient(t, ClientOptions{HedgeDelay: time.Hour, MaxHedgeDelay: time.Hour})
	_, from, err := c2.Query(t.Context(), []peer.AddrInfo{busy.info(), other.info()}, &QueryRequest{Name: "b.example."})
	if err != nil || from != other.h.ID() {
		t.Errorf("Query with the first member busy = %s, %v, want answered by the other", from, err)
	}
	if n := busy.ans.calls.Load(); n != 1 {
		t.Errorf("busy Answerer called %d times, want 1 (the second request refused before it)", n)
	}
	_, _, err = c2.Query(t.Context(), []peer.AddrInfo{busy.info()}, &QueryRequest{Name: "b.example."})
	if re, ok := errors.AsType[*RPCError](err); !ok || re.Code != CodeUnavailable {
		t.Errorf("Query(busy only) error = %v, want RPCError %s", err, CodeUnavailable)
	}
	if st := busy.srv.Stats(); st.Busy != 2 || st.Queries != 1 {
		t.Errorf("busy server Stats() = %+v, want 2 busy and 1 query handed to the Answerer", st)
	}
	cancel()
	<-errc
}

// The RPC runs on the overlay's own Host (DHT and all) as on a plain
// libp2p host: a server on one node's host answers a client on another's.
func TestRPCOnOverlayHost(t *testing.T) {
	newHost := func() *Host {
		h, err := NewHost(t.Context(), HostOptions{KeyFile: filepath.Join(t.TempDir(), "id.key")})
		if err != nil {
			t.Fatalf("NewHost: %v", err)
		}
		t.Cleanup(func() {
			if err := h.Close(); err != nil {
				t.Errorf("Host.Close: %v", err)
			}
		})
		return h
	}
	owner, entry := newHost(), newHost()
	srv := NewServer(owner.P2P(), ServerOptions{Answerer: &testAnswerer{node: owner.ID().String()}})
	t.Cleanup(func() { srv.Close() })
	c := NewClient(entry.P2P(), ClientOptions{})
	ai, err := peer.AddrInfoFromString(owner.Addrs()[0])
	if err != nil {
		t.Fatalf("AddrInfoFromString(%q): %v", owner.Addrs()[0], err)
	}
	resp, from, err := c.Query(t.Context(), []peer.AddrInfo{*ai}, &QueryRequest{Name: "www.example.", Type: 1})
	if err != nil || from != owner.ID() {
		t.Fatalf("Query over overlay hosts = %s, %v, want answered by %s", from, err, owner.ID())
	}
	if len(resp.Audit) != 1 || resp.Audit[0].Node != owner.ID().String() {
		t.Errorf("Query Audit = %+v, want the owner's hop", resp.Audit)
	}
}
