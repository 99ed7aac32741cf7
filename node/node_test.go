package node

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// testLogger sends a node's logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// startNode starts a node on 127.0.0.1:0 with its data in dir and closes
// it at cleanup.
func startNode(t *testing.T, dir string) *Node {
	t.Helper()
	n, err := startNodeAt(t, dir, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return n
}

func startNodeAt(t *testing.T, dir, addr string) (*Node, error) {
	t.Helper()
	cfg := Default()
	cfg.DataDir = dir
	cfg.DNS = addr
	cfg.TCPIdleTimeout = time.Second
	cfg.Group.RaftBind = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Metrics.Listen = "127.0.0.1:0"
	n, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := n.Start(context.Background()); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return n, nil
}

// publishDemo signs the demo zone with the data dir's demo key and
// publishes it.
func publishDemo(t *testing.T, n *Node) (*zone.Zone, *zone.Key) {
	t.Helper()
	k, _, err := demo.Key(n.DataDir(), rand.Reader)
	if err != nil {
		t.Fatalf("DemoKey: %v", err)
	}
	u, err := demo.Zone()
	if err != nil {
		t.Fatalf("DemoZone: %v", err)
	}
	stored, err := n.Stored(demo.Origin)
	if err != nil && !errors.Is(err, raftfsm.ErrNoZone) {
		t.Fatalf("Stored: %v", err)
	}
	z, _, err := zone.Prepare(stored, u, k, time.Now())
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if err := n.Publish(z); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return z, k
}

func exchange(t *testing.T, n *Node, proto, name string, qtype uint16, do bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if do {
		m.SetEdns0(1232, true)
	}
	c := &dns.Client{Net: proto, Timeout: 3 * time.Second}
	r, _, err := c.Exchange(m, n.Addr().String())
	if err != nil {
		t.Fatalf("Exchange(%s %s over %s): %v", name, dns.TypeToString[qtype], proto, err)
	}
	return r
}

func TestNodeServesUDPAndTCP(t *testing.T) {
	n := startNode(t, t.TempDir())
	if n.Addr().Port() == 0 {
		t.Fatalf("Addr() = %v, want a bound port", n.Addr())
	}
	// Before any zone: REFUSED.
	if r := exchange(t, n, "udp", "www.demo.ddnrs.", dns.TypeA, false); r.Rcode != dns.RcodeRefused {
		t.Errorf("before publish: rcode = %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	publishDemo(t, n)
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  string // an answer record's RDATA-bearing string that must appear
	}{
		{"www.demo.ddnrs.", dns.TypeA, dns.RcodeSuccess, "127.0.0.2"},
		{"WWW.Demo.DDNRS.", dns.TypeAAAA, dns.RcodeSuccess, "::2"},
		{"chain.demo.ddnrs.", dns.TypeA, dns.RcodeSuccess, "127.0.0.2"},
		{"x.wild.demo.ddnrs.", dns.TypeA, dns.RcodeSuccess, "127.0.0.9"},
		{"nope.demo.ddnrs.", dns.TypeA, dns.RcodeNameError, ""},
		{"ent.demo.ddnrs.", dns.TypeA, dns.RcodeSuccess, ""},
	}
	for _, proto := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			r := exchange(t, n, proto, tt.name, tt.qtype, true)
			if r.Rcode != tt.rcode || !r.Authoritative {
				t.Errorf("%s %s over %s: rcode %s AA %v, want %s AA", tt.name, dns.TypeToString[tt.qtype], proto, dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[tt.rcode])
			}
			found := tt.want == ""
			sigs := 0
			for _, rr := range r.Answer {
				if tt.want != "" && containsField(rr, tt.want) {
					found = true
				}
				if _, ok := rr.(*dns.RRSIG); ok {
					sigs++
				}
			}
			if !found {
				t.Errorf("%s %s over %s: answer %v, want %s in it", tt.name, dns.TypeToString[tt.qtype], proto, r.Answer, tt.want)
			}
			if tt.want != "" && sigs == 0 {
				t.Errorf("%s %s over %s with DO: no RRSIG in answer %v", tt.name, dns.TypeToString[tt.qtype], proto, r.Answer)
			}
		}
	}
}

func containsField(rr dns.RR, s string) bool {
	for i := 1; i <= dns.NumField(rr); i++ {
		if dns.Field(rr, i) == s {
			return true
		}
	}
	return false
}

func TestNodeRestartServesSameData(t *testing.T) {
	dir := t.TempDir()
	cfg := Default()
	cfg.DataDir = dir
	cfg.DNS = "127.0.0.1:0"
	cfg.Group.RaftBind = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Metrics.Listen = "127.0.0.1:0"
	n1, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := n1.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	z1, k1 := publishDemo(t, n1)
	if err := n1.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := n1.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}

	n2 := startNode(t, dir)
	r := exchange(t, n2, "tcp", "demo.ddnrs.", dns.TypeSOA, false)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Serial != z1.Serial() {
		t.Fatalf("SOA after restart = %v, want serial %d", r.Answer, z1.Serial())
	}
	k2, created, err := demo.Key(dir, rand.Reader)
	if err != nil || created || k2.Tag() != k1.Tag() {
		t.Errorf("DemoKey after restart = tag %d created %v err %v, want tag %d reused", k2.Tag(), created, err, k1.Tag())
	}
	// Republishing the same content changes nothing.
	z2, _ := publishDemo(t, n2)
	if z2.Serial() != z1.Serial() {
		t.Errorf("serial after republishing the same zone = %d, want %d", z2.Serial(), z1.Serial())
	}
	priv, err := filepath.Glob(filepath.Join(demo.KeysDir(dir), "*.private"))
	if err != nil || len(priv) != 1 {
		t.Fatalf("private key files = %v (%v), want one", priv, err)
	}
	if fi, err := os.Stat(priv[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}

func TestNodePublishWhileRunning(t *testing.T) {
	n := startNode(t, t.TempDir())
	z, k := publishDemo(t, n)
	text := `$ORIGIN demo.ddnrs.
@ 3600 SOA ns1 hostmaster 1 7200 3600 1209600 300
@ 3600 NS ns1
ns1 3600 A 127.0.0.1
www 3600 A 192.0.2.80
`
	u, err := zone.ParseFile(stringsReader(text), demo.Origin, "edit.zone")
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	z2, act, err := zone.Prepare(z, u, k, time.Now())
	if err != nil || act != zone.Updated {
		t.Fatalf("zone.Prepare(edit) = %v, %v, want Updated", act, err)
	}
	if z2.Serial() != z.Serial()+1 {
		t.Errorf("serial after edit = %d, want %d", z2.Serial(), z.Serial()+1)
	}
	if err := n.Publish(z2); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	r := exchange(t, n, "udp", "www.demo.ddnrs.", dns.TypeA, false)
	if len(r.Answer) != 1 || !containsField(r.Answer[0], "192.0.2.80") {
		t.Errorf("www A after publish = %v, want 192.0.2.80", r.Answer)
	}
	// A stale serial is refused by the state machine and the served zone
	// stays.
	var rej *raftfsm.RejectedError
	if err := n.Publish(z); !errors.As(err, &rej) || rej.Reason != raftfsm.ReasonStaleSerial {
		t.Errorf("Publish(older zone) = %v, want a stale-serial rejection", err)
	}
	if got := n.Served().Get(demo.Origin); got == nil || got.Serial() != z2.Serial() || got.Head.Root != z2.Head.Root {
		t.Errorf("served zone after refused publish changed, want the last published")
	}
}

func TestNodeDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	startNode(t, dir)
	_, err := startNodeAt(t, dir, "127.0.0.1:0")
	if !errors.Is(err, raftfsm.ErrLocked) {
		t.Errorf("second node on the same data dir: Start = %v, want ErrLocked", err)
	}
}

func TestNodePortInUse(t *testing.T) {
	n1 := startNode(t, t.TempDir())
	dir := t.TempDir()
	_, err := startNodeAt(t, dir, n1.Addr().String())
	if !errors.Is(err, ErrPortInUse) {
		t.Fatalf("second node on %s: Start = %v, want ErrPortInUse", n1.Addr(), err)
	}
	// The failed start released its store.
	if _, err := startNodeAt(t, dir, "127.0.0.1:0"); err != nil {
		t.Errorf("Start after a failed start on the same dir = %v, want nil", err)
	}
	// UDP alone taken also counts.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("ListenPacket: %v", err)
	}
	defer pc.Close()
	_, err = startNodeAt(t, t.TempDir(), pc.LocalAddr().String())
	if !errors.Is(err, ErrPortInUse) {
		t.Errorf("node on a UDP port in use: Start = %v, want ErrPortInUse", err)
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
