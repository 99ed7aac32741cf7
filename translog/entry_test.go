package translog

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2026, 11, 27, 12, 30, 45, 0, time.UTC)

const testOwnerKey = "example.org. 3600 IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4="

// entryCases are one entry of every kind, each with a golden file
// testdata/entry-<name>.hex.
var entryCases = []struct {
	name string
	e    Entry
}{
	{"registration", Entry{Kind: KindRegistration, Time: t0, Zone: "example.org.", OwnerKey: testOwnerKey, Group: "g1", Region: "eu", Actor: "0123456789abcdef"}},
	{"owner-key-change", Entry{Kind: KindOwnerKeyChange, Time: t0, Zone: "example.org.", OwnerKey: testOwnerKey, Actor: "operator"}},
	{"suspension", Entry{Kind: KindSuspension, Time: t0, Zone: "bad.example.", Reason: "phishing, ticket #12", Actor: "operator"}},
	{"unsuspension", Entry{Kind: KindUnsuspension, Time: t0, Zone: "bad.example.", Reason: "cleaned up", Actor: "fedcba9876543210"}},
	{"node-admission", Entry{Kind: KindNodeAdmission, Time: t0, Group: "g2", Region: "us", NodeID: "n3", NodeAddrs: []string{"dns=192.0.2.3:53", "peer=12D3KooWabc"}}},
	{"release", Entry{Kind: KindRelease, Time: time.Unix(0, 0).UTC(), Zone: "example.org.", Actor: "operator"}},
	{"node-approval", Entry{Kind: KindNodeApproval, Time: t0, Group: "eu", Actor: "operator", NodeID: "eu-4", NodeAddrs: []string{"scope=member:eu", "serial=5f3a9c01d2", "agreement=2026-1", "uptime=99.5", "bandwidth-mbps=100"}}},
	{"cert-revocation", Entry{Kind: KindCertRevocation, Time: t0, Group: "eu", Reason: "laptop stolen", Actor: "operator", NodeID: "eu-ops", NodeAddrs: []string{"serial=5f3a9c01d2"}}},
	{"node-removal", Entry{Kind: KindNodeRemoval, Time: t0, Group: "eu", Reason: "disk died", Actor: "operator", NodeID: "eu-3", NodeAddrs: []string{"dns=192.0.2.7:53", "peer=12D3KooWdef"}}},
	{"zone-move", Entry{Kind: KindZoneMove, Time: t0, Zone: "example.org.", OwnerKey: testOwnerKey, Group: "us", Reason: "closer to its users", Actor: "operator", NodeAddrs: []string{"from=eu"}}},
	{"unicode", Entry{Kind: KindSuspension, Time: time.Unix(maxUnix-1, 0).UTC(), Zone: "xn--bcher-kva.example.", Reason: "grüße — ✓", Actor: "operator"}},
}

func TestEntryGolden(t *testing.T) {
	for _, tc := range entryCases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.e.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			path := filepath.Join("testdata", "entry-"+tc.name+".hex")
			if *update {
				if err := os.WriteFile(path, []byte(hex.Dump(b)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got := hex.Dump(b); got != string(want) {
				t.Errorf("MarshalBinary changed the wire format (go test -update if intended):\n got:\n%s\nwant:\n%s", got, want)
			}
			back, err := ParseEntry(b)
			if err != nil {
				t.Fatalf("ParseEntry: %v", err)
			}
			if !reflect.DeepEqual(back, tc.e) {
				t.Errorf("ParseEntry(MarshalBinary(e)) = %+v, want %+v", back, tc.e)
			}
			js, err := json.Marshal(tc.e)
			if err != nil {
				t.Fatal(err)
			}
			var fromJSON Entry
			if err := json.Unmarshal(js, &fromJSON); err != nil {
				t.Fatalf("Unmarshal(%s): %v", js, err)
			}
			if !reflect.DeepEqual(fromJSON, tc.e) {
				t.Errorf("JSON round trip %s = %+v, want %+v", js, fromJSON, tc.e)
			}
		})
	}
}

// TestEntryBytes pins the layout docs/transparency-log.md describes.
func TestEntryBytes(t *testing.T) {
	e := Entry{Kind: KindRelease, Time: time.Unix(0x0102030405, 0), Zone: "a.", Actor: "op"}
	got, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x01, 0x06, // version, kind
		0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, // time
		0, 2, 'a', '.', // zone
		0, 0, 0, 0, 0, 0, 0, 0, // owner key, group, region, reason
		0, 2, 'o', 'p', // actor
		0, 0, // node id
		0, 0, // no node addresses
	}
	if !bytes.Equal(got, want) {
		t.Errorf("MarshalBinary = % x, want % x", got, want)
	}
}

func TestEntryJSONShape(t *testing.T) {
	got, err := json.Marshal(entryCases[0].e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"registration","time":"2026-11-27T12:30:45Z","zone":"example.org.","owner_key":"` + testOwnerKey + `","group":"g1","region":"eu","actor":"0123456789abcdef"}`
	if string(got) != want {
		t.Errorf("json.Marshal = %s\nwant %s", got, want)
	}
	var e Entry
	if err := json.Unmarshal([]byte(`{"kind":"nonsense","time":"2026-11-27T12:30:45Z"}`), &e); !errors.Is(err, ErrMalformedEntry) {
		t.Errorf("Unmarshal(unknown kind) = %v, want ErrMalformedEntry", err)
	}
}

func TestMarshalRejects(t *testing.T) {
	long := strings.Repeat("x", MaxField+1)
	for _, tc := range []struct {
		name string
		e    Entry
	}{
		{"kind 0", Entry{Time: t0, Zone: "a."}},
		{"kind 7", Entry{Kind: 7, Time: t0, Zone: "a."}},
		{"fractional time", Entry{Kind: KindRelease, Time: t0.Add(time.Millisecond), Zone: "a."}},
		{"no zone", Entry{Kind: KindRegistration, Time: t0}},
		{"zero time", Entry{Kind: KindRelease, Zone: "a."}},
		{"before 1970", Entry{Kind: KindRelease, Time: time.Unix(-1, 0), Zone: "a."}},
		{"year 10000", Entry{Kind: KindRelease, Time: time.Unix(maxUnix, 0), Zone: "a."}},
		{"zone upper case", Entry{Kind: KindRelease, Time: t0, Zone: "Example.org."}},
		{"zone no dot", Entry{Kind: KindRelease, Time: t0, Zone: "example.org"}},
		{"admission no node", Entry{Kind: KindNodeAdmission, Time: t0}},
		{"removal no node", Entry{Kind: KindNodeRemoval, Time: t0, Group: "eu"}},
		{"move no zone", Entry{Kind: KindZoneMove, Time: t0, Group: "us"}},
		{"kind 9 (not yet defined)", Entry{Kind: 9, Time: t0, Zone: "a."}},
		{"field too long", Entry{Kind: KindSuspension, Time: t0, Zone: "a.", Reason: long}},
		{"address too long", Entry{Kind: KindNodeAdmission, Time: t0, NodeID: "n", NodeAddrs: []string{long}}},
		{"not UTF-8", Entry{Kind: KindSuspension, Time: t0, Zone: "a.", Reason: "\xff"}},
	} {
		if b, err := tc.e.MarshalBinary(); !errors.Is(err, ErrMalformedEntry) {
			t.Errorf("%s: MarshalBinary = %x, %v; want ErrMalformedEntry", tc.name, b, err)
		}
	}
}

func TestParseEntryRejects(t *testing.T) {
	good, err := entryCases[4].e.MarshalBinary() // node admission: every part present
	if err != nil {
		t.Fatal(err)
	}
	with := func(i int, v byte) []byte {
		b := bytes.Clone(good)
		b[i] = v
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version 0", with(0, 0)},
		{"version 2", with(0, 2)},
		{"kind 0", with(1, 0)},
		{"kind 7", with(1, 7)},
		{"only header", good[:10]},
		{"truncated in a string", good[:len(good)-3]},
		{"truncated count", good[:len(good)-len("dns=192.0.2.3:53")-len("peer=12D3KooWabc")-5]},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"kind changed to registration (no zone)", with(1, byte(KindRegistration))},
		{"huge address count", append(good[:len(good)-len("dns=192.0.2.3:53")-len("peer=12D3KooWabc")-6], 0xff, 0xff)},
		{"invalid UTF-8", func() []byte {
			b, _ := Entry{Kind: KindRelease, Time: t0, Zone: "a.", Actor: "xy"}.MarshalBinary()
			b[len(b)-5] = 0xff
			return b
		}()},
		{"upper-case zone", func() []byte {
			b, _ := Entry{Kind: KindRelease, Time: t0, Zone: "a."}.MarshalBinary()
			b[12] = 'A'
			return b
		}()},
	} {
		if e, err := ParseEntry(tc.b); !errors.Is(err, ErrMalformedEntry) {
			t.Errorf("%s: ParseEntry(% x) = %+v, %v; want ErrMalformedEntry", tc.name, tc.b, e, err)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{
		KindRegistration: "registration", KindOwnerKeyChange: "owner-key-change", KindSuspension: "suspension",
		KindUnsuspension: "unsuspension", KindNodeAdmission: "node-admission", KindRelease: "release", KindNodeRemoval: "node-removal", KindNodeApproval: "node-approval", 10: "kind(10)", 0xff: "kind(255)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	for _, tc := range entryCases {
		b, err := tc.e.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedEntry) {
				t.Fatalf("ParseEntry error %v does not wrap ErrMalformedEntry", err)
			}
			return
		}
		again, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("ParseEntry accepted % x but MarshalBinary refuses %+v: %v", b, e, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip changed the bytes:\n in % x\nout % x", b, again)
		}
		js, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("json.Marshal(%+v): %v", e, err)
		}
		var back Entry
		if err := json.Unmarshal(js, &back); err != nil || !reflect.DeepEqual(back, e) {
			t.Fatalf("JSON round trip of %+v: %+v, %v", e, back, err)
		}
	})
}
