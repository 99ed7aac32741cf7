package raftfsm

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/hashicorp/raft"
	"github.com/miekg/dns"
)

// fsmSignTime is when the test zones are signed; Apply reads no clock, so
// any time works.
var fsmSignTime = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

const ownerZoneText = `$ORIGIN %[1]s
$TTL 3600
@     SOA  ns1 hostmaster %[2]d 7200 3600 1209600 300
@     NS   ns1
ns1   A    192.0.2.1
www   A    192.0.2.80
`

// newKey returns a fresh owner key of origin from zone.GenerateKey.
func newKey(t testing.TB, origin string) *zone.Key {
	t.Helper()
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatalf("GenerateKey(%s): %v", origin, err)
	}
	return k
}

// seedKey returns the owner key of origin made from a fixed seed, for
// golden encodings that must not change from run to run.
func seedKey(t testing.TB, origin string, seed byte) *zone.Key {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	dk := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags:     257,
		Protocol:  3,
		Algorithm: dns.ED25519,
		PublicKey: base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
	}
	return &zone.Key{Zone: origin, DNSKEY: dk, Private: priv}
}

// ownerZone returns the small test zone origin at serial, with extra
// records, signed by k.
func ownerZone(t testing.TB, origin string, serial uint32, k *zone.Key, extra ...string) *zone.Zone {
	t.Helper()
	text := fmt.Sprintf(ownerZoneText, origin, serial) + strings.Join(extra, "\n") + "\n"
	z, err := zone.New(origin, parseRecords(t, text))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s, err := zone.Sign(z, k, zone.DefaultSignOptions(fsmSignTime))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return s
}

// change returns z with c applied and signed again by k.
func change(t testing.TB, z *zone.Zone, k *zone.Key, c zone.Change) *zone.Zone {
	t.Helper()
	nz, err := z.Apply(c, k, zone.DefaultSignOptions(fsmSignTime.Add(time.Hour)))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return nz
}

func putA(t testing.TB, name, addr string) zone.Change {
	t.Helper()
	rr, err := dns.NewRR(name + " 3600 IN A " + addr)
	if err != nil {
		t.Fatal(err)
	}
	return zone.Change{Put: []*zone.RRset{zone.NewRRset(zone.CanonicalName(name), dns.TypeA, 3600, []dns.RR{rr}, nil)}}
}

func encode(t testing.TB, c Command) []byte {
	t.Helper()
	b, err := EncodeCommand(c)
	if err != nil {
		t.Fatalf("EncodeCommand(%T): %v", c, err)
	}
	return b
}

func mustCmd(t testing.TB) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatalf("command: %v", err)
		}
		return b
	}
}

func cmdLog(index uint64, data []byte) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

// zoneEvents records OnZone calls.
type zoneEvents struct{ calls []string }

func (e *zoneEvents) on(origin string, z *zone.Zone) {
	if z == nil {
		e.calls = append(e.calls, origin+" nil")
		return
	}
	e.calls = append(e.calls, fmt.Sprintf("%s %d", origin, z.Serial()))
}

// testFSM is an FSM on a store in a temporary directory.
type testFSM struct {
	*FSM
	store  *Store
	path   string
	events *zoneEvents
}

func newTestFSM(t testing.TB) *testFSM {
	t.Helper()
	s, path := openTestStore(t)
	return openFSM(t, s, path)
}

func openFSM(t testing.TB, s *Store, path string) *testFSM {
	t.Helper()
	ev := &zoneEvents{}
	f, err := NewFSM(s, FSMOptions{OnZone: ev.on, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("NewFSM: %v", err)
	}
	return &testFSM{FSM: f, store: s, path: path, events: ev}
}

// apply applies one command at index and returns the result.
func (f *testFSM) apply(index uint64, data []byte) interface{} {
	return f.Apply(cmdLog(index, data))
}

// mustApply applies a command that must be accepted.
func (f *testFSM) mustApply(t testing.TB, index uint64, data []byte) *ApplyResult {
	t.Helper()
	res, ok := f.apply(index, data).(*ApplyResult)
	if !ok {
		t.Fatalf("Apply(index %d) = %v, want *ApplyResult", index, f.apply(index, data))
	}
	f.checkDiskMatchesMemory(t)
	return res
}

// checkDiskMatchesMemory fails the test unless the store holds exactly
// the zones, owners, suspensions, members and applied index the FSM
// serves from memory.
func (f *testFSM) checkDiskMatchesMemory(t testing.TB) {
	t.Helper()
	st, err := f.store.loadState()
	if err != nil {
		t.Fatalf("loadState: %v", err)
	}
	if st.applied != f.AppliedIndex() {
		t.Errorf("applied index on disk %d, in memory %d", st.applied, f.AppliedIndex())
	}
	mem := f.Zones()
	disk := sortedStates(st)
	if len(mem) != len(disk) {
		t.Fatalf("%d zones in memory, %d on disk", len(mem), len(disk))
	}
	for i := range mem {
		checkSameZone(t, disk[i].Zone, mem[i].Zone)
		if (disk[i].Owner == nil) != (mem[i].Owner == nil) || disk[i].Owner != nil && disk[i].Owner.DNSKEY.String() != mem[i].Owner.DNSKEY.String() {
			t.Errorf("zone %s: owner on disk %v, in memory %v", mem[i].Zone.Origin, disk[i].Owner, mem[i].Owner)
		}
		if dr, mr := disk[i].Rollback, mem[i].Rollback; (dr == nil) != (mr == nil) || dr != nil && !bytes.Equal(dr.Note, mr.Note) {
			t.Errorf("zone %s: rollback statement on disk %v, in memory %v", mem[i].Zone.Origin, dr, mr)
		}
		if disk[i].Suspended != mem[i].Suspended || disk[i].Reason != mem[i].Reason {
			t.Errorf("zone %s: suspension on disk %v %q, in memory %v %q", mem[i].Zone.Origin, disk[i].Suspended, disk[i].Reason, mem[i].Suspended, mem[i].Reason)
		}
	}
	if d, m := st.sortedMembers(), f.Members(); fmt.Sprint(d) != fmt.Sprint(m) {
		t.Errorf("members on disk %v, in memory %v", d, m)
	}
	f.mu.RLock()
	memStaging := dumpStagings(f.state)
	f.mu.RUnlock()
	if d := dumpStagings(st); d != memStaging {
		t.Errorf("open uploads on disk:\n%s\nin memory:\n%s", d, memStaging)
	}
}

// dumpStagings describes the open uploads of st.
func dumpStagings(st *fsmState) string {
	var b strings.Builder
	for _, s := range st.sortedStaging() {
		fmt.Fprintf(&b, "upload %s %x begin %d create %v chunks %d/%d bytes %d/%d owner %d sets %d leaves %d\n",
			s.Zone, s.Upload[:8], s.Begin, s.Create, s.Got, s.Chunks, s.Stored, s.Bytes, s.Owner.Tag(), len(s.Sets), len(s.Leaves))
		for i, set := range s.Sets {
			fmt.Fprintf(&b, "  %s %d %x\n", set.Name, set.Type, s.Leaves[i][:6])
		}
	}
	return b.String()
}

// dump describes everything the FSM holds, in memory and on disk, so two
// states can be compared.
func (f *testFSM) dump(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	idx, err := f.store.AppliedIndex()
	if err != nil {
		t.Fatalf("AppliedIndex: %v", err)
	}
	fmt.Fprintf(&b, "applied store=%d memory=%d\n", idx, f.AppliedIndex())
	st, err := f.store.loadState()
	if err != nil {
		t.Fatalf("loadState: %v", err)
	}
	for _, pair := range []struct {
		what string
		zs   []ZoneState
	}{{"disk", sortedStates(st)}, {"memory", f.Zones()}} {
		for _, s := range pair.zs {
			owner := "-"
			if s.Owner != nil {
				owner = s.Owner.DNSKEY.String()
			}
			fmt.Fprintf(&b, "%s zone %s owner %s suspended %v %q head %x\n", pair.what, s.Zone.Origin, owner, s.Suspended, s.Reason, s.Zone.Head.Note)
			for _, rr := range s.Zone.Records() {
				fmt.Fprintf(&b, "  %s\n", rr)
			}
		}
	}
	b.WriteString("disk " + dumpStagings(st))
	f.mu.RLock()
	b.WriteString("memory " + dumpStagings(f.state))
	f.mu.RUnlock()
	for _, m := range st.sortedMembers() {
		fmt.Fprintf(&b, "disk member %+v\n", m)
	}
	for _, m := range f.Members() {
		fmt.Fprintf(&b, "memory member %+v\n", m)
	}
	return b.String()
}

func sortedStates(st *fsmState) []ZoneState {
	var out []ZoneState
	for _, n := range st.sortedZones() {
		out = append(out, st.zones[n])
	}
	return out
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string     { return "test" }
func (s *memSink) Close() error   { s.closed = true; return nil }
func (s *memSink) Cancel() error  { s.cancelled = true; return nil }
func (s *memSink) Reader() []byte { return s.Bytes() }
