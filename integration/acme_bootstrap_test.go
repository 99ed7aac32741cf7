package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/internal/testtool"
)

// TestBootstrapACME is issue 14 item 5 with ACME: bootstrap orders the
// member's DNS-facing certificate from an ACME directory (Pebble, a real
// validation: Pebble fetches the HTTP-01 answer bootstrap serves), and
// the member serves DoT and DoH with it: dig and curl validate it against
// Pebble's root, and refuse it against another CA.
func TestBootstrapACME(t *testing.T) {
	needBinary(t)
	dig := needTool(t, "dig", "bind9-dnsutils")
	curl := needTool(t, "curl", "curl")
	httpPort := freePortOn(t, "127.0.0.1", false)
	pb := testtool.StartPebble(t, testtool.PebbleOptions{HTTPPort: httpPort})
	dir := t.TempDir()
	root := filepath.Join(dir, "pebble-root.pem")
	if err := os.WriteFile(root, pki.CertPEM(pb.Root(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	gdir := filepath.Join(dir, "group")
	runCmd(t, dir, ddnrsBin, "ops", "group", "bootstrap", "--out", gdir, "--members", "1", "--ip", "127.0.0.1",
		"--acme-directory", pb.Directory, "--dns-name", "localhost", "--acme-roots", pb.CAFile, "--acme-http01", "127.0.0.1:"+strconv.Itoa(httpPort),
		"--dns-port", strconv.Itoa(freePort(t)), "--raft-port", strconv.Itoa(freePortOn(t, "127.0.0.1", false)),
		"--admin-port", strconv.Itoa(freePortOn(t, "127.0.0.1", false)))
	if _, err := os.Stat(filepath.Join(gdir, "dns-ca")); !os.IsNotExist(err) {
		t.Errorf("bootstrap with ACME made a DNS-facing CA (%v); want none", err)
	}
	n := startReadyNode(t, dir, filepath.Join(gdir, "node1", "node.toml"))
	if n.DoT == "" || n.DoH == "" || n.DoQ == "" {
		t.Fatalf("ready file %+v: want dot, doh, doq", n)
	}
	wrong := otherCA(t)
	// DoT with dig (OpenSSL). kdig (GnuTLS 3.7) fails the handshake with
	// Pebble's chain ("The requested data were not available") whatever
	// the names; TestBootstrapServesEncrypted runs kdig over DoT, DoH and
	// DoQ against a given CA.
	for _, tc := range []struct {
		ca     string
		wantOK bool
	}{{root, true}, {wrong, false}} {
		out, errOut, err := tryCmd(dir, dig, "@127.0.0.1", "-p", portOf(n.DoT), "+tls", "+tls-ca="+tc.ca, "+tls-hostname=localhost", "+time=5", "+tries=1", ".", "SOA")
		if ok := err == nil && strings.Contains(out, "status:"); ok != tc.wantOK {
			t.Errorf("dig +tls +tls-ca=%s: %v\n%s%s; want accepted %v", tc.ca, err, out, errOut, tc.wantOK)
		}
	}
	doh := "https://127.0.0.1:" + portOf(n.DoH) + "/dns-query?dns=AAABAAABAAAAAAAAAAAGAAE" // . SOA (RFC 8484 GET)
	for _, tc := range []struct {
		ca     string
		wantOK bool
	}{{root, true}, {wrong, false}} {
		out, errOut, err := tryCmd(dir, curl, "-sS", "--max-time", "10", "--cacert", tc.ca, "-o", "/dev/null", "-w", "%{http_code}", doh)
		if ok := err == nil && out == "200"; ok != tc.wantOK {
			t.Errorf("curl --cacert %s %s: %q %v %s; want accepted %v", tc.ca, doh, out, err, errOut, tc.wantOK)
		}
	}
}
