package intergroup

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/zone"
)

// zoneText is z in the form FetchZone carries it.
func zoneText(t *testing.T, z *zone.Zone) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := zone.Write(&b, z); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withRecords is z's text with f applied to its records (RRSIGs
// included), the head left as it was.
func withRecords(t *testing.T, z *zone.Zone, f func(rrs []dns.RR)) []byte {
	t.Helper()
	rrs := z.Records()
	for i, rr := range rrs {
		rrs[i] = dns.Copy(rr)
	}
	f(rrs)
	nz, err := zone.New(z.Origin, rrs)
	if err != nil {
		t.Fatal(err)
	}
	return zoneText(t, nz)
}

func TestVerifyZone(t *testing.T) {
	_, z1, k := signedExample(t, "2024010101")
	_, z2, _ := signedExample(t, "2024010102")
	forgedSig := withRecords(t, z1, func(rrs []dns.RR) {
		// The RRSIG of www A gets another RRSIG's signature: well formed,
		// wrong.
		var www, other *dns.RRSIG
		for _, rr := range rrs {
			if s, ok := rr.(*dns.RRSIG); ok {
				if s.Hdr.Name == "www.example." && s.TypeCovered == dns.TypeA {
					www = s
				} else if other == nil {
					other = s
				}
			}
		}
		if www == nil || other == nil {
			t.Fatal("no RRSIG of www.example. A in the fixture")
		}
		www.Signature = other.Signature
	})
	altered := withRecords(t, z1, func(rrs []dns.RR) {
		for _, rr := range rrs {
			if a, ok := rr.(*dns.A); ok && a.Hdr.Name == "www.example." {
				a.A = a.A.To4()
				a.A[3] = 66
			}
		}
	})
	cases := []struct {
		desc   string
		origin string
		text   []byte
		head   []byte
		prior  *zone.Zone // verified first (raises the highest serial)
		want   error
		reason string // ddnrs_overlay_refused_answers_total reason
	}{
		{"genuine", "example.", zoneText(t, z1), z1.Head.Note, nil, nil, ""},
		{"genuine, newer than seen", "example.", zoneText(t, z2), z2.Head.Note, z1, nil, ""},
		{"forged RRSIG", "example.", forgedSig, z1.Head.Note, nil, zone.ErrInvalidRRSIG, "bad_signature"},
		{"older serial", "example.", zoneText(t, z1), z1.Head.Note, z2, client.ErrStaleSerial, "stale_serial"},
		{"altered record", "example.", altered, z1.Head.Note, nil, client.ErrZoneMismatch, "bad_proof"},
		{"head of another version", "example.", zoneText(t, z2), z1.Head.Note, nil, client.ErrZoneMismatch, "bad_proof"},
		{"tampered head", "example.", zoneText(t, z1), bytes.Replace(z1.Head.Note, []byte("2024010101"), []byte("2024010109"), 1), nil, zone.ErrBadSignature, "bad_signature"},
		{"no trust anchor", "other.test.", zoneText(t, z1), z1.Head.Note, nil, client.ErrNoTrustAnchor, "no_trust_anchor"},
		{"not a zone", "example.", []byte("example. IN SOA ("), z1.Head.Note, nil, client.ErrBadResponse, "malformed"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			v := client.NewVerifier(client.Anchors{"example.": k}, verifyClock)
			if c.prior != nil {
				if _, err := v.VerifyZone("example.", zoneText(t, c.prior), c.prior.Head.Note); err != nil {
					t.Fatalf("prior: %v", err)
				}
			}
			z, err := v.VerifyZone(c.origin, c.text, c.head)
			if c.want == nil {
				if err != nil {
					t.Fatalf("VerifyZone: %v", err)
				}
				if z.Head == nil || !bytes.Equal(z.Head.Note, c.head) || z.Serial() != z.Head.Serial {
					t.Errorf("VerifyZone = serial %d, head %v; want the head set", z.Serial(), z.Head)
				}
				if hi, _ := v.Highest("example."); hi != z.Serial() {
					t.Errorf("highest serial %d after verifying %d", hi, z.Serial())
				}
				return
			}
			var ve *client.VerifyError
			if !errors.Is(err, c.want) || !errors.As(err, &ve) || z != nil {
				t.Fatalf("VerifyZone = %v, %v; want a *client.VerifyError wrapping %v", z, err, c.want)
			}
			if r, _ := refusalReason(err); r != c.reason {
				t.Errorf("refusal reason %q, want %q", r, c.reason)
			}
			if c.prior != nil {
				if hi, _ := v.Highest("example."); hi != c.prior.Serial() {
					t.Errorf("a refused copy moved the highest serial to %d", hi)
				}
			}
			if !strings.Contains(err.Error(), "refused") {
				t.Errorf("error %q does not say it was refused", err)
			}
		})
	}
}
