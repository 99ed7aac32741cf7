package zone

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func mustRRset(tb testing.TB, records ...string) *RRset {
	tb.Helper()
	var s *RRset
	for _, text := range records {
		rr, err := dns.NewRR(text)
		if err != nil {
			tb.Fatalf("NewRR(%q) = %v", text, err)
		}
		h := rr.Header()
		if s == nil {
			s = &RRset{Name: CanonicalName(h.Name), Type: h.Rrtype, TTL: h.Ttl}
		}
		s.AddRecord(rr)
	}
	return s
}

// unsigned returns z without DNSSEC records, as a fresh Zone.
func unsigned(tb testing.TB, z *Zone) *Zone {
	tb.Helper()
	var rrs []dns.RR
	for _, s := range z.RRsets() {
		if !isDNSSECType(s.Type) {
			rrs = append(rrs, s.Records()...)
		}
	}
	u, err := New(z.Origin, rrs)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func TestApplyIncremental(t *testing.T) {
	old, k := signedExample(t)
	oldRecords := len(old.Records())
	later := signNow.Add(time.Hour)
	opt := DefaultSignOptions(later)
	tests := []struct {
		desc string
		c    Change
	}{
		{"add a name", Change{Put: []*RRset{mustRRset(t, "new.example. 3600 IN A 192.0.2.7")}}},
		{"add a type at a name", Change{Put: []*RRset{mustRRset(t, "mail.example. 3600 IN AAAA 2001:db8::25")}}},
		{"delete one type", Change{Delete: []RRKey{{"www.example.", dns.TypeAAAA}}}},
		{"delete a whole name", Change{Delete: []RRKey{{"mail.example.", dns.TypeA}}}},
		{"replace the 60-record RRset", Change{Put: []*RRset{mustRRset(t, "big.example. 600 IN A 198.51.100.1", "big.example. 600 IN A 198.51.100.2")}}},
		{"nothing but a serial bump", Change{}},
		{"new delegation over existing data", Change{Put: []*RRset{mustRRset(t, "c.example. 3600 IN NS ns.example.net.")}}},
		{"remove a delegation", Change{Delete: []RRKey{{"sub.example.", dns.TypeNS}, {"sub.example.", dns.TypeDS}}}},
		{"change the SOA minimum", Change{Put: []*RRset{mustRRset(t, "example. 3600 IN SOA ns1.example. hostmaster.example. 99 7200 3600 1209600 600")}}},
		{"delete the DNSKEY (the owner key comes back)", Change{Delete: []RRKey{{"example.", dns.TypeDNSKEY}}}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			z, err := old.Apply(tc.c, k, opt)
			if err != nil {
				t.Fatalf("Apply(%s) = %v", tc.desc, err)
			}
			if err := CheckSigned(z, k, later); err != nil {
				t.Errorf("CheckSigned(Apply(%s)) = %v", tc.desc, err)
			}
			if got, want := z.Serial(), old.Serial()+1; got != want {
				t.Errorf("Apply(%s) serial = %d, want %d", tc.desc, got, want)
			}
			if z.Head == nil || z.Head.Serial != z.Serial() {
				t.Errorf("Apply(%s) head = %+v, want one for serial %d", tc.desc, z.Head, z.Serial())
			}
			changed := map[RRKey]bool{{"example.", dns.TypeSOA}: true}
			for _, p := range tc.c.Put {
				changed[RRKey{p.Name, p.Type}] = true
			}
			for _, s := range z.RRsets() {
				if s.NumSignatures() == 0 {
					continue
				}
				var o *RRset
				if n := old.Node(s.Name); n != nil {
					o = n.RRset(s.Type)
				}
				fresh := sigTime(s.Signatures()[0].Inception, later).Equal(opt.Inception)
				// May be re-signed: what the change put, the SOA, the
				// DNSKEY when the change touched it, NSEC records whose
				// content changed, and RRsets that were unsigned before.
				mayResign := changed[RRKey{s.Name, s.Type}] || o == nil || o.NumSignatures() == 0 ||
					(s.Type == dns.TypeDNSKEY && slices.Contains(tc.c.Delete, RRKey{"example.", dns.TypeDNSKEY})) ||
					(s.Type == dns.TypeNSEC && !sameNSEC(o.First().(*dns.NSEC), s.First().(*dns.NSEC)))
				if !mayResign {
					if fresh || o.NumSignatures() != s.NumSignatures() || o.Signatures()[0].Signature != s.Signatures()[0].Signature {
						t.Errorf("Apply(%s): %s %s was re-signed, want its RRSIG carried over", tc.desc, s.Name, dns.TypeToString[s.Type])
					}
				} else if !fresh {
					t.Errorf("Apply(%s): %s %s kept its old RRSIG, want a new one", tc.desc, s.Name, dns.TypeToString[s.Type])
				}
			}

			// The same as signing the changed zone from scratch, signature
			// bytes and times aside.
			full, err := Sign(unsigned(t, z), k, opt)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := shape(full), shape(z); !slices.Equal(a, b) {
				t.Errorf("Apply(%s) differs from Sign of the changed zone:\n got %v\nwant %v", tc.desc, b, a)
			}
			if z.Head.Root != full.Head.Root || z.Head.Size != full.Head.Size {
				t.Errorf("Apply(%s) head root/size = %x/%d, want %x/%d as full Sign", tc.desc, z.Head.Root, z.Head.Size, full.Head.Root, full.Head.Size)
			}
		})
	}
	if len(old.Records()) != oldRecords || CheckSigned(old, k, signNow) != nil {
		t.Errorf("Apply modified its input zone")
	}
}

// shape lists a signed zone's records with the signature bytes and times
// of RRSIGs blanked.
func shape(z *Zone) []string {
	var out []string
	for _, rr := range z.Records() {
		if sig, ok := rr.(*dns.RRSIG); ok {
			c := *sig
			c.Signature, c.Inception, c.Expiration = "", 0, 0
			rr = &c
		}
		out = append(out, rr.String())
	}
	return out
}

func TestApplyErrors(t *testing.T) {
	z, k := signedExample(t)
	opt := DefaultSignOptions(signNow)
	tests := []struct {
		desc string
		c    Change
		want error
	}{
		{"delete the SOA", Change{Delete: []RRKey{{"example.", dns.TypeSOA}}}, ErrChange},
		{"put outside the zone", Change{Put: []*RRset{mustRRset(t, "www.example.org. 3600 IN A 192.0.2.1")}}, ErrOutOfZone},
		{"CNAME beside data", Change{Put: []*RRset{mustRRset(t, "www.example. 3600 IN CNAME mail.example.")}}, ErrCNAMEAndOther},
		{"data beside a CNAME", Change{Put: []*RRset{mustRRset(t, "alias.example. 3600 IN TXT x")}}, ErrCNAMEAndOther},
		{"put an NSEC", Change{Put: []*RRset{mustRRset(t, "www.example. 300 IN NSEC example. A")}}, ErrChange},
		{"TTLs differ", Change{Put: []*RRset{mustRRset(t, "x.example. 3600 IN A 192.0.2.1", "x.example. 60 IN A 192.0.2.2")}}, ErrTTLMismatch},
		{"empty RRset", Change{Put: []*RRset{{Name: "x.example.", Type: dns.TypeA, TTL: 60}}}, ErrChange},
		{"mixed names", Change{Put: []*RRset{NewRRset("x.example.", dns.TypeA, 60, mustRRset(t, "y.example. 60 IN A 192.0.2.1").Records(), nil)}}, ErrChange},
		{"key of another zone", Change{}, ErrKeyZone},
	}
	for _, tc := range tests {
		key := k
		if tc.want == ErrKeyZone {
			key = exampleKey(t, "example.org.", 1)
		}
		if _, err := z.Apply(tc.c, key, opt); !errors.Is(err, tc.want) {
			t.Errorf("Apply(%s) = %v, want %v", tc.desc, err, tc.want)
		}
	}
}

func TestApplySerialWraps(t *testing.T) {
	k := exampleKey(t, "example.", 1)
	z, err := New("example.", []dns.RR{mustRRset(t, "example. 60 IN SOA ns host 4294967295 1 2 3 4").First()})
	if err != nil {
		t.Fatal(err)
	}
	z2, err := z.Apply(Change{}, k, DefaultSignOptions(signNow))
	if err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	if z2.Serial() != 0 {
		t.Errorf("Apply() serial after 4294967295 = %d, want 0 (RFC 1982)", z2.Serial())
	}
}

func TestDiff(t *testing.T) {
	old, k := signedExample(t)
	edited := unsigned(t, old)
	var rrs []dns.RR
	for _, s := range edited.RRsets() {
		switch {
		case s.Type == dns.TypeDNSKEY: // a hand-edited file lacks it
		case s.Name == "www.example." && s.Type == dns.TypeAAAA:
		case s.Type == dns.TypeSOA:
			soa := *s.First().(*dns.SOA)
			soa.Serial += 5 // the serial alone is no change
			rrs = append(rrs, &soa)
		default:
			rrs = append(rrs, s.Records()...)
		}
	}
	rrs = append(rrs, mustRRset(t, "new.example. 3600 IN TXT hello").Records()...)
	newZ, err := New("example.", rrs)
	if err != nil {
		t.Fatal(err)
	}
	c := Diff(old, newZ)
	if len(c.Put) != 1 || c.Put[0].Name != "new.example." || len(c.Delete) != 1 || c.Delete[0] != (RRKey{"www.example.", dns.TypeAAAA}) {
		t.Fatalf("Diff() = put %v delete %v, want put new.example. TXT, delete www.example. AAAA", c.Put, c.Delete)
	}
	z, err := old.Apply(c, k, DefaultSignOptions(signNow))
	if err != nil {
		t.Fatalf("Apply(Diff()) = %v", err)
	}
	if d := Diff(z, newZ); !d.Empty() {
		t.Errorf("Diff(Apply(Diff(old, new)), new) = %+v, want empty", d)
	}
	if d := Diff(old, old); !d.Empty() {
		t.Errorf("Diff(z, z) = %+v, want empty", d)
	}
}
