package ops

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/node"
)

// TestNodeRequestApprove walks joining by request without a registry
// (--no-log): the request, its configuration, the approval, and the
// certificate on the node's own key; then every bad input of both
// commands, each refused with what is wrong and nothing written.
func TestNodeRequestApprove(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca")
	mustRun(t, "ops", "ca", "init", "--dir", ca)
	agr := filepath.Join(dir, "agreement.txt")
	if err := os.WriteFile(agr, []byte("Be a good node.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := filepath.Join(dir, "n")
	req := []string{"node", "request", "--out", n, "--id", "eu-4", "--ip", "127.0.0.9", "--scope", "member:eu",
		"--agreement", agr, "--agreement-version", "v7", "--uptime", "99.9", "--bandwidth", "40", "--join", "127.0.0.1:7400",
		"--dns-port", "5399", "--raft-port", "7399", "--admin-port", "7499"}
	mustRun(t, req...)
	cfg, err := node.LoadConfig(filepath.Join(n, "node.toml"))
	if err != nil {
		t.Fatalf("the request's node.toml: %v", err)
	}
	if cfg.Group.ID != "eu-4" || cfg.Group.Name != "eu" || cfg.Group.Bootstrap || len(cfg.Group.Join) != 1 || cfg.TLS.Cert != filepath.Join(n, "node.crt") {
		t.Errorf("node.toml group %+v tls %+v: want eu-4 of eu joining 127.0.0.1:7400 with DIR/node.crt", cfg.Group, cfg.TLS)
	}
	if fi, err := os.Stat(filepath.Join(n, "node.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("node.key: %v, mode %v; want 0600", err, fi.Mode())
	}
	csr := filepath.Join(n, pki.RequestFile)
	approve := func(extra ...string) []string {
		return append([]string{"ops", "node", "approve", csr, "--ca-dir", ca, "--scope", "member:eu", "--agreement", agr, "--no-log"}, extra...)
	}
	// A changed request: its signature no longer verifies.
	b, err := os.ReadFile(csr)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	i := bytes.Index(blk.Bytes, []byte("eu-4"))
	blk.Bytes[i+3] = '5' // eu-5: no longer what the node signed
	changed := filepath.Join(dir, "changed.csr")
	if err := os.WriteFile(changed, pem.EncodeToMemory(blk), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		desc string
		args []string
		code ExitCode
		want string
	}{
		{"request: missing flags", []string{"node", "request", "--out", filepath.Join(dir, "x")}, ExitUsage, "--id, --scope, --agreement, --uptime, --bandwidth required"},
		{"request: operator scope", swap(req, "--scope", "operator:eu", "--out", filepath.Join(dir, "x")), ExitUsage, "operator"},
		{"request: bad scope", swap(req, "--scope", "member", "--out", filepath.Join(dir, "x")), ExitUsage, "--scope"},
		{"request: uptime above 100", swap(req, "--uptime", "100.5", "--out", filepath.Join(dir, "x")), ExitUsage, "--uptime"},
		{"request: bandwidth negative", swap(req, "--bandwidth", "-3", "--out", filepath.Join(dir, "x")), ExitUsage, "--bandwidth"},
		{"request: bad ip", swap(req, "--ip", "10.0.0", "--out", filepath.Join(dir, "x")), ExitUsage, "--ip"},
		{"request: bad id", swap(req, "--id", "eu 4", "--out", filepath.Join(dir, "x")), ExitUsage, "--id"},
		{"request: bad join", swap(req, "--join", "127.0.0.1", "--out", filepath.Join(dir, "x")), ExitUsage, "--join"},
		{"request: agreement missing", swap(req, "--agreement", filepath.Join(dir, "none.txt"), "--out", filepath.Join(dir, "x")), ExitError, "--agreement"},
		{"request: bad agreement version", swap(req, "--agreement-version", "v 1", "--out", filepath.Join(dir, "x")), ExitUsage, "agreement version"},
		{"request: registry flags without --join", []string{"node", "request", "--out", filepath.Join(dir, "x"), "--id", "a", "--ip", "127.0.0.1", "--scope", "member:eu", "--agreement", agr, "--uptime", "99", "--bandwidth", "1", "--region", "eu"}, ExitUsage, "--join"},
		{"request: over an existing node", req, ExitError, "exists"},
		{"approve: no request", []string{"ops", "node", "approve", "--ca-dir", ca, "--scope", "member:eu", "--agreement", agr, "--out", n, "--no-log"}, ExitError, "arg"},
		{"approve: missing flags", []string{"ops", "node", "approve", csr, "--no-log"}, ExitUsage, "--ca-dir, --scope, --agreement, --out required"},
		{"approve: no registry given", []string{"ops", "node", "approve", csr, "--ca-dir", ca, "--scope", "member:eu", "--agreement", agr, "--out", n}, ExitUsage, "--no-log"},
		{"approve: --no-log and --server", approve("--out", n, "--server", "127.0.0.1:7400"), ExitUsage, "--no-log"},
		{"approve: operator scope", swap(approve("--out", n), "--scope", "operator:*"), ExitUsage, "member:GROUP"},
		{"approve: wrong scope", swap(approve("--out", n), "--scope", "member:us"), ExitError, "another scope"},
		{"approve: wrong agreement", swap(approve("--out", n), "--agreement", filepath.Join(ca, "ca.crt")), ExitError, "did not accept this agreement"},
		{"approve: wrong agreement version", approve("--out", n, "--agreement-version", "v8"), ExitError, "version"},
		{"approve: uptime below minimum", approve("--out", n, "--min-uptime", "99.95"), ExitError, "uptime"},
		{"approve: bandwidth below minimum", approve("--out", n, "--min-bandwidth", "41"), ExitError, "Mbit/s"},
		{"approve: changed request", append([]string{"ops", "node", "approve", changed}, approve("--out", n)[4:]...), ExitError, "bad certificate request"},
		{"approve: a certificate as request", append([]string{"ops", "node", "approve", filepath.Join(ca, "ca.crt")}, approve("--out", n)[4:]...), ExitError, "bad certificate request"},
		{"approve: not a CA", swap(approve("--out", n), "--ca-dir", n), ExitError, "--ca-dir"},
	}
	for _, tt := range bad {
		r := ddnrs(t, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d mentioning %q", tt.desc, r.code, r.stderr, tt.code, tt.want)
		}
		if _, err := os.Stat(filepath.Join(n, "node.crt")); err == nil {
			t.Fatalf("%s: wrote node.crt", tt.desc)
		}
	}
	mustRun(t, approve("--out", n, "--agreement-version", "v7", "--min-uptime", "99.9", "--min-bandwidth", "40", "--validity", "48h")...)
	p, err := pki.LoadPair(filepath.Join(n, "node.crt"), filepath.Join(n, "node.key"))
	if err != nil {
		t.Fatalf("the approved certificate on the node's own key: %v", err)
	}
	if s, err := pki.ScopeOf(p.Cert); err != nil || s.String() != "member:eu" || p.Cert.Subject.CommonName != "eu-4" {
		t.Errorf("approved certificate %q scope %v (%v), want eu-4 member:eu", p.Cert.Subject.CommonName, s, err)
	}
	if r := ddnrs(t, approve("--out", n)...); r.code != ExitError || !strings.Contains(r.stderr, "exists") {
		t.Errorf("a second approval into the same directory: exit %d, %q; want a refusal (never overwritten)", r.code, r.stderr)
	}
	for _, h := range [][]string{{"node", "request", "--help"}, {"ops", "node", "approve", "--help"}} {
		r := mustRun(t, h...)
		for _, w := range []string{"Examples:", "--agreement", "--scope"} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("ddnrs %s lacks %q", strings.Join(h, " "), w)
			}
		}
	}
}

// swap returns args with flag's value replaced by v (and more pairs).
func swap(args []string, pairs ...string) []string {
	out := append([]string(nil), args...)
	for k := 0; k+1 < len(pairs); k += 2 {
		for i := 0; i+1 < len(out); i++ {
			if out[i] == pairs[k] {
				out[i+1] = pairs[k+1]
			}
		}
	}
	return out
}

// TestBootstrapWithRequests: a group bootstrapped from its members' own
// requests gets certificates for their keys and no key from bootstrap;
// a request of another member, scope or address is refused.
func TestBootstrapWithRequests(t *testing.T) {
	dir := t.TempDir()
	agr := filepath.Join(dir, "agreement.txt")
	if err := os.WriteFile(agr, []byte("terms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	req := func(id, scope, ip string) string {
		out := filepath.Join(dir, id+"-"+strings.ReplaceAll(scope, ":", "-")+"-"+ip)
		mustRun(t, "node", "request", "--out", out, "--id", id, "--ip", ip, "--scope", scope, "--agreement", agr, "--uptime", "99", "--bandwidth", "10")
		return filepath.Join(out, pki.RequestFile)
	}
	r1, r2 := req("eu-1", "member:eu", "127.0.0.1"), req("eu-2", "member:eu", "127.0.0.1")
	for _, tt := range []struct {
		desc string
		reqs []string
		want string
	}{
		{"one for two members", []string{r1}, "one per member"},
		{"out of order", []string{r2, r1}, "member 1"},
		{"another scope", []string{req("eu-1", "member:us", "127.0.0.1"), r2}, "asks for member:us"},
		{"another address", []string{req("eu-1", "member:eu", "127.0.0.7"), r2}, "does not name 127.0.0.1"},
	} {
		args := []string{"ops", "group", "bootstrap", "--out", filepath.Join(dir, "bad"), "--name", "eu", "--members", "2"}
		for _, r := range tt.reqs {
			args = append(args, "--request", r)
		}
		if r := ddnrs(t, args...); r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want a usage error mentioning %q", tt.desc, r.code, r.stderr, tt.want)
		}
	}
	out := filepath.Join(dir, "eu")
	res := bootstrapJSONRun(t, "--out", out, "--name", "eu", "--members", "2", "--request", r1, "--request", r2)
	for i, m := range res.Members {
		if _, err := os.Stat(filepath.Join(out, m.ID, pki.KeyFile)); !os.IsNotExist(err) {
			t.Errorf("%s: bootstrap wrote a key (%v); the member's own is used", m.ID, err)
		}
		own := filepath.Join(filepath.Dir([]string{r1, r2}[i]), pki.KeyFile)
		if _, err := pki.LoadPair(filepath.Join(out, m.ID, pki.CertFile), own); err != nil {
			t.Errorf("%s: the certificate is not for the member's own key: %v", m.ID, err)
		}
	}
}
