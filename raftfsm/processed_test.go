package raftfsm

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestProcessed: Processed moves past every entry the FSM finished with,
// a rejected command and a configuration change included, where
// AppliedIndex stays at the last accepted one; WaitProcessed returns once
// it is reached, and with ctx's error (and where it got) before.
func TestProcessed(t *testing.T) {
	f := newTestFSM(t)
	if got := f.Processed(); got != 0 {
		t.Fatalf("Processed() of a new FSM = %d, want 0", got)
	}
	k := newKey(t, "example.")
	z1 := ownerZone(t, "example.", 1, k)
	f.mustApply(t, 1, mustCmd(t)(ChangeCommand(nil, z1, k)))

	woke := make(chan uint64, 1)
	go func() {
		at, _ := f.WaitProcessed(context.Background(), 3)
		woke <- at
	}()
	// A create of the same zone under another key: rejected
	// (zone-exists), the state unchanged.
	k2 := newKey(t, "example.")
	if _, ok := f.apply(2, mustCmd(t)(ChangeCommand(nil, ownerZone(t, "example.", 1, k2), k2))).(*RejectedError); !ok {
		t.Fatalf("second create accepted, want a rejection")
	}
	if got, want := f.Processed(), uint64(2); got != want {
		t.Errorf("Processed() after a rejected command = %d, want %d", got, want)
	}
	if got, want := f.AppliedIndex(), uint64(1); got != want {
		t.Errorf("AppliedIndex() after a rejected command = %d, want %d", got, want)
	}
	f.ApplyBatch([]*raft.Log{{Index: 3, Term: 1, Type: raft.LogConfiguration}})
	select {
	case at := <-woke:
		if at < 3 {
			t.Errorf("WaitProcessed(3) returned at %d", at)
		}
	case <-time.After(30 * time.Second): // only catches a hang
		t.Fatal("WaitProcessed(3) did not return after entry 3")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	at, err := f.WaitProcessed(ctx, 10)
	if !errors.Is(err, context.Canceled) || at != 3 {
		t.Errorf("WaitProcessed(cancelled, 10) = %d, %v; want 3, context.Canceled", at, err)
	}
	if at, err := f.WaitProcessed(ctx, 2); err != nil || at != 3 {
		t.Errorf("WaitProcessed(cancelled, 2) = %d, %v; want 3, nil (reached already)", at, err)
	}

	// Reopened, it starts from the stored applied index.
	f.store.Close()
	g := openFSM(t, reopenTestStore(t, f.path), f.path)
	if got := g.Processed(); got != 1 {
		t.Errorf("Processed() after reopening = %d, want the stored applied index 1", got)
	}
}
