package stub_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/forward"
	"github.com/ddnrs/ddnrs/internal/testlog"
	"github.com/ddnrs/ddnrs/stub"
	"github.com/ddnrs/ddnrs/zone"
)

// clock is a time at which dnstest's signatures are valid.
func clock() time.Time { return dnstest.SignTime.Add(time.Hour) }

// signedExample is the shared fixture zone at serial, signed with
// dnstest's fixed key.
func signedExample(t testing.TB, serial string) (*zone.Zone, *zone.Key) {
	t.Helper()
	text, err := os.ReadFile(dnstest.FixturePath())
	if err != nil {
		t.Fatal(err)
	}
	text = bytes.Replace(text, []byte("2024010101 ; serial"), []byte(serial+" ; serial"), 1)
	return dnstest.Sign(t, dnstest.Parse(t, "example.", string(text)+dnstest.Extra))
}

// startNode serves zs over UDP and TCP on one loopback port with the
// node's own DNS handler (dnsfront), proofs in band included, and
// returns its address: a DDNRS node's DNS side, without Raft.
func startNode(t testing.TB, zs ...*zone.Zone) string {
	t.Helper()
	h := dnsfront.NewHandler(dnstest.NewZones(zs...), dnsfront.Options{Cookies: true}) // as a node (cookies on by default)
	t.Cleanup(func() { h.Close() })
	for try := 0; ; try++ {
		u, err := dnsfront.ListenUDP("127.0.0.1:0", h, dnsfront.UDPOptions{Sockets: 1, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		tc, err := dnsfront.ListenTCP(u.Addr().String(), h, dnsfront.TCPOptions{})
		if err != nil {
			u.Close()
			if try == 5 {
				t.Fatalf("no port free for UDP and TCP: %v", err)
			}
			continue
		}
		for _, s := range []interface {
			Serve(context.Context) error
			Close() error
		}{u, tc} {
			done := make(chan struct{})
			go func() { s.Serve(context.Background()); close(done) }()
			t.Cleanup(func() { s.Close(); <-done })
		}
		return u.Addr().String()
	}
}

// startLiar is a node that asks the genuine node at upstream and alters
// its answers with lie before sending them on (a fake node: no DDNRS
// node lies on request; what it sends is what a compromised one could).
func startLiar(t testing.TB, upstream string, lie func(m *dns.Msg)) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
		r, _, err := c.Exchange(req, upstream)
		if err != nil {
			return
		}
		lie(r)
		w.WriteMsg(r)
	})
	return serveMiekg(t, h)
}

// serveMiekg serves h over UDP and TCP on one loopback port.
func serveMiekg(t testing.TB, h dns.Handler) string {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ { // UDP and TCP on one port: retry when TCP's is taken
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if try == 10 {
			t.Fatal(err)
		}
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// startStalled is a node that reads queries and never answers (a
// process stopped with SIGSTOP keeps its sockets the same way).
func startStalled(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().String()
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := pc.LocalAddr().String()
	pc.Close()
	return a
}

type testStub struct {
	*stub.Stub
	reg *prometheus.Registry
}

func startStub(t testing.TB, o stub.Options) *testStub {
	t.Helper()
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Now == nil {
		o.Now = clock
	}
	if o.ProbeInterval == 0 {
		o.ProbeInterval = time.Hour
	}
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	o.Logger = testlog.New(t, nil)
	s, err := stub.New(o)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start = %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return &testStub{Stub: s, reg: reg}
}

func (s *testStub) count(t testing.TB, name, label string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || (len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == label) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func ask(t testing.TB, addr, name string, qt uint16, do bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qt)
	m.SetEdns0(1232, do)
	c := &dns.Client{Net: "udp", Timeout: 10 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("Exchange(%s %s) = %v", name, dns.TypeToString[qt], err)
	}
	return r
}

func aOf(r *dns.Msg) string {
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String()
		}
	}
	return ""
}

// Lies a node can tell.
func alterRecords(m *dns.Msg) {
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			a.A = net.ParseIP("198.51.100.66")
		}
	}
}

func forgeSignature(m *dns.Msg) {
	for _, rr := range append(m.Answer, m.Ns...) {
		if s, ok := rr.(*dns.RRSIG); ok {
			b, _ := base64.StdEncoding.DecodeString(s.Signature)
			b[0] ^= 0xff
			s.Signature = base64.StdEncoding.EncodeToString(b)
		}
	}
}

func dropProofs(m *dns.Msg) {
	if o := m.IsEdns0(); o != nil {
		o.Option = nil
	}
}

// TestStubServesOnlyVerified: through a stub whose only node lies
// (altered records, a forged signature, proofs missing) no answer is
// served (SERVFAIL with an Extended DNS Error) and each lie is counted;
// with the genuine node beside the liar, or a dead or stalled one, every
// answer is the genuine one with AD; names outside DDNRS without
// upstreams are REFUSED, never AD.
func TestStubServesOnlyVerified(t *testing.T) {
	z, k := signedExample(t, "2024010102")
	good := startNode(t, z)
	anchors := client.Anchors{"example.": k}
	lies := map[string]func(*dns.Msg){"altered records": alterRecords, "forged signature": forgeSignature, "no proofs": dropProofs}
	for desc, lie := range lies {
		liar := startLiar(t, good, lie)
		s := startStub(t, stub.Options{DataDir: t.TempDir(), Nodes: []string{liar}, Anchors: anchors, Timeout: time.Second})
		r := ask(t, s.Addr().String(), "www.example.", dns.TypeA, true)
		if r.Rcode != dns.RcodeServerFailure || aOf(r) != "" || r.AuthenticatedData || r.IsEdns0() == nil || len(r.IsEdns0().Option) == 0 {
			t.Errorf("%s, the only node: %v; want SERVFAIL with an EDE", desc, r)
		}
		if n := s.count(t, "ddnrs_stub_refused_answers_total", ""); n == 0 && desc != "no proofs" {
			t.Errorf("%s: refused answers counted %v, want > 0", desc, n)
		}
	}
	bad := map[string]string{"dead": deadAddr(t), "stalled": startStalled(t)}
	for desc, lie := range lies {
		bad["lying: "+desc] = startLiar(t, good, lie)
	}
	for desc, addr := range bad {
		s := startStub(t, stub.Options{DataDir: t.TempDir(), Nodes: []string{addr, good}, Anchors: anchors})
		for i, name := range []string{"www.example.", "alias.example.", "nothere.example.", "www.example."} {
			start := time.Now()
			r := ask(t, s.Addr().String(), name, dns.TypeA, true)
			t.Logf("%s node beside a good one: %s answered in %v", desc, name, time.Since(start))
			if r.Rcode == dns.RcodeServerFailure || !r.AuthenticatedData || !r.RecursionAvailable {
				t.Fatalf("%s node beside a good one: query %d %s = %v; want the verified answer with AD", desc, i, name, r)
			}
			if (name == "www.example." || name == "alias.example.") && aOf(r) != "192.0.2.80" {
				t.Fatalf("%s: %s A = %q, want 192.0.2.80", desc, name, aOf(r))
			}
		}
		if r := ask(t, s.Addr().String(), "www.example.", dns.TypeA, false); r.AuthenticatedData || len(r.Answer) != 1 {
			t.Errorf("%s: a query without DO = %v, want the A record alone, no RRSIG, no AD", desc, r)
		}
		if r := ask(t, s.Addr().String(), "www.example.net.", dns.TypeA, true); r.Rcode != dns.RcodeRefused || r.AuthenticatedData {
			t.Errorf("%s: an outside name without upstreams = %v, want REFUSED", desc, r)
		}
	}
}

// TestStubRefusesOlderSerial: after a stub has verified serial 2, a node
// that serves serial 1 (genuinely signed: a replay) is refused, also
// after the stub restarts; the restarted stub serves its disk cache with
// no node reachable; an entry altered on disk is dropped, not served.
func TestStubRefusesOlderSerial(t *testing.T) {
	z1, k := signedExample(t, "2024010101")
	z2, _ := signedExample(t, "2024010102")
	anchors := client.Anchors{"example.": k}
	dir := t.TempDir()
	newNode := startNode(t, z2)
	s := startStub(t, stub.Options{DataDir: dir, Nodes: []string{newNode}, Anchors: anchors})
	for _, q := range []string{"www.example.", "mail.example.", "example."} {
		if r := ask(t, s.Addr().String(), q, dns.TypeSOA, true); r.Rcode == dns.RcodeServerFailure {
			t.Fatalf("%s SOA from the node at serial 2 = %v", q, r)
		}
	}
	if r := ask(t, s.Addr().String(), "www.example.", dns.TypeA, true); aOf(r) != "192.0.2.80" {
		t.Fatalf("www A = %v", r)
	}
	s.Close(context.Background())

	// Restarted, with the new node gone and a replaying one in its place.
	oldNode := startNode(t, z1)
	s = startStub(t, stub.Options{DataDir: dir, Nodes: []string{oldNode}, Anchors: anchors})
	if r := ask(t, s.Addr().String(), "www.example.", dns.TypeA, true); aOf(r) != "192.0.2.80" || !r.AuthenticatedData {
		t.Fatalf("after restart, www A from the disk cache = %v, want the verified answer with AD", r)
	}
	r := ask(t, s.Addr().String(), "ftp.example.", dns.TypeA, true) // not cached: asked of the replaying node
	if r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("after restart, an answer at the older serial = %v, want SERVFAIL", r)
	}
	if n := s.count(t, "ddnrs_stub_refused_answers_total", oldNode); n == 0 {
		t.Errorf("the replaying node's answers refused: %v, want counted", n)
	}
	s.Close(context.Background())

	// Alter the cached www A on disk: the restarted stub drops it.
	db, err := bolt.Open(filepath.Join(dir, "cache.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	altered := 0
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("answers"))
		return b.ForEach(func(k, v []byte) error {
			if string(k) != "www.example.\x00\x00\x01" { // www A
				return nil
			}
			nv := bytes.Replace(v, []byte{192, 0, 2, 80}, []byte{198, 51, 100, 66}, 1)
			if bytes.Equal(nv, v) {
				return errors.New("no A record in the cached www answer")
			}
			altered++
			return b.Put(append([]byte(nil), k...), nv)
		})
	})
	db.Close()
	if err != nil || altered == 0 {
		t.Fatalf("altering the cache file: %v (%d entries)", err, altered)
	}
	s = startStub(t, stub.Options{DataDir: dir, Nodes: []string{deadAddr(t)}, Anchors: anchors, Timeout: 500 * time.Millisecond})
	if n := s.count(t, "ddnrs_stub_cache_dropped_total", ""); n != 1 {
		t.Errorf("cache entries dropped at load = %v, want 1 (the altered one)", n)
	}
	if r := ask(t, s.Addr().String(), "www.example.", dns.TypeA, true); r.Rcode != dns.RcodeServerFailure || aOf(r) != "" {
		t.Errorf("the altered cached answer = %v, want SERVFAIL (dropped, no node to ask)", r)
	}
	if r := ask(t, s.Addr().String(), "mail.example.", dns.TypeSOA, true); r.Rcode == dns.RcodeServerFailure || !r.AuthenticatedData {
		t.Errorf("an unaltered cached answer = %v, want it served with AD", r)
	}
	s.Close(context.Background())

	// Without the cache file, the floor alone (serials.json) refuses the
	// replay.
	if err := os.Remove(filepath.Join(dir, "cache.db")); err != nil {
		t.Fatal(err)
	}
	s = startStub(t, stub.Options{DataDir: dir, Nodes: []string{oldNode}, Anchors: anchors})
	if r := ask(t, s.Addr().String(), "www.example.", dns.TypeA, true); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("restarted without its cache, the older serial = %v, want SERVFAIL", r)
	}
}

// TestStubForwardsOutsideNames: with an upstream, a name outside DDNRS is
// answered from it without AD (even when the upstream sets AD), while a
// DDNRS name is never asked of the upstream.
func TestStubForwardsOutsideNames(t *testing.T) {
	z, k := signedExample(t, "2024010102")
	good := startNode(t, z)
	asked := make(chan string, 16)
	up := serveMiekg(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		asked <- req.Question[0].Name
		m := new(dns.Msg)
		m.SetReply(req)
		m.AuthenticatedData, m.RecursionAvailable = true, true
		rr, _ := dns.NewRR(req.Question[0].Name + " 60 IN A 203.0.113.7")
		m.Answer = append(m.Answer, rr)
		w.WriteMsg(m)
	}))
	u, err := forward.ParseUpstream(up)
	if err != nil {
		t.Fatal(err)
	}
	s := startStub(t, stub.Options{DataDir: t.TempDir(), Nodes: []string{good}, Anchors: client.Anchors{"example.": k}, Upstreams: []forward.Upstream{u}, LogQueries: true})
	r := ask(t, s.Addr().String(), "www.example.net.", dns.TypeA, true)
	if aOf(r) != "203.0.113.7" || r.AuthenticatedData || !r.RecursionAvailable {
		t.Errorf("outside name = %v, want the upstream's answer without AD", r)
	}
	if r = ask(t, s.Addr().String(), "www.example.", dns.TypeA, true); aOf(r) != "192.0.2.80" || !r.AuthenticatedData {
		t.Errorf("DDNRS name = %v, want the verified answer", r)
	}
	if len(asked) != 1 {
		t.Errorf("the upstream was asked %d times, want once (the outside name only)", len(asked))
	}
	if s.count(t, "ddnrs_stub_answers_total", "forwarded") != 1 || s.count(t, "ddnrs_stub_answers_total", "verified") != 1 {
		t.Errorf("answers counted: forwarded %v, verified %v; want 1 and 1", s.count(t, "ddnrs_stub_answers_total", "forwarded"), s.count(t, "ddnrs_stub_answers_total", "verified"))
	}
}

func TestStubOptions(t *testing.T) {
	_, k := signedExample(t, "1")
	for _, c := range []struct {
		desc string
		o    stub.Options
	}{
		{"no data dir", stub.Options{Nodes: []string{"127.0.0.1:53"}, Anchors: client.Anchors{"example.": k}}},
		{"no nodes", stub.Options{DataDir: "/tmp/x", Anchors: client.Anchors{"example.": k}}},
		{"no keys", stub.Options{DataDir: "/tmp/x", Nodes: []string{"127.0.0.1:53"}}},
		{"bad node", stub.Options{DataDir: "/tmp/x", Nodes: []string{"localhost"}, Anchors: client.Anchors{"example.": k}}},
		{"log without key", stub.Options{DataDir: "/tmp/x", LogURL: "http://127.0.0.1:1"}},
		{"DoH without cert", stub.Options{DataDir: "/tmp/x", Nodes: []string{"127.0.0.1:53"}, Anchors: client.Anchors{"example.": k}, DoH: "127.0.0.1:0"}},
	} {
		if _, err := stub.New(c.o); !errors.Is(err, stub.ErrBadOptions) {
			t.Errorf("New(%s) = %v, want ErrBadOptions", c.desc, err)
		}
	}
}

// TestStubGetsProofsOverUDP: a node sends proofs over UDP only to an
// address its server cookie proved (docs/proofs-option.md); the stub
// learns the cookie from its probes, so its answers come over UDP: here
// the node has no TCP listener at all.
func TestStubGetsProofsOverUDP(t *testing.T) {
	z, k := signedExample(t, "2024010102")
	h := dnsfront.NewHandler(dnstest.NewZones(z), dnsfront.Options{Cookies: true})
	t.Cleanup(func() { h.Close() })
	u, err := dnsfront.ListenUDP("127.0.0.1:0", h, dnsfront.UDPOptions{Sockets: 1, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { u.Serve(context.Background()); close(done) }()
	t.Cleanup(func() { u.Close(); <-done })
	s := startStub(t, stub.Options{DataDir: t.TempDir(), Nodes: []string{u.Addr().String()}, Anchors: client.Anchors{"example.": k}})
	// Answers whose proofs fit 1232 octets (a denial's NSEC records and
	// proofs may not: those are asked again over TCP, as they must be).
	for _, q := range []struct {
		name string
		t    uint16
	}{{"www.example.", dns.TypeA}, {"example.", dns.TypeSOA}, {"b0.wild.example.", dns.TypeA}} {
		if r := ask(t, s.Addr().String(), q.name, q.t, true); r.Rcode == dns.RcodeServerFailure || !r.AuthenticatedData {
			t.Errorf("%s %s through a UDP-only node = %v, want a verified answer", q.name, dns.TypeToString[q.t], r)
		}
	}
}
