package raftfsm

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/hashicorp/raft"
	"github.com/miekg/dns"
)

func TestFSMCreatePublishDelete(t *testing.T) {
	f := newTestFSM(t)
	k := newKey(t, "example.")
	v1 := ownerZone(t, "example.", 10, k)
	must := mustCmd(t)

	res := f.mustApply(t, 1, must(ChangeCommand(nil, v1, k)))
	if res.Serial != 10 || res.Index != 1 {
		t.Errorf("create = %+v, want serial 10 index 1", res)
	}
	v2 := change(t, v1, k, putA(t, "new.example.", "192.0.2.7"))
	res = f.mustApply(t, 2, must(ChangeCommand(v1, v2, k)))
	if res.Serial != 11 {
		t.Errorf("publish serial = %d, want 11", res.Serial)
	}
	got, err := f.store.Get("example.")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	checkSameZone(t, got, v2)
	if err := zone.CheckSigned(got, k, fsmSignTime.Add(2*time.Hour)); err != nil {
		t.Errorf("stored zone: CheckSigned = %v", err)
	}
	if s, ok := f.Zone("example."); !ok || s.Zone.Serial() != 11 || s.Owner == nil || s.Owner.Tag() != k.Tag() {
		t.Errorf("Zone(example.) = %+v, %v; want serial 11 owned by tag %d", s, ok, k.Tag())
	}
	if idx, _ := f.store.AppliedIndex(); idx != 2 || f.AppliedIndex() != 2 {
		t.Errorf("applied index store %d memory %d, want 2", idx, f.AppliedIndex())
	}

	f.mustApply(t, 3, must(DeleteCommand(v2, k)))
	if _, err := f.store.Get("example."); !errors.Is(err, ErrNoZone) {
		t.Errorf("Get after delete = %v, want ErrNoZone", err)
	}
	if _, ok := f.Zone("example."); ok {
		t.Errorf("Zone(example.) present after delete")
	}
	want := []string{"example. 10", "example. 11", "example. nil"}
	if !slices.Equal(f.events.calls, want) {
		t.Errorf("OnZone calls = %q, want %q", f.events.calls, want)
	}
	// The zone can be created again, by anyone.
	k2 := newKey(t, "example.")
	f.mustApply(t, 4, must(ChangeCommand(nil, ownerZone(t, "example.", 1, k2), k2)))
}

// rejectSetup is the state every rejection case starts from: example.
// created at serial 10 (index 1) and changed to 11 (index 2).
type rejectSetup struct {
	f      *testFSM
	k      *zone.Key
	v1, v2 *zone.Zone
}

func newRejectSetup(t *testing.T) *rejectSetup {
	t.Helper()
	must := mustCmd(t)
	r := &rejectSetup{f: newTestFSM(t), k: newKey(t, "example.")}
	r.v1 = ownerZone(t, "example.", 10, r.k)
	r.v2 = change(t, r.v1, r.k, putA(t, "www.example.", "192.0.2.81"))
	r.f.mustApply(t, 1, must(ChangeCommand(nil, r.v1, r.k)))
	r.f.mustApply(t, 2, must(ChangeCommand(r.v1, r.v2, r.k)))
	return r
}

// publishCS encodes a PublishChange after letting edit change the
// ChangeSet (its Put RRsets are copies).
func publishCS(t testing.TB, cs zone.ChangeSet, edit func(*zone.ChangeSet)) []byte {
	t.Helper()
	// Round-trip through the encoding to get RRsets that may be edited.
	c, err := DecodeCommand(encode(t, &PublishChange{Change: cs}))
	if err != nil {
		t.Fatal(err)
	}
	p := c.(*PublishChange)
	if edit != nil {
		edit(&p.Change)
	}
	return encode(t, p)
}

func TestFSMRejects(t *testing.T) {
	tests := []struct {
		desc string
		cmd  func(t *testing.T, r *rejectSetup) []byte
		want Reason
	}{
		{"bad signature", func(t *testing.T, r *rejectSetup) []byte {
			v3 := change(t, r.v2, r.k, putA(t, "www.example.", "192.0.2.82"))
			return publishCS(t, zone.SignedDiff(r.v2, v3), func(cs *zone.ChangeSet) {
				for _, s := range cs.Put {
					if s.Name == "www.example." && s.Type == dns.TypeA {
						s.First().(*dns.A).A[3]++
					}
				}
			})
		}, ReasonBadSignature},
		{"wrong key", func(t *testing.T, r *rejectSetup) []byte {
			other := newKey(t, "example.")
			z, err := zone.Sign(r.v2, other, zone.DefaultSignOptions(fsmSignTime))
			if err != nil {
				t.Fatal(err)
			}
			v3 := change(t, z, other, putA(t, "www.example.", "192.0.2.82"))
			return mustCmd(t)(ChangeCommand(r.v2, v3, other))
		}, ReasonWrongKey},
		{"stale serial", func(t *testing.T, r *rejectSetup) []byte {
			return publishCS(t, zone.SignedDiff(r.v2, r.v1), nil)
		}, ReasonStaleSerial},
		{"equal serial", func(t *testing.T, r *rejectSetup) []byte {
			same := ownerZone(t, "example.", r.v2.Serial(), r.k, "other 3600 IN A 192.0.2.9")
			return publishCS(t, zone.SignedDiff(r.v2, same), nil)
		}, ReasonStaleSerial},
		{"Merkle root mismatch", func(t *testing.T, r *rejectSetup) []byte {
			v3 := change(t, r.v2, r.k, putA(t, "www.example.", "192.0.2.82"))
			return publishCS(t, zone.SignedDiff(r.v2, v3), func(cs *zone.ChangeSet) {
				cs.Put = slices.DeleteFunc(cs.Put, func(s *zone.RRset) bool { return s.Name == "www.example." && s.Type == dns.TypeA })
			})
		}, ReasonRootMismatch},
		{"malformed: truncated", func(t *testing.T, r *rejectSetup) []byte {
			v3 := change(t, r.v2, r.k, putA(t, "www.example.", "192.0.2.82"))
			b := mustCmd(t)(ChangeCommand(r.v2, v3, r.k))
			return b[:len(b)-5]
		}, ReasonMalformed},
		{"malformed: trailing bytes", func(t *testing.T, r *rejectSetup) []byte {
			return append(encode(t, &Suspend{Zone: "example.", Reason: "x"}), 0)
		}, ReasonMalformed},
		{"malformed: empty", func(t *testing.T, r *rejectSetup) []byte { return nil }, ReasonMalformed},
		{"malformed: change applies badly", func(t *testing.T, r *rejectSetup) []byte {
			v3 := change(t, r.v2, r.k, putA(t, "www.example.", "192.0.2.82"))
			return publishCS(t, zone.SignedDiff(r.v2, v3), func(cs *zone.ChangeSet) {
				cs.Delete = append(cs.Delete, zone.RRKey{Name: "example.", Type: dns.TypeSOA})
				cs.Put = slices.DeleteFunc(cs.Put, func(s *zone.RRset) bool { return s.Type == dns.TypeSOA })
			})
		}, ReasonMalformed},
		{"create twice", func(t *testing.T, r *rejectSetup) []byte {
			k := newKey(t, "example.")
			return mustCmd(t)(ChangeCommand(nil, ownerZone(t, "example.", 99, k), k))
		}, ReasonZoneExists},
		{"change to a missing zone", func(t *testing.T, r *rejectSetup) []byte {
			k := newKey(t, "example.net.")
			a := ownerZone(t, "example.net.", 1, k)
			return mustCmd(t)(ChangeCommand(a, change(t, a, k, putA(t, "x.example.net.", "192.0.2.1")), k))
		}, ReasonNoZone},
		{"suspend a missing zone", func(t *testing.T, r *rejectSetup) []byte {
			return encode(t, &Suspend{Zone: "example.net.", Reason: "abuse"})
		}, ReasonNoZone},
		{"rotate not signed by the old key", func(t *testing.T, r *rejectSetup) []byte {
			nk := newKey(t, "example.")
			v3 := resignWith(t, r.v2, nk)
			return mustCmd(t)(RotateCommand(r.v2, v3, nk, nk))
		}, ReasonBadSignature},
		{"rotate with RRSIGs of the old key left", func(t *testing.T, r *rejectSetup) []byte {
			nk := newKey(t, "example.")
			v3 := resignWith(t, r.v2, nk)
			cs := zone.SignedDiff(r.v2, v3)
			cs.Put = slices.DeleteFunc(cs.Put, func(s *zone.RRset) bool { return s.Name == "ns1.example." && s.Type == dns.TypeA })
			proof := ed25519.Sign(r.k.Private, RotateStatement("example.", nk.DNSKEY, v3.Serial()))
			return encode(t, &RotateKey{Change: cs, NewKey: nk.DNSKEY, Proof: proof})
		}, ReasonWrongKey},
		{"delete with a bad signature", func(t *testing.T, r *rejectSetup) []byte {
			return mustCmd(t)(DeleteCommand(r.v2, newKey(t, "example.")))
		}, ReasonBadSignature},
		{"delete naming an old serial", func(t *testing.T, r *rejectSetup) []byte {
			return mustCmd(t)(DeleteCommand(r.v1, r.k))
		}, ReasonStaleSerial},
		{"set member without an ID", func(t *testing.T, r *rejectSetup) []byte {
			return encode(t, &SetMember{Admin: "127.0.0.1:1"})
		}, ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r := newRejectSetup(t)
			cmd := tt.cmd(t, r)
			before := r.f.dump(t)
			events := len(r.f.events.calls)
			res := r.f.apply(3, cmd)
			var rej *RejectedError
			if !errors.As(res.(error), &rej) {
				t.Fatalf("Apply = %v, want *RejectedError", res)
			}
			if rej.Reason != tt.want {
				t.Errorf("Apply reason = %s (%v), want %s", rej.Reason, rej, tt.want)
			}
			if after := r.f.dump(t); after != before {
				t.Errorf("state changed by a rejected command:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if len(r.f.events.calls) != events {
				t.Errorf("OnZone called for a rejected command: %q", r.f.events.calls[events:])
			}
			if r.f.Halted() != nil {
				t.Errorf("Halted() = %v after a rejection", r.f.Halted())
			}
			// The state still takes good changes.
			v3 := change(t, r.v2, r.k, putA(t, "after.example.", "192.0.2.3"))
			r.f.mustApply(t, 4, mustCmd(t)(ChangeCommand(r.v2, v3, r.k)))
		})
	}
}

// resignWith returns z signed by k in place of its key, serial + 1.
func resignWith(t testing.TB, z *zone.Zone, k *zone.Key) *zone.Zone {
	t.Helper()
	var rrs []dns.RR
	for _, s := range z.RRsets() {
		switch s.Type {
		case dns.TypeNSEC, dns.TypeDNSKEY:
			continue
		case dns.TypeSOA:
			soa := dns.Copy(s.First()).(*dns.SOA)
			soa.Serial++
			rrs = append(rrs, soa)
		default:
			rrs = append(rrs, s.Records()...)
		}
	}
	u, err := zone.New(z.Origin, rrs)
	if err != nil {
		t.Fatal(err)
	}
	nz, err := zone.Sign(u, k, zone.DefaultSignOptions(fsmSignTime.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	return nz
}

func TestFSMRotateKey(t *testing.T) {
	r := newRejectSetup(t)
	must := mustCmd(t)
	nk := newKey(t, "example.")
	v3 := resignWith(t, r.v2, nk)
	r.f.mustApply(t, 3, must(RotateCommand(r.v2, v3, r.k, nk)))
	if s, _ := r.f.Zone("example."); s.Owner.Tag() != nk.Tag() {
		t.Fatalf("owner tag after rotation = %d, want %d", s.Owner.Tag(), nk.Tag())
	}
	// The old key no longer changes the zone; the new one does.
	old := change(t, r.v2, r.k, putA(t, "x.example.", "192.0.2.1"))
	var rej *RejectedError
	if res := r.f.apply(4, must(ChangeCommand(v3, old, r.k))); !errors.As(res.(error), &rej) {
		t.Fatalf("change by the old key = %v, want rejected", res)
	}
	v4 := change(t, v3, nk, putA(t, "x.example.", "192.0.2.1"))
	r.f.mustApply(t, 5, must(ChangeCommand(v3, v4, nk)))
	// The owner survives a restart.
	r.f.store.Close()
	s := reopenTestStore(t, r.f.path)
	f2 := openFSM(t, s, r.f.path)
	if st, _ := f2.Zone("example."); st.Owner == nil || st.Owner.Tag() != nk.Tag() {
		t.Errorf("owner after reopen = %v, want tag %d", st.Owner, nk.Tag())
	}
}

func TestFSMSuspendAndMembers(t *testing.T) {
	r := newRejectSetup(t)
	r.f.events.calls = nil
	res := r.f.mustApply(t, 3, encode(t, &Suspend{Zone: "example.", Reason: "abuse report 7"}))
	if res.Serial != r.v2.Serial() {
		t.Errorf("suspend serial = %d, want %d", res.Serial, r.v2.Serial())
	}
	if s, _ := r.f.Zone("example."); !s.Suspended || s.Reason != "abuse report 7" {
		t.Errorf("Zone after suspend = %+v", s)
	}
	r.f.mustApply(t, 4, encode(t, &SetMember{ID: "n1", Admin: "127.0.0.2:8443", DNS: "127.0.0.2:53"}))
	r.f.mustApply(t, 5, encode(t, &SetMember{ID: "n2", Admin: "127.0.0.3:8443", DNS: "127.0.0.3:53"}))
	r.f.mustApply(t, 6, encode(t, &SetMember{ID: "n2"}))
	want := []MemberInfo{{ID: "n1", Admin: "127.0.0.2:8443", DNS: "127.0.0.2:53"}}
	if got := r.f.Members(); !slices.Equal(got, want) {
		t.Errorf("Members() = %+v, want %+v", got, want)
	}
	// Suspension and members survive a restart; a suspended zone is not
	// handed to OnZone.
	r.f.store.Close()
	s := reopenTestStore(t, r.f.path)
	f2 := openFSM(t, s, r.f.path)
	if got := f2.Members(); !slices.Equal(got, want) {
		t.Errorf("Members() after reopen = %+v, want %+v", got, want)
	}
	if len(f2.events.calls) != 0 {
		t.Errorf("NewFSM OnZone calls = %q, want none for a suspended zone", f2.events.calls)
	}
	f2.mustApply(t, 7, encode(t, &Unsuspend{Zone: "example.", Reason: "resolved"}))
	if s, _ := f2.Zone("example."); s.Suspended || s.Reason != "resolved" {
		t.Errorf("Zone after unsuspend = %+v", s)
	}
	wantCalls := []string{"example. 11"}
	if !slices.Equal(f2.events.calls, wantCalls) {
		t.Errorf("OnZone calls = %q, want %q", f2.events.calls, wantCalls)
	}
	if got := r.f.events.calls; !slices.Equal(got, []string{"example. nil"}) {
		t.Errorf("OnZone calls on suspend = %q, want [example. nil]", got)
	}
}

func TestFSMUnknownCommand(t *testing.T) {
	r := newRejectSetup(t)
	before := r.f.dump(t)
	// Ignorable: skipped, nothing changes, later commands apply.
	res, ok := r.f.apply(3, []byte{0xFF, 1, 2, 3}).(*ApplyResult)
	if !ok || !res.Skipped {
		t.Fatalf("Apply(ignorable unknown) = %v, want a skipped result", res)
	}
	if after := r.f.dump(t); after != before {
		t.Errorf("an ignorable unknown command changed the state")
	}
	// Not ignorable: the FSM halts, state unchanged, every later entry
	// gets ErrHalted.
	for i, cmd := range [][]byte{{0x7F, 1}, {byte(TypePublishChange), 9}} {
		r := newRejectSetup(t)
		before := r.f.dump(t)
		if err, _ := r.f.apply(3, cmd).(error); !errors.Is(err, ErrHalted) {
			t.Errorf("case %d: Apply(%x) = %v, want ErrHalted", i, cmd, err)
		}
		v3 := change(t, r.v2, r.k, putA(t, "x.example.", "192.0.2.1"))
		if err, _ := r.f.apply(4, mustCmd(t)(ChangeCommand(r.v2, v3, r.k))).(error); !errors.Is(err, ErrHalted) {
			t.Errorf("case %d: Apply after halt = %v, want ErrHalted", i, err)
		}
		if !errors.Is(r.f.Halted(), ErrHalted) {
			t.Errorf("case %d: Halted() = %v", i, r.f.Halted())
		}
		if after := r.f.dump(t); after != before {
			t.Errorf("case %d: a halting command changed the state", i)
		}
	}
}

func TestFSMApplyBatch(t *testing.T) {
	f := newTestFSM(t)
	must := mustCmd(t)
	k := newKey(t, "example.")
	v1 := ownerZone(t, "example.", 1, k)
	v2 := change(t, v1, k, putA(t, "a.example.", "192.0.2.1"))
	v3 := change(t, v2, k, putA(t, "b.example.", "192.0.2.2"))
	cfg := &raft.Log{Index: 2, Term: 1, Type: raft.LogConfiguration, Data: []byte("not a command")}
	logs := []*raft.Log{
		cmdLog(1, must(ChangeCommand(nil, v1, k))),
		cfg,
		cmdLog(3, must(ChangeCommand(v1, v2, k))),
		cmdLog(4, must(ChangeCommand(v1, v2, k))),                                                   // v2 again: a repeat, done
		cmdLog(5, must(ChangeCommand(v1, change(t, v1, k, putA(t, "c.example.", "192.0.2.3")), k))), // another change from v1: stale
		cmdLog(6, must(ChangeCommand(v2, v3, k))),
		cmdLog(7, encode(t, &SetMember{ID: "n1", Admin: "127.0.0.2:1", DNS: "127.0.0.2:2"})),
	}
	res := f.ApplyBatch(logs)
	if len(res) != len(logs) {
		t.Fatalf("ApplyBatch returned %d results for %d logs", len(res), len(logs))
	}
	wantSerial := map[int]uint32{0: 1, 2: 2, 3: 2, 5: 3, 6: 0}
	for i, r := range res {
		switch i {
		case 1:
			if r != nil {
				t.Errorf("result for a configuration entry = %v, want nil", r)
			}
		case 4:
			var rej *RejectedError
			if err, _ := r.(error); !errors.As(err, &rej) || rej.Reason != ReasonStaleSerial {
				t.Errorf("result 4 = %v, want rejected stale-serial", r)
			}
		default:
			a, ok := r.(*ApplyResult)
			if !ok || a.Index != logs[i].Index || a.Serial != wantSerial[i] || a.Repeat != (i == 3) {
				t.Errorf("result %d = %v, want index %d serial %d repeat %v", i, r, logs[i].Index, wantSerial[i], i == 3)
			}
		}
	}
	got, err := f.store.Get("example.")
	if err != nil {
		t.Fatal(err)
	}
	checkSameZone(t, got, v3)
	if idx, _ := f.store.AppliedIndex(); idx != 7 {
		t.Errorf("stored applied index = %d, want 7", idx)
	}
	f.checkDiskMatchesMemory(t)
	want := []string{"example. 3"}
	if !slices.Equal(f.events.calls, want) {
		t.Errorf("OnZone calls = %q, want %q (one per zone per batch)", f.events.calls, want)
	}
}

func TestFSMReplayIsIdempotent(t *testing.T) {
	f := newTestFSM(t)
	must := mustCmd(t)
	k := newKey(t, "example.")
	v1 := ownerZone(t, "example.", 1, k)
	v2 := change(t, v1, k, putA(t, "a.example.", "192.0.2.1"))
	v3 := change(t, v2, k, putA(t, "b.example.", "192.0.2.2"))
	logs := []*raft.Log{
		cmdLog(1, must(ChangeCommand(nil, v1, k))),
		cmdLog(2, must(ChangeCommand(v1, v2, k))),
		cmdLog(3, must(DeleteCommand(v2, k))),
		cmdLog(4, must(ChangeCommand(nil, v2, k))),
		cmdLog(5, must(ChangeCommand(v2, v3, k))),
	}
	for _, l := range logs[:4] {
		if _, ok := f.Apply(l).(*ApplyResult); !ok {
			t.Fatalf("Apply(%d) = %v", l.Index, f.Apply(l))
		}
	}
	before := f.dump(t)
	// Restart: Raft replays the whole log.
	f.store.Close()
	s := reopenTestStore(t, f.path)
	f2 := openFSM(t, s, f.path)
	for i, r := range f2.ApplyBatch(logs[:4]) {
		if a, ok := r.(*ApplyResult); !ok || !a.Skipped {
			t.Errorf("replayed entry %d = %v, want skipped", i+1, r)
		}
	}
	if after := f2.dump(t); after != before {
		t.Errorf("replay changed the state:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	f2.mustApply(t, 5, logs[4].Data)
	got, err := s.Get("example.")
	if err != nil {
		t.Fatal(err)
	}
	checkSameZone(t, got, v3)
}

func TestFSMSnapshotRestore(t *testing.T) {
	r := newRejectSetup(t)
	must := mustCmd(t)
	k2 := newKey(t, "example.org.")
	r.f.mustApply(t, 3, must(ChangeCommand(nil, ownerZone(t, "example.org.", 5, k2), k2)))
	r.f.mustApply(t, 4, encode(t, &Suspend{Zone: "example.org.", Reason: "abuse"}))
	r.f.mustApply(t, 5, encode(t, &SetMember{ID: "n1", Admin: "127.0.0.2:1", DNS: "127.0.0.2:2"}))
	snap, err := r.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Later changes do not reach the snapshot taken before them.
	v3 := change(t, r.v2, r.k, putA(t, "late.example.", "192.0.2.1"))
	r.f.mustApply(t, 6, must(ChangeCommand(r.v2, v3, r.k)))
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil || !sink.closed {
		t.Fatalf("Persist = %v, closed %v", err, sink.closed)
	}
	snap.Release()
	data := bytes.Clone(sink.Bytes())

	// Restore into a replica with other state: everything is replaced.
	other := newRejectSetup(t)
	other.f.mustApply(t, 3, encode(t, &SetMember{ID: "gone", Admin: "x:1", DNS: "x:2"}))
	other.f.events.calls = nil
	if err := other.f.Restore(readCloser(data)); err != nil {
		t.Fatalf("Restore = %v", err)
	}
	if other.f.AppliedIndex() != 5 {
		t.Errorf("AppliedIndex after restore = %d, want 5", other.f.AppliedIndex())
	}
	if s, _ := other.f.Zone("example."); s.Zone.Serial() != 11 || s.Owner.Tag() != r.k.Tag() {
		t.Errorf("example. after restore: serial %d owner %d", s.Zone.Serial(), s.Owner.Tag())
	}
	if s, _ := other.f.Zone("example.org."); !s.Suspended || s.Reason != "abuse" || s.Owner.Tag() != k2.Tag() {
		t.Errorf("example.org. after restore = %+v", s)
	}
	if got := other.f.Members(); len(got) != 1 || got[0].ID != "n1" {
		t.Errorf("Members after restore = %+v", got)
	}
	wantCalls := []string{"example. 11", "example.org. nil"}
	if !slices.Equal(other.f.events.calls, wantCalls) {
		t.Errorf("OnZone calls on restore = %q, want %q", other.f.events.calls, wantCalls)
	}
	// What was restored is on disk too, and equal to a second snapshot.
	restored := other.f.dump(t)
	var again bytes.Buffer
	if err := other.f.WriteSnapshot(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), data) {
		t.Errorf("snapshot of the restored state differs from the one restored")
	}

	bad := map[string][]byte{
		"empty":         {},
		"bad magic":     append([]byte("DDNRSSNQ"), data[8:]...),
		"version 2":     append(append([]byte("DDNRSSNP"), 2), data[9:]...),
		"truncated":     data[:len(data)-1],
		"flipped byte":  flip(data, len(data)/2),
		"flipped sum":   flip(data, len(data)-1),
		"trailing byte": append(bytes.Clone(data), 0),
	}
	for name, b := range bad {
		if err := other.f.Restore(readCloser(b)); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("Restore(%s) = %v, want ErrBadSnapshot", name, err)
		}
		if after := other.f.dump(t); after != restored {
			t.Errorf("Restore(%s) changed the state", name)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func readCloser(b []byte) nopCloser { return nopCloser{bytes.NewReader(b)} }

// TestFSMHaltsWhenTheStoreFails proves a replica whose disk fails stops
// applying instead of serving state it did not store.
func TestFSMHaltsWhenTheStoreFails(t *testing.T) {
	r := newRejectSetup(t)
	v3 := change(t, r.v2, r.k, putA(t, "x.example.", "192.0.2.1"))
	cmd := mustCmd(t)(ChangeCommand(r.v2, v3, r.k))
	r.f.store.Close() // every write now fails
	events := len(r.f.events.calls)
	if err, _ := r.f.apply(3, cmd).(error); !errors.Is(err, ErrHalted) {
		t.Fatalf("Apply with a closed store = %v, want ErrHalted", err)
	}
	if s, _ := r.f.Zone("example."); s.Zone.Serial() != r.v2.Serial() || r.f.AppliedIndex() != 2 {
		t.Errorf("memory state moved on: serial %d, applied %d; want %d, 2", s.Zone.Serial(), r.f.AppliedIndex(), r.v2.Serial())
	}
	if len(r.f.events.calls) != events {
		t.Errorf("OnZone called for a change that was not stored: %q", r.f.events.calls[events:])
	}
	if err, _ := r.f.apply(4, encode(t, &SetMember{ID: "n1", Admin: "a:1"})).(error); !errors.Is(err, ErrHalted) {
		t.Errorf("Apply after the halt = %v, want ErrHalted", err)
	}
}
