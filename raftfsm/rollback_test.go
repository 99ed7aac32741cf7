package raftfsm

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/zone"
)

// rejected applies data and returns the reason it was refused ("" when
// it was accepted).
func (f *testFSM) rejected(index uint64, data []byte) Reason {
	var rej *RejectedError
	if err, ok := f.apply(index, data).(error); ok && errors.As(err, &rej) {
		return rej.Reason
	}
	return ""
}

// TestRecordRollback: a rollback statement is kept beside its zone only
// when the zone's owner signed it for the version the zone holds; the
// zone's next change must go above the serial rolled back from, and
// drops the statement. Store and memory agree throughout (mustApply).
func TestRecordRollback(t *testing.T) {
	k1, k2 := seedKey(t, "example.", 1), seedKey(t, "example.", 2)
	z10 := ownerZone(t, "example.", 10, k1)
	z11 := change(t, z10, k1, putA(t, "a.example.", "192.0.2.1"))
	z12 := change(t, z11, k1, putA(t, "b.example.", "192.0.2.2"))
	z13 := change(t, z12, k1, putA(t, "c.example.", "192.0.2.3"))
	must := mustCmd(t)
	stmt := func(k *zone.Key, from, to uint32, root [32]byte) []byte {
		r, err := zone.NewRollback(k, from, to, root)
		if err != nil {
			t.Fatal(err)
		}
		return encode(t, &RecordRollback{Zone: "example.", Statement: r.Note})
	}
	f := newTestFSM(t)
	f.mustApply(t, 1, must(ChangeCommand(nil, z10, k1)))
	root := z10.Head.Root
	for _, c := range []struct {
		what string
		cmd  []byte
		want Reason
	}{
		{"signed by another key", stmt(k2, 12, 10, root), ReasonBadSignature},
		{"for another version (root)", stmt(k1, 12, 10, z11.Head.Root), ReasonStaleSerial},
		{"for another serial", stmt(k1, 12, 9, root), ReasonStaleSerial},
		{"for no zone held", encode(t, &RecordRollback{Zone: "example.org.", Statement: []byte("x")}), ReasonNoZone},
		{"not a statement", encode(t, &RecordRollback{Zone: "example.", Statement: z10.Head.Note}), ReasonBadSignature},
	} {
		if got := f.rejected(2, c.cmd); got != c.want {
			t.Errorf("RecordRollback %s: reason %q, want %q", c.what, got, c.want)
		}
	}
	if f.Rollback("example.") != nil {
		t.Fatal("a refused statement was kept")
	}
	f.mustApply(t, 2, stmt(k1, 12, 10, root))
	if b := f.Rollback("example."); b == nil {
		t.Fatal("Rollback(example.) = nil after RecordRollback")
	}
	if got := f.rejected(3, must(ChangeCommand(z10, z11, k1))); got != ReasonStaleSerial {
		t.Errorf("serial 11 after a rollback from 12: reason %q, want %q", got, ReasonStaleSerial)
	}
	if got := f.rejected(3, must(ChangeCommand(z10, z12, k1))); got != ReasonStaleSerial {
		t.Errorf("serial 12 after a rollback from 12: reason %q, want %q", got, ReasonStaleSerial)
	}
	f.mustApply(t, 3, must(ChangeCommand(z10, z13, k1)))
	if f.Rollback("example.") != nil {
		t.Error("the statement outlived a change above its from-serial")
	}
}

// CheckRollbacks names every zone a snapshot would move back, with both
// serials, the root and the owner's command, and lets the restore through
// with exactly the owner's statements.
func TestCheckRollbacks(t *testing.T) {
	k1, k2 := seedKey(t, "example.", 1), seedKey(t, "example.", 2)
	z10 := ownerZone(t, "example.", 10, k1)
	z11 := change(t, z10, k1, putA(t, "a.example.", "192.0.2.1"))
	must := mustCmd(t)
	f := newTestFSM(t)
	f.mustApply(t, 1, must(ChangeCommand(nil, z10, k1)))
	var snap bytes.Buffer
	if err := f.WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.CheckRollbacks(snap.Bytes(), nil); err != nil || len(ok) != 0 {
		t.Fatalf("CheckRollbacks(same serial) = %v, %v; want nothing to consent to", ok, err)
	}
	f.mustApply(t, 2, must(ChangeCommand(z10, z11, k1)))
	_, err := f.CheckRollbacks(snap.Bytes(), nil)
	var re *RollbackError
	var rej *RejectedError
	if !errors.As(err, &re) || len(re.Needs) != 1 || re.Needs[0] != (RollbackNeed{Zone: "example.", From: 11, To: 10, Root: z10.Head.Root}) ||
		!errors.As(err, &rej) || rej.Reason != ReasonUnsignedRollback || !strings.Contains(err.Error(), "--from 11 --to 10 --root "+zone.RootText(z10.Head.Root)) {
		t.Fatalf("CheckRollbacks(older serial, no statement) = %v, want a RollbackError for example. 11 -> 10 with the command", err)
	}
	sign := func(k *zone.Key, from uint32) []byte {
		r, err := zone.NewRollback(k, from, 10, z10.Head.Root)
		if err != nil {
			t.Fatal(err)
		}
		return r.Note
	}
	for _, c := range []struct {
		what  string
		stmts [][]byte
	}{
		{"another key's", [][]byte{sign(k2, 11)}},
		{"from another serial", [][]byte{sign(k1, 12)}},
		{"garbage", [][]byte{[]byte("x")}},
	} {
		if _, err := f.CheckRollbacks(snap.Bytes(), c.stmts); !errors.As(err, &re) {
			t.Errorf("CheckRollbacks(%s statement) = %v, want a RollbackError", c.what, err)
		}
	}
	good := sign(k1, 11)
	ok, err := f.CheckRollbacks(snap.Bytes(), [][]byte{good})
	if err != nil || !bytes.Equal(ok["example."], good) {
		t.Fatalf("CheckRollbacks(the owner's statement) = %v, %v", ok, err)
	}
	if _, err := f.CheckRollbacks(snap.Bytes(), [][]byte{good, sign(k1, 12)}); err == nil {
		t.Error("CheckRollbacks with a statement for nothing the snapshot moves back = nil, want an error")
	}
	if _, err := f.CheckRollbacks([]byte("DDNRSSNP\x09"), nil); !errors.Is(err, ErrBadSnapshot) {
		t.Errorf("CheckRollbacks(bad snapshot) = %v, want ErrBadSnapshot", err)
	}
}

func TestRecordRollbackGolden(t *testing.T) {
	k1 := seedKey(t, "example.", 1)
	z := ownerZone(t, "example.", 2025060101, k1)
	r, err := zone.NewRollback(k1, 2025060105, 2025060101, z.Head.Root)
	if err != nil {
		t.Fatal(err)
	}
	b := encode(t, &RecordRollback{Zone: "example.", Statement: r.Note})
	checkGolden(t, "cmd_record_rollback.hex", b)
	if b[0] != byte(TypeRecordRollback) || b[1] != 1 {
		t.Errorf("header %x, want type 26 version 1", b[:2])
	}
	c, err := DecodeCommand(b)
	if err != nil {
		t.Fatal(err)
	}
	if c.Type().String() != "record-rollback" || !bytes.Equal(encode(t, c), b) {
		t.Errorf("decoded %s, re-encoded differently or unnamed", c.Type())
	}
}
