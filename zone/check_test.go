package zone

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// mutate returns the records of z with edit applied to each (edit returns
// nil to drop a record), rebuilt with New.
func mutate(tb testing.TB, z *Zone, edit func(rr dns.RR) dns.RR) *Zone {
	tb.Helper()
	var rrs []dns.RR
	for _, rr := range z.Records() {
		if rr = edit(dns.Copy(rr)); rr != nil {
			rrs = append(rrs, rr)
		}
	}
	out, err := New(z.Origin, rrs)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func isSig(rr dns.RR, name string, covered uint16) bool {
	sig, ok := rr.(*dns.RRSIG)
	return ok && sig.Hdr.Name == name && sig.TypeCovered == covered
}

func TestCheckSignedFindsProblems(t *testing.T) {
	z, k := signedExample(t)
	// An RRSIG made by k over sub.example. NS, which must stay unsigned.
	nsSig := &dns.RRSIG{Hdr: dns.RR_Header{Name: "sub.example.", Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 3600},
		Algorithm: dns.ED25519, KeyTag: k.Tag(), SignerName: "example.",
		Inception: uint32(signNow.Add(-time.Hour).Unix()), Expiration: uint32(signNow.Add(time.Hour).Unix())}
	if err := nsSig.Sign(k.Private, rrset(z, "sub.example.", dns.TypeNS).Records()); err != nil {
		t.Fatal(err)
	}
	withNSSig, err := New(z.Origin, append(z.Records(), nsSig))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc     string
		zone     *Zone
		anchor   *Key
		at       time.Time
		want     error
		wantText string // owner and type the problem must name
	}{
		{"missing RRSIG", mutate(t, z, func(rr dns.RR) dns.RR {
			if isSig(rr, "www.example.", dns.TypeA) {
				return nil
			}
			return rr
		}), k, signNow, ErrMissingRRSIG, "www.example. A"},
		{"tampered data", mutate(t, z, func(rr dns.RR) dns.RR {
			if a, ok := rr.(*dns.A); ok && a.Hdr.Name == "mail.example." {
				a.A[3] = 26
			}
			return rr
		}), k, signNow, ErrInvalidRRSIG, "mail.example. A"},
		{"wrong Labels", mutate(t, z, func(rr dns.RR) dns.RR {
			if isSig(rr, "*.wild.example.", dns.TypeA) {
				rr.(*dns.RRSIG).Labels = 3
			}
			return rr
		}), k, signNow, ErrInvalidRRSIG, "*.wild.example. A"},
		{"expired", z, k, signNow.Add(31 * 24 * time.Hour), ErrRRSIGTime, "example. SOA"},
		{"not yet valid", z, k, signNow.Add(-2 * time.Hour), ErrRRSIGTime, "www.example. AAAA"},
		{"signed delegation NS", withNSSig, k, signNow, ErrUnexpectedRRSIG, "sub.example. NS"},
		{"NSEC missing", mutate(t, z, func(rr dns.RR) dns.RR {
			if rr.Header().Name == "www.example." && (rr.Header().Rrtype == dns.TypeNSEC || isSig(rr, "www.example.", dns.TypeNSEC)) {
				return nil
			}
			return rr
		}), k, signNow, ErrNSECChain, "www.example. NSEC"},
		{"NSEC skips a name", mutate(t, z, func(rr dns.RR) dns.RR {
			if n, ok := rr.(*dns.NSEC); ok && n.Hdr.Name == "alias.example." {
				n.NextDomain = "big.example."
			}
			return rr
		}), k, signNow, ErrNSECChain, "alias.example. NSEC"},
		{"NSEC bitmap lacks a type", mutate(t, z, func(rr dns.RR) dns.RR {
			if n, ok := rr.(*dns.NSEC); ok && n.Hdr.Name == "www.example." {
				n.TypeBitMap = []uint16{dns.TypeA, dns.TypeRRSIG, dns.TypeNSEC}
			}
			return rr
		}), k, signNow, ErrNSECBitmap, "www.example. NSEC"},
		{"NSEC below a cut", mutate(t, z, func(rr dns.RR) dns.RR {
			if rr.Header().Name == "ns1.sub.example." && rr.Header().Rrtype == dns.TypeA {
				return &dns.NSEC{Hdr: dns.RR_Header{Name: "ns1.sub.example.", Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: 300}, NextDomain: "ns2.sub.example.", TypeBitMap: []uint16{dns.TypeA}}
			}
			return rr
		}), k, signNow, ErrNSECChain, "ns1.sub.example. NSEC"},
		{"another anchor", z, exampleKey(t, "example.", 2), signNow, ErrNoAnchor, "example. DNSKEY"},
		{"unsigned zone", loadExample(t), k, signNow, ErrMissingRRSIG, "example. SOA"},
	}
	for _, tc := range tests {
		err := CheckSigned(tc.zone, tc.anchor, tc.at)
		if !errors.Is(err, tc.want) {
			t.Errorf("CheckSigned(%s) = %v, want %v", tc.desc, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantText+":") {
			t.Errorf("CheckSigned(%s) = %v, want it to name %q", tc.desc, err, tc.wantText)
		}
		var re *RecordError
		if !errors.As(err, &re) {
			t.Errorf("CheckSigned(%s) = %T, want *RecordError inside", tc.desc, err)
		}
	}
}

func TestCheckSignedJoinsAll(t *testing.T) {
	z, k := signedExample(t)
	broken := mutate(t, z, func(rr dns.RR) dns.RR {
		if isSig(rr, "www.example.", dns.TypeA) || isSig(rr, "mail.example.", dns.TypeA) {
			return nil
		}
		return rr
	})
	err := CheckSigned(broken, k, signNow)
	for _, name := range []string{"www.example. A", "mail.example. A"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("CheckSigned(two RRSIGs removed) = %v, want %s named", err, name)
		}
	}
}
