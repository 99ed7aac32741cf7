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

// registryGoldenState returns an FSM holding the golden zone state
// (goldenState) and the registry the golden registry commands build, plus
// a claim that stays.
func registryGoldenState(t testing.TB) *testFSM {
	t.Helper()
	f := goldenState(t)
	next := f.AppliedIndex() + 1
	cmds := registryGoldenCommands(t)
	for _, name := range registryGoldenOrder {
		f.mustApply(t, next, cmds[name])
		next++
	}
	f.applyAll(t, next, claim("example.net.", seedKey(t, "example.net.", 3), "eu"))
	return f
}

// TestRegistrySnapshotGolden pins snapshot format 2 and checks that a
// snapshot round trip keeps the registry: applications, keys, claims,
// nodes, log leaves and root.
func TestRegistrySnapshotGolden(t *testing.T) {
	f := registryGoldenState(t)
	var buf bytes.Buffer
	if err := f.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "registry_snapshot_v2.hex", buf.Bytes())
	if !bytes.HasPrefix(buf.Bytes(), []byte("DDNRSSNP\x02")) {
		t.Errorf("snapshot starts %q, want magic and version 2", buf.Bytes()[:9])
	}
	b, err := os.ReadFile(filepath.Join("testdata", "registry_snapshot_v2.hex"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	g := newTestFSM(t)
	g.applyAll(t, 1, heartbeat("gone", "g9", "", 1)) // replaced by the restore
	if err := g.Restore(readCloser(data)); err != nil {
		t.Fatalf("Restore(golden) = %v", err)
	}
	if got, want := g.dump(t), f.dump(t); got != want {
		t.Errorf("restored zones:\n%s\nwant:\n%s", got, want)
	}
	if got, want := g.regDump(t), f.regDump(t); got != want {
		t.Errorf("restored registry:\n%s\nwant:\n%s", got, want)
	}
	r := g.Registry()
	if r.LogSize() == 0 || r.Log().Size() != r.LogSize() {
		t.Errorf("restored log size %d, tree %d", r.LogSize(), r.Log().Size())
	}
	if root, _ := r.Log().Root(r.LogSize()); root != recomputedRoot(t, f.Registry()) {
		t.Errorf("restored root differs")
	}
	// The restored FSM goes on appending where the log ended.
	g.applyAll(t, g.AppliedIndex()+1, &ReleaseZone{Zone: "example.net.", Time: regAt(30)})
	if g.Registry().LogSize() != r.LogSize()+1 {
		t.Errorf("log size after restore and release %d, want %d", g.Registry().LogSize(), r.LogSize()+1)
	}
}

// TestSnapshotWithoutRegistryStaysV1: groups that hold no registry write
// format 1, which older builds restore; restoring a format 1 snapshot
// empties the registry.
func TestSnapshotWithoutRegistryStaysV1(t *testing.T) {
	var buf bytes.Buffer
	if err := goldenState(t).WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.Bytes()[8] != snapshotVersion1 {
		t.Errorf("snapshot without registry has version %d, want 1", buf.Bytes()[8])
	}
	f := registryGoldenState(t)
	if err := f.Restore(readCloser(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if r := f.Registry(); !r.empty() || r.Log().Size() != 0 {
		t.Errorf("registry after restoring a format 1 snapshot: %d claims, log %d", len(r.Claims()), r.LogSize())
	}
	f.regDump(t) // disk agrees
}

func TestRegistrySnapshotCorrupt(t *testing.T) {
	f := registryGoldenState(t)
	var buf bytes.Buffer
	if err := f.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	body := buf.Bytes()[9 : buf.Len()-32]
	if _, err := decodeSnapshotBodyVersion(body, snapshotVersion2); err != nil {
		t.Fatalf("decode body = %v", err)
	}
	for _, cut := range []int{1, 5, 40} {
		if _, err := decodeSnapshotBodyVersion(body[:len(body)-cut], snapshotVersion2); err == nil {
			t.Errorf("body cut by %d bytes decodes", cut)
		}
	}
	if _, err := decodeSnapshotBodyVersion(body, snapshotVersion1); err == nil {
		t.Errorf("a format 2 body decodes as format 1")
	}
	bad := bytes.Clone(buf.Bytes())
	bad[8] = snapshotVersion5 + 1
	if _, err := readSnapshot(bad); !errors.Is(err, ErrBadSnapshot) || !errors.Is(err, ErrVersion) {
		t.Errorf("readSnapshot(unknown version %d) = %v", bad[8], err)
	}
}

func FuzzRestoreRegistrySnapshot(f *testing.F) {
	st := registryGoldenState(f)
	var buf bytes.Buffer
	if err := st.WriteSnapshot(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes()[9:buf.Len()-32], byte(snapshotVersion2))
	// Format 4: sub-keys (their parents after the uploads).
	b, err := os.ReadFile(filepath.Join("testdata", "snapshot_v4.hex"))
	if err != nil {
		f.Fatal(err)
	}
	v4, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v4[9:len(v4)-32], byte(snapshotVersion4))
	// Format 5: sealed keys and owed drops after the leases.
	if b, err = os.ReadFile(filepath.Join("testdata", "snapshot_v5.hex")); err != nil {
		f.Fatal(err)
	}
	v5, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v5[9:len(v5)-32], byte(snapshotVersion5))
	f.Fuzz(func(t *testing.T, b []byte, version byte) {
		if version != snapshotVersion2 && version != snapshotVersion4 {
			version = snapshotVersion5
		}
		s, err := decodeSnapshotBodyVersion(b, version)
		if err != nil {
			return
		}
		var again bytes.Buffer
		if err := writeSnapshot(&again, s); err != nil {
			t.Fatalf("writeSnapshot(decoded) = %v", err)
		}
		if _, err := readSnapshot(again.Bytes()); err != nil {
			t.Fatalf("readSnapshot(writeSnapshot(decoded)) = %v", err)
		}
	})
}
