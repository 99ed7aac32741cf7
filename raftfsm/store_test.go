package raftfsm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// fakeSig is 64 bytes of signature in base64: the store never checks
// signatures, so the tests need only their shape.
const fakeSig = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="

// testZoneText is a signed-looking zone with a wildcard, a delegation with
// glue, empty non-terminals (b.c and c), a CNAME, a multi-string TXT and a
// name with a zero octet in its label.
const testZoneText = `$ORIGIN example.
$TTL 3600
@        SOA   ns1 hostmaster %d 7200 3600 1209600 300
@        NS    ns1
@        DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=
ns1      A     192.0.2.1
*.w      A     192.0.2.2
*.w      TXT   "one" "two words" "three"
sub      NS    ns.sub
ns.sub   A     192.0.2.3
a.b.c    A     192.0.2.4
www      CNAME a.b.c
\000x    A     192.0.2.5
mixed    AAAA  2001:db8::1
`

// testZone parses testZoneText at serial, adds an RRSIG and an NSEC to
// every authoritative RRset so it looks like a signed zone, and gives it a
// head.
func testZone(t testing.TB, serial uint32, extra ...string) *zone.Zone {
	t.Helper()
	text := fmt.Sprintf(testZoneText, serial) + strings.Join(extra, "\n") + "\n"
	z, err := zone.New("example.", parseRecords(t, text))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var sigs []dns.RR
	for _, s := range z.RRsets() {
		if z.Delegation(s.Name) != nil && !(s.Name == "sub.example." && s.Type == dns.TypeNS) {
			continue // glue
		}
		if s.Name == "sub.example." {
			continue // delegation NS: unsigned
		}
		sig := fmt.Sprintf("%s %d IN RRSIG %s 15 %d %d 20300101000000 20240101000000 4242 example. %s",
			s.Name, s.TTL, dns.TypeToString[s.Type], dns.CountLabel(s.Name), s.TTL, fakeSig)
		rr, err := dns.NewRR(sig)
		if err != nil {
			t.Fatalf("NewRR(%q): %v", sig, err)
		}
		sigs = append(sigs, rr)
	}
	var nsec []dns.RR
	nodes := z.Nodes()
	for i, n := range nodes {
		next := nodes[(i+1)%len(nodes)].Name
		types := []uint16{dns.TypeNSEC, dns.TypeRRSIG}
		for _, s := range n.RRsets {
			types = append(types, s.Type)
		}
		slices.Sort(types)
		nsec = append(nsec, &dns.NSEC{Hdr: dns.RR_Header{Name: n.Name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: 300}, NextDomain: next, TypeBitMap: types})
		rr, _ := dns.NewRR(fmt.Sprintf("%s 300 IN RRSIG NSEC 15 %d 300 20300101000000 20240101000000 4242 example. %s", n.Name, dns.CountLabel(n.Name), fakeSig))
		nsec = append(nsec, rr)
	}
	all := append(z.Records(), sigs...)
	all = append(all, nsec...)
	signed, err := zone.New("example.", all)
	if err != nil {
		t.Fatalf("New(signed): %v", err)
	}
	signed.Head = &zone.Head{
		Zone:   "example.",
		Serial: serial,
		Size:   uint64(len(signed.RRsets())),
		Root:   [32]byte{1, 2, 3, byte(serial)},
		Time:   time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		Note:   []byte(fmt.Sprintf("example.\n%d\n\n— example. sig\n", serial)),
	}
	return signed
}

// parseRecords reads zone file text with origin example.
func parseRecords(t testing.TB, text string) []dns.RR {
	t.Helper()
	zp := dns.NewZoneParser(strings.NewReader(text), "example.", "test.zone")
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("parse test zone: %v", err)
	}
	return rrs
}

// openTestStore opens a store in a temporary directory, closed at the end
// of the test.
func openTestStore(t testing.TB) (*Store, string) {
	t.Helper()
	path := BackendStorePath(t.TempDir(), testBackend)
	s := reopenTestStore(t, path)
	return s, path
}

// testBackend is the backend openTestStore and reopenTestStore use:
// bbolt, but for TestStoreSuiteOnPebble's run of the suite.
var testBackend = BackendBolt

// reopenTestStore opens the test store at path again (a restart) and
// closes it when the test ends.
func reopenTestStore(t testing.TB, path string) *Store {
	t.Helper()
	s, err := OpenStoreBackend(path, testBackend)
	if err != nil {
		t.Fatalf("OpenStoreBackend(%s, %s): %v", path, testBackend, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStoreSuiteOnPebble runs the store, state machine, staging and
// snapshot tests again on the pebble backend; the tests that are about
// bbolt's file (locking, page corruption, a foreign bbolt file) or a
// closed store stay bbolt's.
func TestStoreSuiteOnPebble(t *testing.T) {
	suite := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"StoreRoundTrip", TestStoreRoundTrip}, {"StoreUnsignedZone", TestStoreUnsignedZone},
		{"StorePutWritesOnlyChanges", TestStorePutWritesOnlyChanges}, {"StoreStaleSerial", TestStoreStaleSerial},
		{"StoreCorruptValue", TestStoreCorruptValue}, {"StoreRestart", TestStoreRestart},
		{"StoreDeleteAndNoZone", TestStoreDeleteAndNoZone}, {"StoreRoundTripSigned", TestStoreRoundTripSigned},
		{"StoreConcurrentReaders", TestStoreConcurrentReaders},
		{"FSMCreatePublishDelete", TestFSMCreatePublishDelete}, {"FSMRejects", TestFSMRejects},
		{"FSMRotateKey", TestFSMRotateKey}, {"FSMSuspendAndMembers", TestFSMSuspendAndMembers},
		{"FSMApplyBatch", TestFSMApplyBatch}, {"FSMReplayIsIdempotent", TestFSMReplayIsIdempotent},
		{"FSMSnapshotRestore", TestFSMSnapshotRestore}, {"FSMRepeats", TestFSMRepeats},
		{"StagedUploadCreatesZone", TestStagedUploadCreatesZone}, {"StagedUploadReplacesZone", TestStagedUploadReplacesZone},
		{"StagedUploadRefusals", TestStagedUploadRefusals}, {"StagingDroppedDeterministically", TestStagingDroppedDeterministically},
		{"StagingSurvivesRestartAndSnapshot", TestStagingSurvivesRestartAndSnapshot}, {"StagedUploadInOneBatch", TestStagedUploadInOneBatch},
		{"StageGolden", TestStageGolden}, {"SnapshotGolden", TestSnapshotGolden}, {"RegistryStoreCorrupt", TestRegistryStoreCorrupt},
	}
	testBackend = BackendPebble
	t.Cleanup(func() { testBackend = BackendBolt })
	for _, tt := range suite {
		t.Run(tt.name, tt.fn)
	}
}

// checkSameZone fails the test unless got and want hold the same records
// in the same order and the same head.
func checkSameZone(t testing.TB, got, want *zone.Zone) {
	t.Helper()
	if got.Origin != want.Origin {
		t.Errorf("Origin = %q, want %q", got.Origin, want.Origin)
	}
	g, w := got.Records(), want.Records()
	if len(g) != len(w) {
		t.Errorf("got %d records, want %d", len(g), len(w))
	}
	for i := 0; i < len(g) && i < len(w); i++ {
		if g[i].String() != w[i].String() {
			t.Errorf("record %d = %s, want %s", i, g[i], w[i])
		}
	}
	if (got.Head == nil) != (want.Head == nil) {
		t.Fatalf("Head = %v, want %v", got.Head, want.Head)
	}
	if want.Head == nil {
		return
	}
	gh, wh := got.Head, want.Head
	if gh.Zone != wh.Zone || gh.Serial != wh.Serial || gh.Size != wh.Size || gh.Root != wh.Root || !gh.Time.Equal(wh.Time) || !bytes.Equal(gh.Note, wh.Note) {
		t.Errorf("Head = %+v, want %+v", gh, wh)
	}
}

func TestStoreRoundTrip(t *testing.T) {
	s, _ := openTestStore(t)
	want := testZone(t, 10)
	if err := s.Put(want); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := s.Get("EXAMPLE")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	checkSameZone(t, got, want)
	for _, name := range []string{"b.c.example.", "c.example."} {
		if n := got.Node(name); n == nil || !n.Empty() {
			t.Errorf("Node(%q) = %v, want an empty non-terminal", name, n)
		}
	}
	if got.Delegation("ns.sub.example.") == nil {
		t.Errorf("Delegation(ns.sub.example.) = nil, want the cut at sub.example.")
	}
	names, err := s.List()
	if err != nil || len(names) != 1 || names[0] != "example." {
		t.Errorf("List() = %v, %v, want [example.]", names, err)
	}
}

func TestStoreUnsignedZone(t *testing.T) {
	s, _ := openTestStore(t)
	want, err := zone.New("example.", parseRecords(t, fmt.Sprintf(testZoneText, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(want); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := s.Get("example.")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	checkSameZone(t, got, want)
}

func TestStorePutWritesOnlyChanges(t *testing.T) {
	s, _ := openTestStore(t)
	z1 := testZone(t, 10)
	st, err := s.put(z1)
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if want := len(z1.RRsets()); st.Written != want || st.Deleted != 0 || !st.Meta {
		t.Errorf("first put = %+v, want %d written, 0 deleted, meta", st, want)
	}

	// Same content again: nothing to write.
	if st, err = s.put(testZone(t, 10)); err != nil || st != (putStats{}) {
		t.Errorf("put(same zone) = %+v, %v, want nothing written", st, err)
	}

	// Serial 11 adds one RRset (new.example. A) and removes a name
	// (mixed.example.). The apex SOA changes (serial), its NSEC neighbours
	// change, and the fake signatures stay byte-identical elsewhere.
	z2 := testZone(t, 11, "new A 192.0.2.9")
	z2 = removeName(t, z2, "mixed.example.")
	st, err = s.put(z2)
	if err != nil {
		t.Fatalf("put(z2): %v", err)
	}
	changed, removed := diffKeys(t, z1, z2)
	if st.Written != changed || st.Deleted != removed || !st.Meta {
		t.Errorf("put(z2) = %+v, want %d written, %d deleted, meta", st, changed, removed)
	}
	if st.Written >= len(z2.RRsets())/2 {
		t.Errorf("put(z2) wrote %d of %d RRsets, want only the few that changed", st.Written, len(z2.RRsets()))
	}
	got, err := s.Get("example.")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	checkSameZone(t, got, z2)
}

// removeName returns z without the records owned by name.
func removeName(t testing.TB, z *zone.Zone, name string) *zone.Zone {
	t.Helper()
	var rrs []dns.RR
	for _, rr := range z.Records() {
		h := rr.Header()
		if h.Name == name {
			continue
		}
		rrs = append(rrs, rr)
	}
	nz, err := zone.New(z.Origin, rrs)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	nz.Head = z.Head
	return nz
}

// diffKeys counts the RRsets of b that are new or differ from a's, and
// those of a that b lacks, by their encoded bytes.
func diffKeys(t testing.TB, a, b *zone.Zone) (changed, removed int) {
	t.Helper()
	enc := func(z *zone.Zone) map[string]string {
		m := make(map[string]string)
		for _, s := range z.RRsets() {
			k, err := encodeKey(s.Name, s.Type)
			if err != nil {
				t.Fatal(err)
			}
			v, err := encodeRRset(s)
			if err != nil {
				t.Fatal(err)
			}
			m[string(k)] = string(v)
		}
		return m
	}
	ma, mb := enc(a), enc(b)
	for k, v := range mb {
		if ma[k] != v {
			changed++
		}
	}
	for k := range ma {
		if _, ok := mb[k]; !ok {
			removed++
		}
	}
	return changed, removed
}

func TestStoreStaleSerial(t *testing.T) {
	s, _ := openTestStore(t)
	stored := testZone(t, 10)
	if err := s.Put(stored); err != nil {
		t.Fatalf("Put: %v", err)
	}
	tests := []struct {
		name string
		z    *zone.Zone
		want error
	}{
		{"same serial, same content", testZone(t, 10), nil},
		{"same serial, new record", testZone(t, 10, "x A 192.0.2.10"), ErrStaleSerial},
		{"lower serial", testZone(t, 9, "x A 192.0.2.10"), ErrStaleSerial},
		{"lower serial, else identical", testZone(t, 9), ErrStaleSerial},
		{"serial 2^31 ahead (RFC 1982: not above)", testZone(t, 10+1<<31), ErrStaleSerial},
	}
	for _, tt := range tests {
		if err := s.Put(tt.z); !errors.Is(err, tt.want) {
			t.Errorf("%s: Put = %v, want %v", tt.name, err, tt.want)
		}
		got, err := s.Get("example.")
		if err != nil {
			t.Fatalf("%s: Get: %v", tt.name, err)
		}
		checkSameZone(t, got, stored)
	}
}

func TestStoreLocked(t *testing.T) {
	_, path := openTestStore(t)
	// The lock wait must give up (bbolt without a timeout waits forever):
	// a generous bound catches only that hang, not slowness.
	type result struct {
		s   *Store
		err error
	}
	done := make(chan result, 1)
	go func() {
		s2, err := openStore(path, 50*time.Millisecond)
		done <- result{s2, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("second openStore(%s) still waiting after 30s: the lock timeout never fired", path)
	}
	s2, err := r.s, r.err
	if err == nil {
		s2.Close()
		t.Fatalf("second openStore(%s) succeeded, want ErrLocked", path)
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("second openStore = %v, want ErrLocked", err)
	}
	if want := "data directory in use by another process: " + path; err.Error() != want {
		t.Errorf("error text = %q, want %q", err, want)
	}
}

func TestStoreCorrupt(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content []byte
	}{
		{"text file", bytes.Repeat([]byte("this is not a database\n"), 1000)},
		{"short file", []byte("x")},
		{"zeros", make([]byte, 32<<10)},
		{"two pages of text", bytes.Repeat([]byte("not a database\n"), 500)},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".db")
		if err := os.WriteFile(path, tt.content, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := OpenStore(path)
		if err == nil {
			s.Close()
			t.Errorf("%s: OpenStore succeeded, want ErrCorrupt", tt.name)
			continue
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: OpenStore = %v, want ErrCorrupt naming %s", tt.name, err, path)
		}
	}
}

func TestStoreCorruptValue(t *testing.T) {
	s, path := openTestStore(t)
	if err := s.Put(testZone(t, 1)); err != nil {
		t.Fatal(err)
	}
	// Overwrite one RRset value with a future format version.
	k, err := encodeKey("ns1.example.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.rawPut("example.", k, []byte{99, 0, 1, 0, 0}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get("example.")
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), path) {
		t.Errorf("Get = %v, want ErrCorrupt and ErrVersion naming %s", err, path)
	}
}

func TestStoreNotAZoneStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	// Turn it into some other program's bbolt file.
	if err := s.rawDeleteFormat(); err != nil {
		t.Fatal(err)
	}
	if err := s.rawPut("other", []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = OpenStore(path); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Errorf("OpenStore(foreign bbolt file) = %v, want ErrCorrupt", err)
	}
}

func TestStoreRestart(t *testing.T) {
	s, path := openTestStore(t)
	want := testZone(t, 7)
	if err := s.Put(want); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopenTestStore(t, path)
	got, err := s.Get("example.")
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	checkSameZone(t, got, want)
	if err := s.Put(testZone(t, 6)); !errors.Is(err, ErrStaleSerial) {
		t.Errorf("Put(serial 6) after restart = %v, want ErrStaleSerial", err)
	}
}

func TestStoreDeleteAndNoZone(t *testing.T) {
	s, _ := openTestStore(t)
	if _, err := s.Get("example."); !errors.Is(err, ErrNoZone) {
		t.Errorf("Get(empty store) = %v, want ErrNoZone", err)
	}
	if err := s.Put(testZone(t, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("example."); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get("example."); !errors.Is(err, ErrNoZone) {
		t.Errorf("Get(deleted) = %v, want ErrNoZone", err)
	}
	if err := s.Delete("example."); !errors.Is(err, ErrNoZone) {
		t.Errorf("Delete(deleted) = %v, want ErrNoZone", err)
	}
	if names, err := s.List(); err != nil || len(names) != 0 {
		t.Errorf("List() = %v, %v, want none", names, err)
	}
	// A deleted zone may come back at any serial.
	if err := s.Put(testZone(t, 1)); err != nil {
		t.Errorf("Put after Delete: %v", err)
	}
}

// TestKeyOrder checks that byte order of encoded keys is canonical DNS
// order of (name, type), the order a cursor walks.
func TestKeyOrder(t *testing.T) {
	// In canonical order (RFC 4034 §6.1 example, extended).
	names := []string{
		"example.",
		"a.example.",
		"yljkjljk.a.example.",
		`Z.a.example.`,
		`zABC.a.EXAMPLE.`,
		`b.example.`,
		`b\000.example.`,
		`a.b\000.example.`,
		`b\000\000.example.`,
		`ba.example.`,
		"z.example.",
		`\001.z.example.`,
		`*.z.example.`,
		`\200.z.example.`,
	}
	type kt struct {
		name string
		t    uint16
	}
	var seq []kt
	for _, n := range names {
		seq = append(seq, kt{n, dns.TypeA}, kt{n, dns.TypeNS}, kt{n, dns.TypeRRSIG})
	}
	for i := 1; i < len(seq); i++ {
		a, b := seq[i-1], seq[i]
		if c := zone.Compare(a.name, b.name); c > 0 {
			t.Fatalf("test table out of order: Compare(%q, %q) = %d", a.name, b.name, c)
		}
		ka, err := encodeKey(a.name, a.t)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := encodeKey(b.name, b.t)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Compare(ka, kb) >= 0 {
			t.Errorf("encodeKey(%q, %d) = %x, not below encodeKey(%q, %d) = %x", a.name, a.t, ka, b.name, b.t, kb)
		}
	}
	ka, _ := encodeKey("Z.a.example.", dns.TypeA)
	kb, _ := encodeKey("z.A.example", dns.TypeA)
	if !bytes.Equal(ka, kb) {
		t.Errorf("encodeKey is case-sensitive: %x vs %x", ka, kb)
	}
}

// rawPut writes key=val into bucket, bypassing the encoders, to simulate
// damage or another program's data.
func (s *Store) rawPut(bucket string, key, val []byte) error {
	return s.db.update(func(tx kvTx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put(key, val)
	})
}

// rawDeleteFormat removes the store's format marker.
func (s *Store) rawDeleteFormat() error {
	return s.db.update(func(tx kvTx) error { return tx.DeleteBucket(formatBucket) })
}

// signedFixture signs the shared zone/testdata/example.zone (wildcard,
// CNAME chain, empty non-terminal, delegations with glue and DS, a
// 60-record RRset) with the shared test key.
func signedFixture(t testing.TB) (*zone.Zone, *zone.Key) {
	t.Helper()
	pub, err := os.ReadFile("../zone/testdata/a1-Kexample.+015+53227.key")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := os.ReadFile("../zone/testdata/a1-Kexample.+015+53227.private")
	if err != nil {
		t.Fatal(err)
	}
	k, err := zone.ParseKey(pub, priv)
	if err != nil {
		t.Fatalf("ParseKey: %v", err)
	}
	f, err := os.Open("../zone/testdata/example.zone")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := zone.ParseFile(f, "example.", "example.zone")
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	signed, err := zone.Sign(z, k, zone.DefaultSignOptions(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return signed, k
}

func TestStoreRoundTripSigned(t *testing.T) {
	s, _ := openTestStore(t)
	want, k := signedFixture(t)
	if err := s.Put(want); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := s.Get("example.")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	checkSameZone(t, got, want)
	if err := zone.CheckSigned(got, k, time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Errorf("CheckSigned(Get) = %v, want a correctly signed zone", err)
	}
	if got.Tree().Root() != want.Head.Root {
		t.Errorf("Get: Merkle root %x, head says %x", got.Tree().Root(), want.Head.Root)
	}
	if _, err := zone.ParseHead(got.Head.Note, k); err != nil {
		t.Errorf("ParseHead(stored head) = %v", err)
	}
}

func TestStoreConcurrentReaders(t *testing.T) {
	s, _ := openTestStore(t)
	if err := s.Put(testZone(t, 1)); err != nil {
		t.Fatal(err)
	}
	zones := make([]*zone.Zone, 20)
	for i := range zones {
		zones[i] = testZone(t, uint32(i+2), fmt.Sprintf("n%d A 192.0.2.%d", i, i))
	}
	done := make(chan error, 4)
	for r := 0; r < 4; r++ {
		go func() {
			for i := 0; i < 50; i++ {
				z, err := s.Get("example.")
				if err != nil {
					done <- err
					return
				}
				if z.Head == nil || z.Head.Serial != z.Serial() {
					done <- fmt.Errorf("Get: head serial %v, zone serial %d: a torn read", z.Head, z.Serial())
					return
				}
			}
			done <- nil
		}()
	}
	for _, z := range zones {
		if err := s.Put(z); err != nil {
			t.Errorf("Put(serial %d): %v", z.Serial(), err)
		}
	}
	for r := 0; r < 4; r++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// bigZone returns an unsigned zone of n names, each with an A record.
func bigZone(tb testing.TB, n int, serial uint32) *zone.Zone {
	tb.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN example.\n$TTL 300\n@ SOA ns1 host %d 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n", serial)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "h%d A 10.%d.%d.%d\n", i, i>>16&255, i>>8&255, i&255)
	}
	z, err := zone.New("example.", parseRecords(tb, b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return z
}

// BenchmarkStore measures, on a signed zone of 10,000 names: a first Put,
// a Put after one record changed (Apply re-signs it, its NSEC neighbours
// and the SOA), and a Get.
// BenchmarkStore writes and reads a signed zone on each backend;
// DDNRS_BENCH_NAMES sets its size (default 10,000 names, one A RRset
// and one NSEC each).
func BenchmarkStore(b *testing.B) {
	names := 10000
	if v, err := strconv.Atoi(os.Getenv("DDNRS_BENCH_NAMES")); err == nil && v > 0 {
		names = v
	}
	pub, _ := os.ReadFile("../zone/testdata/a1-Kexample.+015+53227.key")
	priv, _ := os.ReadFile("../zone/testdata/a1-Kexample.+015+53227.private")
	k, err := zone.ParseKey(pub, priv)
	if err != nil {
		b.Fatal(err)
	}
	opt := zone.DefaultSignOptions(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	z1, err := zone.Sign(bigZone(b, names, 1), k, opt)
	if err != nil {
		b.Fatal(err)
	}
	rr, _ := dns.NewRR("h5000.example. 300 IN A 192.0.2.250")
	z2, err := z1.Apply(zone.Change{Put: []*zone.RRset{zone.NewRRset("h5000.example.", dns.TypeA, 300, []dns.RR{rr}, nil)}}, k, opt)
	if err != nil {
		b.Fatal(err)
	}
	for _, be := range []Backend{BackendBolt, BackendPebble} {
		b.Run(string(be), func(b *testing.B) {
			b.Run("PutFull", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					s, err := OpenStoreBackend(BackendStorePath(b.TempDir(), be), be)
					if err != nil {
						b.Fatal(err)
					}
					if err := s.Put(z1); err != nil {
						b.Fatal(err)
					}
					s.Close()
				}
			})
			b.Run("PutOneChange", func(b *testing.B) {
				s, err := OpenStoreBackend(BackendStorePath(b.TempDir(), be), be)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				var st putStats
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					if err := s.Delete("example."); err != nil && !errors.Is(err, ErrNoZone) {
						b.Fatal(err)
					}
					if err := s.Put(z1); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if st, err = s.put(z2); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(st.Written+st.Deleted), "keys/op")
			})
			b.Run("Get", func(b *testing.B) {
				s, err := OpenStoreBackend(BackendStorePath(b.TempDir(), be), be)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				if err := s.Put(z1); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := s.Get("example."); err != nil {
						b.Fatal(err)
					}
				}
			})

		})
	}
}
