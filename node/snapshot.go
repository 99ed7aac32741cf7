package node

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/ddnrs/ddnrs/raftfsm"
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
// checks the snapshot before anything changes. Leader only. A snapshot
// that would move a zone to an older serial is refused
// (*raftfsm.RollbackError) unless rollbacks hold its owner's statement;
// once restored, each statement is recorded beside its zone
// (raftfsm.RecordRollback) so the group hands it with its answers (issue
// 17 item 7). The snapshot is read into memory for the check.
func (n *Node) restore(ctx context.Context, r io.Reader, rollbacks [][]byte) error {
	n.mu.Lock()
	grp, fsm := n.group, n.fsm
	n.mu.Unlock()
	if grp == nil {
		return ErrNotRunning
	}
	snap, err := io.ReadAll(io.LimitReader(r, maxSnapshot))
	if err != nil {
		return fmt.Errorf("reading the snapshot: %w", err)
	}
	if id, _ := grp.Leader(); id != n.cfg.Group.ID {
		return grp.Restore(ctx, bytes.NewReader(snap)) // not_leader, naming the leader
	}
	ok, err := fsm.CheckRollbacks(snap, rollbacks)
	if err != nil {
		return err
	}
	if err := grp.Restore(ctx, bytes.NewReader(snap)); err != nil {
		return err
	}
	for origin, stmt := range ok {
		cmd, err := raftfsm.EncodeCommand(&raftfsm.RecordRollback{Zone: origin, Statement: stmt})
		if err == nil {
			_, err = n.writes.Apply(ctx, cmd)
		}
		if err != nil {
			return fmt.Errorf("restored, but the owner's rollback statement of %s was not recorded (nodes of other groups that saw a newer serial refuse the zone until it is; restore again with it): %w", origin, err)
		}
		n.log.Info("zone rolled back with its owner's statement", "zone", origin)
	}
	return nil
}

// maxSnapshot caps a snapshot sent for restore.
const maxSnapshot = 4 << 30
