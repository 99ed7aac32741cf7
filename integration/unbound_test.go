package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// unboundConf is what differs between the Unbound instances the tests
// run; startUnboundConf supplies the rest.
type unboundConf struct {
	server string // extra lines of the server: clause, each "\tkey: value\n"
	zones  string // clauses after remote-control: (stub-zone:, forward-zone:)
	// probe is a zone whose SOA query Unbound must answer before it is
	// used; "" waits only until it accepts TCP, so no query is cached early.
	probe string
}

// startUnboundConf runs a validating Unbound on a free loopback port with
// the configuration c completes, stopped at cleanup. It returns the port
// once Unbound is ready, as c.probe says.
func startUnboundConf(t *testing.T, c unboundConf) int {
	t.Helper()
	bin := needTool(t, "unbound", "unbound")
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf(`server:
	verbosity: 1
	interface: 127.0.0.1
	port: %d
	do-ip6: no
	do-daemonize: no
	chroot: ""
	username: ""
	directory: %q
	pidfile: %q
	logfile: ""
	use-syslog: no
	num-threads: 1
	so-reuseport: no
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	module-config: "validator iterator"
	qname-minimisation: no
%sremote-control:
	control-enable: no
%s`, port, dir, filepath.Join(dir, "unbound.pid"), c.server, c.zones)
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, dir, bin, "-d", "-c", path)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ready := func() error {
		if c.probe == "" {
			conn, err := net.Dial("tcp", addr)
			if err == nil {
				conn.Close()
			}
			return err
		}
		m := new(dns.Msg)
		m.SetQuestion(c.probe, dns.TypeSOA)
		_, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, addr)
		return err
	}
	// A safety net against hangs, not a performance assertion.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ready()
		if err == nil {
			return port
		}
		if p.exited() {
			t.Fatalf("unbound exited: %v\n%s", p.err, p.out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("unbound on port %d not ready within 30 s: %v\n%s", port, err, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startUnbound runs a validating Unbound on a free loopback port with a stub
// zone for zoneName pointing at the ddnrs node and trustAnchor (a DNSKEY
// RR in presentation form) as its trust anchor. It returns the port.
func startUnbound(t *testing.T, d *devNode, zoneName, trustAnchor string) int {
	t.Helper()
	return startUnboundConf(t, unboundConf{
		server: fmt.Sprintf("\ttrust-anchor: %q\n\ttarget-fetch-policy: \"0 0 0 0 0\"\n\tval-log-level: 2\n", trustAnchor),
		zones:  fmt.Sprintf("stub-zone:\n\tname: %q\n\tstub-addr: %s@%s\n", zoneName, d.host, d.port),
		probe:  zoneName,
	})
}

func TestUnboundValidates(t *testing.T) {
	needBinary(t)
	dig := needTool(t, "dig", "bind9-dnsutils")
	d, sz := serveFixture(t)
	var anchor string
	for _, z := range d.ready.Zones {
		if z.Zone == sz.Origin {
			anchor = z.DNSKEY
		}
	}
	if anchor == "" {
		t.Fatalf("ready file lists no DNSKEY for %s: %+v", sz.Origin, d.ready.Zones)
	}
	port := startUnbound(t, d, sz.Origin, anchor)
	tests := []struct {
		desc, qname, qtype, status string
		answer                     int // minimum answer records
	}{
		{"positive", "www.example.", "A", "NOERROR", 1},
		{"NXDOMAIN", "nope.example.", "A", "NXDOMAIN", 0},
		{"NODATA", "www.example.", "TXT", "NOERROR", 0},
		{"empty non-terminal", "b.c.example.", "A", "NOERROR", 0},
		{"wildcard", "foo.wild.example.", "A", "NOERROR", 1},
		{"wildcard NODATA", "foo.wild.example.", "AAAA", "NOERROR", 0},
		{"CNAME chain", "alias.example.", "A", "NOERROR", 3},
		{"multi-string TXT", "txt.example.", "TXT", "NOERROR", 1},
		{"60-record RRset", "big.example.", "A", "NOERROR", 60},
	}
	for _, tt := range tests {
		out := runCmd(t, "", dig, "@127.0.0.1", "-p", strconv.Itoa(port), "+time=5", "+tries=1", "+dnssec", tt.qname, tt.qtype)
		r := parseDig(out)
		if r.Status != tt.status || !r.Flags["ad"] || len(r.Answer) < tt.answer {
			t.Errorf("unbound %s %s (%s): status %s ad=%v answers %d, want %s ad=true answers >= %d\n%s",
				tt.qname, tt.qtype, tt.desc, r.Status, r.Flags["ad"], len(r.Answer), tt.status, tt.answer, out)
		}
	}
	// A forged anchor must make Unbound refuse the same data: the AD above
	// comes from our signatures, not from a permissive configuration.
	t.Run("wrong anchor", func(t *testing.T) {
		other := keygen(t, t.TempDir(), "example.")
		pub, err := os.ReadFile(strings.TrimSuffix(other, ".private") + ".key")
		if err != nil {
			t.Fatal(err)
		}
		var rr string
		for _, line := range strings.Split(string(pub), "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, ";") {
				rr = l
			}
		}
		port := startUnbound(t, d, sz.Origin, rr)
		out := runCmd(t, "", dig, "@127.0.0.1", "-p", strconv.Itoa(port), "+time=5", "+tries=1", "www.example.", "A")
		if r := parseDig(out); r.Status != "SERVFAIL" {
			t.Errorf("unbound with another key as anchor: www.example. A status %s, want SERVFAIL\n%s", r.Status, out)
		}
	})
}

func TestLdnsVerifyZone(t *testing.T) {
	needBinary(t)
	bin := needTool(t, "ldns-verify-zone", "ldnsutils")
	sz := signFixture(t)
	out, errOut, err := tryCmd("", bin, sz.Signed)
	if err != nil {
		t.Errorf("ldns-verify-zone %s: %v\n%s%s", filepath.Base(sz.Signed), err, out, errOut)
	}
	// Our own verifier agrees, and rejects a tampered copy.
	runCmd(t, "", ddnrsBin, "zone", "verify", "--key", sz.Key, sz.Signed)
	b, err := os.ReadFile(sz.Signed)
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(string(b), "192.0.2.80", "192.0.2.66", 1)
	if tampered == string(b) {
		t.Fatalf("signed zone %s lacks www's address 192.0.2.80", sz.Signed)
	}
	bad := filepath.Join(t.TempDir(), "tampered.zone")
	if err := os.WriteFile(bad, []byte(tampered), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tryCmd("", bin, bad); err == nil {
		t.Errorf("ldns-verify-zone accepted a zone with a changed A record")
	}
	if out, errOut, err := tryCmd("", ddnrsBin, "zone", "verify", "--key", sz.Key, bad); err == nil {
		t.Errorf("ddnrs zone verify accepted a zone with a changed A record\n%s%s", out, errOut)
	}
}
