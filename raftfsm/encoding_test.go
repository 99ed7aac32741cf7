package raftfsm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenRRset is the RRset whose version 1 encoding testdata/rrset_v1.hex
// holds: two A records and one RRSIG.
func goldenRRset(t testing.TB) *zone.RRset {
	t.Helper()
	s := &zone.RRset{Name: "www.example.", Type: dns.TypeA, TTL: 3600}
	for _, text := range []string{
		"www.example. 3600 IN A 192.0.2.1",
		"www.example. 3600 IN A 192.0.2.2",
		"www.example. 3600 IN RRSIG A 15 2 3600 20300101000000 20240101000000 4242 example. " + fakeSig,
	} {
		rr, err := dns.NewRR(text)
		if err != nil {
			t.Fatalf("NewRR(%q): %v", text, err)
		}
		if sig, ok := rr.(*dns.RRSIG); ok {
			s.AddSignature(sig)
		} else {
			s.AddRecord(rr)
		}
	}
	return s
}

func goldenMeta() meta {
	return meta{Serial: 2025060101, Head: &zone.Head{
		Zone:   "example.",
		Serial: 2025060101,
		Size:   12,
		Root:   [32]byte{0: 0xAA, 31: 0x55},
		Time:   time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		Note:   []byte("example.\n2025060101\n12\n\n— example. AAAA\n"),
	}}
}

// checkGolden compares got with the hex in testdata/name, or rewrites the
// file with -update. A failure here means the stored format changed: bump
// the version byte and keep reading the old one instead.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(hex.EncodeToString(got)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update once to create it): %v", err)
	}
	want, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encoding changed:\n got  %x\n want %x (%s)", got, want, path)
	}
}

func TestRRsetGolden(t *testing.T) {
	s := goldenRRset(t)
	got, err := encodeRRset(s)
	if err != nil {
		t.Fatalf("encodeRRset: %v", err)
	}
	checkGolden(t, "rrset_v1.hex", got)
	back, err := decodeRRset(got)
	if err != nil {
		t.Fatalf("decodeRRset(golden): %v", err)
	}
	if back.Name != s.Name || back.Type != s.Type || back.TTL != s.TTL || back.NumRecords() != 2 || back.NumSignatures() != 1 {
		t.Fatalf("decodeRRset(golden) = %+v, want %+v", back, s)
	}
	for i := range s.Records() {
		if back.Records()[i].String() != s.Records()[i].String() {
			t.Errorf("record %d = %s, want %s", i, back.Records()[i], s.Records()[i])
		}
	}
	if back.Signatures()[0].String() != s.Signatures()[0].String() {
		t.Errorf("RRSIG = %s, want %s", back.Signatures()[0], s.Signatures()[0])
	}
}

func TestMetaGolden(t *testing.T) {
	m := goldenMeta()
	got := encodeMeta(m)
	checkGolden(t, "meta_v1.hex", got)
	back, err := decodeMeta("example.", got)
	if err != nil {
		t.Fatalf("decodeMeta(golden): %v", err)
	}
	h, w := back.Head, m.Head
	if back.Serial != m.Serial || h.Zone != w.Zone || h.Serial != w.Serial || h.Size != w.Size || h.Root != w.Root || !h.Time.Equal(w.Time) || !bytes.Equal(h.Note, w.Note) {
		t.Errorf("decodeMeta(golden) = %+v %+v, want %+v %+v", back, h, m, w)
	}
	if !bytes.Equal(encodeMeta(back), got) {
		t.Errorf("encodeMeta(decodeMeta(golden)) differs from golden")
	}
	unsigned := encodeMeta(meta{Serial: 5})
	if back, err := decodeMeta("example.", unsigned); err != nil || back.Serial != 5 || back.Head != nil {
		t.Errorf("decodeMeta(unsigned) = %+v, %v, want serial 5, no head", back, err)
	}
}

func TestDecodeRRsetRejects(t *testing.T) {
	good, err := encodeRRset(goldenRRset(t))
	if err != nil {
		t.Fatal(err)
	}
	mixed := &zone.RRset{Name: "www.example.", Type: dns.TypeA, TTL: 3600}
	a, _ := dns.NewRR("www.example. 3600 IN A 192.0.2.1")
	aaaa, _ := dns.NewRR("www.example. 3600 IN AAAA 2001:db8::1")
	other, _ := dns.NewRR("ftp.example. 3600 IN A 192.0.2.1")
	ttl, _ := dns.NewRR("www.example. 60 IN A 192.0.2.3")
	sigAAAA, _ := dns.NewRR("www.example. 3600 IN RRSIG AAAA 15 2 3600 20300101000000 20240101000000 4242 example. " + fakeSig)
	enc := func(rrs []dns.RR, sigs []dns.RR) []byte {
		mixed.SetRecords(rrs)
		mixed.SetSignatures(nil)
		for _, s := range sigs {
			mixed.AddSignature(s.(*dns.RRSIG))
		}
		b, err := encodeRRset(mixed)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// An RRSIG in the record section: count 2 records, 0 signatures.
	sigAsRecord := append([]byte{}, good...)
	sigAsRecord[2], sigAsRecord[4] = 3, 0
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, nil},
		{"unknown version", append([]byte{2}, good[1:]...), ErrVersion},
		{"version 0", append([]byte{0}, good[1:]...), ErrVersion},
		{"truncated header", good[:3], nil},
		{"truncated record", good[:len(good)-1], nil},
		{"trailing byte", append(append([]byte{}, good...), 0), nil},
		{"no records", []byte{1, 0, 0, 0, 0}, nil},
		{"two types", enc([]dns.RR{a, aaaa}, nil), nil},
		{"two owners", enc([]dns.RR{a, other}, nil), nil},
		{"two TTLs", enc([]dns.RR{a, ttl}, nil), nil},
		{"RRSIG over another type", enc([]dns.RR{a}, []dns.RR{sigAAAA}), nil},
		{"RRSIG among the records", sigAsRecord, nil},
	}
	for _, tt := range tests {
		_, err := decodeRRset(tt.b)
		if err == nil {
			t.Errorf("decodeRRset(%s) succeeded, want an error", tt.name)
			continue
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("decodeRRset(%s) = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// FuzzDecodeRRset feeds the RRset value decoder arbitrary bytes. It must
// never panic, and whatever it accepts must encode to bytes that decode to
// the same encoding again.
func FuzzDecodeRRset(f *testing.F) {
	good, err := encodeRRset(goldenRRset(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte{1, 0, 1, 0, 0})
	f.Add([]byte{1, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{2})
	for _, s := range testZone(f, 1).RRsets() {
		b, err := encodeRRset(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeRRset(b)
		if err != nil {
			return
		}
		e1, err := encodeRRset(s)
		if err != nil {
			t.Fatalf("encodeRRset(decodeRRset(%x)): %v", b, err)
		}
		s2, err := decodeRRset(e1)
		if err != nil {
			t.Fatalf("decodeRRset(re-encoded %x): %v", e1, err)
		}
		e2, err := encodeRRset(s2)
		if err != nil || !bytes.Equal(e1, e2) {
			t.Fatalf("encoding not stable: %x then %x (%v)", e1, e2, err)
		}
		if _, err := encodeKey(s.Name, s.Type); err != nil {
			t.Fatalf("encodeKey(%q) of a decoded RRset: %v", s.Name, err)
		}
	})
}

// FuzzDecodeMeta feeds the meta value decoder arbitrary bytes.
func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta(goldenMeta()))
	f.Add(encodeMeta(meta{Serial: 1}))
	f.Add([]byte{1, 0, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta("example.", b)
		if err != nil {
			return
		}
		if e := encodeMeta(m); !bytes.Equal(e, b) {
			t.Fatalf("encodeMeta(decodeMeta(%x)) = %x", b, e)
		}
	})
}
