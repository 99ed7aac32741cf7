package raftfsm

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/hashicorp/raft"
)

// stageZone returns the test zone origin at serial signed by k with n more
// names, so a staged upload of it needs several small chunks.
func stageZone(t testing.TB, origin string, serial uint32, k *zone.Key, n int) *zone.Zone {
	t.Helper()
	return stageZoneNet(t, origin, serial, k, n, 0)
}

// stageZoneNet is stageZone with addresses in 10.net.0.0/16.
func stageZoneNet(t testing.TB, origin string, serial uint32, k *zone.Key, n, net int) *zone.Zone {
	t.Helper()
	extra := make([]string, 0, n)
	for i := range n {
		extra = append(extra, fmt.Sprintf("h%d 3600 IN A 10.%d.%d.%d", i, net, i/256, i%256))
	}
	return ownerZone(t, origin, serial, k, extra...)
}

// staged returns the staged upload of z in chunks of about chunkBytes,
// checked to be StageBegin, chunks, StageCommit.
func staged(t testing.TB, z *zone.Zone, k *zone.Key, chunkBytes int) (begin []byte, chunks [][]byte, commit []byte) {
	t.Helper()
	cmds, err := stagedCommands(z, k, chunkBytes)
	if err != nil {
		t.Fatalf("stagedCommands: %v", err)
	}
	if len(cmds) < 3 {
		t.Fatalf("stagedCommands gave %d commands", len(cmds))
	}
	for _, c := range cmds {
		if len(c) > MaxEntryBytes {
			t.Fatalf("a staged command of %d bytes", len(c))
		}
	}
	return cmds[0], cmds[1 : len(cmds)-1], cmds[len(cmds)-1]
}

func wantReason(t testing.TB, got interface{}, want Reason) {
	t.Helper()
	var re *RejectedError
	err, _ := got.(error)
	if !errors.As(err, &re) || re.Reason != want {
		t.Fatalf("Apply = %v, want rejected (%s)", got, want)
	}
}

// TestStagedUploadCreatesZone uploads a zone in chunks: nothing of it is
// served before the commit, the commit serves the whole zone at once,
// and memory and disk agree after every step (mustApply checks).
func TestStagedUploadCreatesZone(t *testing.T) {
	k := seedKey(t, "example.", 1)
	z := stageZone(t, "example.", 10, k, 300)
	begin, chunks, commit := staged(t, z, k, 4096)
	if len(chunks) < 3 {
		t.Fatalf("%d chunks, want several", len(chunks))
	}
	f := newTestFSM(t)
	idx := uint64(1)
	res := f.mustApply(t, idx, begin)
	if res.Serial != 10 || res.Staged != 0 {
		t.Errorf("begin = %+v, want serial 10, 0 staged", res)
	}
	for i, c := range chunks {
		idx++
		res := f.mustApply(t, idx, c)
		if res.Staged != uint32(i+1) {
			t.Errorf("chunk %d: Staged %d, want %d", i, res.Staged, i+1)
		}
		if _, ok := f.Zone("example."); ok || len(f.events.calls) != 0 {
			t.Fatalf("after chunk %d the zone is served (events %v)", i, f.events.calls)
		}
		info, ok := f.Staging("example.")
		if !ok || info.Got != uint32(i+1) {
			t.Fatalf("Staging = %+v, %v", info, ok)
		}
	}
	idx++
	f.mustApply(t, idx, commit)
	s, ok := f.Zone("example.")
	if !ok {
		t.Fatal("zone not served after the commit")
	}
	checkSameZone(t, s.Zone, z)
	if s.Owner == nil || s.Owner.Tag() != k.Tag() {
		t.Errorf("owner %v, want tag %d", s.Owner, k.Tag())
	}
	if _, ok := f.Staging("example."); ok {
		t.Error("the upload is still open after its commit")
	}
	if fmt.Sprint(f.events.calls) != "[example. 10]" {
		t.Errorf("OnZone calls %v, want one with the new zone", f.events.calls)
	}
	// Everything resent after the commit (an owner unsure of the outcome)
	// is a repeat.
	for i, c := range append(append([][]byte{begin}, chunks...), commit) {
		idx++
		if res := f.mustApply(t, idx, c); !res.Repeat {
			t.Errorf("resend %d = %+v, want a repeat", i, res)
		}
	}
	// A change after the upload goes the usual way.
	z2 := change(t, z, k, putA(t, "late.example.", "192.0.2.9"))
	idx++
	f.mustApply(t, idx, mustCmd(t)(ChangeCommand(z, z2, k)))
}

// TestStagedUploadReplacesZone replaces a served zone: the old zone is
// served until the commit.
func TestStagedUploadReplacesZone(t *testing.T) {
	k := seedKey(t, "example.", 1)
	old := ownerZone(t, "example.", 5, k)
	next := stageZone(t, "example.", 6, k, 200)
	f := newTestFSM(t)
	f.mustApply(t, 1, mustCmd(t)(ChangeCommand(nil, old, k)))
	begin, chunks, commit := staged(t, next, k, 4096)
	idx := uint64(2)
	for _, c := range append([][]byte{begin}, chunks...) {
		f.mustApply(t, idx, c)
		idx++
		if s, _ := f.Zone("example."); s.Zone.Serial() != 5 {
			t.Fatalf("serving serial %d during the upload, want 5", s.Zone.Serial())
		}
	}
	f.mustApply(t, idx, commit)
	s, _ := f.Zone("example.")
	checkSameZone(t, s.Zone, next)
}

func TestStagedUploadRefusals(t *testing.T) {
	k, other := seedKey(t, "example.", 1), seedKey(t, "example.", 2)
	z := stageZone(t, "example.", 10, k, 200)
	begin, chunks, commit := staged(t, z, k, 4096)
	otherZ := stageZoneNet(t, "example.", 10, k, 200, 1) // same key and size, other content
	_, otherChunks, _ := staged(t, otherZ, k, 4096)
	forged := stageZone(t, "example.", 10, other, 200)
	_, forgedChunks, _ := staged(t, forged, other, 4096)

	tests := []struct {
		desc   string
		before [][]byte // applied first, each accepted
		cmd    []byte
		want   Reason
	}{
		{"chunk without begin", nil, chunks[0], ReasonNoStaging},
		{"commit without begin", nil, commit, ReasonNoStaging},
		{"chunk skipped", [][]byte{begin}, chunks[1], ReasonChunkOrder},
		{"commit before the last chunk", [][]byte{begin, chunks[0]}, commit, ReasonChunkOrder},
		{"chunk signed by another key", [][]byte{begin}, rewriteUpload(t, forgedChunks[0], UploadID(z.Head.Note)), ReasonWrongKey},
		{"chunk out of canonical order", [][]byte{begin, chunks[0]}, rewriteUpload(t, reseq(t, chunks[0], 1), UploadID(z.Head.Note)), ReasonChunkOrder},
		{"head signed by another key than the owner", nil, mustBegin(t, z, other), ReasonWrongKey},
		{"content of another zone", append([][]byte{begin}, rewriteAll(t, otherChunks[:len(chunks)], UploadID(z.Head.Note))...), commit, ReasonRootMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			f := newTestFSM(t)
			for i, c := range tt.before {
				f.mustApply(t, uint64(i+1), c)
			}
			before := f.dump(t)
			wantReason(t, f.apply(uint64(len(tt.before)+1), tt.cmd), tt.want)
			if after := f.dump(t); after != before {
				t.Errorf("a refused command changed the state:\n%s\nwas:\n%s", after, before)
			}
			if _, ok := f.Zone("example."); ok {
				t.Error("a refused upload is served")
			}
		})
	}
}

// mustBegin returns a StageBegin of z's head with k as the owner key
// (k did not sign the head).
func mustBegin(t testing.TB, z *zone.Zone, k *zone.Key) []byte {
	return encode(t, &StageBegin{Zone: z.Origin, Head: z.Head.Note, Owner: k.DNSKEY, Chunks: 1, Bytes: 1 << 20, Largest: 10})
}

func decodeChunk(t testing.TB, b []byte) *StageChunk {
	t.Helper()
	c, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*StageChunk)
}

func rewriteUpload(t testing.TB, b []byte, id [32]byte) []byte {
	c := decodeChunk(t, b)
	c.Upload = id
	return encode(t, c)
}

func rewriteAll(t testing.TB, bs [][]byte, id [32]byte) [][]byte {
	var out [][]byte
	for _, b := range bs {
		out = append(out, rewriteUpload(t, b, id))
	}
	return out
}

func reseq(t testing.TB, b []byte, seq uint32) []byte {
	c := decodeChunk(t, b)
	c.Seq = seq
	return encode(t, c)
}

// TestStagingDroppedDeterministically: a later upload of the zone drops
// the open one, and so does the first entry past StagingLifetime.
func TestStagingDroppedDeterministically(t *testing.T) {
	k := seedKey(t, "example.", 1)
	z1 := stageZone(t, "example.", 10, k, 100)
	z2 := stageZone(t, "example.", 11, k, 100)
	b1, c1, _ := staged(t, z1, k, 4096)
	b2, c2, commit2 := staged(t, z2, k, 4096)

	f := newTestFSM(t)
	f.mustApply(t, 1, b1)
	f.mustApply(t, 2, c1[0])
	f.mustApply(t, 3, b2) // drops upload 1
	wantReason(t, f.apply(4, c1[1]), ReasonNoStaging)
	idx := uint64(4)
	for _, c := range c2 {
		f.mustApply(t, idx, c)
		idx++
	}
	f.mustApply(t, idx, commit2)
	if s, _ := f.Zone("example."); s.Zone.Serial() != 11 {
		t.Fatalf("serial %d, want 11", s.Zone.Serial())
	}

	g := newTestFSM(t)
	g.mustApply(t, 1, b1)
	g.mustApply(t, 2, c1[0])
	// The last entry that keeps it, then the first that drops it, whatever
	// that entry is (here a member record).
	g.mustApply(t, 1+StagingLifetime, encode(t, &SetMember{ID: "n1", DNS: "127.0.0.1:53"}))
	if _, ok := g.Staging("example."); !ok {
		t.Fatal("upload dropped before its lifetime")
	}
	g.mustApply(t, 2+StagingLifetime, encode(t, &SetMember{ID: "n2", DNS: "127.0.0.1:53"}))
	if _, ok := g.Staging("example."); ok {
		t.Fatal("upload kept past its lifetime")
	}
	wantReason(t, g.apply(3+StagingLifetime, c1[1]), ReasonNoStaging)
}

// TestStagingSurvivesRestartAndSnapshot: an open upload is kept in the
// store and in snapshots, and the upload completes after either.
func TestStagingSurvivesRestartAndSnapshot(t *testing.T) {
	k := seedKey(t, "example.", 1)
	z := stageZone(t, "example.", 10, k, 200)
	begin, chunks, commit := staged(t, z, k, 4096)
	f := newTestFSM(t)
	f.mustApply(t, 1, begin)
	f.mustApply(t, 2, chunks[0])

	var snap bytes.Buffer
	if err := f.WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if snap.Bytes()[8] != snapshotVersion3 {
		t.Fatalf("snapshot version %d with an open upload, want 3", snap.Bytes()[8])
	}

	// Restart: the store holds the upload.
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	s := reopenTestStore(t, f.path)
	r := openFSM(t, s, f.path)
	info, ok := r.Staging("example.")
	if !ok || info.Got != 1 {
		t.Fatalf("after restart Staging = %+v, %v; want 1 chunk", info, ok)
	}
	// The owner resends from the start: begin and chunk 0 are repeats.
	if res := r.mustApply(t, 3, begin); !res.Repeat || res.Staged != 1 {
		t.Errorf("begin again = %+v, want a repeat with 1 staged", res)
	}
	idx := uint64(4)
	for _, c := range chunks {
		r.mustApply(t, idx, c)
		idx++
	}
	r.mustApply(t, idx, commit)
	got, _ := r.Zone("example.")
	checkSameZone(t, got.Zone, z)

	// Restore into a fresh FSM, then finish there too.
	g := newTestFSM(t)
	if err := g.Restore(readCloser(snap.Bytes())); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	g.checkDiskMatchesMemory(t)
	idx = 3
	for _, c := range chunks[1:] {
		g.mustApply(t, idx, c)
		idx++
	}
	g.mustApply(t, idx, commit)
	got, _ = g.Zone("example.")
	checkSameZone(t, got.Zone, z)
}

// TestStageGolden pins the encodings of the staged upload's commands and
// of a snapshot holding an open upload (format version 3).
func TestStageGolden(t *testing.T) {
	cmds := stageGoldenCommands(t)
	for name, b := range cmds {
		t.Run(name, func(t *testing.T) {
			checkGolden(t, name, b)
			c, err := DecodeCommand(b)
			if err != nil {
				t.Fatalf("DecodeCommand = %v", err)
			}
			if again := encode(t, c); !bytes.Equal(again, b) {
				t.Error("EncodeCommand(DecodeCommand(b)) differs from b")
			}
		})
	}
	f := newTestFSM(t)
	f.mustApply(t, 1, cmds["cmd_stage_begin.hex"])
	f.mustApply(t, 2, cmds["cmd_stage_chunk.hex"])
	var buf bytes.Buffer
	if err := f.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "snapshot_v3.hex", buf.Bytes())
	g := newTestFSM(t)
	if err := g.Restore(readCloser(buf.Bytes())); err != nil {
		t.Fatalf("Restore(golden v3) = %v", err)
	}
	if got, want := g.dump(t), f.dump(t); got != want {
		t.Errorf("restored golden snapshot:\n%s\nwant:\n%s", got, want)
	}
}

// stageGoldenCommands returns a staged upload's commands from fixed keys
// and zones, by golden file name.
func stageGoldenCommands(t testing.TB) map[string][]byte {
	t.Helper()
	k := seedKey(t, "example.", 1)
	z := ownerZone(t, "example.", 2025060101, k, "a 3600 IN A 192.0.2.10", "b 3600 IN A 192.0.2.11")
	begin, chunks, commit := staged(t, z, k, 600)
	return map[string][]byte{
		"cmd_stage_begin.hex":  begin,
		"cmd_stage_chunk.hex":  chunks[0],
		"cmd_stage_commit.hex": commit,
	}
}

func TestUploadCommandsSmallChangeIsOneCommand(t *testing.T) {
	k := seedKey(t, "example.", 1)
	z := ownerZone(t, "example.", 1, k)
	cmds, err := UploadCommands(nil, z, k)
	if err != nil || len(cmds) != 1 || CommandType(cmds[0][0]) != TypeCreateZone {
		t.Fatalf("UploadCommands(small zone) = %d commands, %v; want one CreateZone", len(cmds), err)
	}
}

// TestStagedUploadInOneBatch applies a whole upload in one ApplyBatch
// (one store transaction), as Raft does when entries arrive together.
func TestStagedUploadInOneBatch(t *testing.T) {
	k := seedKey(t, "example.", 1)
	z := stageZone(t, "example.", 10, k, 200)
	begin, chunks, commit := staged(t, z, k, 4096)
	f := newTestFSM(t)
	var logs []*raft.Log
	for i, c := range append(append([][]byte{begin}, chunks...), commit) {
		logs = append(logs, cmdLog(uint64(i+1), c))
	}
	for i, r := range f.ApplyBatch(logs) {
		if _, ok := r.(*ApplyResult); !ok {
			t.Fatalf("entry %d = %v", i, r)
		}
	}
	f.checkDiskMatchesMemory(t)
	got, _ := f.Zone("example.")
	checkSameZone(t, got.Zone, z)
	f.store.Close()
	s := reopenTestStore(t, f.path)
	r := openFSM(t, s, f.path)
	got, _ = r.Zone("example.")
	checkSameZone(t, got.Zone, z)
}
