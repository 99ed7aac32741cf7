package raftfsm

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/pki"
)

// neverFuture is a raft.Future that is never answered. It stands in for
// the future hashicorp/raft v1.7.3 can leave unanswered when Shutdown
// races its enqueue (seen once under load: Close waited on it forever);
// that race cannot be produced on demand, so this fake takes its place.
type neverFuture struct{ block chan struct{} }

func (f neverFuture) Error() error { <-f.block; return errors.New("answered after the test") }

// TestCloseWithUnansweredFuture: Close returns, within futureGrace and a
// little, even while a caller's future is never answered; the caller
// itself got ErrClosed.
func TestCloseWithUnansweredFuture(t *testing.T) {
	ca, err := pki.NewCA("close-test")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := pki.IssueNode(ca, "m0", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := OpenStore(StorePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	fsm, err := NewFSM(store, FSMOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, err := OpenGroup(ctx, GroupOptions{ID: "m0", Dir: filepath.Join(dir, "raft"), Bind: "127.0.0.1:0",
		TLS: pki.MutualTLS(pair, ca.Pool()), Bootstrap: true, FSM: fsm, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	t.Cleanup(func() { close(block) }) // lets the left goroutine end with the test
	// A waiter registered as wait registers one, so the test does not
	// depend on the goroutine below having got that far before Close.
	g.mu.Lock()
	g.wg.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.wg.Done()
		neverFuture{block}.Error()
	}()
	waited := make(chan error, 1)
	go func() { waited <- g.wait(context.Background(), neverFuture{block}) }()
	// Close with a deadline well past futureGrace.
	cctx, ccancel := context.WithTimeout(context.Background(), futureGrace+10*time.Second)
	defer ccancel()
	if err := g.Close(cctx); err != nil {
		t.Fatalf("Close with an unanswered future = %v, want nil", err)
	}
	select {
	case err := <-waited:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("waiter got %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the waiter did not return after Close")
	}
}
