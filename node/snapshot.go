package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// groupRestorer is the optional capability of a group to replace the
// whole group's state with a snapshot (hashicorp/raft's user restore on
// the leader, replicated to the followers).
type groupRestorer interface {
	Restore(ctx context.Context, r io.Reader) error
}

// snapshot writes the local replica's state to w in the raftfsm snapshot
// format (magic, version, checksum trailer): the same bytes a Raft
// snapshot holds, taken from an immutable view so writes go on beside it.
func (n *Node) snapshot(ctx context.Context, w io.Writer) error {
	n.mu.Lock()
	fsm := n.fsm
	n.mu.Unlock()
	if fsm == nil {
		return ErrNotRunning
	}
	return fsm.WriteSnapshot(w)
}

// restore replaces the group's state with the snapshot r; the group
// checks the snapshot before anything changes. Leader only.
func (n *Node) restore(ctx context.Context, r io.Reader) error {
	n.mu.Lock()
	grp := n.group
	n.mu.Unlock()
	if grp == nil {
		return ErrNotRunning
	}
	gr, ok := any(grp).(groupRestorer)
	if !ok {
		return &APIError{Status: http.StatusNotImplemented, Code: CodeInternal, Message: fmt.Sprintf("this build's Raft group (%T) cannot restore a snapshot", grp)}
	}
	return gr.Restore(ctx, io.LimitReader(r, maxSnapshot))
}

// maxSnapshot caps a snapshot sent for restore.
const maxSnapshot = 4 << 30
