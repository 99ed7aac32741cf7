package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/writes"
)

// TestAckListsMembers: a write committed by the leader of a group of
// three answers with the members that have applied it (read-your-writes,
// group.ack_wait), every one of them here, and each then serves it;
// GET /v1/group/processed answers at once for an index reached, with
// Reached false when its wait ends first, and refuses bad parameters.
func TestAckListsMembers(t *testing.T) {
	nodes, p := startGroup(t, 3)
	leader, _ := leaderOf(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	z, _ := signedTestZone(t, "ack.test.")
	cmd, err := writes.PublishCommand(nil, z)
	if err != nil {
		t.Fatal(err)
	}
	res, err := leader.Submit(ctx, z.Origin, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"n1", "n2", "n3"}; !slices.Equal(res.Members, want) || len(res.Pending) != 0 {
		t.Errorf("Submit = members %v, pending %v; want members %v, none pending", res.Members, res.Pending, want)
	}
	for _, n := range nodes {
		// No wait: each listed member holds it when the answer comes.
		if _, err := n.Stored(z.Origin); err != nil {
			t.Errorf("%s right after the acknowledged create: %v", n.ID(), err)
		}
	}

	ac := p.client(t, "ops")
	addr := nodes[1].AdminAddr()
	got, err := ac.WaitProcessed(ctx, addr, res.Index, 0)
	if err != nil || !got.Reached || got.Index < res.Index || got.ID != nodes[1].ID() {
		t.Errorf("WaitProcessed(%d, 0) = %+v, %v; want reached at once", res.Index, got, err)
	}
	got, err = ac.WaitProcessed(ctx, addr, 1<<40, 50*time.Millisecond)
	if err != nil || got.Reached || got.Index < res.Index {
		t.Errorf("WaitProcessed(1<<40, 50ms) = %+v, %v; want not reached, at %d or beyond", got, err, res.Index)
	}
	for _, q := range []string{"", "?index=x", "?index=-1", "?index=1&wait=zz", "?index=1&wait=-1s", fmt.Sprintf("?index=1&wait=%v", admin.MaxProcessedWait+time.Second)} {
		if code, err := getStatus(ctx, ac, addr, "/v1/group/processed"+q); code != http.StatusBadRequest {
			t.Errorf("GET /v1/group/processed%s = %d, %v; want 400", q, code, err)
		}
	}
}

// TestProcessedStream: GET /v1/group/processed/stream writes a member's
// processed index at once and again once a later write is processed
// there, so the leader learns it without a request per write; a bad
// for is refused; a member that stops ends its streams rather than
// waiting for them (its Stop returns while a client still reads one).
func TestProcessedStream(t *testing.T) {
	nodes, p := startGroup(t, 3)
	leader, followers := leaderOf(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ac := p.client(t, "ops")
	addr := followers[0].AdminAddr()
	for _, q := range []string{"?for=zz", "?for=0s", "?for=-1s", "?for=500ms", fmt.Sprintf("?for=%v", admin.MaxProcessedStream+time.Second)} {
		if code, err := getStatus(ctx, ac, addr, "/v1/group/processed/stream"+q); code != http.StatusBadRequest {
			t.Errorf("GET /v1/group/processed/stream%s = %d, %v; want 400", q, code, err)
		}
	}

	lines := make(chan admin.ProcessedLine, 64)
	done := make(chan error, 1)
	go func() {
		done <- ac.FollowProcessed(ctx, addr, admin.MaxProcessedStream, func(l admin.ProcessedLine) bool {
			lines <- l
			return true
		})
	}()
	first := <-lines
	if first.ID != followers[0].ID() {
		t.Errorf("first line names %q, want %q", first.ID, followers[0].ID())
	}
	z, _ := signedTestZone(t, "stream.test.")
	cmd, err := writes.PublishCommand(nil, z)
	if err != nil {
		t.Fatal(err)
	}
	res, err := leader.Submit(ctx, z.Origin, cmd)
	if err != nil {
		t.Fatal(err)
	}
	for at := first.Index; at < res.Index; {
		select {
		case l := <-lines:
			if l.Index <= at {
				t.Fatalf("line %+v after index %d: a stream's indexes only rise", l, at)
			}
			at = l.Index
		case err := <-done:
			t.Fatalf("stream ended before index %d: %v", res.Index, err)
		}
	}

	// Close ends the stream; the client sees it end without an error.
	stopCtx, stopCancel := context.WithTimeout(ctx, 20*time.Second)
	defer stopCancel()
	if err := followers[0].Close(stopCtx); err != nil {
		t.Fatalf("Close with a stream open: %v", err)
	}
	if err := <-done; err != nil && !errors.Is(err, admin.ErrUnavailable) {
		t.Errorf("FollowProcessed after the member stopped = %v, want nil or unavailable", err)
	}
}
