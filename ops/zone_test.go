package ops

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/testtool"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// testNow is the clock every command sees in these tests.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// result is what one in-process run of ddnrs gave.
type result struct {
	code           ExitCode
	stdout, stderr string
}

// ddnrsRand runs the ddnrs command line in process with args, the fixed
// clock testNow and randomness from rnd, and returns what it printed.
func ddnrsRand(t testing.TB, rnd io.Reader, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{
		stdin:  strings.NewReader(""),
		stdout: &out,
		stderr: &errOut,
		now:    func() time.Time { return testNow },
		rand:   rnd,
	}
	code := execute(context.Background(), args, e)
	r := result{code, out.String(), errOut.String()}
	t.Logf("ddnrs %s: exit %d\nstdout:\n%sstderr:\n%s", strings.Join(args, " "), code, r.stdout, r.stderr)
	return r
}

// ddnrs runs ddnrs in process with real randomness: every key differs.
func ddnrs(t testing.TB, args ...string) result {
	t.Helper()
	return ddnrsRand(t, crand.Reader, args...)
}

// mustRun runs ddnrs and fails the test unless it exits 0.
func mustRun(t testing.TB, args ...string) result {
	t.Helper()
	r := ddnrs(t, args...)
	if r.code != ExitOK {
		t.Fatalf("ddnrs %s: exit %d, want 0\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// writeText writes text to dir/name and returns the path.
func writeText(t testing.TB, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testZone is an owner's zone file for example.: six lines, so a record
// appended to it is on line 7.
const testZone = `$ORIGIN example.
$TTL 300
@    SOA  ns1 hostmaster 1 7200 3600 1209600 300
@    NS   ns1
ns1  A    192.0.2.1
www  A    192.0.2.80
`

// keygen makes a key for zoneName in dir and returns the file base.
func keygen(t testing.TB, dir, zoneName string) string {
	t.Helper()
	r := mustRun(t, "zone", "keygen", "--dir", dir, zoneName)
	return strings.TrimSpace(r.stdout)
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	r := mustRun(t, "zone", "keygen", "--dir", dir, "Example.")
	base := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(filepath.Base(base), "Kexample.+015+") || filepath.Dir(base) != dir {
		t.Errorf("keygen printed %q, want %s/Kexample.+015+<tag>", base, dir)
	}
	fi, err := os.Stat(base + ".private")
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s.private has mode %v, want 0600", base, fi.Mode().Perm())
	}
	if _, err := os.Stat(base + ".key"); err != nil {
		t.Errorf("keygen: %v", err)
	}
	if !strings.Contains(r.stderr, "IN\tDS\t") || !strings.Contains(r.stderr, " 15 2 ") {
		t.Errorf("keygen stderr lacks the DS record (algorithm 15, digest SHA-256):\n%s", r.stderr)
	}
	pub, _ := os.ReadFile(base + ".key")
	if f := strings.Fields(string(pub)); !strings.Contains(strings.Join(f, " "), "DNSKEY 257 3 15 ") {
		t.Errorf("%s.key = %q, want a DNSKEY with flags 257, algorithm 15", base, pub)
	}

	r = mustRun(t, "zone", "keygen", "--dir", dir, "--zsk", "zsk.example.")
	pub, _ = os.ReadFile(strings.TrimSpace(r.stdout) + ".key")
	if f := strings.Fields(string(pub)); !strings.Contains(strings.Join(f, " "), "DNSKEY 256 3 15 ") {
		t.Errorf("keygen --zsk wrote %q, want flags 256", pub)
	}
}

func TestKeygenJSON(t *testing.T) {
	dir := t.TempDir()
	r := mustRun(t, "zone", "keygen", "--dir", dir, "-o", "json", "example.")
	var got keygenJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("keygen -o json printed %q: %v", r.stdout, err)
	}
	if got.Zone != "example." || got.Tag == 0 || !strings.Contains(got.DS, "DS") || !strings.Contains(got.DNSKEY, "DNSKEY") {
		t.Errorf("keygen -o json = %+v", got)
	}
	if _, err := os.Stat(got.Private); err != nil {
		t.Errorf("keygen -o json names %s: %v", got.Private, err)
	}
	if r := ddnrs(t, "zone", "keygen", "--dir", dir, "-o", "yaml", "example."); r.code != ExitUsage {
		t.Errorf("keygen -o yaml: exit %d, want %d", r.code, ExitUsage)
	}
}

func TestKeygenRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	// The same seed makes the same key, so the same file names.
	seeded := func() io.Reader { return rand.NewChaCha8([32]byte{1}) }
	base := strings.TrimSpace(ddnrsRand(t, seeded(), "zone", "keygen", "--dir", dir, "example.").stdout)
	before, err := os.ReadFile(base + ".private")
	if err != nil {
		t.Fatal(err)
	}
	r := ddnrsRand(t, seeded(), "zone", "keygen", "--dir", dir, "example.")
	if r.code != ExitError || !strings.Contains(r.stderr, base+".private already exists") || !strings.Contains(r.stderr, "hint:") {
		t.Errorf("second keygen: exit %d, stderr %q; want exit 1 naming %s.private with a hint", r.code, r.stderr, base)
	}
	after, _ := os.ReadFile(base + ".private")
	if !bytes.Equal(before, after) {
		t.Errorf("keygen overwrote %s.private", base)
	}
	// Only the .key is in the way: the .private written first is removed.
	os.Remove(base + ".private")
	if r := ddnrsRand(t, seeded(), "zone", "keygen", "--dir", dir, "example."); r.code != ExitError {
		t.Errorf("keygen over an existing .key: exit %d, want 1", r.code)
	}
	if _, err := os.Stat(base + ".private"); err == nil {
		t.Errorf("keygen left %s.private behind after refusing to overwrite the .key", base)
	}
}

func TestSignVerify(t *testing.T) {
	dir := t.TempDir()
	base := keygen(t, dir, "example.")
	zf := writeText(t, dir, "example.zone", testZone)

	r := mustRun(t, "zone", "sign", "--key", base+".private", zf)
	signed := zf + ".signed"
	if !strings.Contains(r.stdout, signed) {
		t.Errorf("sign stdout does not name %s:\n%s", signed, r.stdout)
	}
	text, err := os.ReadFile(signed)
	if err != nil {
		t.Fatalf("sign wrote no %s: %v", signed, err)
	}
	for _, want := range []string{"RRSIG", "NSEC", "DNSKEY", "192.0.2.80", "20250601110000"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("%s lacks %q", signed, want)
		}
	}
	if head, err := os.ReadFile(signed + ".head"); err != nil || !bytes.Contains(head, []byte("example.")) {
		t.Errorf("sign wrote no usable %s.head: %q, %v", signed, head, err)
	}

	r = mustRun(t, "zone", "verify", "--key", base+".key", signed)
	if !strings.Contains(r.stdout, "OK") || !strings.Contains(r.stdout, ".head: OK") {
		t.Errorf("verify stdout = %q, want OK for the zone and its head", r.stdout)
	}
	// Without --key: against the zone's own DNSKEY, origin from the SOA.
	mustRun(t, "zone", "verify", signed)
	// The key base works as KEYFILE too.
	mustRun(t, "zone", "verify", "--key", base, signed)

	// A second, independent validator: ldns-verify-zone must accept what
	// we signed (testtool: skipped locally without ldnsutils, a failure in CI).
	if ldns := testtool.Need(t, "ldns-verify-zone", "ldnsutils"); ldns != "" {
		at := testNow.UTC().Format("20060102150405")
		out, err := exec.Command(ldns, "-t", at, signed).CombinedOutput()
		if err != nil {
			t.Errorf("ldns-verify-zone %s: %v\n%s", signed, err, out)
		}
	}

	// --out, --validity, explicit window.
	out := filepath.Join(dir, "custom.signed")
	mustRun(t, "zone", "sign", "--key", base+".private", "--out", out, "--inception", "2025-05-01T00:00:00Z", "--expiration", "2025-07-01T00:00:00Z", zf)
	if text, _ := os.ReadFile(out); !strings.Contains(string(text), "20250701000000 20250501000000") {
		t.Errorf("sign --inception/--expiration: %s lacks the window", out)
	}
	mustRun(t, "zone", "verify", "--key", base+".key", out)
}

func TestVerifyListsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	base := keygen(t, dir, "example.")
	zf := writeText(t, dir, "example.zone", testZone)
	mustRun(t, "zone", "sign", "--key", base+".private", zf)
	signed := zf + ".signed"
	text, _ := os.ReadFile(signed)

	// Two forged addresses: two bad RRSIGs, and a head whose root no
	// longer matches the tree.
	forged := strings.Replace(string(text), "192.0.2.80", "203.0.113.66", 1)
	forged = strings.Replace(forged, "192.0.2.1", "203.0.113.1", 1)
	bad := writeText(t, dir, "forged.signed", forged)
	head, _ := os.ReadFile(signed + ".head")
	writeText(t, dir, "forged.signed.head", string(head))
	r := ddnrs(t, "zone", "verify", "--key", base+".key", bad)
	if r.code != ExitError {
		t.Fatalf("verify(forged): exit %d, want 1", r.code)
	}
	for _, want := range []string{"www.example. A", "ns1.example. A", "forged.signed.head", "3 problems"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("verify(forged) stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	// Expired: verify at testNow a zone whose signatures ended before.
	old := filepath.Join(dir, "old.signed")
	mustRun(t, "zone", "sign", "--key", base+".private", "--out", old, "--inception", "2024-01-01T00:00:00Z", "--expiration", "2024-02-01T00:00:00Z", zf)
	if r := ddnrs(t, "zone", "verify", "--key", base+".key", old); r.code != ExitError || !strings.Contains(r.stderr, "validity") {
		t.Errorf("verify(expired): exit %d, stderr %q; want 1 naming the validity period", r.code, r.stderr)
	}

	// Unsigned: no DNSKEY, no RRSIG, no NSEC.
	if r := ddnrs(t, "zone", "verify", "--key", base+".key", zf); r.code != ExitError {
		t.Errorf("verify(unsigned): exit %d, want 1", r.code)
	}
	if r := ddnrs(t, "zone", "verify", zf); r.code != ExitError || !strings.Contains(r.stderr, "no DNSKEY") {
		t.Errorf("verify(unsigned, no key): exit %d, stderr %q; want 1, no DNSKEY", r.code, r.stderr)
	}

	// Signed by another key of the same zone.
	other := keygen(t, t.TempDir(), "example.")
	if r := ddnrs(t, "zone", "verify", "--key", other+".key", signed); r.code != ExitError || !strings.Contains(r.stderr, "anchor") {
		t.Errorf("verify(other key): exit %d, stderr %q; want 1", r.code, r.stderr)
	}
}

// An algorithm 13 (ECDSA P-256) key as ldns-keygen -a ECDSAP256SHA256
// writes it: a test fixture, protecting nothing.
const (
	alg13Public  = "example.\tIN\tDNSKEY\t256 3 13 OThkYCYI6oNs09Mo9n2QMjTKaOlOOxoeJi7n/yUiVg/YhQxm8yrRkbBtgDVwKkwviYlV4ANuY/96SH4Cc6NRSQ==\n"
	alg13Private = "Private-key-format: v1.2\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: yiROC0NWC0Rf+dSm7lLClg5tyU4N4qy7STeE1UO6GfU=\n"
)

func TestSignBadInput(t *testing.T) {
	dir := t.TempDir()
	base := keygen(t, dir, "example.")
	key := base + ".private"
	otherKey := keygen(t, t.TempDir(), "other.") + ".private"
	alg13 := filepath.Join(dir, "Kexample.+013+41727")
	writeText(t, dir, "Kexample.+013+41727.key", alg13Public)
	writeText(t, dir, "Kexample.+013+41727.private", alg13Private)
	good := writeText(t, dir, "good.zone", testZone)
	pubOnly := filepath.Join(t.TempDir(), "Kexample.+015+1.key")
	data, _ := os.ReadFile(base + ".key")
	os.WriteFile(pubOnly, data, 0o644)

	tests := []struct {
		name string
		args []string
		code ExitCode
		want []string // substrings of stderr
	}{
		{"syntax error", []string{"zone", "sign", "--key", key, writeText(t, dir, "syntax.zone", testZone+"bad  A    999.1.1.1\n")},
			ExitError, []string{"syntax.zone", "line: 7", "hint:"}},
		{"record outside the zone", []string{"zone", "sign", "--key", key, writeText(t, dir, "outside.zone", testZone+"www.example.org. A 192.0.2.2\n")},
			ExitError, []string{"outside.zone: www.example.org.", "outside the zone", "hint:"}},
		{"CNAME beside other data", []string{"zone", "sign", "--key", key, writeText(t, dir, "cname.zone", testZone+"www CNAME ns1\n")},
			ExitError, []string{"cname.zone: www.example.", "CNAME beside other data", "hint:"}},
		{"no SOA", []string{"zone", "sign", "--key", key, writeText(t, dir, "nosoa.zone", "$ORIGIN example.\nwww 300 A 192.0.2.1\n")},
			ExitError, []string{"nosoa.zone", "SOA"}},
		{"key of algorithm 13", []string{"zone", "sign", "--key", alg13 + ".private", good},
			ExitError, []string{"Kexample.+013+41727", "ED25519", "hint:"}},
		{"key for another zone", []string{"zone", "sign", "--key", otherKey, good},
			ExitError, []string{"good.zone", "other.", "for another zone", "hint:"}},
		{"missing key file", []string{"zone", "sign", "--key", filepath.Join(dir, "nope.private"), good},
			ExitError, []string{"nope.private"}},
		{"public half only", []string{"zone", "sign", "--key", pubOnly, good},
			ExitError, []string{"Kexample.+015+1.private", "private key"}},
		{"missing zone file", []string{"zone", "sign", "--key", key, filepath.Join(dir, "absent.zone")},
			ExitError, []string{"absent.zone"}},
		{"no --key", []string{"zone", "sign", good}, ExitUsage, []string{"--key"}},
		{"no zone file", []string{"zone", "sign", "--key", key}, ExitUsage, []string{"ZONEFILE", "--help"}},
		{"bad --inception", []string{"zone", "sign", "--key", key, "--inception", "yesterday", good}, ExitUsage, []string{"--inception", "RFC 3339"}},
		{"window backwards", []string{"zone", "sign", "--key", key, "--inception", "2025-02-01T00:00:00Z", "--expiration", "2025-01-01T00:00:00Z", good}, ExitUsage, []string{"expire"}},
		{"unknown flag", []string{"zone", "sign", "--kee", key, good}, ExitUsage, []string{"--kee"}},
		{"unknown command", []string{"zone", "sing"}, ExitUsage, []string{"sing"}},
		{"bad log level", []string{"--log-level", "loud", "version"}, ExitUsage, []string{"loud"}},
		{"keygen bad name", []string{"zone", "keygen", "--dir", dir, "a..b"}, ExitUsage, []string{"a..b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ddnrs(t, tt.args...)
			if r.code != tt.code {
				t.Errorf("ddnrs %s: exit %d, want %d", strings.Join(tt.args, " "), r.code, tt.code)
			}
			if !strings.HasPrefix(r.stderr, "error: ") {
				t.Errorf("stderr = %q, want it to start with \"error: \"", r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
	if _, err := os.Stat(good + ".signed"); err == nil {
		t.Errorf("a failed sign left %s.signed behind", good)
	}
}

func TestImportExport(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(t.TempDir(), "node")
	base := keygen(t, dir, "example.")
	zf := writeText(t, dir, "example.zone", testZone)

	r := mustRun(t, "ops", "store", "restore-zone", "--data", data, "--key", base+".private", zf)
	if !strings.Contains(r.stdout, "example.") || !strings.Contains(r.stdout, raftfsm.StorePath(data)) {
		t.Errorf("restore-zone stdout = %q, want the zone and the store path", r.stdout)
	}
	out := filepath.Join(dir, "export.signed")
	mustRun(t, "zone", "export", "--data", data, "--out", out, "example.")
	mustRun(t, "zone", "verify", "--key", base+".key", out)

	r = mustRun(t, "zone", "export", "--data", data, "--unsigned", "example.")
	for _, bad := range []string{"RRSIG", "NSEC", "DNSKEY"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("export --unsigned printed %s:\n%s", bad, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "192.0.2.80") {
		t.Errorf("export --unsigned lacks www's address:\n%s", r.stdout)
	}

	// A changed zone file: restore-zone re-signs and the serial goes up.
	writeText(t, dir, "example.zone", testZone+"new  A    192.0.2.99\n")
	mustRun(t, "ops", "store", "restore-zone", "--data", data, "--key", base+".private", zf)
	r = mustRun(t, "zone", "export", "--data", data, "example.")
	if !strings.Contains(r.stdout, "192.0.2.99") || !strings.Contains(r.stdout, "serial 2") {
		t.Errorf("export after the second restore-zone lacks the new record or serial 2:\n%.600s", r.stdout)
	}

	if r := ddnrs(t, "zone", "export", "--data", data, "absent."); r.code != ExitError || !strings.Contains(r.stderr, "absent.") || !strings.Contains(r.stderr, "zones in "+data+": example.") {
		t.Errorf("export(absent.): exit %d, stderr %q; want 1 listing the stored zones", r.code, r.stderr)
	}
	if r := ddnrs(t, "zone", "export", "--data", filepath.Join(dir, "nowhere"), "example."); r.code != ExitError || !strings.Contains(r.stderr, "nowhere") {
		t.Errorf("export from a missing data dir: exit %d, stderr %q; want 1 naming it", r.code, r.stderr)
	}
	if r := ddnrs(t, "ops", "store", "restore-zone", "--data", data, "--key", keygen(t, t.TempDir(), "other.")+".private", zf); r.code != ExitError || !strings.Contains(r.stderr, "other.") {
		t.Errorf("restore-zone with another zone's key: exit %d, stderr %q; want 1", r.code, r.stderr)
	}
}

// TestRestoreZoneRaftMember: restore-zone bypasses Raft, so it refuses a
// data directory that holds Raft state unless told --force, and the old
// name 'zone import' points to publish and restore-zone.
func TestRestoreZoneRaftMember(t *testing.T) {
	dir := t.TempDir()
	data := t.TempDir()
	base := keygen(t, dir, "example.")
	zf := writeText(t, dir, "example.zone", testZone)
	if err := os.Mkdir(filepath.Join(data, "raft"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := ddnrs(t, "ops", "store", "restore-zone", "--data", data, "--key", base+".private", zf)
	for _, want := range []string{"holds Raft state", "bypasses Raft", "ddnrs zone publish", "--force"} {
		if r.code != ExitError || !strings.Contains(r.stderr, want) {
			t.Errorf("restore-zone into a Raft member's dir: exit %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
		}
	}
	if _, err := os.Stat(raftfsm.StorePath(data)); err == nil {
		t.Errorf("a refused restore-zone created %s", raftfsm.StorePath(data))
	}
	mustRun(t, "ops", "store", "restore-zone", "--force", "--data", data, "--key", base+".private", zf)
	if r := mustRun(t, "zone", "export", "--data", data, "example."); !strings.Contains(r.stdout, "192.0.2.80") {
		t.Errorf("export after restore-zone --force lacks www:\n%.600s", r.stdout)
	}

	r = ddnrs(t, "zone", "import", "--data", data, "--key", base+".private", zf)
	for _, want := range []string{"bypassing Raft", "ddnrs zone publish", "ddnrs ops store restore-zone"} {
		if r.code != ExitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("ddnrs zone import: exit %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
		}
	}
	if r := mustRun(t, "ops", "store", "restore-zone", "--help"); !strings.Contains(r.stdout, "bypass") || !strings.Contains(r.stdout, "stopped") || !strings.Contains(r.stdout, "Examples:") {
		t.Errorf("restore-zone --help does not say it is an offline tool bypassing Raft, with examples:\n%s", r.stdout)
	}
}

func TestImportLockedDataDir(t *testing.T) {
	dir := t.TempDir()
	data := t.TempDir()
	base := keygen(t, dir, "example.")
	zf := writeText(t, dir, "example.zone", testZone)
	mustRun(t, "ops", "store", "restore-zone", "--data", data, "--key", base+".private", zf)

	// A running node holds the store open.
	s, err := raftfsm.OpenStore(raftfsm.StorePath(data))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, args := range [][]string{
		{"ops", "store", "restore-zone", "--data", data, "--key", base + ".private", zf},
		{"zone", "export", "--data", data, "example."},
	} {
		r := ddnrs(t, args...)
		if r.code != ExitLocked {
			t.Errorf("ddnrs %s on a locked data dir: exit %d, want %d", strings.Join(args[:3], " "), r.code, ExitLocked)
		}
		for _, want := range []string{"in use by another process", data, "hint: a node is running", "stop it"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("ddnrs %s on a locked data dir: stderr lacks %q:\n%s", strings.Join(args[:3], " "), want, r.stderr)
			}
		}
	}
}

func TestCorruptDataDir(t *testing.T) {
	data := t.TempDir()
	writeText(t, data, raftfsm.StoreFile, strings.Repeat("not a database\n", 500))
	r := ddnrs(t, "zone", "export", "--data", data, "example.")
	if r.code != ExitError || !strings.Contains(r.stderr, raftfsm.StorePath(data)) || !strings.Contains(r.stderr, "corrupt") {
		t.Errorf("export from a corrupt store: exit %d, stderr %q; want 1 naming the file", r.code, r.stderr)
	}
}

func TestHelpAndVersion(t *testing.T) {
	r := mustRun(t, "--help")
	for _, want := range []string{"ddnrs zone keygen", "ddnrs zone sign", "ddnrs zone verify", "ddnrs dev --zone"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ddnrs --help lacks the example %q", want)
		}
	}
	if r := mustRun(t, "version"); !strings.HasPrefix(r.stdout, "ddnrs ") {
		t.Errorf("ddnrs version = %q", r.stdout)
	}
	if r := mustRun(t, "zone"); !strings.Contains(r.stdout, "keygen") {
		t.Errorf("ddnrs zone printed %q, want its help", r.stdout)
	}
	for _, sub := range []string{"keygen", "sign", "verify", "export", "publish"} {
		if r := mustRun(t, "zone", sub, "--help"); !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("ddnrs zone %s --help has no examples", sub)
		}
	}
}

// TestRootExample runs the owner walkthrough in 'ddnrs --help' as
// written: keygen, the zone file of the heredoc, sign, verify. (The final
// 'ddnrs dev' step is dev's own test.)
func TestRootExample(t *testing.T) {
	dir := t.TempDir()
	lines := strings.Split(rootExample, "\n")
	var zoneText []string
	var cmds [][]string
	inHeredoc := false
	for _, l := range lines {
		l = strings.TrimPrefix(l, "  ")
		switch {
		case inHeredoc && l == "EOF":
			inHeredoc = false
		case inHeredoc:
			zoneText = append(zoneText, l)
		case strings.HasPrefix(l, "cat > example.com.zone <<'EOF'"):
			inHeredoc = true
		case strings.HasPrefix(l, "ddnrs zone "):
			if i := strings.Index(l, "#"); i >= 0 {
				l = l[:i]
			}
			cmds = append(cmds, strings.Fields(l)[1:])
		}
	}
	if len(cmds) != 3 || len(zoneText) == 0 {
		t.Fatalf("rootExample: found %d zone commands and %d zone file lines, want keygen, sign, verify and a heredoc", len(cmds), len(zoneText))
	}
	zf := writeText(t, dir, "example.com.zone", strings.Join(zoneText, "\n")+"\n")
	base := keygen(t, dir, cmds[0][len(cmds[0])-1])
	for _, args := range cmds[1:] {
		for i, a := range args {
			a = strings.ReplaceAll(a, "Kexample.com.+015+12345", base)
			if a == "example.com.zone" || a == "example.com.zone.signed" {
				a = filepath.Join(dir, a)
			}
			args[i] = a
		}
		mustRun(t, args...)
	}
	if _, err := os.Stat(zf + ".signed"); err != nil {
		t.Errorf("the example's sign step wrote nothing: %v", err)
	}
}

// TestRestoreZonePebble: in a data directory whose node keeps its zones
// in pebble ([group] store = "pebble"), restore-zone and export use that
// store and never make a bbolt file beside it.
func TestRestoreZonePebble(t *testing.T) {
	dir := t.TempDir()
	data := t.TempDir()
	base := keygen(t, dir, "example.")
	zf := writeText(t, dir, "example.zone", testZone)
	pebble := raftfsm.BackendStorePath(data, raftfsm.BackendPebble)
	s, err := raftfsm.OpenStoreBackend(pebble, raftfsm.BackendPebble)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "ops", "store", "restore-zone", "--data", data, "--key", base+".private", zf)
	if !strings.Contains(r.stdout, "zones.pebble") {
		t.Errorf("restore-zone into a pebble data dir: stdout %q, want the pebble store named", r.stdout)
	}
	if r := mustRun(t, "zone", "export", "--data", data, "example."); !strings.Contains(r.stdout, "192.0.2.80") {
		t.Errorf("export from a pebble data dir lacks www:\n%.600s", r.stdout)
	}
	if _, err := os.Stat(raftfsm.StorePath(data)); err == nil {
		t.Errorf("restore-zone made %s beside the pebble store", raftfsm.StorePath(data))
	}
}
