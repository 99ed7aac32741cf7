package zone

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/testtool"
	"github.com/miekg/dns"
)

// signNow is the fixed clock of the signing tests.
var signNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// exampleKey returns a deterministic Ed25519 CSK for origin.
func exampleKey(tb testing.TB, origin string, seed byte) *Key {
	tb.Helper()
	k, err := GenerateKey(origin, true, bytes.NewReader(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		tb.Fatalf("GenerateKey(%q) = %v", origin, err)
	}
	return k
}

// loadExample parses testdata/example.zone.
func loadExample(tb testing.TB) *Zone {
	tb.Helper()
	f, err := os.Open("testdata/example.zone")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	z, err := ParseFile(f, "example.", "example.zone")
	if err != nil {
		tb.Fatalf("ParseFile(example.zone) = %v", err)
	}
	return z
}

// signedExample returns the example zone signed at signNow, and its key.
func signedExample(tb testing.TB) (*Zone, *Key) {
	tb.Helper()
	k := exampleKey(tb, "example.", 1)
	z, err := Sign(loadExample(tb), k, DefaultSignOptions(signNow))
	if err != nil {
		tb.Fatalf("Sign(example) = %v", err)
	}
	return z, k
}

// requireTool returns the path of a tool from a Debian package; the one
// rule for a missing tool (skip locally, fail under CI) is testtool's.
func requireTool(tb testing.TB, tool, pkg string) string {
	tb.Helper()
	return testtool.Need(tb, tool, pkg)
}

func rrset(z *Zone, name string, t uint16) *RRset {
	n := z.Node(name)
	if n == nil {
		return nil
	}
	return n.RRset(t)
}

func TestSignRules(t *testing.T) {
	z, k := signedExample(t)
	if err := CheckSigned(z, k, signNow); err != nil {
		t.Fatalf("CheckSigned(Sign(example)) = %v", err)
	}
	tests := []struct {
		name   string
		t      uint16
		signed bool
		labels uint8
	}{
		{"example.", dns.TypeSOA, true, 1},
		{"example.", dns.TypeNS, true, 1},
		{"example.", dns.TypeDNSKEY, true, 1},
		{"www.example.", dns.TypeA, true, 2},
		{"alias.example.", dns.TypeCNAME, true, 2},
		{"*.wild.example.", dns.TypeA, true, 2}, // the * label is not counted
		{"*.wild.example.", dns.TypeTXT, true, 2},
		{"exact.wild.example.", dns.TypeA, true, 3},
		{"a.b.c.example.", dns.TypeA, true, 4},
		{"big.example.", dns.TypeA, true, 2},
		{"txt.example.", dns.TypeTXT, true, 2},
		{"sub.example.", dns.TypeNS, false, 0}, // delegation NS
		{"sub.example.", dns.TypeDS, true, 2},
		{"ns1.sub.example.", dns.TypeA, false, 0}, // glue
		{"ns1.sub.example.", dns.TypeAAAA, false, 0},
		{"ns2.sub.example.", dns.TypeA, false, 0},
		{"nods.example.", dns.TypeNS, false, 0},
	}
	for _, tc := range tests {
		s := rrset(z, tc.name, tc.t)
		if s == nil {
			t.Errorf("Sign: %s %s missing", tc.name, dns.TypeToString[tc.t])
			continue
		}
		if got := s.NumSignatures() > 0; got != tc.signed {
			t.Errorf("Sign: %s %s signed = %v, want %v", tc.name, dns.TypeToString[tc.t], got, tc.signed)
			continue
		}
		for _, sig := range s.Signatures() {
			if sig.Labels != tc.labels || sig.Hdr.Ttl != s.TTL || sig.OrigTtl != s.TTL || sig.KeyTag != k.Tag() || sig.SignerName != "example." {
				t.Errorf("Sign: %s %s RRSIG labels %d ttl %d orig %d tag %d signer %s, want %d %d %d %d example.",
					tc.name, dns.TypeToString[tc.t], sig.Labels, sig.Hdr.Ttl, sig.OrigTtl, sig.KeyTag, sig.SignerName, tc.labels, s.TTL, s.TTL, k.Tag())
			}
		}
	}

	keys := rrset(z, "example.", dns.TypeDNSKEY)
	if keys == nil || keys.TTL != 300 || keys.NumRecords() != 1 || !SameKey(keys.First().(*dns.DNSKEY), k.DNSKEY) {
		t.Errorf("Sign: apex DNSKEY = %v, want the owner key with TTL 300 (SOA minimum)", keys)
	}

	bitmaps := []struct {
		name  string
		types []uint16 // nil: no NSEC at the name
	}{
		{"example.", []uint16{dns.TypeA, dns.TypeNS, dns.TypeSOA, dns.TypeMX, dns.TypeTXT, dns.TypeAAAA, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeDNSKEY}},
		{"www.example.", []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeRRSIG, dns.TypeNSEC}},
		{"alias.example.", []uint16{dns.TypeCNAME, dns.TypeRRSIG, dns.TypeNSEC}},
		{"*.wild.example.", []uint16{dns.TypeA, dns.TypeTXT, dns.TypeRRSIG, dns.TypeNSEC}},
		{"sub.example.", []uint16{dns.TypeNS, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeDS}},
		{"nods.example.", []uint16{dns.TypeNS, dns.TypeRRSIG, dns.TypeNSEC}},
		{"ns1.sub.example.", nil},
		{"ns2.sub.example.", nil},
		{"b.c.example.", nil}, // empty non-terminal
		{"wild.example.", nil},
	}
	for _, tc := range bitmaps {
		s := rrset(z, tc.name, dns.TypeNSEC)
		if tc.types == nil {
			if s != nil {
				t.Errorf("Sign: NSEC at %s = %v, want none", tc.name, s.First())
			}
			continue
		}
		if s == nil {
			t.Errorf("Sign: no NSEC at %s", tc.name)
			continue
		}
		want := slices.Sorted(slices.Values(tc.types))
		if got := s.First().(*dns.NSEC).TypeBitMap; !slices.Equal(got, want) {
			t.Errorf("Sign: NSEC bitmap at %s = %s, want %s", tc.name, typeList(got), typeList(want))
		}
		if s.TTL != 300 || s.First().Header().Ttl != 300 {
			t.Errorf("Sign: NSEC TTL at %s = %d, want 300 = min(SOA TTL 3600, MINIMUM 300)", tc.name, s.TTL)
		}
	}

	wantChain := []string{
		"example.", "alias.example.", "alias2.example.", "big.example.", "c.example.", "a.b.c.example.",
		"ext.example.", "mail.example.", "nods.example.", "ns1.example.", "ns2.example.", "sub.example.",
		"txt.example.", "*.wild.example.", "exact.wild.example.", "www.example.",
	}
	var got []string
	for name := "example."; len(got) <= len(wantChain); {
		got = append(got, name)
		s := rrset(z, name, dns.TypeNSEC)
		if s == nil {
			break
		}
		if name = s.First().(*dns.NSEC).NextDomain; name == "example." {
			break
		}
	}
	if !slices.Equal(got, wantChain) {
		t.Errorf("Sign: NSEC chain = %v, want %v", got, wantChain)
	}
	if z.Head == nil || z.Head.Serial != z.Serial() {
		t.Errorf("Sign: Head = %+v, want a head for serial %d", z.Head, z.Serial())
	}
}

func TestSignAgainStrips(t *testing.T) {
	z, k := signedExample(t)
	later := signNow.Add(48 * time.Hour)
	z2, err := Sign(z, k, DefaultSignOptions(later))
	if err != nil {
		t.Fatalf("Sign(signed) = %v", err)
	}
	if err := CheckSigned(z2, k, later); err != nil {
		t.Fatalf("CheckSigned(Sign(signed)) = %v", err)
	}
	if a, b := len(z.Records()), len(z2.Records()); a != b {
		t.Errorf("Sign(signed) has %d records, want %d as the first Sign", b, a)
	}
	for _, s := range z2.RRsets() {
		if s.NumSignatures() > 1 {
			t.Errorf("Sign(signed): %s %s has %d RRSIGs, want 1", s.Name, dns.TypeToString[s.Type], s.NumSignatures())
		}
	}
	// The input is left alone.
	if err := CheckSigned(z, k, signNow); err != nil {
		t.Errorf("CheckSigned(first signing) after signing again = %v", err)
	}
}

func TestSignErrors(t *testing.T) {
	z := loadExample(t)
	k := exampleKey(t, "example.", 1)
	pubOnly := &Key{Zone: k.Zone, DNSKEY: k.DNSKEY}
	tests := []struct {
		desc string
		key  *Key
		opt  SignOptions
		want error
	}{
		{"no private key", pubOnly, DefaultSignOptions(signNow), ErrNoPrivateKey},
		{"key of another zone", exampleKey(t, "example.org.", 2), DefaultSignOptions(signNow), ErrKeyZone},
		{"expiration before inception", k, SignOptions{Inception: signNow, Expiration: signNow.Add(-time.Hour)}, ErrSignWindow},
	}
	for _, tc := range tests {
		if _, err := Sign(z, tc.key, tc.opt); !errors.Is(err, tc.want) {
			t.Errorf("Sign(%s) = %v, want %v", tc.desc, err, tc.want)
		}
	}
}

// TestSignRoundTrip is Parse → Sign → Write → Parse → CheckSigned, and
// ldns-verify-zone accepting what Write wrote.
func TestSignRoundTrip(t *testing.T) {
	z, k := signedExample(t)
	var buf bytes.Buffer
	if err := Write(&buf, z); err != nil {
		t.Fatalf("Write(signed) = %v", err)
	}
	back, err := ParseFile(bytes.NewReader(buf.Bytes()), "example.", "example.zone.signed")
	if err != nil {
		t.Fatalf("ParseFile(Write(signed)) = %v", err)
	}
	if err := CheckSigned(back, k, signNow); err != nil {
		t.Fatalf("CheckSigned(ParseFile(Write(signed))) = %v", err)
	}
	if a, b := len(z.Records()), len(back.Records()); a != b {
		t.Errorf("round trip has %d records, want %d", b, a)
	}

	verify := requireTool(t, "ldns-verify-zone", "ldnsutils")
	path := filepath.Join(t.TempDir(), "example.zone.signed")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(verify, "-t", signNow.Format("20060102150405"), "-k", writeKeyFile(t, k), path).CombinedOutput()
	if err != nil {
		t.Fatalf("ldns-verify-zone(Write(Sign(example))) = %v\n%s", err, out)
	}
}

// writeKeyFile writes k's DNSKEY as a trust-anchor file and returns its path.
func writeKeyFile(tb testing.TB, k *Key) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "anchor.key")
	if err := os.WriteFile(p, []byte(k.DNSKEY.String()+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestNeedsRefresh(t *testing.T) {
	z, _ := signedExample(t) // valid signNow-1h .. signNow+30d
	tests := []struct {
		now    time.Time
		margin time.Duration
		want   bool
	}{
		{signNow, 24 * time.Hour, false},
		{signNow.Add(29 * 24 * time.Hour), 24 * time.Hour, false},
		{signNow.Add(29*24*time.Hour + time.Minute), 24 * time.Hour, true},
		{signNow.Add(31 * 24 * time.Hour), 0, true},
	}
	for _, tc := range tests {
		if got := NeedsRefresh(z, tc.now, tc.margin); got != tc.want {
			t.Errorf("NeedsRefresh(signed, %s, %s) = %v, want %v", tc.now.Format(time.RFC3339), tc.margin, got, tc.want)
		}
	}
	if !NeedsRefresh(loadExample(t), signNow, 0) {
		t.Errorf("NeedsRefresh(unsigned) = false, want true")
	}
}

// bigZone returns an unsigned zone of n names, each with an A and a TXT
// record, plus every tenth a delegation with glue.
func bigZone(tb testing.TB, n int) *Zone {
	tb.Helper()
	var b strings.Builder
	b.WriteString("$TTL 3600\n@ SOA ns1 host 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n")
	for i := range n {
		if i%10 == 9 {
			fmt.Fprintf(&b, "d%d NS ns.d%d\nns.d%d A 192.0.2.2\n", i, i, i)
			continue
		}
		fmt.Fprintf(&b, "h%d A 10.%d.%d.%d\nh%d TXT \"host %d\"\n", i, i>>16&255, i>>8&255, i&255, i, i)
	}
	z, err := ParseFile(strings.NewReader(b.String()), "big.test.", "big.zone")
	if err != nil {
		tb.Fatal(err)
	}
	return z
}

// BenchmarkSign10k signs a zone of 10,000 names (about 19,000 RRsets).
func BenchmarkSign10k(b *testing.B) {
	z := bigZone(b, 10000)
	k := exampleKey(b, "big.test.", 3)
	opt := DefaultSignOptions(signNow)
	b.ResetTimer()
	for range b.N {
		if _, err := Sign(z, k, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApply1 applies a one-RRset change to a signed 10,000-name zone.
func BenchmarkApply1(b *testing.B) {
	k := exampleKey(b, "big.test.", 3)
	z, err := Sign(bigZone(b, 10000), k, DefaultSignOptions(signNow))
	if err != nil {
		b.Fatal(err)
	}
	a, _ := dns.NewRR("new.big.test. 3600 IN A 192.0.2.9")
	c := Change{Put: []*RRset{NewRRset("new.big.test.", dns.TypeA, 3600, []dns.RR{a}, nil)}}
	opt := DefaultSignOptions(signNow.Add(time.Hour))
	b.ResetTimer()
	for range b.N {
		if _, err := z.Apply(c, k, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckSigned10k verifies a signed zone of 10,000 names.
func BenchmarkCheckSigned10k(b *testing.B) {
	k := exampleKey(b, "big.test.", 3)
	z, err := Sign(bigZone(b, 10000), k, DefaultSignOptions(signNow))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := CheckSigned(z, k, signNow); err != nil {
			b.Fatal(err)
		}
	}
}
