package ops

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/node"
)

// TestRenewalFlags checks the bad inputs of 'ops ca serve', 'ops cert
// renew' and bootstrap's renewal flags, and that bootstrap writes
// [tls] renew_url and short certificates. The renewals themselves run in
// clustertls TestIssuerRenews and integration TestCertificateRenewal.
func TestRenewalFlags(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca")
	mustRun(t, "ops", "ca", "init", "--dir", ca)
	for _, tt := range []struct {
		desc string
		args []string
		code ExitCode
		want string
	}{
		{"serve: no flags", []string{"ops", "ca", "serve"}, ExitUsage, "--ca-dir and --listen"},
		{"serve: listen not an IP", []string{"ops", "ca", "serve", "--ca-dir", ca, "--listen", "ca.example:7500", "--no-log"}, ExitUsage, "--listen"},
		{"serve: validity too short", []string{"ops", "ca", "serve", "--ca-dir", ca, "--listen", "127.0.0.1:0", "--validity", "30s", "--no-log"}, ExitUsage, "--validity"},
		{"serve: no log and no --no-log", []string{"ops", "ca", "serve", "--ca-dir", ca, "--listen", "127.0.0.1:0"}, ExitUsage, "--no-log"},
		{"serve: --no-log with a log", []string{"ops", "ca", "serve", "--ca-dir", ca, "--listen", "127.0.0.1:0", "--no-log", "--registry-urls", "http://127.0.0.1:1"}, ExitUsage, "choose one"},
		{"serve: not a CA", []string{"ops", "ca", "serve", "--ca-dir", dir, "--listen", "127.0.0.1:0", "--no-log"}, ExitError, "--ca-dir"},
		{"renew: no flags", []string{"ops", "cert", "renew"}, ExitUsage, "--server, --ca, --cert, --key required"},
		{"renew: http", []string{"ops", "cert", "renew", "--server", "http://127.0.0.1:1", "--ca", "a", "--cert", "b", "--key", "c"}, ExitUsage, "https://"},
		{"bootstrap: --cert-validity 10s", []string{"ops", "group", "bootstrap", "--out", filepath.Join(dir, "b1"), "--cert-validity", "10s"}, ExitUsage, "--cert-validity"},
		{"bootstrap: --renew-url http", []string{"ops", "group", "bootstrap", "--out", filepath.Join(dir, "b2"), "--renew-url", "http://127.0.0.1:7500"}, ExitUsage, "--renew-url"},
	} {
		r := ddnrs(t, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d mentioning %q", tt.desc, r.code, r.stderr, tt.code, tt.want)
		}
	}
	res := bootstrapJSONRun(t, "--out", filepath.Join(dir, "g"), "--members", "1", "--cert-validity", "90m", "--renew-url", "https://127.0.0.1:7500")
	cfg, err := node.LoadConfig(res.Members[0].Config)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS.RenewURL != "https://127.0.0.1:7500" {
		t.Errorf("[tls] renew_url = %q, want the --renew-url", cfg.TLS.RenewURL)
	}
	r := mustRun(t, "ops", "ca", "serve", "--help")
	for _, w := range []string{"Examples:", "renew_url", "revoked"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("ops ca serve --help lacks %q", w)
		}
	}
}
