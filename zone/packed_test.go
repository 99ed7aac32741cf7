package zone

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestPackedRoundTrip packs RRsets of many types (names in RDATA in mixed
// case, RRSIGs with their own TTL, records without RDATA) and checks that
// the packed form decodes to the same records, that the counts need no
// decoding, and that the leaf data (the Merkle leaf) is the loose form's.
func TestPackedRoundTrip(t *testing.T) {
	sig := func(covered string, ttl string) string {
		return "x.example. " + ttl + " IN RRSIG " + covered + " 15 2 3600 20300101000000 20240101000000 4242 Example. " + fakeSigB64
	}
	cases := []struct {
		name string
		rrs  []string
		sigs []string
	}{
		{"A with RRSIG", []string{"x.example. 300 IN A 192.0.2.1", "x.example. 300 IN A 192.0.2.2"}, []string{sig("A", "300")}},
		{"RRSIG TTL differs", []string{"x.example. 300 IN AAAA 2001:db8::1"}, []string{sig("AAAA", "60"), sig("AAAA", "300")}},
		{"TXT strings", []string{`x.example. 300 IN TXT "a b" "c\"d" ""`}, nil},
		{"mixed-case names kept", []string{"x.example. 300 IN MX 10 Mail.Example.", "x.example. 300 IN MX 20 OTHER.example."}, nil},
		{"SOA", []string{"x.example. 300 IN SOA Ns1.Example. HostMaster.example. 7 3600 600 86400 300"}, nil},
		{"NSEC", []string{"x.example. 300 IN NSEC Y.example. A RRSIG NSEC TYPE65000"}, []string{sig("NSEC", "300")}},
		{"SRV", []string{"x.example. 300 IN SRV 0 5 443 Target.example."}, nil},
		{"unknown type", []string{`x.example. 300 IN TYPE65400 \# 3 010203`}, nil},
		{"empty RDATA", []string{`x.example. 300 IN TYPE65401 \# 0`}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rrs []dns.RR
			for _, text := range c.rrs {
				rrs = append(rrs, mustRR(t, text))
			}
			var sigs []*dns.RRSIG
			for _, text := range c.sigs {
				sigs = append(sigs, mustRR(t, text).(*dns.RRSIG))
			}
			h := rrs[0].Header()
			loose := NewRRset(h.Name, h.Rrtype, h.Ttl, rrs, sigs)
			s := loose.Clone()
			if err := newPacker(1).pack(s); err != nil {
				t.Fatalf("pack: %v", err)
			}
			if !s.packed() || s.loose != nil {
				t.Fatal("not packed after pack")
			}
			if s.NumRecords() != len(rrs) || s.NumSignatures() != len(sigs) {
				t.Errorf("counts = %d, %d, want %d, %d", s.NumRecords(), s.NumSignatures(), len(rrs), len(sigs))
			}
			got := s.Records()
			for i, rr := range rrs {
				if i >= len(got) || got[i].String() != rr.String() {
					t.Errorf("record %d = %v, want %v", i, got, rr)
				}
			}
			gs := s.Signatures()
			for i, sg := range sigs {
				if i >= len(gs) || gs[i].String() != sg.String() {
					t.Errorf("RRSIG %d = %v, want %v", i, gs, sg)
				}
			}
			if s.First().String() != rrs[0].String() {
				t.Errorf("First = %v, want %v", s.First(), rrs[0])
			}
			if !bytes.Equal(LeafData(s), LeafData(loose)) {
				t.Errorf("leaf data of the packed form differs from the loose form's")
			}
			// Decoded records are fresh: changing them leaves s as it was.
			got[0].Header().Ttl = 1
			if s.First().Header().Ttl != h.Ttl {
				t.Error("a decoded record shares memory with the packed form")
			}
		})
	}
}

// TestPackedSetters checks the loose-form setters: a copy of the struct
// keeps its signatures when the original's are replaced; a packed set
// becomes loose when written to, and its first packing is unchanged.
func TestPackedSetters(t *testing.T) {
	a := mustRR(t, "x.example. 300 IN A 192.0.2.1")
	sg := mustRR(t, "x.example. 300 IN RRSIG A 15 2 300 20300101000000 20240101000000 4242 example. "+fakeSigB64).(*dns.RRSIG)
	s := NewRRset("x.example.", dns.TypeA, 300, []dns.RR{a}, []*dns.RRSIG{sg})
	c := *s
	c.SetSignatures(nil)
	if s.NumSignatures() != 1 || c.NumSignatures() != 0 {
		t.Errorf("after SetSignatures on a copy: original %d RRSIGs, copy %d; want 1, 0", s.NumSignatures(), c.NumSignatures())
	}
	if err := newPacker(1).pack(s); err != nil {
		t.Fatal(err)
	}
	packed := *s
	s.AddRecord(mustRR(t, "x.example. 300 IN A 192.0.2.2"))
	if s.packed() || s.NumRecords() != 2 || s.NumSignatures() != 1 {
		t.Errorf("AddRecord on a packed set: packed %v, %d records, %d RRSIGs; want loose, 2, 1", s.packed(), s.NumRecords(), s.NumSignatures())
	}
	if packed.NumRecords() != 1 {
		t.Errorf("the earlier packed copy holds %d records, want 1", packed.NumRecords())
	}
}

// TestPackRefusesBadRecords checks that a record miekg/dns cannot pack
// is refused with ErrPack naming the RRset, and that New refuses it.
func TestPackRefusesBadRecords(t *testing.T) {
	bad := &dns.RRSIG{Hdr: dns.RR_Header{Name: "x.example.", Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 300},
		TypeCovered: dns.TypeA, Algorithm: 15, SignerName: "example.", Signature: "not base64!"}
	s := NewRRset("x.example.", dns.TypeA, 300, []dns.RR{mustRR(t, "x.example. 300 IN A 192.0.2.1")}, []*dns.RRSIG{bad})
	err := newPacker(1).pack(s)
	var re *RecordError
	if !errors.Is(err, ErrPack) || !errors.As(err, &re) || re.Name != "x.example." {
		t.Fatalf("pack = %v, want ErrPack for x.example.", err)
	}
	if s.packed() || s.NumSignatures() != 1 {
		t.Error("a failed pack changed the RRset")
	}
	soa := mustRR(t, "example. 300 IN SOA ns1.example. h.example. 1 2 3 4 5")
	if _, err := New("example.", []dns.RR{soa, s.First(), bad}); !errors.Is(err, ErrPack) || !strings.Contains(err.Error(), "x.example.") {
		t.Errorf("New with an unpackable RRSIG = %v, want ErrPack naming x.example.", err)
	}
}

const fakeSigB64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="

func mustRR(t *testing.T, text string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(text)
	if err != nil {
		t.Fatalf("NewRR(%q): %v", text, err)
	}
	return rr
}

// TestLowersNamesListsEveryLoweredType checks lowersNames against
// lowerEmbeddedNames: a type whose records it lower-cases must be
// listed, or a packed RRset's leaf would keep upper-case names.
func TestLowersNamesListsEveryLoweredType(t *testing.T) {
	for typ, newRR := range dns.TypeToRR {
		rr := newRR()
		rr.Header().Rrtype = typ
		// Fill every string field with an upper-case name.
		v := reflectStrings(rr, "UP.Example.")
		if !v {
			continue
		}
		if lowerEmbeddedNames(rr) != rr && !lowersNames(typ) {
			t.Errorf("lowerEmbeddedNames lowers %s but lowersNames(%s) is false", dns.TypeToString[typ], dns.TypeToString[typ])
		}
	}
}

// reflectStrings sets every string field of rr's RDATA to v and reports
// whether it had one.
func reflectStrings(rr dns.RR, v string) bool {
	e := reflect.ValueOf(rr).Elem()
	found := false
	for i := 1; i < e.NumField(); i++ { // field 0 is the header
		if f := e.Field(i); f.Kind() == reflect.String && f.CanSet() {
			f.SetString(v)
			found = true
		}
	}
	return found
}
