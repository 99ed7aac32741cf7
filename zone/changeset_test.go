package zone

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// recordStrings returns z's records, RRSIGs included, as text.
func recordStrings(z *Zone) []string {
	var out []string
	for _, rr := range z.Records() {
		out = append(out, rr.String())
	}
	return out
}

func applyChange(tb testing.TB, z *Zone, k *Key, c Change, at time.Time) *Zone {
	tb.Helper()
	nz, err := z.Apply(c, k, DefaultSignOptions(at))
	if err != nil {
		tb.Fatalf("Apply = %v", err)
	}
	return nz
}

func TestSignedDiffVerifyRoundTrip(t *testing.T) {
	old, k := signedExample(t)
	later := signNow.Add(time.Hour)
	tests := []struct {
		desc string
		c    Change
	}{
		{"add a name", Change{Put: []*RRset{mustRRset(t, "new.example. 3600 IN A 192.0.2.7")}}},
		{"delete a whole name", Change{Delete: []RRKey{{"mail.example.", dns.TypeA}}}},
		{"serial bump only", Change{}},
		{"new delegation over existing data", Change{Put: []*RRset{mustRRset(t, "c.example. 3600 IN NS ns.example.net.")}}},
		{"several at once", Change{
			Put:    []*RRset{mustRRset(t, "aaa.example. 3600 IN A 192.0.2.1"), mustRRset(t, "zzz.example. 3600 IN A 192.0.2.2"), mustRRset(t, "www.example. 60 IN A 192.0.2.3")},
			Delete: []RRKey{{"mail.example.", dns.TypeA}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			nz := applyChange(t, old, k, tt.c, later)
			cs := SignedDiff(old, nz)
			if len(cs.Put) >= len(nz.RRsets()) {
				t.Errorf("SignedDiff puts %d of %d RRsets, want fewer", len(cs.Put), len(nz.RRsets()))
			}
			got, err := VerifyChange(old, cs, k)
			if err != nil {
				t.Fatalf("VerifyChange = %v", err)
			}
			if !slices.Equal(recordStrings(got), recordStrings(nz)) {
				t.Errorf("VerifyChange result differs from the owner's zone")
			}
			fresh := newTree(got.RRsets())
			if tr := got.Tree(); tr.Root() != fresh.Root() || !slices.Equal(leafHashes(tr), leafHashes(fresh)) {
				t.Errorf("tree built from the old zone's leaves differs from one built afresh")
			}
			if got.Head == nil || got.Head.Root != nz.Head.Root || got.Head.Serial != nz.Serial() {
				t.Errorf("VerifyChange head = %+v, want root %x serial %d", got.Head, nz.Head.Root, nz.Serial())
			}
		})
	}
}

func TestSignedDiffCreate(t *testing.T) {
	z, k := signedExample(t)
	cs := SignedDiff(nil, z)
	if len(cs.Put) != len(z.RRsets()) || len(cs.Delete) != 0 {
		t.Fatalf("SignedDiff(nil, z) puts %d, deletes %d; want %d, 0", len(cs.Put), len(cs.Delete), len(z.RRsets()))
	}
	got, err := VerifyChange(nil, cs, k)
	if err != nil {
		t.Fatalf("VerifyChange(nil, create) = %v", err)
	}
	if !slices.Equal(recordStrings(got), recordStrings(z)) {
		t.Errorf("created zone differs from the owner's")
	}
}

func TestVerifyChangeRefuses(t *testing.T) {
	old, k := signedExample(t)
	other := exampleKey(t, "example.", 2)
	later := signNow.Add(time.Hour)
	nz := applyChange(t, old, k, Change{Put: []*RRset{mustRRset(t, "www.example. 3600 IN A 192.0.2.99")}}, later)
	good := SignedDiff(old, nz)

	// copyCS returns a ChangeSet whose Put RRsets may be edited.
	copyCS := func(cs ChangeSet) ChangeSet {
		c := cs
		c.Put = make([]*RRset, len(cs.Put))
		for i, s := range cs.Put {
			d := *s
			d.SetRecords(slices.Clone(s.Records()))
			d.SetSignatures(make([]*dns.RRSIG, s.NumSignatures()))
			for j, sig := range s.Signatures() {
				d.Signatures()[j] = dns.Copy(sig).(*dns.RRSIG)
			}
			c.Put[i] = &d
		}
		c.Delete = slices.Clone(cs.Delete)
		return c
	}
	find := func(cs ChangeSet, name string, typ uint16) *RRset {
		for _, s := range cs.Put {
			if s.Name == name && s.Type == typ {
				return s
			}
		}
		t.Fatalf("no put %s %d", name, typ)
		return nil
	}
	signedByOther := func() ChangeSet {
		z, err := Sign(unsigned(t, nz), other, DefaultSignOptions(later))
		if err != nil {
			t.Fatal(err)
		}
		return SignedDiff(old, z)
	}
	equalSerial := func() ChangeSet {
		// Same serial as old, other content.
		u := unsigned(t, old)
		rrs := append(u.Records(), mustRRset(t, "eq.example. 3600 IN A 192.0.2.1").Records()...)
		z, err := New("example.", rrs)
		if err != nil {
			t.Fatal(err)
		}
		if z, err = Sign(z, k, DefaultSignOptions(later)); err != nil {
			t.Fatal(err)
		}
		return SignedDiff(old, z)
	}

	tests := []struct {
		desc string
		base *Zone
		cs   func() ChangeSet
		key  *Key
		want ChangeReason
	}{
		{"tampered RRSIG", old, func() ChangeSet {
			c := copyCS(good)
			s := find(c, "www.example.", dns.TypeA)
			sig := []byte(s.Signatures()[0].Signature)
			sig[3] ^= 'A' ^ 'B'
			s.Signatures()[0].Signature = string(sig)
			return c
		}, k, ReasonBadSignature},
		{"tampered data", old, func() ChangeSet {
			c := copyCS(good)
			s := find(c, "www.example.", dns.TypeA)
			s.SetRecords([]dns.RR{mustRRset(t, "www.example. 3600 IN A 192.0.2.100").First()})
			return c
		}, k, ReasonBadSignature},
		{"unsigned put", old, func() ChangeSet {
			c := copyCS(good)
			find(c, "www.example.", dns.TypeA).SetSignatures(nil)
			return c
		}, k, ReasonBadSignature},
		{"tampered head", old, func() ChangeSet {
			c := good
			c.Head = tamperSig(good.Head)
			return c
		}, k, ReasonBadSignature},
		{"signed by another key", old, signedByOther, k, ReasonWrongKey},
		{"verified against another key", old, func() ChangeSet { return good }, other, ReasonWrongKey},
		{"stale serial", nz, func() ChangeSet { return SignedDiff(nz, old) }, k, ReasonStaleSerial},
		{"equal serial", old, equalSerial, k, ReasonStaleSerial},
		{"a put left out", old, func() ChangeSet {
			c := copyCS(good)
			c.Put = slices.DeleteFunc(c.Put, func(s *RRset) bool { return s.Name == "www.example." && s.Type == dns.TypeA })
			return c
		}, k, ReasonRootMismatch},
		{"head of another change", old, func() ChangeSet {
			c := good
			c.Head = applyChange(t, old, k, Change{Put: []*RRset{mustRRset(t, "x.example. 3600 IN A 192.0.2.1")}}, later).Head.Note
			return c
		}, k, ReasonRootMismatch},
		{"out-of-zone put", old, func() ChangeSet {
			c := copyCS(good)
			c.Put = append(c.Put, mustRRset(t, "www.example.net. 3600 IN A 192.0.2.1"))
			return c
		}, k, ReasonMalformed},
		{"SOA deleted", old, func() ChangeSet {
			c := copyCS(good)
			c.Put = slices.DeleteFunc(c.Put, func(s *RRset) bool { return s.Type == dns.TypeSOA })
			c.Delete = append(c.Delete, RRKey{"example.", dns.TypeSOA})
			return c
		}, k, ReasonMalformed},
		{"owner key removed", old, func() ChangeSet {
			c := copyCS(good)
			c.Delete = append(c.Delete, RRKey{"example.", dns.TypeDNSKEY})
			return c
		}, k, ReasonMalformed},
		{"garbage head", old, func() ChangeSet {
			c := good
			c.Head = []byte("not a note")
			return c
		}, k, ReasonMalformed},
		{"change for another zone", old, func() ChangeSet {
			c := good
			c.Zone = "example.net."
			return c
		}, k, ReasonWrongKey},
		{"RRSIG as an RRset", old, func() ChangeSet {
			c := copyCS(good)
			s := find(c, "www.example.", dns.TypeA)
			c.Put = append(c.Put, NewRRset(s.Name, dns.TypeRRSIG, s.TTL, []dns.RR{s.Signatures()[0]}, nil))
			return c
		}, k, ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			before := recordStrings(tt.base)
			_, err := VerifyChange(tt.base, tt.cs(), tt.key)
			var ce *ChangeError
			if !errors.As(err, &ce) {
				t.Fatalf("VerifyChange = %v, want a *ChangeError", err)
			}
			if ce.Reason != tt.want {
				t.Errorf("VerifyChange reason = %s (%v), want %s", ce.Reason, err, tt.want)
			}
			if !slices.Equal(recordStrings(tt.base), before) {
				t.Errorf("VerifyChange modified the old zone")
			}
		})
	}
	if _, err := VerifyChange(old, good, k); err != nil {
		t.Fatalf("VerifyChange(good) = %v after the refusals", err)
	}
}

// TestVerifyChangeIgnoresTime proves replicas reach the same verdict at
// any time: an RRSIG window long past still verifies.
func TestVerifyChangeIgnoresTime(t *testing.T) {
	old, k := signedExample(t)
	opt := SignOptions{Inception: time.Unix(1e9, 0), Expiration: time.Unix(1e9+60, 0)}
	nz, err := old.Apply(Change{Put: []*RRset{mustRRset(t, "new.example. 3600 IN A 192.0.2.7")}}, k, opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyChange(old, SignedDiff(old, nz), k); err != nil {
		t.Errorf("VerifyChange(expired signatures) = %v, want nil", err)
	}
}
