package raftfsm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenState returns an FSM holding the state the golden commands
// build: a zone, changed, rotated to a second key, a member.
func goldenState(t testing.TB) *testFSM {
	t.Helper()
	f := newTestFSM(t)
	cmds := goldenCommands(t)
	for i, name := range []string{"cmd_create_zone.hex", "cmd_publish_change.hex", "cmd_suspend.hex",
		"cmd_unsuspend.hex", "cmd_set_member.hex", "cmd_rotate_key.hex"} {
		if _, ok := f.apply(uint64(i+1), cmds[name]).(*ApplyResult); !ok {
			t.Fatalf("Apply(%s) = %v", name, f.apply(uint64(i+1), cmds[name]))
		}
	}
	return f
}

// TestSnapshotGolden pins the snapshot format: a failure means snapshots
// written by older builds may no longer restore. Add a version instead.
func TestSnapshotGolden(t *testing.T) {
	f := goldenState(t)
	var buf bytes.Buffer
	if err := f.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "snapshot_v1.hex", buf.Bytes())
	if !bytes.HasPrefix(buf.Bytes(), []byte("DDNRSSNP\x01")) {
		t.Errorf("snapshot starts %q, want magic and version 1", buf.Bytes()[:9])
	}

	b, err := os.ReadFile(filepath.Join("testdata", "snapshot_v1.hex"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	g := newTestFSM(t)
	if err := g.Restore(readCloser(data)); err != nil {
		t.Fatalf("Restore(golden) = %v", err)
	}
	if got, want := g.dump(t), f.dump(t); got != want {
		t.Errorf("restored golden snapshot:\n%s\nwant:\n%s", got, want)
	}
}

func FuzzRestoreSnapshot(f *testing.F) {
	st := goldenState(f)
	var buf bytes.Buffer
	if err := st.WriteSnapshot(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[9 : buf.Len()-32])
	// A snapshot with an open upload (format version 3).
	up := newTestFSM(f)
	cmds := stageGoldenCommands(f)
	up.mustApply(f, 1, cmds["cmd_stage_begin.hex"])
	up.mustApply(f, 2, cmds["cmd_stage_chunk.hex"])
	var v3 bytes.Buffer
	if err := up.WriteSnapshot(&v3); err != nil {
		f.Fatal(err)
	}
	f.Add(v3.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		// The checksum stops almost every mutation early; the body
		// decoder gets the bytes directly too.
		decodeSnapshotBody(b)
		s, err := readSnapshot(b)
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("readSnapshot = %v, want ErrBadSnapshot", err)
			}
			return
		}
		var again bytes.Buffer
		if err := writeSnapshot(&again, s); err != nil {
			t.Fatalf("writeSnapshot(readSnapshot(b)) = %v", err)
		}
		if _, err := readSnapshot(again.Bytes()); err != nil {
			t.Fatalf("readSnapshot(writeSnapshot(readSnapshot(b))) = %v", err)
		}
	})
}
