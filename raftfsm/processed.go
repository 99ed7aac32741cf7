package raftfsm

// processed.go: how far the state machine has got (issue 17 items 5 and
// 6). Raft's own applied index (Group.Stats().AppliedIndex) counts the
// entries Raft has handed to the FSM's goroutine, not those the FSM has
// finished: a member catching up can be a second or more behind it, and
// AppliedIndex (the last entry that changed the state) stays put over
// rejected commands. Processed is the index of the last entry whose
// processing is over, whatever came of it: applied, rejected, skipped as
// a replay, or a configuration change, its effects visible to readers
// (OnZone called). Raft never hands the FSM its no-op and barrier
// entries, so after an election Processed can stay below the commit
// index until the next command: compare it with the index of a command.

import (
	"context"
	"sync"
)

// processedIndex is the FSM's Processed index and its waiters.
type processedIndex struct {
	mu    sync.Mutex
	index uint64
	next  chan struct{} // closed when index moves; replaced then
}

// advance moves the index to i when i is above it and wakes the waiters.
func (p *processedIndex) advance(i uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i <= p.index {
		return
	}
	p.index = i
	if p.next != nil {
		close(p.next)
		p.next = nil
	}
}

// Processed returns the index of the last log entry the FSM has finished
// processing (applied, rejected, skipped or a configuration change), or
// the applied index it loaded from the store or a snapshot. Safe from any
// goroutine.
func (f *FSM) Processed() uint64 {
	f.proc.mu.Lock()
	defer f.proc.mu.Unlock()
	return f.proc.index
}

// WaitProcessed returns once Processed is at least index, with it, or
// with ctx's error and the index reached when ctx ends first. Safe from
// any goroutine; never call it from OnZone (the FSM goroutine would wait
// on itself).
func (f *FSM) WaitProcessed(ctx context.Context, index uint64) (uint64, error) {
	for {
		f.proc.mu.Lock()
		at := f.proc.index
		if at >= index {
			f.proc.mu.Unlock()
			return at, nil
		}
		if f.proc.next == nil {
			f.proc.next = make(chan struct{})
		}
		ch := f.proc.next
		f.proc.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return at, ctx.Err()
		}
	}
}
