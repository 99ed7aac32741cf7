package dnsfront_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/miekg/dns"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

func wwwQuery(t *testing.T) []byte {
	q := dnstest.Query("www.example.", dns.TypeA, false)
	q.Id = 0
	return pack(t, q)
}

// closedByPeer waits until the server closes c and reports whether it did
// (rather than the test's own deadline firing).
func closedByPeer(c io.Reader) bool {
	_, err := io.ReadAll(c)
	var ne interface{ Timeout() bool }
	return !(errors.As(err, &ne) && ne.Timeout())
}

func TestDoTLimits(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	dial := func(t *testing.T, s *servers) *tls.Conn {
		t.Helper()
		c, err := tls.Dial("tcp", s.dot.Addr().String(), s.cert.Client(testHost, dnsfront.ALPNDoT))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		return c
	}

	t.Run("idle connection closed", func(t *testing.T) {
		s := startServers(t, h, limits{tcp: dnsfront.TCPOptions{IdleTimeout: 200 * time.Millisecond}})
		if !closedByPeer(dial(t, s)) {
			t.Error("idle DoT connection still open after 20 s, want closed after the 200 ms idle timeout")
		}
	})
	t.Run("query over the size limit", func(t *testing.T) {
		s := startServers(t, h, limits{tcp: dnsfront.TCPOptions{MaxQuerySize: 100}})
		// At the limit: answered.
		q := dnstest.Query("www.example.", dns.TypeA, false)
		q.SetEdns0(1232, false)
		raw := pack(t, q)
		q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_PADDING{Padding: make([]byte, 100-len(raw)-4)})
		c := dial(t, s)
		c.Write(framed(pack(t, q)))
		if m := unpack(t, readFrame(t, c)); m.Rcode != dns.RcodeSuccess {
			t.Errorf("query of 100 octets (limit 100): %v", m)
		}
		// Over it: the connection is closed.
		c = dial(t, s)
		c.Write(framed(make([]byte, 101)))
		if !closedByPeer(c) {
			t.Error("connection announcing a 101-octet query (limit 100) not closed")
		}
	})
	t.Run("connections over the cap", func(t *testing.T) {
		// RFC 7766 §6.2.3: at the cap, the longest-idle connection is
		// closed to make room for the new one.
		s := startServers(t, h, limits{tcp: dnsfront.TCPOptions{MaxConns: 1}})
		first := dial(t, s)
		first.Write(framed(wwwQuery(t)))
		readFrame(t, first) // answered, then idle (once its goroutine ends)
		for {
			second, err := tls.Dial("tcp", s.dot.Addr().String(), s.cert.Client(testHost, dnsfront.ALPNDoT))
			if err == nil {
				t.Cleanup(func() { second.Close() })
				second.SetDeadline(time.Now().Add(20 * time.Second))
				second.Write(framed(wwwQuery(t)))
				var hdr [2]byte
				if _, err = io.ReadFull(second, hdr[:]); err == nil {
					break // served: the first made room
				}
			}
			// Refused: the first was still finishing its answer.
			time.Sleep(20 * time.Millisecond)
		}
		if !closedByPeer(first) {
			t.Error("the idle first connection (cap 1) is still open after a second one was served")
		}
	})
}

func TestDoQLimits(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{quic: dnsfront.QUICOptions{
		MaxConns: 1, MaxStreams: 2, StreamTimeout: 200 * time.Millisecond,
	}})
	conf := s.cert.Client(testHost, dnsfront.ALPNDoQ)
	addr := s.doq.Addr().String()
	first := doqDial(t, addr, conf)

	t.Run("streams over the cap", func(t *testing.T) {
		var open []*quic.Stream
		defer func() {
			for _, st := range open {
				st.CancelWrite(0)
			}
		}()
		for i := 0; i < 2; i++ {
			st, err := first.OpenStream()
			if err != nil {
				t.Fatalf("stream %d of 2: %v", i+1, err)
			}
			st.Write([]byte{0}) // announce it, never finish the query
			open = append(open, st)
		}
		var lim *quic.StreamLimitReachedError
		if _, err := first.OpenStream(); !errors.As(err, &lim) {
			t.Errorf("third concurrent stream (cap 2): %v, want StreamLimitReachedError", err)
		}
	})
	if _, err := doqExchange(first, wwwQuery(t)); err != nil {
		t.Fatal(err)
	}
	t.Run("slow stream reset", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		st, err := first.OpenStreamSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Write([]byte{0})
		st.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = io.ReadAll(st)
		var se *quic.StreamError
		if !errors.As(err, &se) || se.ErrorCode != quic.StreamErrorCode(dnsfront.DoQRequestCancelled) {
			t.Errorf("stream sending half a query: %v, want reset with DOQ_REQUEST_CANCELLED", err)
		}
	})
	t.Run("connections over the cap, none idle", func(t *testing.T) {
		// A stream in flight on the first connection: it is not idle, so
		// the newcomer is refused. The server must have taken the stream
		// before the second dials; when it had not, the first was evicted
		// as idle instead, and the next round uses the newcomer as the
		// busy one.
		busy := first
		for round := 1; ; round++ {
			st, err := busy.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			st.Write([]byte{0})
			defer st.CancelWrite(0)
			time.Sleep(time.Duration(round) * 100 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			second, err := quic.DialAddr(ctx, addr, conf, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer second.CloseWithError(0, "")
			select {
			case <-second.Context().Done():
			case <-busy.Context().Done():
				if round == 5 {
					t.Fatal("the busy connection was evicted as idle five times")
				}
				busy = second
				continue
			case <-ctx.Done():
				t.Fatal("second connection (cap 1) still open after 20 s")
			}
			if code := appError(t, context.Cause(second.Context())); code != dnsfront.DoQExcessiveLoad {
				t.Errorf("second connection closed with %#x, want DOQ_EXCESSIVE_LOAD", code)
			}
			first = busy
			return
		}
	})
	t.Run("connections over the cap close the longest idle", func(t *testing.T) {
		// RFC 7766 §6.2.3, as for TCP: the first connection, idle once
		// its streams are done, makes room for the newcomer.
		for first.Context().Err() == nil {
			second := doqDial(t, addr, conf)
			if _, err := doqExchange(second, wwwQuery(t)); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond) // the first's stream is still being reset
		}
		<-first.Context().Done()
		if code := appError(t, context.Cause(first.Context())); code != dnsfront.DoQNoError {
			t.Errorf("idle first connection closed with %#x, want DOQ_NO_ERROR", code)
		}
	})
}

// An idle DoQ connection is closed after the idle timeout, even when the
// client keeps it alive with QUIC PINGs (which reset QUIC's own idle
// timer): the server counts DNS streams, not packets.
func TestDoQIdle(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{quic: dnsfront.QUICOptions{IdleTimeout: 300 * time.Millisecond}})
	for _, keepalive := range []time.Duration{0, 50 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		c, err := quic.DialAddr(ctx, s.doq.Addr().String(), s.cert.Client(testHost, dnsfront.ALPNDoQ), &quic.Config{KeepAlivePeriod: keepalive})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Context().Done():
		case <-ctx.Done():
			t.Fatalf("idle DoQ connection (keepalive %v) still open after 20 s, want closed after 300 ms", keepalive)
		}
		cancel()
		err = context.Cause(c.Context())
		var idle *quic.IdleTimeoutError
		var app *quic.ApplicationError
		if !errors.As(err, &idle) && !(errors.As(err, &app) && app.ErrorCode == dnsfront.DoQNoError) {
			t.Errorf("keepalive %v: closed by %v, want the idle timeout or DOQ_NO_ERROR", keepalive, err)
		}
	}
}

func TestDoHLimits(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{https: dnsfront.HTTPSOptions{MaxConns: 1, MaxStreams: 2}})
	addr := s.doh.Addr().String()
	url := "https://" + addr + dnsfront.DefaultDoHPath

	t.Run("HTTP/2 connections over the cap", func(t *testing.T) {
		// An idle connection (TLS done, no request) holds the only slot;
		// a newcomer is served and the idle one closed (RFC 7766 §6.2.3
		// applied to DoH).
		idle, err := tls.Dial("tcp", addr, s.cert.Client(testHost, "h2"))
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()
		idle.SetDeadline(time.Now().Add(20 * time.Second))
		second := h2Client(t, s.cert.Client(testHost))
		if resp, _ := dohPost(t, second, url, wwwQuery(t)); resp.StatusCode != 200 {
			t.Fatalf("second connection (cap 1, the first idle): %s, want 200", resp.Status)
		}
		if !closedByPeer(idle) {
			t.Error("the idle first connection is still open after a second one was served")
		}
	})
	t.Run("HTTP/3 streams over the cap", func(t *testing.T) {
		qc := doqDial(t, addr, s.cert.Client(testHost, http3.NextProtoH3))
		for i := 0; i < 2; i++ {
			st, err := qc.OpenStream()
			if err != nil {
				t.Fatalf("stream %d of 2: %v", i+1, err)
			}
			defer st.CancelWrite(0)
		}
		var lim *quic.StreamLimitReachedError
		if _, err := qc.OpenStream(); !errors.As(err, &lim) {
			t.Errorf("third concurrent stream (cap 2): %v, want StreamLimitReachedError", err)
		}
	})
}

func TestCertFileReload(t *testing.T) {
	a := dnstest.NewTestCert(t, testHost)
	b := dnstest.NewTestCert(t, testHost)
	cf, err := dnsfront.LoadCertFile(a.CertFile, a.KeyFile, -1)
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		c, err := cf.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return string(c.Certificate[0])
	}
	if serial() != string(a.Pair.Certificate[0]) {
		t.Fatal("first certificate not served")
	}
	copyFile(t, b.CertFile, a.CertFile)
	copyFile(t, b.KeyFile, a.KeyFile)
	later := time.Now().Add(time.Hour)
	os.Chtimes(a.CertFile, later, later)
	if serial() != string(b.Pair.Certificate[0]) {
		t.Error("replaced certificate not served")
	}
	// A broken file is reported and the last good pair stays.
	os.WriteFile(a.KeyFile, []byte("garbage"), 0o600)
	os.Chtimes(a.KeyFile, later.Add(time.Hour), later.Add(time.Hour))
	if err := cf.Reload(); err == nil {
		t.Error("Reload of a broken key: no error")
	}
	if serial() != string(b.Pair.Certificate[0]) {
		t.Error("broken files replaced the served certificate")
	}
	if _, err := dnsfront.LoadCertFile(a.CertFile, a.KeyFile, 0); err == nil {
		t.Error("LoadCertFile of a broken key: no error")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDoHHTTP2Settings speaks HTTP/2 frames directly: the server
// announces the stream cap in its SETTINGS and closes the connection once
// it has been idle for IdleTimeout.
func TestDoHHTTP2Settings(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{https: dnsfront.HTTPSOptions{MaxStreams: 7, IdleTimeout: 200 * time.Millisecond}})
	c, err := tls.Dial("tcp", s.doh.Addr().String(), s.cert.Client(testHost, "h2"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	// Client preface and an empty SETTINGS frame (RFC 9113 §3.4).
	if _, err := c.Write(append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)); err != nil {
		t.Fatal(err)
	}
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatal(err)
	}
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	if hdr[3] != 4 {
		t.Fatalf("first server frame type %d, want SETTINGS", hdr[3])
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(c, payload); err != nil {
		t.Fatal(err)
	}
	streams := -1
	for i := 0; i+6 <= len(payload); i += 6 {
		if id := int(payload[i])<<8 | int(payload[i+1]); id == 3 { // SETTINGS_MAX_CONCURRENT_STREAMS
			streams = int(payload[i+2])<<24 | int(payload[i+3])<<16 | int(payload[i+4])<<8 | int(payload[i+5])
		}
	}
	if streams != 7 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d, want 7", streams)
	}
	if !closedByPeer(c) {
		t.Error("idle HTTP/2 connection still open after 20 s, want closed after the 200 ms idle timeout")
	}
}
