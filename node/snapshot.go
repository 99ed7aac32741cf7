package node

import (
	"context"
	"io"
)

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
	return grp.Restore(ctx, io.LimitReader(r, maxSnapshot))
}

// maxSnapshot caps a snapshot sent for restore.
const maxSnapshot = 4 << 30
