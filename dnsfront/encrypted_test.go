package dnsfront_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/miekg/dns"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

const testHost = "dns.example.test"

// servers runs every transport around one handler on loopback.
type servers struct {
	cert  *dnstest.TestCert
	udp   *dnsfront.UDPServer
	tcp   *dnsfront.TCPServer
	dot   *dnsfront.TCPServer
	doh   *dnsfront.HTTPSServer
	doq   *dnsfront.QUICServer
	close []func() error
}

type serveCloser interface {
	Serve(context.Context) error
	Close() error
}

func serve(t *testing.T, s serveCloser) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(context.Background())
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
}

type limits struct {
	tcp   dnsfront.TCPOptions
	https dnsfront.HTTPSOptions
	quic  dnsfront.QUICOptions
}

func startServers(t *testing.T, h dnsfront.Responder, lim limits) *servers {
	t.Helper()
	s := &servers{cert: dnstest.NewTestCert(t, testHost)}
	var err error
	if s.udp, err = dnsfront.ListenUDP("127.0.0.1:0", h, dnsfront.UDPOptions{Sockets: 1, Workers: 1}); err != nil {
		t.Fatal(err)
	}
	serve(t, s.udp)
	if s.tcp, err = dnsfront.ListenTCP("127.0.0.1:0", h, lim.tcp); err != nil {
		t.Fatal(err)
	}
	serve(t, s.tcp)
	if s.dot, err = dnsfront.ListenTLS("127.0.0.1:0", h, s.cert.Server(), lim.tcp); err != nil {
		t.Fatal(err)
	}
	serve(t, s.dot)
	lim.https.Audit = dnsfront.AuditNode{ID: "node-1", Addr: "127.0.0.1"}
	if s.doh, err = dnsfront.ListenHTTPS("127.0.0.1:0", h, s.cert.Server(), lim.https); err != nil {
		t.Fatal(err)
	}
	serve(t, s.doh)
	if s.doq, err = dnsfront.ListenQUIC("127.0.0.1:0", h, s.cert.Server(), lim.quic); err != nil {
		t.Fatal(err)
	}
	serve(t, s.doq)
	return s
}

func pack(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	raw, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func unpack(t testing.TB, raw []byte) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(raw); err != nil {
		t.Fatalf("unparseable reply %x: %v", raw, err)
	}
	return m
}

// dotExchange sends the queries on one DoT connection before reading any
// reply (pipelining) and returns the replies in the order they came.
func dotExchange(t *testing.T, addr string, conf *tls.Config, qs ...[]byte) ([][]byte, *tls.ConnectionState) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		t.Fatalf("DoT dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for _, q := range qs {
		if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)); err != nil {
			t.Fatal(err)
		}
	}
	var out [][]byte
	for range qs {
		out = append(out, readFrame(t, c))
	}
	st := c.ConnectionState()
	return out, &st
}

func readFrame(t *testing.T, r io.Reader) []byte {
	t.Helper()
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		t.Fatalf("read length: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("read message: %v", err)
	}
	return b
}

func dohPost(t *testing.T, c *http.Client, url string, q []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Post(url, dnsfront.MediaDNSMessage, bytes.NewReader(q))
	if err != nil {
		t.Fatalf("DoH POST: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func h2Client(t *testing.T, conf *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func h3Client(t *testing.T, conf *tls.Config) *http.Client {
	tr := &http3.Transport{TLSClientConfig: conf}
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func doqDial(t *testing.T, addr string, conf *tls.Config) *quic.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := quic.DialAddr(ctx, addr, conf, &quic.Config{})
	if err != nil {
		t.Fatalf("DoQ dial: %v", err)
	}
	t.Cleanup(func() { c.CloseWithError(0, "") })
	return c
}

// doqExchange sends q on a new stream of c and reads the reply.
func doqExchange(c *quic.Conn, q []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := st.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)); err != nil {
		return nil, err
	}
	st.Close()
	var hdr [2]byte
	if _, err := io.ReadFull(st, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	_, err = io.ReadFull(st, b)
	return b, err
}

// strip removes what legitimately differs between transports: the EDNS
// options (padding, keepalive).
func strip(m *dns.Msg) *dns.Msg {
	if opt := m.IsEdns0(); opt != nil {
		opt.Option = nil
	}
	return m
}

func TestSameAnswerEveryTransport(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{})
	cc := s.cert.Client(testHost)
	questions := []*dns.Msg{
		dnstest.Query("www.example.", dns.TypeA, false),
		dnstest.Query("www.example.", dns.TypeA, true),
		padded("www.example.", dns.TypeAAAA),
		keepalive(dnstest.Query("nothere.example.", dns.TypeA, true)),
		dnstest.Query("host.sub.example.", dns.TypeA, true),
		dnstest.Query("elsewhere.test.", dns.TypeA, false),
	}
	h2 := h2Client(t, cc)
	h3 := h3Client(t, cc)
	quicConn := doqDial(t, s.doq.Addr().String(), s.cert.Client(testHost, dnsfront.ALPNDoQ))
	dohURL := "https://" + s.doh.Addr().String() + dnsfront.DefaultDoHPath
	for _, q := range questions {
		q.Id = 0
		raw := pack(t, q)
		var want *dns.Msg
		replies := map[string][]byte{}
		for _, net := range []string{"udp", "tcp"} {
			c := &dns.Client{Net: net, Timeout: 10 * time.Second}
			addr := s.udp.Addr().String()
			if net == "tcp" {
				addr = s.tcp.Addr().String()
			}
			r, _, err := c.Exchange(q.Copy(), addr)
			if err != nil {
				t.Fatalf("%s: %v", net, err)
			}
			replies[net] = pack(t, r)
		}
		dot, _ := dotExchange(t, s.dot.Addr().String(), s.cert.Client(testHost, dnsfront.ALPNDoT), raw)
		replies["dot"] = dot[0]
		resp, body := dohPost(t, h2, dohURL, raw)
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("DoH over HTTP/2: %s %s", resp.Proto, resp.Status)
		}
		replies["doh-h2"] = body
		get, err := h3.Get(dohURL + "?dns=" + base64.RawURLEncoding.EncodeToString(raw))
		if err != nil {
			t.Fatalf("DoH over HTTP/3: %v", err)
		}
		body, _ = io.ReadAll(get.Body)
		get.Body.Close()
		if get.StatusCode != 200 || get.ProtoMajor != 3 {
			t.Fatalf("DoH over HTTP/3: %s %s", get.Proto, get.Status)
		}
		replies["doh-h3"] = body
		if replies["doq"], err = doqExchange(quicConn, raw); err != nil {
			t.Fatalf("DoQ: %v", err)
		}
		for _, tr := range []string{"udp", "tcp", "dot", "doh-h2", "doh-h3", "doq"} {
			got := strip(unpack(t, replies[tr]))
			if want == nil {
				want = got
				continue
			}
			if got.String() != want.String() {
				t.Errorf("%s %s over %s:\n%v\nwant (over UDP):\n%v", q.Question[0].Name, dns.TypeToString[q.Question[0].Qtype], tr, got, want)
			}
		}
	}
}

func TestDoTPipeliningAndVersions(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{TCPKeepalive: 20 * time.Second})
	s := startServers(t, h, limits{})
	var qs [][]byte
	for i, name := range []string{"www.example.", "nothere.example.", "host.sub.example."} {
		q := keepalive(dnstest.Query(name, dns.TypeA, true))
		q.Id = uint16(100 + i)
		qs = append(qs, pack(t, q))
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		conf := s.cert.Client(testHost, dnsfront.ALPNDoT)
		conf.MaxVersion = v
		replies, st := dotExchange(t, s.dot.Addr().String(), conf, qs...)
		if st.Version != v || st.NegotiatedProtocol != dnsfront.ALPNDoT {
			t.Errorf("TLS version %x ALPN %q, want %x %q", st.Version, st.NegotiatedProtocol, v, dnsfront.ALPNDoT)
		}
		seen := map[uint16]bool{}
		for _, r := range replies {
			m := unpack(t, r)
			seen[m.Id] = true
			var ka uint16
			for _, o := range m.IsEdns0().Option {
				if o, ok := o.(*dns.EDNS0_TCP_KEEPALIVE); ok {
					ka = o.Timeout
				}
			}
			if ka != 200 {
				t.Errorf("reply %d: keepalive %d, want 200 (20 s)", m.Id, ka)
			}
		}
		if len(seen) != 3 {
			t.Errorf("pipelined replies for IDs %v, want 100, 101, 102", seen)
		}
	}
}

func TestEncryptedRefuseWrongPeer(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{})
	other := dnstest.NewTestCert(t, testHost)
	cases := []struct {
		name string
		conf *tls.Config
	}{
		{"wrong hostname", s.cert.Client("other.example.test")},
		{"wrong CA", other.Client(testHost)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if conn, err := tls.Dial("tcp", s.dot.Addr().String(), c.conf); err == nil {
				conn.Close()
				t.Error("DoT handshake succeeded")
			}
			if _, err := h2Client(t, c.conf).Get("https://" + s.doh.Addr().String() + "/dns-query?dns=AAAB"); err == nil {
				t.Error("DoH request succeeded")
			}
			conf := c.conf.Clone()
			conf.NextProtos = []string{dnsfront.ALPNDoQ}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if qc, err := quic.DialAddr(ctx, s.doq.Addr().String(), conf, nil); err == nil {
				qc.CloseWithError(0, "")
				t.Error("DoQ handshake succeeded")
			}
		})
	}
	t.Run("DoQ without ALPN doq", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if qc, err := quic.DialAddr(ctx, s.doq.Addr().String(), s.cert.Client(testHost, "h3"), nil); err == nil {
			qc.CloseWithError(0, "")
			t.Error("DoQ handshake with ALPN h3 succeeded")
		}
	})
}

// appError returns the application error code a DoQ connection was
// closed with by the server.
func appError(t *testing.T, err error) quic.ApplicationErrorCode {
	t.Helper()
	var ae *quic.ApplicationError
	if !errors.As(err, &ae) || !ae.Remote {
		t.Fatalf("error %v, want a remote application error", err)
	}
	return ae.ErrorCode
}

func TestDoQProtocolErrors(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{quic: dnsfront.QUICOptions{MaxQuerySize: 200}})
	conf := s.cert.Client(testHost, dnsfront.ALPNDoQ)
	nonzero := dnstest.Query("www.example.", dns.TypeA, false)
	nonzero.Id = 4711
	big := dnstest.Query("www.example.", dns.TypeA, false)
	big.Id = 0
	big.SetEdns0(1232, false)
	big.IsEdns0().Option = append(big.IsEdns0().Option, &dns.EDNS0_PADDING{Padding: make([]byte, 300)})
	reply := dnstest.Query("www.example.", dns.TypeA, false)
	reply.Id, reply.Response = 0, true
	good := dnstest.Query("www.example.", dns.TypeA, false)
	good.Id = 0
	query := framed(pack(t, good))
	cases := []struct {
		name string
		send []byte // raw stream content
	}{
		{"non-zero message ID", framed(pack(t, nonzero))},
		{"query over the size limit", framed(pack(t, big))},
		{"stream ends inside the message", framed(pack(t, dnstest.Query("www.example.", dns.TypeA, false)))[:10]},
		{"message shorter than a header", framed([]byte{0, 0, 1})},
		{"a response instead of a query", framed(pack(t, reply))},
		{"two queries on one stream", append(bytes.Clone(query), query...)},
		{"data after the query", append(bytes.Clone(query), 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			qc := doqDial(t, s.doq.Addr().String(), conf)
			st, err := qc.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			st.Write(c.send)
			st.Close()
			<-qc.Context().Done()
			if code := appError(t, context.Cause(qc.Context())); code != dnsfront.DoQProtocolError {
				t.Errorf("closed with %#x, want DOQ_PROTOCOL_ERROR", code)
			}
		})
	}
}

func framed(m []byte) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(m))), m...) }

func TestJSONForm(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{})
	c := h2Client(t, s.cert.Client(testHost))
	resp, err := c.Get("https://" + s.doh.Addr().String() + "/dns-query?name=www.example&type=A")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans dnsfront.JSONAnswer
	if err := jsonDecode(resp.Body, &ans); err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != dnsfront.MediaDNSJSON {
		t.Errorf("Content-Type %q", ct)
	}
	if ans.Status != 0 || len(ans.Answer) != 1 || ans.Answer[0].Type != dns.TypeA || ans.Answer[0].Data == "" {
		t.Fatalf("JSON answer %+v, want one A record", ans)
	}
	if len(ans.Audit.Path) != 1 || ans.Audit.Path[0].ID != "node-1" {
		t.Errorf("audit path %+v, want node-1", ans.Audit.Path)
	}
	// The hash is of the A RRset in canonical form.
	a, _ := exchange(t, h, dnstest.Query("www.example.", dns.TypeA, false), dnsfront.UDP)
	want := canonicalHash(t, a.Answer)
	if len(ans.Audit.RRsets) != 1 || ans.Audit.RRsets[0].SHA256 != want || ans.Audit.RRsets[0].Type != dns.TypeA {
		t.Errorf("audit rrsets %+v, want one A with sha256 %s", ans.Audit.RRsets, want)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "max-age="+itoa(a.Answer[0].Header().Ttl) {
		t.Errorf("Cache-Control %q, want max-age=%d", cc, a.Answer[0].Header().Ttl)
	}
}

// TestDoQ0RTT resumes a session and sends a query in 0-RTT data: refused
// (the query goes in 1-RTT) by default, used when Allow0RTT is set.
func TestDoQ0RTT(t *testing.T) {
	if raceDetector {
		// Not our code: quic-go v0.60.0's client reads the peer's
		// transport parameters for a 0-RTT stream's flow control while
		// the handshake writes them (DialAddrEarly + OpenStreamSync), which
		// -race reported in a CI-style run. scripts/test.sh runs this test
		// once more without -race, so CI still checks the behaviour.
		t.Skip("quic-go's client races on 0-RTT streams under -race; scripts/test.sh runs TestDoQ0RTT without it")
	}
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("Allow0RTT=%v", allow), func(t *testing.T) {
			h := signedHandler(t, dnsfront.Options{})
			s := startServers(t, h, limits{quic: dnsfront.QUICOptions{Allow0RTT: allow}})
			conf := s.cert.Client(testHost, dnsfront.ALPNDoQ)
			cache := &ticketCache{ClientSessionCache: tls.NewLRUClientSessionCache(4), put: make(chan struct{}, 8)}
			conf.ClientSessionCache = cache
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// First connection: get a session ticket.
			first, err := quic.DialAddr(ctx, s.doq.Addr().String(), conf, &quic.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := doqExchange(first, wwwQuery(t)); err != nil {
				t.Fatal(err)
			}
			select {
			case <-cache.put:
			case <-ctx.Done():
				t.Fatal("no session ticket within 10 s")
			}
			first.CloseWithError(0, "")
			second, err := quic.DialAddrEarly(ctx, s.doq.Addr().String(), conf, &quic.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer second.CloseWithError(0, "")
			reply, err := doqExchange(second, wwwQuery(t))
			if err != nil {
				t.Fatal(err)
			}
			if m := unpack(t, reply); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
				t.Errorf("reply %v", m)
			}
			<-second.HandshakeComplete()
			if used := second.ConnectionState().Used0RTT; used != allow {
				t.Errorf("0-RTT used = %v, want %v", used, allow)
			}
		})
	}
}

// ticketCache tells when a session ticket arrives.
type ticketCache struct {
	tls.ClientSessionCache
	put chan struct{}
}

func (c *ticketCache) Put(key string, cs *tls.ClientSessionState) {
	c.ClientSessionCache.Put(key, cs)
	if cs != nil {
		select {
		case c.put <- struct{}{}:
		default:
		}
	}
}
