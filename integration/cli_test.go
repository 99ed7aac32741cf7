package integration

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// ask sends one question to a dev node over UDP with the Go client.
func ask(t *testing.T, addr, qname string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.SetEdns0(1232, true)
	c := &dns.Client{Timeout: 3 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s to %s: %v", qname, dns.TypeToString[qtype], addr, err)
	}
	return r
}

// wantA checks that qname A is answered authoritatively with addr.
func wantA(t *testing.T, server, qname, addr string) {
	t.Helper()
	r := ask(t, server, qname, dns.TypeA)
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok && a.A.String() == addr && r.Authoritative {
			return
		}
	}
	t.Errorf("%s A from %s = rcode %s aa=%v %v, want %s", qname, server, dns.RcodeToString[r.Rcode], r.Authoritative, r.Answer, addr)
}

func TestDevStopsCleanlyAndKeepsData(t *testing.T) {
	sz := signFixture(t)
	data := t.TempDir()
	d := startDev(t, data, "--zone", sz.Unsigned, "--key", sz.Key)
	wantA(t, d.addr, "www.example.", "192.0.2.80")
	if d.ready.Data == "" || len(d.ready.Zones) == 0 || d.ready.Zones[0].DS == "" || d.ready.Zones[0].Serial == 0 {
		t.Errorf("ready file = %+v, want data dir, and zone with serial, DNSKEY and DS", d.ready)
	}
	if out := d.out.String(); !strings.Contains(out, "trust-anchor:") {
		t.Errorf("ddnrs dev printed no trust-anchor line for unbound:\n%s", out)
	}
	if err := d.stop(); err != nil || d.killed {
		t.Fatalf("ddnrs dev after SIGTERM: %v (killed=%v), want exit status 0", err, d.killed)
	}
	// The zone was stored: a plain restart on the same data dir serves it.
	d2 := startDev(t, data)
	wantA(t, d2.addr, "www.example.", "192.0.2.80")
}

func TestDevDefaultDemoZone(t *testing.T) {
	state := t.TempDir()
	env := []string{"XDG_STATE_HOME=" + state}
	d := startDevEnv(t, env)
	if len(d.ready.Zones) == 0 {
		t.Fatalf("ddnrs dev with no zone serves no demo zone: %+v", d.ready)
	}
	z := d.ready.Zones[0]
	if !strings.HasPrefix(d.ready.Data, state) {
		t.Errorf("default data dir = %q, want below XDG_STATE_HOME %q", d.ready.Data, state)
	}
	r := ask(t, d.addr, z.Zone, dns.TypeSOA)
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) == 0 {
		t.Errorf("demo zone %s SOA = rcode %s aa=%v answer %v, want an authoritative SOA", z.Zone, dns.RcodeToString[r.Rcode], r.Authoritative, r.Answer)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("ddnrs dev after SIGTERM: %v, want exit status 0", err)
	}
	// The demo key is kept and reused.
	d2 := startDevEnv(t, env)
	if len(d2.ready.Zones) == 0 || d2.ready.Zones[0].DNSKEY != z.DNSKEY {
		t.Errorf("after restart demo zone DNSKEY = %+v, want the first run's %q", d2.ready.Zones, z.DNSKEY)
	}
}

func TestDevPortInUse(t *testing.T) {
	needBinary(t)
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.LocalAddr().(*net.UDPAddr).Port)
	tl, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err == nil {
		defer tl.Close()
	}
	out, errOut, err := tryCmd(t.TempDir(), ddnrsBin, "dev", "--dns", "127.0.0.1:"+port, "--data", t.TempDir())
	if err == nil {
		t.Fatalf("ddnrs dev --dns on a port in use exited 0\n%s%s", out, errOut)
	}
	if !strings.Contains(out+errOut, port) {
		t.Errorf("ddnrs dev --dns 127.0.0.1:%s (in use) error does not name the port:\n%s%s", port, out, errOut)
	}
}

func TestDataDirInUse(t *testing.T) {
	sz := signFixture(t)
	data := t.TempDir()
	startDev(t, data, "--zone", sz.Unsigned, "--key", sz.Key)
	out, errOut, err := tryCmd(t.TempDir(), ddnrsBin, "dev", "--dns", "127.0.0.1:0", "--data", data)
	if err == nil {
		t.Errorf("a second ddnrs dev on a data dir in use exited 0\n%s%s", out, errOut)
	} else if !strings.Contains(out+errOut, data) {
		t.Errorf("second ddnrs dev on %s: error does not name the data dir:\n%s%s", data, out, errOut)
	}
	out, errOut, err = tryCmd("", ddnrsBin, "ops", "store", "restore-zone", "--data", data, "--key", sz.Key, sz.Unsigned)
	if err == nil {
		t.Errorf("ddnrs ops store restore-zone into a data dir in use exited 0\n%s%s", out, errOut)
	} else if !strings.Contains(errOut, "a node is running") {
		t.Errorf("ddnrs ops store restore-zone into a data dir in use: stderr does not say a node is running:\n%s", errOut)
	}
}

func TestImportExport(t *testing.T) {
	sz := signFixture(t)
	data := t.TempDir()
	runCmd(t, "", ddnrsBin, "ops", "store", "restore-zone", "--data", data, "--key", sz.Key, sz.Unsigned)

	dir := t.TempDir()
	signed := filepath.Join(dir, "export.zone")
	runCmd(t, "", ddnrsBin, "zone", "export", "--data", data, "--out", signed, "example.")
	runCmd(t, "", ddnrsBin, "zone", "verify", "--key", sz.Key, signed)
	b, err := os.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "RRSIG") || !strings.Contains(string(b), "192.0.2.80") {
		t.Errorf("exported signed zone lacks RRSIGs or www's address:\n%.2000s", b)
	}
	unsigned := runCmd(t, "", ddnrsBin, "zone", "export", "--data", data, "--unsigned", "example.")
	if strings.Contains(unsigned, "RRSIG") || strings.Contains(unsigned, "NSEC") || !strings.Contains(unsigned, "192.0.2.80") {
		t.Errorf("ddnrs zone export --unsigned printed RRSIG/NSEC or lacks www:\n%.2000s", unsigned)
	}

	// A node started on the data dir serves the imported zone.
	d := startDev(t, data)
	wantA(t, d.addr, "www.example.", "192.0.2.80")
}

func TestBadInputNamesWhat(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	key := keygen(t, dir, "example.")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	soa := "$ORIGIN example.\n$TTL 300\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n"
	tests := []struct {
		desc string
		args []string
		want []string // substrings the error must contain
	}{
		{"syntax error", []string{"zone", "sign", "--key", key, write("syntax.zone", soa+"www A 999.1.1.1\n")}, []string{"syntax.zone", "6"}},
		{"record outside the zone", []string{"zone", "sign", "--key", key, write("outside.zone", soa+"www.example.org. A 192.0.2.2\n")}, []string{"example.org"}},
		{"CNAME beside other data", []string{"zone", "sign", "--key", key, write("cname.zone", soa+"www CNAME ns1\nwww A 192.0.2.3\n")}, []string{"CNAME"}},
		{"key for another zone", []string{"zone", "sign", "--key", keygen(t, t.TempDir(), "other."), write("ok.zone", soa)}, []string{"other."}},
		{"missing key file", []string{"zone", "sign", "--key", filepath.Join(dir, "nope.private"), write("ok2.zone", soa)}, []string{"nope.private"}},
		{"unsigned zone fails verify", []string{"zone", "verify", "--key", key, write("plain.zone", soa)}, nil},
	}
	for _, tt := range tests {
		out, errOut, err := tryCmd(dir, ddnrsBin, tt.args...)
		if err == nil {
			t.Errorf("ddnrs %s (%s) exited 0, want an error\n%s%s", strings.Join(tt.args, " "), tt.desc, out, errOut)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(out+errOut, w) {
				t.Errorf("ddnrs %s (%s): error lacks %q:\n%s%s", strings.Join(tt.args[:2], " "), tt.desc, w, out, errOut)
			}
		}
	}
}

func TestDevDefaultPortFallback(t *testing.T) {
	needBinary(t)
	// Hold 127.0.0.1:5300 (or find it already held by someone else):
	// either way dev must fall back to a free port and say so.
	if u, err := net.ListenPacket("udp", "127.0.0.1:5300"); err == nil {
		defer u.Close()
	}
	if l, err := net.Listen("tcp", "127.0.0.1:5300"); err == nil {
		defer l.Close()
	}
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready.json")
	p := startProc(t, dir, ddnrsBin, "dev", "--data", filepath.Join(dir, "data"), "--ready-file", ready)
	r := waitReadyFile(t, p, ready, 30*time.Second)
	if strings.HasSuffix(r.DNS, ":5300") || strings.HasSuffix(r.DNS, ":0") {
		t.Errorf("ddnrs dev with 5300 taken listens on %s, want another, bound port", r.DNS)
	}
	_, port, _ := net.SplitHostPort(r.DNS)
	if out := p.out.String(); !strings.Contains(out, "5300") || !strings.Contains(out, port) {
		t.Errorf("ddnrs dev did not say it moved from 5300 to %s:\n%s", port, out)
	}
}
