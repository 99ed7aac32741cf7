package zone

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/miekg/dns"
)

// maxBytesPerRRset bounds what a member holds per RRset of a signed zone
// loaded afresh (New over parsed records, as after a restart) with its
// Merkle tree. Measured (names with A, AAAA, TXT and NSEC, one Ed25519
// RRSIG each; go1.26, amd64): 253 bytes with the packed form
// (packed.go) and the persistent tree (ptree.go): about 109 of packed
// RDATA, 52 of RRset values, 54 of Merkle tree, 33 of nodes and name
// index. 493 with miekg/dns records and shared names, 541 before.
// Keeping the decoded records beside the packed form would pass 450.
const maxBytesPerRRset = 280

// heapInUse is the live heap after two collections.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestZoneBytesPerRRset loads a signed zone of 12,006 RRsets as a member
// does after a restart (its records decoded afresh, then New) and
// bounds the live heap it holds per RRset, tree included: the heap with
// the zone minus the heap once it is dropped, each after two
// collections. Not a timed assertion: bytes.
func TestZoneBytesPerRRset(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 12,006-RRset zone")
	}
	const names = 3000
	var b strings.Builder
	b.WriteString("$TTL 3600\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\n")
	for i := range names {
		fmt.Fprintf(&b, "h%d A 10.%d.%d.%d\nh%d AAAA 2001:db8::%x\nh%d TXT \"name %d\"\n", i, i>>16&255, i>>8&255, i&255, i, i, i, i)
	}
	u, err := ParseFile(strings.NewReader(b.String()), "mem.test.", "mem.zone")
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Sign(u, exampleKey(t, "mem.test.", 5), DefaultSignOptions(signNow))
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := Write(&text, signed); err != nil {
		t.Fatal(err)
	}
	u, signed, b = nil, nil, strings.Builder{}

	z, err := ParseFile(bytes.NewReader(text.Bytes()), "mem.test.", "signed")
	if err != nil {
		t.Fatal(err)
	}
	text = bytes.Buffer{}
	z.Tree()
	with := heapInUse()
	n := len(z.RRsets())
	runtime.KeepAlive(z)
	z = nil
	without := heapInUse()
	per := (with - without) / uint64(n)
	t.Logf("%d RRsets: %d bytes of heap each (zone and tree)", n, per)
	if per > maxBytesPerRRset {
		t.Errorf("a loaded zone of %d RRsets holds %d bytes of heap an RRset, want at most %d", n, per, maxBytesPerRRset)
	}
}

// TestNewSharesNames checks that New leaves every RRset packed (no
// dns.RR values kept) with its Name the one string the zone's index
// holds, and that the packed records decode to what was parsed.
func TestNewSharesNames(t *testing.T) {
	k := exampleKey(t, "big.test.", 3)
	z, err := Sign(bigZone(t, 50), k, DefaultSignOptions(signNow))
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := Write(&text, z); err != nil {
		t.Fatal(err)
	}
	want := text.String()
	z, err = ParseFile(&text, "big.test.", "signed")
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	for _, s := range z.RRsets() {
		n := z.Node(s.Name)
		if !same(s.Name, n.Name) {
			t.Errorf("%s %s: the RRset's name is a copy, not the node's", s.Name, dns.TypeToString[s.Type])
		}
		if !s.packed() || s.loose != nil {
			t.Errorf("%s %s: not packed", s.Name, dns.TypeToString[s.Type])
		}
	}
	var again bytes.Buffer
	if err := Write(&again, z); err != nil {
		t.Fatal(err)
	}
	if again.String() != want {
		t.Errorf("the parsed zone written again differs from the zone file")
	}
}
