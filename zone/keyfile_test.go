package zone

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestGenerateKeyRoundTrip(t *testing.T) {
	for _, ksk := range []bool{true, false} {
		k := exampleKey(t, "Example", 7)
		if !ksk {
			var err error
			if k, err = GenerateKey("Example", false, bytes.NewReader(bytes.Repeat([]byte{7}, 32))); err != nil {
				t.Fatal(err)
			}
		}
		wantFlags := uint16(256)
		if ksk {
			wantFlags = 257
		}
		if k.Zone != "example." || k.DNSKEY.Flags != wantFlags || k.DNSKEY.Algorithm != 15 || k.DNSKEY.Protocol != 3 {
			t.Errorf("GenerateKey(Example, %v) = zone %s flags %d alg %d, want example. %d 15", ksk, k.Zone, k.DNSKEY.Flags, k.DNSKEY.Algorithm, wantFlags)
		}
		if got, want := k.FileBase(), regexp.MustCompile(`^Kexample\.\+015\+\d{5}$`); !want.MatchString(got) {
			t.Errorf("FileBase() = %q, want match %s", got, want)
		}
		back, err := ParseKey(k.MarshalPublic(), k.MarshalPrivate())
		if err != nil {
			t.Fatalf("ParseKey(Marshal(key)) = %v", err)
		}
		if back.Tag() != k.Tag() || back.Zone != k.Zone || !bytes.Equal(back.Private, k.Private) || !SameKey(back.DNSKEY, k.DNSKEY) {
			t.Errorf("ParseKey(Marshal(key)) = %v, want %v", back.DNSKEY, k.DNSKEY)
		}
		pub, err := ParseKey(k.MarshalPublic(), nil)
		if err != nil || pub.Private != nil {
			t.Errorf("ParseKey(pub, nil) = %v, %v; want a public-only key", pub, err)
		}
		if pub != nil && pub.MarshalPrivate() != nil {
			t.Errorf("MarshalPrivate(public-only key) = %q, want nil", pub.MarshalPrivate())
		}
	}
}

// TestParseKeyLDNS reads a key ldns-keygen made (Private-key-format v1.2)
// and signs with it.
func TestParseKeyLDNS(t *testing.T) {
	pub, err := os.ReadFile("testdata/a1-Kexample.+015+53227.key")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := os.ReadFile("testdata/a1-Kexample.+015+53227.private")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(pub, priv)
	if err != nil {
		t.Fatalf("ParseKey(ldns-keygen key) = %v", err)
	}
	if got, want := k.FileBase(), "Kexample.+015+53227"; got != want {
		t.Errorf("FileBase() = %q, want %q", got, want)
	}
	z, err := Sign(loadExample(t), k, DefaultSignOptions(signNow))
	if err != nil {
		t.Fatalf("Sign(example, ldns key) = %v", err)
	}
	if err := CheckSigned(z, k, signNow); err != nil {
		t.Errorf("CheckSigned(Sign(example, ldns key)) = %v", err)
	}
}

func TestParseKeyErrors(t *testing.T) {
	k := exampleKey(t, "example.", 1)
	other := exampleKey(t, "example.", 2)
	pub := string(k.MarshalPublic())
	priv := string(k.MarshalPrivate())
	ecdsaPub := "example. IN DNSKEY 257 3 13 " + strings.Repeat("AAAA", 22) + "\n"
	tests := []struct {
		desc      string
		pub, priv string
		want      error
		wantText  string // the error must say this
	}{
		{"ECDSA public key", ecdsaPub, priv, ErrKeyAlgorithm, "ECDSAP256SHA256"},
		{"RSA private key", pub, "Private-key-format: v1.3\nAlgorithm: 8 (RSASHA256)\nModulus: AAAA\n", ErrKeyAlgorithm, "RSASHA256"},
		{"private key of another key", pub, string(other.MarshalPrivate()), ErrKeyMismatch, "does not match"},
		{"garbage line in private", pub, "Private-key-format: v1.3\ngarbage\n", ErrKeyFormat, "line 2"},
		{"short private key", pub, "Private-key-format: v1.3\nAlgorithm: 15 (ED25519)\nPrivateKey: AAAA\n", ErrKeyFormat, "line 3"},
		{"no PrivateKey line", pub, "Private-key-format: v1.3\nAlgorithm: 15 (ED25519)\n", ErrKeyFormat, "no PrivateKey"},
		{"unknown format version", pub, "Private-key-format: v2.0\nAlgorithm: 15\nPrivateKey: AAAA\n", ErrKeyFormat, "v2.0"},
		{"bad base64 public key", "example. IN DNSKEY 257 3 15 !!!!\n", "", ErrKeyFormat, "public"},
		{"short public key", "example. IN DNSKEY 257 3 15 AAAA\n", "", ErrKeyFormat, "32"},
		{"not a DNSKEY", "example. IN A 192.0.2.1\n", "", ErrKeyFormat, "found a A record"},
		{"two DNSKEYs", pub + pub, "", ErrKeyFormat, "more than one"},
		{"empty public file", "; nothing\n", "", ErrKeyFormat, "no DNSKEY"},
		{"syntax error in public file", "; c\nexample. IN DNSKEY 257 3\n", "", ErrKeyFormat, "line"},
		{"not a zone key", "example. IN DNSKEY 0 3 15 " + k.DNSKEY.PublicKey + "\n", "", ErrKeyFormat, "zone-key bit"},
	}
	for _, tc := range tests {
		var privB []byte
		if tc.priv != "" {
			privB = []byte(tc.priv)
		}
		_, err := ParseKey([]byte(tc.pub), privB)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantText) {
			t.Errorf("ParseKey(%s) = %v, want %v naming %q", tc.desc, err, tc.want, tc.wantText)
		}
	}
}

func TestCheckZone(t *testing.T) {
	k := exampleKey(t, "example.", 1)
	tests := []struct {
		origin string
		want   error
	}{
		{"example.", nil},
		{"EXAMPLE", nil},
		{"example.org.", ErrKeyZone},
		{"sub.example.", ErrKeyZone},
	}
	for _, tc := range tests {
		if err := k.CheckZone(tc.origin); !errors.Is(err, tc.want) {
			t.Errorf("CheckZone(%q) = %v, want %v", tc.origin, err, tc.want)
		}
	}
	if _, err := Sign(loadExample(t), exampleKey(t, "example.org.", 1), DefaultSignOptions(signNow)); !errors.Is(err, ErrKeyZone) {
		t.Errorf("Sign(example., key of example.org.) = %v, want %v", err, ErrKeyZone)
	}
}

// TestKeyInterop has ldns-keygen make a key we sign with, and
// ldns-signzone sign with a key we made.
func TestKeyInterop(t *testing.T) {
	keygen := requireTool(t, "ldns-keygen", "ldnsutils")
	signzone := requireTool(t, "ldns-signzone", "ldnsutils")
	verify := requireTool(t, "ldns-verify-zone", "ldnsutils")
	dir := t.TempDir()

	cmd := exec.Command(keygen, "-a", "ED25519", "example.")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ldns-keygen: %v", err)
	}
	base := filepath.Join(dir, strings.TrimSpace(string(out)))
	pub, _ := os.ReadFile(base + ".key")
	priv, _ := os.ReadFile(base + ".private")
	theirs, err := ParseKey(pub, priv)
	if err != nil {
		t.Fatalf("ParseKey(ldns-keygen key) = %v", err)
	}
	if theirs.DNSKEY.Flags != 256 {
		t.Errorf("ldns-keygen key flags = %d, want 256", theirs.DNSKEY.Flags)
	}
	z, err := Sign(loadExample(t), theirs, DefaultSignOptions(signNow))
	if err != nil {
		t.Fatalf("Sign(example, ldns-keygen key) = %v", err)
	}
	if err := CheckSigned(z, theirs, signNow); err != nil {
		t.Errorf("CheckSigned(Sign(example, ldns-keygen key)) = %v", err)
	}

	ours := exampleKey(t, "example.", 9)
	ourBase := filepath.Join(dir, ours.FileBase())
	if err := os.WriteFile(ourBase+".key", ours.MarshalPublic(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ourBase+".private", ours.MarshalPrivate(), 0o600); err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "example.zone.signed")
	zoneFile, _ := filepath.Abs("testdata/example.zone")
	if out, err := exec.Command(signzone, "-f", signed, "-o", "example.", zoneFile, ourBase).CombinedOutput(); err != nil {
		t.Fatalf("ldns-signzone(our key) = %v\n%s", err, out)
	}
	if out, err := exec.Command(verify, "-k", writeKeyFile(t, ours), signed).CombinedOutput(); err != nil {
		t.Fatalf("ldns-verify-zone(ldns-signzone with our key) = %v\n%s", err, out)
	}
	// And what ldns signed with our key passes our own check.
	f, err := os.Open(signed)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	theirZone, err := ParseFile(f, "example.", signed)
	if err != nil {
		t.Fatalf("ParseFile(ldns-signzone output) = %v", err)
	}
	if err := CheckSigned(theirZone, ours, time.Now()); err != nil {
		t.Errorf("CheckSigned(ldns-signzone output) = %v", err)
	}
	if ks := rrset(theirZone, "example.", dns.TypeDNSKEY); ks == nil || !SameKey(ks.First().(*dns.DNSKEY), ours.DNSKEY) {
		t.Errorf("ldns-signzone DNSKEY = %v, want our key", ks)
	}
}
