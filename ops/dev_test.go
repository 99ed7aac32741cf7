package ops

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/node"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// syncBuffer is a bytes.Buffer safe to write from runDev's goroutine and
// read from the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// devRun is a runDev running in a goroutine.
type devRun struct {
	addr   string
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan struct{} // closed when runDev returned
	err    error         // what it returned; read after done
}

// stop cancels the run and returns its error.
func (d *devRun) stop(t *testing.T) error {
	t.Helper()
	d.cancel()
	select {
	case <-d.done:
		return d.err
	case <-time.After(10 * time.Second):
		t.Fatal("runDev did not stop within 10s of cancel")
		return nil
	}
}

// startDev runs dev with opts (DNS defaults to 127.0.0.1:0) and waits until
// it serves or fails. On failure it returns the error and a nil run.
func startDev(t *testing.T, opts devOptions) (*devRun, error) {
	t.Helper()
	if opts.DNS == "" && opts.defaultDNS == "" {
		opts.DNS = "127.0.0.1:0"
	}
	ready := make(chan string, 1)
	opts.ready = ready
	out := &syncBuffer{}
	opts.out = out
	ctx, cancel := context.WithCancel(context.Background())
	d := &devRun{out: out, cancel: cancel, done: make(chan struct{})}
	go func() {
		d.err = runDev(ctx, &opts)
		close(d.done)
	}()
	select {
	case d.addr = <-ready:
		t.Cleanup(func() {
			cancel()
			<-d.done
		})
		return d, nil
	case <-d.done:
		cancel()
		if d.err == nil {
			t.Fatalf("runDev returned nil before serving")
		}
		return nil, d.err
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("runDev neither served nor failed within 60s:\n%s", out)
		return nil, nil
	}
}

func ask(t *testing.T, addr, proto, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, true)
	c := &dns.Client{Net: proto, Timeout: 3 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("Exchange(%s %s over %s): %v", name, dns.TypeToString[qtype], proto, err)
	}
	return r
}

// answerA returns the addresses of the A records in r's answer.
func answerA(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

func TestDevDemo(t *testing.T) {
	data := t.TempDir()
	ready := filepath.Join(t.TempDir(), "ready.json")
	d, err := startDev(t, devOptions{Data: data, ReadyFile: ready})
	if err != nil {
		t.Fatalf("runDev: %v", err)
	}
	for _, proto := range []string{"udp", "tcp"} {
		r := ask(t, d.addr, proto, "chain.demo.ddnrs.", dns.TypeA)
		if got := answerA(r); len(got) != 1 || got[0] != "127.0.0.2" || !r.Authoritative {
			t.Errorf("chain.demo.ddnrs. A over %s = %v AA %v, want [127.0.0.2] AA", proto, got, r.Authoritative)
		}
	}
	b, err := os.ReadFile(ready)
	if err != nil {
		t.Fatalf("ready file: %v", err)
	}
	var info readyInfo
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatalf("ready file JSON: %v\n%s", err, b)
	}
	if info.DNS != d.addr || info.Data != data || len(info.Zones) != 1 || info.Zones[0].Zone != demo.Origin || info.Zones[0].Serial == 0 {
		t.Errorf("ready file = %+v, want dns %s, data %s and the demo zone with a serial", info, d.addr, data)
	}
	if len(info.Members) != devMembers || info.Members[0].DNS != d.addr || info.CA == "" || info.Cert == "" || info.Key == "" {
		t.Errorf("ready file members %+v, ca %q cert %q key %q: want %d members, member 1 at %s, and the operator's TLS files", info.Members, info.CA, info.Cert, info.Key, devMembers, d.addr)
	}
	for _, m := range info.Members {
		if m.ID == "" || m.Admin == "" || m.Raft == "" {
			t.Errorf("ready file member %+v lacks an address", m)
			continue
		}
		if got := answerA(ask(t, m.DNS, "udp", "chain.demo.ddnrs.", dns.TypeA)); len(got) != 1 || got[0] != "127.0.0.2" {
			t.Errorf("%s (%s) answers chain.demo.ddnrs. A with %v, want [127.0.0.2]: every member serves the zone", m.ID, m.DNS, got)
		}
	}
	z := info.Zones[0]
	if !strings.Contains(z.DNSKEY, "DNSKEY 257 3 15 ") || !strings.Contains(z.DS, " DS ") || strings.Contains(z.DNSKEY, "\t") {
		t.Errorf("ready file dnskey %q ds %q, want one-line DNSKEY 257 3 15 and a DS", z.DNSKEY, z.DS)
	}
	out := d.out.String()
	_, port, _ := net.SplitHostPort(d.addr)
	for _, want := range []string{"trust-anchor: \"" + z.DNSKEY + "\"", z.DS, "dig @127.0.0.1 -p " + port, "made a new owner key", demo.Origin,
		"a replica group of 3 members in this process", "ddnrs ops group members --dev --data " + data,
		"metrics for Prometheus (plain HTTP, no certificate): http://127.0.0.1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("dev output lacks %q:\n%s", want, out)
		}
	}
	if err := d.stop(t); err != nil {
		t.Fatalf("runDev after cancel = %v, want nil", err)
	}
	if _, err := os.Stat(filepath.Join(data, devInfoFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after stop: %v, want it removed", devInfoFile, err)
	}

	// A restart reuses the key, the stored zone and the group.
	d2, err := startDev(t, devOptions{Data: data, ReadyFile: ready})
	if err != nil {
		t.Fatalf("runDev again: %v", err)
	}
	b, _ = os.ReadFile(ready)
	var info2 readyInfo
	json.Unmarshal(b, &info2)
	if len(info2.Zones) != 1 || info2.Zones[0] != z {
		t.Errorf("after restart ready zones = %+v, want %+v", info2.Zones, z)
	}
	if strings.Contains(d2.out.String(), "made a new owner key") {
		t.Errorf("restart made a new key:\n%s", d2.out)
	}
	if len(info2.Members) != devMembers {
		t.Fatalf("after restart ready members = %+v", info2.Members)
	}
	for i, m := range info2.Members {
		if m.Raft != info.Members[i].Raft {
			t.Errorf("after restart %s raft address %s, want the first run's %s (the Raft configuration holds it)", m.ID, m.Raft, info.Members[i].Raft)
		}
		if got := answerA(ask(t, m.DNS, "tcp", "chain.demo.ddnrs.", dns.TypeA)); len(got) != 1 {
			t.Errorf("after restart %s answers %v", m.ID, got)
		}
	}
}

// ownerFiles writes a key for origin into dir and returns the .private
// path.
func ownerKey(t *testing.T, dir, origin string) (string, *zone.Key) {
	t.Helper()
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	base := filepath.Join(dir, k.FileBase())
	if err := os.WriteFile(base+".key", k.MarshalPublic(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".private", k.MarshalPrivate(), 0o600); err != nil {
		t.Fatal(err)
	}
	return base + ".private", k
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const exampleZone = `$ORIGIN example.
$TTL 300
@    SOA  ns1 hostmaster 7 7200 3600 1209600 300
@    NS   ns1
ns1  A    192.0.2.1
www  A    192.0.2.80
`

// storedZone reads origin from the owner's copy in data, or fails the
// test.
func storedZone(t *testing.T, data, origin string) *zone.Zone {
	t.Helper()
	s, err := raftfsm.OpenStore(raftfsm.StorePath(data))
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	defer s.Close()
	z, err := s.Get(origin)
	if err != nil {
		t.Fatalf("Get(%s): %v", origin, err)
	}
	return z
}

func TestDevOwnZoneAndBadInput(t *testing.T) {
	dir := t.TempDir()
	data := t.TempDir()
	key, _ := ownerKey(t, dir, "example.")
	zf := writeFile(t, dir, "example.zone", exampleZone)
	d, err := startDev(t, devOptions{Data: data, Zones: []string{zf}, Keys: []string{key}})
	if err != nil {
		t.Fatalf("runDev: %v", err)
	}
	if got := answerA(ask(t, d.addr, "udp", "www.example.", dns.TypeA)); len(got) != 1 || got[0] != "192.0.2.80" {
		t.Errorf("www.example. A = %v, want [192.0.2.80]", got)
	}
	if err := d.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	before := storedZone(t, data, "example.")
	if before.Serial() != 7 {
		t.Errorf("stored serial = %d, want the file's 7", before.Serial())
	}

	// An edit without a serial bump is applied incrementally, serial+1.
	writeFile(t, dir, "example.zone", strings.Replace(exampleZone, "192.0.2.80", "192.0.2.81", 1))
	d, err = startDev(t, devOptions{Data: data, Zones: []string{zf}, Keys: []string{key}})
	if err != nil {
		t.Fatalf("runDev after edit: %v", err)
	}
	if got := answerA(ask(t, d.addr, "tcp", "www.example.", dns.TypeA)); len(got) != 1 || got[0] != "192.0.2.81" {
		t.Errorf("www.example. A after edit = %v, want [192.0.2.81]", got)
	}
	if !strings.Contains(d.out.String(), "updated") {
		t.Errorf("dev output does not say the zone was updated:\n%s", d.out)
	}
	d.stop(t)
	before = storedZone(t, data, "example.")
	if before.Serial() != 8 {
		t.Errorf("stored serial after edit = %d, want 8", before.Serial())
	}

	otherKey, _ := ownerKey(t, t.TempDir(), "other.")
	ecdsaKey := writeECDSAKey(t, t.TempDir(), "example.")
	tests := []struct {
		desc  string
		zone  string
		key   string
		wants []string
	}{
		{"syntax error", writeFile(t, dir, "syntax.zone", exampleZone+"bad  A 999.1.1.1\n"), key, []string{"syntax.zone", "line: 7"}},
		{"record outside the zone", writeFile(t, dir, "outside.zone", exampleZone+"www.example.org. A 192.0.2.2\n"), key, []string{"outside.zone", "www.example.org."}},
		{"CNAME beside other data", writeFile(t, dir, "cname.zone", exampleZone+"www CNAME ns1\n"), key, []string{"cname.zone", "CNAME"}},
		{"key for another zone", zf, otherKey, []string{"other."}},
		{"wrong key algorithm", zf, ecdsaKey, []string{"algorithm"}},
		{"missing key", zf, filepath.Join(dir, "nope.private"), []string{"nope"}},
		{"missing zone file", filepath.Join(dir, "nope.zone"), key, []string{"nope.zone"}},
	}
	for _, tt := range tests {
		_, err := startDev(t, devOptions{Data: data, Zones: []string{tt.zone}, Keys: []string{tt.key}})
		if err == nil {
			t.Errorf("runDev with %s: served, want an error", tt.desc)
			continue
		}
		for _, w := range tt.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("runDev with %s: error %q lacks %q", tt.desc, err, w)
			}
		}
		after := storedZone(t, data, "example.")
		if after.Serial() != before.Serial() || after.Len() != before.Len() {
			t.Errorf("after %s: stored serial %d (%d names), want %d (%d names) untouched", tt.desc, after.Serial(), after.Len(), before.Serial(), before.Len())
		}
	}
	if _, err := startDev(t, devOptions{Data: data, Zones: []string{zf}}); err == nil || !strings.Contains(err.Error(), "--key") {
		t.Errorf("runDev with --zone and no --key = %v, want an error about --key", err)
	}
}

// writeECDSAKey writes a BIND key pair of algorithm 13 for origin and
// returns the .private path.
func writeECDSAKey(t *testing.T, dir, origin string) string {
	t.Helper()
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600}, Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	priv, err := k.Generate(256)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	base := filepath.Join(dir, "K"+origin+"+013+"+strconv.Itoa(int(k.KeyTag())))
	writeFile(t, dir, filepath.Base(base)+".key", k.String()+"\n")
	writeFile(t, dir, filepath.Base(base)+".private", k.PrivateKeyString(priv))
	return base + ".private"
}

func TestDevPorts(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	addr := held.Addr().String()
	_, port, _ := net.SplitHostPort(addr)

	_, err = startDev(t, devOptions{Data: t.TempDir(), DNS: addr})
	if !errors.Is(err, node.ErrPortInUse) || !strings.Contains(err.Error(), port) {
		t.Errorf("runDev --dns %s (in use) = %v, want ErrPortInUse naming port %s", addr, err, port)
	}

	// Without --dns and --api, taken default ports fall back to free
	// ones, both when both are taken (whichever a start names first).
	heldAPI, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer heldAPI.Close()
	_, apiPort, _ := net.SplitHostPort(heldAPI.Addr().String())
	d, err := startDev(t, devOptions{Data: t.TempDir(), defaultDNS: addr, defaultAPI: heldAPI.Addr().String()})
	if err != nil {
		t.Fatalf("runDev with the default ports taken: %v", err)
	}
	if d.addr == addr || !strings.Contains(d.out.String(), "port "+port+" is in use") || !strings.Contains(d.out.String(), "API port "+apiPort+" is in use") {
		t.Errorf("fallback: serving on %s, output:\n%s\nwant another port and lines saying %s and API %s are in use", d.addr, d.out, port, apiPort)
	}
}

func TestDevDataDirLocked(t *testing.T) {
	data := t.TempDir()
	if _, err := startDev(t, devOptions{Data: data}); err != nil {
		t.Fatalf("runDev: %v", err)
	}
	_, err := startDev(t, devOptions{Data: data})
	if !errors.Is(err, raftfsm.ErrLocked) || !strings.Contains(err.Error(), data) {
		t.Errorf("second runDev on %s = %v, want ErrLocked naming the dir", data, err)
	}
	if code := exitCode(err); code != ExitLocked {
		t.Errorf("exitCode(locked) = %d, want %d", code, ExitLocked)
	}
}

func TestDevCorruptDataDir(t *testing.T) {
	data := t.TempDir()
	junk := bytes.Repeat([]byte("not a bbolt file "), 1000)
	writeFile(t, data, "zones.db", string(junk))
	_, err := startDev(t, devOptions{Data: data})
	if !errors.Is(err, raftfsm.ErrCorrupt) || !strings.Contains(err.Error(), data) {
		t.Errorf("runDev on a corrupt store = %v, want ErrCorrupt naming the dir", err)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "zones.db")); !bytes.Equal(b, junk) {
		t.Errorf("corrupt store file was changed")
	}
}

func TestDevHelp(t *testing.T) {
	var out, errw bytes.Buffer
	code := Execute(context.Background(), []string{"dev", "--help"}, strings.NewReader(""), &out, &errw)
	if code != ExitOK {
		t.Fatalf("ddnrs dev --help exit = %d, want 0; stderr %s", code, errw.String())
	}
	for _, want := range []string{"--dns", "--data", "--zone", "--key", "--ready-file", "Examples:", "ddnrs dev --zone"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("ddnrs dev --help lacks %q:\n%s", want, out.String())
		}
	}
}
