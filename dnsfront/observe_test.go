package dnsfront_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
)

// observedServers runs a Handler with opt over real UDP and TCP sockets
// and returns their addresses; the DoH handler answers in process.
func observedServers(t *testing.T, h *dnsfront.Handler) (udp, tcp string) {
	t.Helper()
	u, err := dnsfront.ListenUDP("127.0.0.1:0", h, dnsfront.UDPOptions{Sockets: 1, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	ud := make(chan error, 1)
	go func() { ud <- u.Serve(context.Background()) }()
	s, err := dnsfront.ListenTCP("127.0.0.1:0", h, dnsfront.TCPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sd := make(chan error, 1)
	go func() { sd <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		u.Close()
		s.Close()
		<-ud
		<-sd
	})
	return u.Addr().String(), s.Addr().String()
}

func ask(t *testing.T, netw, addr string, q *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: netw, Timeout: 10 * time.Second}
	r, _, err := c.Exchange(q, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", netw, addr, q.Question[0].Name, err)
	}
	return r
}

// gathered returns the value of the counter (or the count of the
// histogram) name with exactly labels; 0 when absent.
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return value(m)
		}
	}
	return 0
}

func value(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	if m.Histogram != nil {
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// TestMetricsPerTransportRcodeSource sends queries over real UDP and TCP
// sockets, DoH (in process) and for another group's zone, then reads the
// counters back through a Prometheus registry.
func TestMetricsPerTransportRcodeSource(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := dnsfront.NewMetrics(reg, dnsfront.MetricsOptions{MaxZones: 1})
	if err != nil {
		t.Fatal(err)
	}
	z, _ := dnstest.Sign(t, dnstest.Example(t))
	other := dnstest.Parse(t, "other.test.", "@ 3600 IN SOA ns hm 1 2 3 4 5\n@ 3600 IN NS ns\nwww 3600 IN A 192.0.2.7\n")
	h := dnsfront.NewHandler(dnstest.NewZones(z, other), dnsfront.Options{Metrics: m, OtherGroups: tracingOtherGroups{}})
	t.Cleanup(func() { h.Close() })
	udp, tcp := observedServers(t, h)

	for range 3 {
		ask(t, "udp", udp, dnstest.Query("www.example.", dns.TypeA, true))
	}
	ask(t, "udp", udp, dnstest.Query("nothere.example.", dns.TypeAAAA, true))
	ask(t, "tcp", tcp, dnstest.Query("www.example.", dns.TypeMX, false))
	ask(t, "tcp", tcp, dnstest.Query("www.other.test.", dns.TypeA, false))
	ask(t, "udp", udp, dnstest.Query("www.remote.test.", dns.TypeA, false)) // relayed, from the UDP pool
	ask(t, "tcp", tcp, dnstest.Query("www.remote.test.", dns.TypeTXT, false))
	d := dnsfront.NewDoHHandler(h, dnsfront.HTTPSOptions{})
	w := httptest.NewRecorder()
	d.ServeHTTP(w, httptest.NewRequest("GET", "/dns-query?name=www.example&type=CAA", nil))
	if w.Code != 200 {
		t.Fatalf("DoH JSON: %d", w.Code)
	}
	// A header with an unparsable body: FORMERR, no zone.
	c, err := net.Dial("udp", udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0})
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 512)); err != nil {
		t.Fatalf("FORMERR reply: %v", err)
	}

	q := "ddnrs_dns_queries_total"
	cases := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{q, map[string]string{"transport": "UDP", "source": "local", "rcode": "NOERROR"}, 3},
		{q, map[string]string{"transport": "UDP", "source": "local", "rcode": "NXDOMAIN"}, 1},
		{q, map[string]string{"transport": "UDP", "source": "local", "rcode": "FORMERR"}, 1},
		{q, map[string]string{"transport": "TCP", "source": "local", "rcode": "NOERROR"}, 2},
		{q, map[string]string{"transport": "UDP", "source": "relayed", "rcode": "NOERROR"}, 1},
		{q, map[string]string{"transport": "TCP", "source": "relayed", "rcode": "NOERROR"}, 1},
		{q, map[string]string{"transport": "HTTPS", "source": "local", "rcode": "NOERROR"}, 1},
		{q, map[string]string{"transport": "TCP", "source": "cache", "rcode": "NOERROR"}, 0},
		{"ddnrs_dns_query_types_total", map[string]string{"qtype": "A"}, 5},
		{"ddnrs_dns_query_types_total", map[string]string{"qtype": "TXT"}, 1},
		{"ddnrs_dns_query_types_total", map[string]string{"qtype": "AAAA"}, 1},
		{"ddnrs_dns_query_types_total", map[string]string{"qtype": "CAA"}, 1},
		{"ddnrs_dns_query_types_total", map[string]string{"qtype": "other"}, 1}, // FORMERR's unreadable question
		// MaxZones 1: example. was first, other.test. counts as other.
		{"ddnrs_dns_zone_queries_total", map[string]string{"zone": "example."}, 6},
		{"ddnrs_dns_zone_queries_total", map[string]string{"zone": "other"}, 1},
		{"ddnrs_dns_zone_queries_total", map[string]string{"zone": "none"}, 3},
		{"ddnrs_dns_answer_duration_seconds", map[string]string{"transport": "UDP", "source": "local"}, 5},
		{"ddnrs_dns_answer_duration_seconds", map[string]string{"transport": "UDP", "source": "relayed"}, 1},
	}
	for _, c := range cases {
		if got := gathered(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// tapFrames reads every dnstap message of a Frame Streams stream.
func tapFrames(t *testing.T, r dnstap.Reader) []*dnstap.Dnstap {
	t.Helper()
	var out []*dnstap.Dnstap
	buf := make([]byte, 1<<16)
	for {
		n, err := r.ReadFrame(buf)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading dnstap: %v", err)
		}
		d := new(dnstap.Dnstap)
		if err := proto.Unmarshal(buf[:n], d); err != nil {
			t.Fatalf("dnstap frame: %v", err)
		}
		out = append(out, d)
	}
}

type tapWant struct {
	typ   dnstap.Message_Type
	proto dnstap.SocketProtocol
	name  string
	extra string
}

// checkTap asserts that got holds exactly want, in order, each with the
// client's loopback address and the node's identity, and that each
// message's DNS bytes are a query or response for the name.
func checkTap(t *testing.T, got []*dnstap.Dnstap, want []tapWant) {
	t.Helper()
	if len(got) != len(want) {
		for _, d := range got {
			t.Logf("got %v", d.GetMessage().GetType())
		}
		t.Fatalf("%d dnstap messages, want %d", len(got), len(want))
	}
	for i, w := range want {
		d, m := got[i], got[i].GetMessage()
		if m.GetType() != w.typ || m.GetSocketProtocol() != w.proto || string(d.GetIdentity()) != "node-3" || string(d.GetExtra()) != w.extra {
			t.Errorf("message %d: %v %v identity %q extra %q, want %v %v node-3 %q", i, m.GetType(), m.GetSocketProtocol(), d.GetIdentity(), d.GetExtra(), w.typ, w.proto, w.extra)
		}
		if w.typ != dnstap.Message_FORWARDER_QUERY && w.typ != dnstap.Message_FORWARDER_RESPONSE && net.IP(m.GetQueryAddress()).String() != "127.0.0.1" {
			t.Errorf("message %d: query address %v, want 127.0.0.1", i, net.IP(m.GetQueryAddress()))
		}
		wire := m.GetQueryMessage()
		if m.GetResponseMessage() != nil {
			wire = m.GetResponseMessage()
		}
		var msg dns.Msg
		if err := msg.Unpack(wire); err != nil || len(msg.Question) != 1 || msg.Question[0].Name != w.name {
			t.Errorf("message %d: DNS %v (%v), want a message for %s", i, msg.Question, err, w.name)
		}
		isResp := w.typ == dnstap.Message_AUTH_RESPONSE || w.typ == dnstap.Message_CLIENT_RESPONSE || w.typ == dnstap.Message_FORWARDER_RESPONSE
		if msg.Response != isResp {
			t.Errorf("message %d (%v): QR %v", i, w.typ, msg.Response)
		}
	}
}

// TestDnstapFile logs queries over UDP, TCP and for another group's zone
// to a file and decodes it with golang-dnstap's reader.
func TestDnstapFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.dnstap")
	tap, err := dnsfront.NewTap(dnsfront.TapOptions{Dest: "file:" + path, Identity: "node-3"})
	if err != nil {
		t.Fatal(err)
	}
	h := newOtherGroupHandler(t, tracingOtherGroups{}, dnsfront.Options{Tap: tap})
	udp, tcp := observedServers(t, h)
	ask(t, "udp", udp, dnstest.Query("www.example.", dns.TypeA, true))
	ask(t, "tcp", tcp, dnstest.Query("nothere.example.", dns.TypeA, false))
	ask(t, "tcp", tcp, dnstest.Query("www.remote.test.", dns.TypeA, false))
	if err := tap.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := dnstap.NewReader(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	udpP, tcpP := dnstap.SocketProtocol_UDP, dnstap.SocketProtocol_TCP
	checkTap(t, tapFrames(t, r), []tapWant{
		{dnstap.Message_AUTH_QUERY, udpP, "www.example.", ""},
		{dnstap.Message_AUTH_RESPONSE, udpP, "www.example.", ""},
		{dnstap.Message_AUTH_QUERY, tcpP, "nothere.example.", ""},
		{dnstap.Message_AUTH_RESPONSE, tcpP, "nothere.example.", ""},
		{dnstap.Message_CLIENT_QUERY, tcpP, "www.remote.test.", ""},
		{dnstap.Message_CLIENT_RESPONSE, tcpP, "www.remote.test.", ""},
		{dnstap.Message_FORWARDER_QUERY, tcpP, "www.remote.test.", "member=peerB"},
		{dnstap.Message_FORWARDER_RESPONSE, tcpP, "www.remote.test.", "member=peerB"},
	})
	if tap.Dropped() != 0 {
		t.Errorf("Dropped() = %d, want 0", tap.Dropped())
	}
}

// TestDnstapUnixSocket logs to a collector listening on a unix socket
// (bidirectional Frame Streams, as `dnstap -u` speaks), started after
// the node: queries before it are queued, not lost.
func TestDnstapUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "tap") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	tap, err := dnsfront.NewTap(dnsfront.TapOptions{Dest: "unix:" + sock, Identity: "node-3"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tap.Close() })
	h := signedHandler(t, dnsfront.Options{Tap: tap})
	udp, _ := observedServers(t, h)
	ask(t, "udp", udp, dnstest.Query("www.example.", dns.TypeA, false))

	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := dnstap.NewReader(c, &dnstap.ReaderOptions{Bidirectional: true, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ask(t, "udp", udp, nxQuery())
	got := make(chan []*dnstap.Dnstap, 1)
	go func() { got <- tapFrames(t, r) }()
	tap.Close() // flushes, sends the stop frame and waits for the reader's finish
	checkTap(t, <-got, []tapWant{
		{dnstap.Message_AUTH_QUERY, dnstap.SocketProtocol_UDP, "www.example.", ""},
		{dnstap.Message_AUTH_RESPONSE, dnstap.SocketProtocol_UDP, "www.example.", ""},
		{dnstap.Message_AUTH_QUERY, dnstap.SocketProtocol_UDP, "nothere.example.", ""},
		{dnstap.Message_AUTH_RESPONSE, dnstap.SocketProtocol_UDP, "nothere.example.", ""},
	})
}

func nxQuery() *dns.Msg { return dnstest.Query("nothere.example.", dns.TypeA, false) }

func TestNewTapErrors(t *testing.T) {
	for _, dest := range []string{"", "/tmp/x", "tcp:127.0.0.1:1", "file:", "unix:"} {
		if _, err := dnsfront.NewTap(dnsfront.TapOptions{Dest: dest}); !errors.Is(err, dnsfront.ErrTapDest) {
			t.Errorf("NewTap(%q) = %v, want ErrTapDest", dest, err)
		}
	}
	if _, err := dnsfront.NewTap(dnsfront.TapOptions{Dest: "file:" + filepath.Join(t.TempDir(), "no", "such", "dir")}); err == nil {
		t.Error("NewTap in a missing directory succeeded")
	}
}

// TestObserveEveryTransport asks one question over each transport (UDP,
// TCP, DoT, DoH over HTTP/2 and HTTP/3, DoQ), each a real server with a
// real client, and finds each in the metrics under its transport and in
// the dnstap log under its socket protocol, with the client's address.
func TestObserveEveryTransport(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := dnsfront.NewMetrics(reg, dnsfront.MetricsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "q.dnstap")
	tap, err := dnsfront.NewTap(dnsfront.TapOptions{Dest: "file:" + path, Identity: "node-3"})
	if err != nil {
		t.Fatal(err)
	}
	h := signedHandler(t, dnsfront.Options{Metrics: m, Tap: tap})
	s := startServers(t, h, limits{})
	q := dnstest.Query("www.example.", dns.TypeA, true)
	q.Id = 0
	raw := pack(t, q)
	ask(t, "udp", s.udp.Addr().String(), q.Copy())
	ask(t, "tcp", s.tcp.Addr().String(), q.Copy())
	dotExchange(t, s.dot.Addr().String(), s.cert.Client(testHost, dnsfront.ALPNDoT), raw)
	dohURL := "https://" + s.doh.Addr().String() + dnsfront.DefaultDoHPath
	if resp, _ := dohPost(t, h2Client(t, s.cert.Client(testHost)), dohURL, raw); resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("DoH over HTTP/2: %s", resp.Status)
	}
	if resp, _ := dohPost(t, h3Client(t, s.cert.Client(testHost)), dohURL, raw); resp.StatusCode != 200 || resp.ProtoMajor != 3 {
		t.Fatalf("DoH over HTTP/3: %s", resp.Status)
	}
	if _, err := doqExchange(doqDial(t, s.doq.Addr().String(), s.cert.Client(testHost, dnsfront.ALPNDoQ)), raw); err != nil {
		t.Fatalf("DoQ: %v", err)
	}
	for tr, want := range map[string]float64{"UDP": 1, "TCP": 1, "TLS": 1, "HTTPS": 2, "QUIC": 1} {
		if got := gathered(t, reg, "ddnrs_dns_queries_total", map[string]string{"transport": tr, "source": "local", "rcode": "NOERROR"}); got != want {
			t.Errorf("ddnrs_dns_queries_total{transport=%s} = %v, want %v", tr, got, want)
		}
	}
	tap.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := dnstap.NewReader(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []tapWant
	for _, p := range []dnstap.SocketProtocol{dnstap.SocketProtocol_UDP, dnstap.SocketProtocol_TCP, dnstap.SocketProtocol_DOT, dnstap.SocketProtocol_DOH, dnstap.SocketProtocol_DOH, 7} {
		want = append(want, tapWant{dnstap.Message_AUTH_QUERY, p, "www.example.", ""}, tapWant{dnstap.Message_AUTH_RESPONSE, p, "www.example.", ""})
	}
	checkTap(t, tapFrames(t, r), want)
}
