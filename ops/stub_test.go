package ops

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStubFlags: every bad command line of ddnrs stub exits with the
// usage code and an error that names the flag and what it wants; several
// problems are reported at once.
func TestStubFlags(t *testing.T) {
	dir := t.TempDir()
	anchors := filepath.Join(dir, "anchors.keys")
	if err := os.WriteFile(anchors, []byte("example. 3600 IN DNSKEY 257 3 15 HvNYQwd9ilS5XMCzkOgR/aXySywVk6sh693hDLCyjgo=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	notKeys := filepath.Join(dir, "not-keys")
	if err := os.WriteFile(notKeys, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := []string{"stub", "--data", dir, "--node", "127.0.0.1:5300", "--trust-anchor", anchors}
	for _, c := range []struct {
		args []string
		want []string // in stderr
	}{
		{[]string{"stub"}, []string{"--data DIR is required", "no entry nodes", "no owner keys"}},
		{append(good, "--node", "localhost"), []string{`--node "localhost"`}},
		{append(good, "--node", "127.0.0.1:0"), []string{`--node "127.0.0.1:0"`}},
		{append(good, "--listen", "53"), []string{`--listen "53"`}},
		{append(good, "--upstream", "dns.example"), []string{"--upstream", "need an IP address"}},
		{append(good, "--upstream", "http://dns.example/q"), []string{"--upstream", "https://"}},
		{append(good, "--log", "http://127.0.0.1:8053"), []string{"--log URL and --log-key KEY go together"}},
		{append(good, "--log", "ftp://x", "--log-key", "nope"), []string{`--log "ftp://x"`}},
		{append(good, "--doh", "127.0.0.1:8443"), []string{"--doh ADDR, --doh-cert FILE and --doh-key FILE go together"}},
		{append(good, "--timeout", "0s"), []string{"--timeout 0s"}},
		{[]string{"stub", "--data", dir, "--node", "127.0.0.1:5300", "--trust-anchor", notKeys}, []string{"--trust-anchor"}},
		{append(good, "--upstream-ca", notKeys), []string{"--upstream-ca"}},
		{append(good, "extra"), []string{"extra"}},
	} {
		var out, errb bytes.Buffer
		code := Execute(context.Background(), c.args, strings.NewReader(""), &out, &errb)
		if code != ExitUsage {
			t.Errorf("ddnrs %s: exit %d, want %d (usage)\n%s", strings.Join(c.args, " "), code, ExitUsage, errb.String())
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("ddnrs %s: stderr lacks %q:\n%s", strings.Join(c.args, " "), w, errb.String())
			}
		}
	}
}
