package raftfsm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ddnrs/ddnrs/translog"
)

// membershipGoldenCommands are remove-node (28) and move-zone (29), body
// version 1, by golden file name.
func membershipGoldenCommands() map[string]Command {
	return map[string]Command{
		"cmd_remove_node.hex": &RemoveNode{ID: "eu-3", Reason: "disk died", Actor: OperatorActor, Time: regAt(14)},
		"cmd_move_zone.hex":   &MoveZone{Zone: "example.", Group: "us", Reason: "closer to its users", Actor: OperatorActor, Time: regAt(15)},
	}
}

// TestMembershipCommandGolden pins the encodings of remove-node and
// move-zone.
func TestMembershipCommandGolden(t *testing.T) {
	for name, c := range membershipGoldenCommands() {
		t.Run(name, func(t *testing.T) {
			b := encode(t, c)
			checkGolden(t, name, b)
			if b[0] != byte(c.Type()) || b[1] != commandVersion1 {
				t.Errorf("%s starts %x, want type %d version 1", name, b[:2], c.Type())
			}
			back, err := DecodeCommand(b)
			if err != nil {
				t.Fatalf("DecodeCommand: %v", err)
			}
			if again := encode(t, back); !bytes.Equal(again, b) {
				t.Errorf("re-encoded %x, want %x", again, b)
			}
			for cut := 1; cut < len(b)-2; cut++ {
				if _, err := DecodeCommand(b[:len(b)-cut]); !errors.Is(err, ErrMalformedCommand) {
					t.Errorf("cut by %d: %v, want ErrMalformedCommand", cut, err)
				}
			}
		})
	}
}

// TestRemoveNode: a removal drops the node from the directory, logs a
// node-removal entry with its addresses, and refuses the node's later
// heartbeats and a second removal; a node never listed is unknown. The
// removed set survives a restart (read back from the log in the store)
// and a snapshot restore, though neither format carries it apart.
func TestRemoveNode(t *testing.T) {
	f := newTestFSM(t)
	f.applyAll(t, 1, heartbeat("eu-1", "eu", "eu", 1), heartbeat("eu-3", "eu", "eu", 1))
	want := func(f *testFSM, c Command, reason Reason) {
		t.Helper()
		r := f.apply(f.AppliedIndex()+1, encode(t, c))
		var rej *RejectedError
		if err, ok := r.(error); !ok || !errors.As(err, &rej) || rej.Reason != reason {
			t.Errorf("Apply(%T %+v) = %v, want rejected %s", c, c, r, reason)
		}
	}
	want(f, &RemoveNode{ID: "nobody", Actor: OperatorActor, Time: regAt(2)}, ReasonUnknownNode)
	want(f, &RemoveNode{Actor: OperatorActor, Time: regAt(2)}, ReasonMalformed)
	size := f.Registry().LogSize()
	f.applyAll(t, f.AppliedIndex()+1, &RemoveNode{ID: "eu-3", Reason: "disk died", Actor: OperatorActor, Time: regAt(3)})
	reg := f.Registry()
	if _, ok := reg.Node("eu-3"); ok || !reg.Removed("eu-3") || reg.Removed("eu-1") {
		t.Fatalf("after removal: listed %v, removed %v (eu-1 %v)", ok, reg.Removed("eu-3"), reg.Removed("eu-1"))
	}
	if reg.LogSize() != size+1 {
		t.Fatalf("log size %d after a removal, want %d", reg.LogSize(), size+1)
	}
	leaf, err := reg.LogEntry(size)
	if err != nil {
		t.Fatal(err)
	}
	e, err := translog.ParseEntry(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != translog.KindNodeRemoval || e.NodeID != "eu-3" || e.Group != "eu" || e.Reason != "disk died" || len(e.NodeAddrs) == 0 {
		t.Errorf("logged %+v, want the removal of eu-3 with its addresses", e)
	}
	want(f, heartbeat("eu-3", "eu", "eu", 4), ReasonNodeRemoved)
	want(f, &RemoveNode{ID: "eu-3", Actor: OperatorActor, Time: regAt(5)}, ReasonNodeRemoved)
	f.checkDiskMatchesMemory(t)

	// A restart reads the removed set back from the log.
	f.store.Close()
	g := openFSM(t, reopenTestStore(t, f.path), f.path)
	if !g.Registry().Removed("eu-3") {
		t.Error("after a restart eu-3 is no longer removed")
	}
	want(g, heartbeat("eu-3", "eu", "eu", 6), ReasonNodeRemoved)

	// So does a snapshot restore.
	var buf bytes.Buffer
	if err := g.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	h := newTestFSM(t)
	if err := h.Restore(readCloser(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if !h.Registry().Removed("eu-3") {
		t.Error("after a snapshot restore eu-3 is no longer removed")
	}
	want(h, heartbeat("eu-3", "eu", "eu", 7), ReasonNodeRemoved)
}

// TestMoveZone: a claim moves to another group of the directory, keeping
// its owner key and generation, and the move is logged; a move to its own group, to a group no
// node is in, or of a name not claimed is refused.
func TestMoveZone(t *testing.T) {
	f := newTestFSM(t)
	k := seedKey(t, "example.", 1)
	f.applyAll(t, 1, heartbeat("eu-1", "eu", "eu", 1), heartbeat("us-1", "us", "us", 1),
		&ClaimZone{Zone: "example.", Owner: ownerText(k), Group: "eu", Actor: OperatorActor, Time: regAt(2)})
	for _, tc := range []struct {
		c      *MoveZone
		reason Reason
	}{
		{&MoveZone{Zone: "example.", Group: "eu", Time: regAt(3)}, ReasonSameGroup},
		{&MoveZone{Zone: "example.", Group: "mars", Time: regAt(3)}, ReasonUnknownGroup},
		{&MoveZone{Zone: "other.", Group: "us", Time: regAt(3)}, ReasonNoClaim},
		{&MoveZone{Zone: "example.", Time: regAt(3)}, ReasonMalformed},
	} {
		r := f.apply(f.AppliedIndex()+1, encode(t, tc.c))
		var rej *RejectedError
		if err, ok := r.(error); !ok || !errors.As(err, &rej) || rej.Reason != tc.reason {
			t.Errorf("Apply(%+v) = %v, want rejected %s", tc.c, r, tc.reason)
		}
	}
	size := f.Registry().LogSize()
	f.applyAll(t, f.AppliedIndex()+1, &MoveZone{Zone: "Example.", Group: "us", Actor: OperatorActor, Time: regAt(4)})
	c, ok := f.Registry().Claim("example.")
	if !ok || c.Group != "us" || c.Owner != ownerText(k) || c.Generation != 0 {
		t.Errorf("claim after the move = %+v, %v; want group us, same owner", c, ok)
	}
	if n := f.Registry().groupClaims("eu"); n != 0 {
		t.Errorf("group eu still counts %d claims", n)
	}
	if f.Registry().LogSize() != size+1 {
		t.Fatalf("a move logged %d entries, want 1", f.Registry().LogSize()-size)
	}
	leaf, err := f.Registry().LogEntry(size)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := translog.ParseEntry(leaf); err != nil || e.Kind != translog.KindZoneMove || e.Zone != "example." || e.Group != "us" ||
		e.OwnerKey != ownerText(k) || len(e.NodeAddrs) != 1 || e.NodeAddrs[0] != "from=eu" {
		t.Errorf("logged %+v (%v), want the move of example. from eu to us", e, err)
	}
	f.checkDiskMatchesMemory(t)
}
