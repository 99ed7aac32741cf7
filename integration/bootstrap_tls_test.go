package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBootstrapServesEncrypted is issue 14 item 5: a member written by
// `ddnrs ops group bootstrap` serves DoT, DoH and DoQ with no further
// configuration, with a DNS-facing certificate that validates against
// the CA the operator gave (--dns-ca): kdig over DoT, DoH and DoQ, and
// curl resolving through DoH, verify it; the cluster CA and another CA
// do not validate it.
func TestBootstrapServesEncrypted(t *testing.T) {
	needBinary(t)
	kdig := needTool(t, "kdig", "knot-dnsutils")
	curl := needTool(t, "curl", "curl")
	dir := t.TempDir()
	dnsCA := filepath.Join(dir, "dns-ca")
	runCmd(t, dir, ddnrsBin, "ops", "ca", "init", "--dir", dnsCA, "--name", "DNS clients")
	gdir := filepath.Join(dir, "group")
	runCmd(t, dir, ddnrsBin, "ops", "group", "bootstrap", "--out", gdir, "--members", "1", "--ip", "127.0.0.1",
		"--dns-ca", dnsCA, "--dns-name", "dns.test",
		"--dns-port", strconv.Itoa(freePort(t)), "--raft-port", strconv.Itoa(freePortOn(t, "127.0.0.1", false)),
		"--admin-port", strconv.Itoa(freePortOn(t, "127.0.0.1", false)))
	config := filepath.Join(gdir, "node1", "node.toml")
	ready := filepath.Join(dir, "ready.json")
	p := startProc(t, dir, ddnrsBin, "node", "--config", config, "--ready-file", ready)
	var n struct{ DNS, Admin, DoT, DoH, DoQ string }
	waitUntil(t, "the node's ready file", func() error {
		if p.exited() {
			t.Fatalf("ddnrs node exited: %v\n%s", p.err, p.out.String())
		}
		b, err := os.ReadFile(ready)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &n)
	})
	if n.DoT == "" || n.DoH == "" || n.DoQ == "" {
		t.Fatalf("ready file %+v: want dot, doh and doq, on by default after bootstrap", n)
	}
	// A zone whose www is 127.0.0.3, where an HTTP server answers for
	// curl.
	key := keygen(t, dir, "tls.example.")
	zf := filepath.Join(dir, "tls.zone")
	if err := os.WriteFile(zf, []byte("$ORIGIN tls.example.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 127.0.0.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runCmd(t, dir, ddnrsBin, "zone", "publish", "--server", n.Admin,
		"--ca", filepath.Join(gdir, "ca", "ca.crt"), "--cert", filepath.Join(gdir, "ops", "node.crt"),
		"--tls-key", filepath.Join(gdir, "ops", "node.key"), "--key", key, zf)

	given := filepath.Join(dnsCA, "ca.crt")
	cluster := filepath.Join(gdir, "ca", "ca.crt")
	wrong := otherCA(t)
	port := func(a string) string { return portOf(a) }
	dohPort := port(n.DoH)
	type client struct {
		name string
		args func(ca, host string) []string
	}
	clients := []client{
		{"kdig +tls", func(ca, host string) []string {
			return []string{"@127.0.0.1", "-p", port(n.DoT), "+tls-ca=" + ca, "+tls-hostname=" + host, "+time=5", "+retry=0", "www.tls.example.", "A"}
		}},
		{"kdig +https", func(ca, host string) []string {
			return []string{"@127.0.0.1", "-p", dohPort, "+tls-ca=" + ca, "+tls-hostname=" + host, "+https", "+time=5", "+retry=0", "www.tls.example.", "A"}
		}},
		{"kdig +quic", func(ca, host string) []string {
			return []string{"@127.0.0.1", "-p", port(n.DoQ), "+time=5", "+retry=0", "+tls-ca=" + ca, "+tls-hostname=" + host, "+quic", "www.tls.example.", "A"}
		}},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			for _, host := range []string{"localhost", "dns.test"} {
				out, errOut, err := tryCmd(dir, kdig, c.args(given, host)...)
				if r := parseDig(out); err != nil || r.Status != "NOERROR" || !containsRR(r.Answer, "127.0.0.3") {
					t.Errorf("%s +tls-hostname=%s against the given CA: status %q answer %v, err %v; want 127.0.0.3\n%s%s", c.name, host, r.Status, r.Answer, err, out, errOut)
				}
			}
			for _, bad := range []struct{ desc, ca, host string }{
				{"the cluster CA", cluster, "localhost"},
				{"another CA", wrong, "localhost"},
				{"a name not in the certificate", given, "other.test"},
			} {
				out, _, err := tryCmd(dir, kdig, c.args(bad.ca, bad.host)...)
				if err == nil && containsRR(parseDig(out).Answer, "127.0.0.3") {
					t.Errorf("%s with %s got an answer; it must refuse the server\n%s", c.name, bad.desc, out)
				}
			}
		})
	}

	t.Run("curl --doh-url", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.3:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from %s\n", r.Host)
		})}
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.Serve(ln)
		}()
		t.Cleanup(func() {
			srv.Close()
			<-done
		})
		webPort := portOf(ln.Addr().String())
		target := "http://www.tls.example:" + webPort + "/"
		doh := "https://localhost:" + dohPort + "/dns-query"
		out, errOut, err := tryCmd(dir, curl, "-sS", "--max-time", "10", "--cacert", given, "--doh-url", doh, target)
		if err != nil || !strings.Contains(out, "hello from www.tls.example:"+webPort) {
			t.Fatalf("curl --cacert (the given CA) --doh-url %s %s: %v\n%s%s", doh, target, err, out, errOut)
		}
		for _, ca := range []string{cluster, wrong} {
			if out, _, err := tryCmd(dir, curl, "-sS", "--max-time", "10", "--cacert", ca, "--doh-url", doh, target); err == nil {
				t.Errorf("curl --cacert %s resolved through DoH; it must refuse the server\n%s", ca, out)
			}
		}
	})
}
