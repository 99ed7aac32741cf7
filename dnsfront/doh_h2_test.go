package dnsfront_test

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/internal/testtool"
)

// rawH2 is an HTTP/2 client written frame by frame, to see what the lean
// server sends (and in which TLS records) and to send what no well-behaved
// client would.
type rawH2 struct {
	t   *testing.T
	c   *tls.Conn
	enc *hpack.Encoder
	hb  bytes.Buffer
	dec *hpack.Decoder
	in  []byte // octets read and not yet parsed into frames
}

// h2Frame is one frame the server sent.
type h2Frame struct {
	typ    http2.FrameType
	flags  http2.Flags
	stream uint32
	data   []byte
	fields []hpack.HeaderField // HEADERS, decoded
	record int                 // the TLS record it came in (counted from 1)
}

func dialRawH2(t *testing.T, s *servers, settings ...http2.Setting) *rawH2 {
	t.Helper()
	c, err := tls.Dial("tcp", s.doh.Addr().String(), s.cert.Client(testHost, "h2"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second)) // catches a hang only
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	r := &rawH2{t: t, c: c, dec: hpack.NewDecoder(4096, nil)}
	r.enc = hpack.NewEncoder(&r.hb)
	var b []byte
	b = append(b, http2.ClientPreface...)
	var p []byte
	for _, st := range settings {
		p = binary.BigEndian.AppendUint16(p, uint16(st.ID))
		p = binary.BigEndian.AppendUint32(p, st.Val)
	}
	b = appendH2(b, http2.FrameSettings, 0, 0, p)
	r.write(b)
	return r
}

func appendH2(b []byte, t http2.FrameType, fl http2.Flags, id uint32, p []byte) []byte {
	n := len(p)
	b = append(b, byte(n>>16), byte(n>>8), byte(n), byte(t), byte(fl))
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, p...)
}

func (r *rawH2) write(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// headers returns a HEADERS frame of a request.
func (r *rawH2) headers(id uint32, method, path string, end bool, extra ...hpack.HeaderField) []byte {
	r.hb.Reset()
	for _, f := range append([]hpack.HeaderField{
		{Name: ":method", Value: method}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: testHost}, {Name: ":path", Value: path},
	}, extra...) {
		r.enc.WriteField(f)
	}
	fl := http2.FlagHeadersEndHeaders
	if end {
		fl |= http2.FlagHeadersEndStream
	}
	return appendH2(nil, http2.FrameHeaders, fl, id, r.hb.Bytes())
}

// get returns a GET of the query q at the DoH path.
func (r *rawH2) get(id uint32, q []byte) []byte {
	return r.headers(id, "GET", dnsfront.DefaultDoHPath+"?dns="+base64.RawURLEncoding.EncodeToString(q), true)
}

// post returns a POST of q: HEADERS, then DATA with END_STREAM.
func (r *rawH2) post(id uint32, q []byte) []byte {
	b := r.headers(id, "POST", dnsfront.DefaultDoHPath, false,
		hpack.HeaderField{Name: "content-type", Value: dnsfront.MediaDNSMessage},
		hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(q))})
	return appendH2(b, http2.FrameData, http2.FlagDataEndStream, id, q)
}

// next reads the next frame, one TLS record at a time (crypto/tls returns
// at most one record per Read): record says which record it came in.
func (r *rawH2) next(record *int) h2Frame {
	r.t.Helper()
	buf := make([]byte, 64<<10)
	for len(r.in) < 9 || len(r.in) < 9+int(r.in[0])<<16|int(r.in[1])<<8|int(r.in[2]) {
		n, err := r.c.Read(buf)
		if err != nil {
			r.t.Fatalf("read: %v (after %d records)", err, *record)
		}
		if len(r.in) > 0 {
			r.t.Errorf("a frame straddles TLS records %d and %d", *record, *record+1)
		}
		*record++
		r.in = append(r.in, buf[:n]...)
	}
	n := int(r.in[0])<<16 | int(r.in[1])<<8 | int(r.in[2])
	f := h2Frame{typ: http2.FrameType(r.in[3]), flags: http2.Flags(r.in[4]),
		stream: binary.BigEndian.Uint32(r.in[5:9]) & (1<<31 - 1), data: bytes.Clone(r.in[9 : 9+n]), record: *record}
	r.in = r.in[9+n:]
	if f.typ == http2.FrameHeaders {
		fields, err := r.dec.DecodeFull(f.data)
		if err != nil {
			r.t.Fatalf("HPACK: %v", err)
		}
		f.fields = fields
	}
	return f
}

func field(fs []hpack.HeaderField, name string) string {
	for _, f := range fs {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// plainQueries returns the answer cases' queries without EDNS whose UDP
// reply is not truncated, with distinct IDs, and those UDP replies.
func plainQueries(t *testing.T, h *dnsfront.Handler) (qs, udp [][]byte) {
	t.Helper()
	seen := map[string]bool{}
	for i, c := range answerCases {
		key := c.Name + dns.TypeToString[c.Type]
		if seen[key] {
			continue
		}
		seen[key] = true
		q := new(dns.Msg)
		q.SetQuestion(c.Name, c.Type)
		q.Id = uint16(1000 + i)
		raw := pack(t, q)
		out, ok := h.Handle(raw, make([]byte, 0, 65535), dnsfront.UDP)
		if !ok || out[2]&0x02 != 0 {
			continue
		}
		qs, udp = append(qs, raw), append(udp, out)
	}
	if len(qs) < 5 {
		t.Fatalf("only %d plain queries", len(qs))
	}
	return qs, udp
}

// TestDoHLeanReplies: GET and POST queries sent in one burst, first
// answered by the full path (goroutines) and then from the packed cache
// (the reader), are answered byte for byte as over UDP, each reply as one
// HEADERS (200, application/dns-message, content-length, cache-control)
// and one DATA frame carrying END_STREAM, in one TLS record that holds no
// other DATA frame: what dnsperf -m doh needs to read the replies.
func TestDoHLeanReplies(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{})
	qs, udp := plainQueries(t, h)
	r := dialRawH2(t, s)
	id := uint32(1)
	record := 0
	for round := range 2 {
		var burst []byte
		want := map[uint32][]byte{}
		for i, q := range qs {
			if i%2 == 0 {
				burst = append(burst, r.get(id, q)...)
			} else {
				burst = append(burst, r.post(id, q)...)
			}
			want[id] = udp[i]
			id += 2
		}
		r.write(burst)
		headersIn := map[uint32]int{}
		dataIn := map[int]int{} // DATA frames per record
		for len(want) > 0 {
			f := r.next(&record)
			switch f.typ {
			case http2.FrameHeaders:
				if want[f.stream] == nil {
					t.Fatalf("round %d: HEADERS on stream %d, which has no request open", round, f.stream)
				}
				if f.flags.Has(http2.FlagHeadersEndStream) {
					t.Errorf("round %d: stream %d: HEADERS ends the stream, want a DATA frame", round, f.stream)
				}
				if got := field(f.fields, ":status") + " " + field(f.fields, "content-type"); got != "200 "+dnsfront.MediaDNSMessage {
					t.Errorf("round %d: stream %d: %s, want 200 %s", round, f.stream, got, dnsfront.MediaDNSMessage)
				}
				if cl := field(f.fields, "content-length"); cl != strconv.Itoa(len(want[f.stream])) {
					t.Errorf("round %d: stream %d: content-length %s, want %d", round, f.stream, cl, len(want[f.stream]))
				}
				if !strings.HasPrefix(field(f.fields, "cache-control"), "max-age=") && field(f.fields, "cache-control") != "no-store" {
					t.Errorf("round %d: stream %d: cache-control %q", round, f.stream, field(f.fields, "cache-control"))
				}
				headersIn[f.stream] = f.record
			case http2.FrameData:
				w := want[f.stream]
				if w == nil {
					t.Fatalf("round %d: DATA on stream %d, which has no request open", round, f.stream)
				}
				if !f.flags.Has(http2.FlagDataEndStream) {
					t.Errorf("round %d: stream %d: the reply's DATA frame does not carry END_STREAM", round, f.stream)
				}
				if headersIn[f.stream] != f.record {
					t.Errorf("round %d: stream %d: HEADERS in record %d, DATA in record %d: want one record", round, f.stream, headersIn[f.stream], f.record)
				}
				if dataIn[f.record]++; dataIn[f.record] > 1 {
					t.Errorf("round %d: record %d holds %d DATA frames, want one", round, f.record, dataIn[f.record])
				}
				if !bytes.Equal(f.data, w) {
					t.Errorf("round %d: stream %d: reply differs from the UDP reply\n got %x\nwant %x", round, f.stream, f.data, w)
				}
				delete(want, f.stream)
			case http2.FrameRSTStream, http2.FrameGoAway:
				t.Fatalf("round %d: %v on stream %d: %x", round, f.typ, f.stream, f.data)
			}
		}
	}
}

// TestDoHLeanFlowControl: a client's windows are kept. With a stream
// window of 16 octets the reply comes in DATA frames of at most 16, the
// next after each WINDOW_UPDATE; with the connection window (65,535, never
// opened) spent, replies wait, their HEADERS sent, until the client opens
// it; every reply arrives whole.
func TestDoHLeanFlowControl(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{})
	q, _ := biggestQuery(t, h)
	want, _ := h.Handle(q, make([]byte, 0, 65535), dnsfront.HTTPS)

	t.Run("stream window", func(t *testing.T) {
		r := dialRawH2(t, s, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 16})
		r.write(r.get(1, q))
		var got []byte
		record := 0
		for {
			f := r.next(&record)
			if f.typ != http2.FrameData {
				continue
			}
			if len(f.data) > 16 {
				t.Fatalf("DATA of %d octets with a window of 16", len(f.data))
			}
			got = append(got, f.data...)
			if f.flags.Has(http2.FlagDataEndStream) {
				break
			}
			inc := binary.BigEndian.AppendUint32(nil, uint32(len(f.data)))
			r.write(appendH2(nil, http2.FrameWindowUpdate, 0, 1, inc))
		}
		if !bytes.Equal(got, want) {
			t.Errorf("reply in 16-octet DATA frames differs\n got %x\nwant %x", got, want)
		}
	})
	t.Run("connection window", func(t *testing.T) {
		r := dialRawH2(t, s, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
		n := 65535/len(want) + 3
		var burst []byte
		for i := range n {
			burst = append(burst, r.get(uint32(2*i+1), q)...)
		}
		r.write(burst)
		got := map[uint32][]byte{}
		headers, sent, done := 0, 0, 0
		record := 0
		opened := false
		for done < n {
			f := r.next(&record)
			switch f.typ {
			case http2.FrameHeaders:
				headers++
			case http2.FrameData:
				sent += len(f.data)
				got[f.stream] = append(got[f.stream], f.data...)
				if f.flags.Has(http2.FlagDataEndStream) {
					done++
				}
			}
			if !opened && sent > 65535 {
				t.Fatalf("%d octets of DATA sent in a connection window of 65535", sent)
			}
			if !opened && headers == n {
				// Every reply is ready; the window let only some through.
				if done == n {
					t.Fatalf("all %d replies of %d octets fit in a window of 65535", n, len(want))
				}
				r.write(appendH2(nil, http2.FrameWindowUpdate, 0, 0, binary.BigEndian.AppendUint32(nil, 1<<20)))
				opened = true
			}
		}
		for id, b := range got {
			if !bytes.Equal(b, want) {
				t.Errorf("stream %d: reply differs after waiting for the window", id)
			}
		}
	})
}

// TestDoHLeanProtocol: the lean server's answers to what a client must
// not send, and its limits: each case ends with the RST_STREAM or GOAWAY
// (and error code) RFC 9113 asks for, or the status the limit gives.
func TestDoHLeanProtocol(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{https: dnsfront.HTTPSOptions{MaxStreams: 2}})
	q := wwwQuery(t)
	big := strings.Repeat("a", 20<<10)
	cases := []struct {
		name  string
		send  func(r *rawH2) []byte
		typ   http2.FrameType // the frame awaited
		id    uint32
		code  http2.ErrCode // RST_STREAM and GOAWAY
		state string        // HEADERS: the :status
	}{
		{"first frame not SETTINGS", nil, http2.FrameGoAway, 0, http2.ErrCodeProtocol, ""},
		{"even stream id", func(r *rawH2) []byte { return r.get(2, q) }, http2.FrameGoAway, 0, http2.ErrCodeProtocol, ""},
		{"stream id going down", func(r *rawH2) []byte { return append(r.get(5, q), r.get(3, q)...) }, http2.FrameGoAway, 0, http2.ErrCodeProtocol, ""},
		{"DATA on an idle stream", func(r *rawH2) []byte {
			return appendH2(nil, http2.FrameData, http2.FlagDataEndStream, 9, q)
		}, http2.FrameGoAway, 0, http2.ErrCodeProtocol, ""},
		{"connection window overflow", func(r *rawH2) []byte {
			return appendH2(nil, http2.FrameWindowUpdate, 0, 0, binary.BigEndian.AppendUint32(nil, 1<<31-1))
		}, http2.FrameGoAway, 0, http2.ErrCodeFlowControl, ""},
		{"push from a client", func(r *rawH2) []byte {
			return appendH2(nil, http2.FramePushPromise, http2.FlagPushPromiseEndHeaders, 1, []byte{0, 0, 0, 2})
		}, http2.FrameGoAway, 0, http2.ErrCodeProtocol, ""},
		{"frame over the size limit", func(r *rawH2) []byte {
			// The header alone: the server refuses it before its payload,
			// which, left unread, would turn its close into a reset.
			return appendH2(nil, http2.FrameData, 0, 1, make([]byte, 17<<10))[:9]
		}, http2.FrameGoAway, 0, http2.ErrCodeFrameSize, ""},
		{"no :path", func(r *rawH2) []byte {
			r.hb.Reset()
			r.enc.WriteField(hpack.HeaderField{Name: ":method", Value: "GET"})
			r.enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: "https"})
			return appendH2(nil, http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1, r.hb.Bytes())
		}, http2.FrameRSTStream, 1, http2.ErrCodeProtocol, ""},
		{"connection-specific field", func(r *rawH2) []byte {
			return r.headers(1, "GET", "/x", true, hpack.HeaderField{Name: "connection", Value: "close"})
		}, http2.FrameRSTStream, 1, http2.ErrCodeProtocol, ""},
		{"body longer than content-length", func(r *rawH2) []byte {
			b := r.headers(1, "POST", dnsfront.DefaultDoHPath, false,
				hpack.HeaderField{Name: "content-type", Value: dnsfront.MediaDNSMessage},
				hpack.HeaderField{Name: "content-length", Value: "3"})
			return appendH2(b, http2.FrameData, http2.FlagDataEndStream, 1, q)
		}, http2.FrameRSTStream, 1, http2.ErrCodeProtocol, ""},
		{"stream window zero increment", func(r *rawH2) []byte {
			b := r.headers(1, "POST", dnsfront.DefaultDoHPath, false, hpack.HeaderField{Name: "content-type", Value: dnsfront.MediaDNSMessage})
			return appendH2(b, http2.FrameWindowUpdate, 0, 1, []byte{0, 0, 0, 0})
		}, http2.FrameRSTStream, 1, http2.ErrCodeProtocol, ""},
		{"third stream over MaxStreams 2", func(r *rawH2) []byte {
			var b []byte
			for id := uint32(1); id <= 5; id += 2 {
				b = append(b, r.headers(id, "POST", dnsfront.DefaultDoHPath, false, hpack.HeaderField{Name: "content-type", Value: dnsfront.MediaDNSMessage})...)
			}
			return b
		}, http2.FrameRSTStream, 5, http2.ErrCodeRefusedStream, ""},
		{"header list over 16 KiB", func(r *rawH2) []byte {
			return r.headers(1, "GET", "/x", true, hpack.HeaderField{Name: "x-big", Value: big[:15<<10]}, hpack.HeaderField{Name: "x-big2", Value: big[:2<<10]})
		}, http2.FrameHeaders, 1, 0, "431"},
		{"body over MaxQuerySize", func(r *rawH2) []byte {
			b := r.headers(1, "POST", dnsfront.DefaultDoHPath, false, hpack.HeaderField{Name: "content-type", Value: dnsfront.MediaDNSMessage})
			b = appendH2(b, http2.FrameData, 0, 1, make([]byte, 4000))
			return appendH2(b, http2.FrameData, 0, 1, make([]byte, 4000))
		}, http2.FrameHeaders, 1, 0, "413"},
		{"content-length over MaxQuerySize", func(r *rawH2) []byte {
			return r.headers(1, "POST", dnsfront.DefaultDoHPath, false,
				hpack.HeaderField{Name: "content-type", Value: dnsfront.MediaDNSMessage}, hpack.HeaderField{Name: "content-length", Value: "5000"})
		}, http2.FrameHeaders, 1, 0, "413"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := dialRawH2(t, s)
			if c.send == nil {
				// A connection whose first frame is a PING, not SETTINGS.
				r2, err := tls.Dial("tcp", s.doh.Addr().String(), s.cert.Client(testHost, "h2"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r2.Close() })
				r2.SetDeadline(time.Now().Add(30 * time.Second))
				r.c = r2
				r.write(appendH2([]byte(http2.ClientPreface), http2.FramePing, 0, 0, make([]byte, 8)))
			} else {
				r.write(c.send(r))
			}
			record := 0
			for {
				f := r.next(&record)
				if f.typ != c.typ || (c.typ != http2.FrameGoAway && f.stream != c.id) {
					if f.typ == http2.FrameGoAway || f.typ == http2.FrameRSTStream {
						t.Fatalf("%v on stream %d (%x), want %v on stream %d", f.typ, f.stream, f.data, c.typ, c.id)
					}
					continue
				}
				switch c.typ {
				case http2.FrameGoAway:
					if code := http2.ErrCode(binary.BigEndian.Uint32(f.data[4:])); code != c.code {
						t.Errorf("GOAWAY %v, want %v", code, c.code)
					}
				case http2.FrameRSTStream:
					if code := http2.ErrCode(binary.BigEndian.Uint32(f.data)); code != c.code {
						t.Errorf("RST_STREAM %v, want %v", code, c.code)
					}
				case http2.FrameHeaders:
					if st := field(f.fields, ":status"); st != c.state {
						t.Errorf(":status %s, want %s", st, c.state)
					}
				}
				return
			}
		})
	}
	t.Run("PING", func(t *testing.T) {
		r := dialRawH2(t, s)
		r.write(appendH2(nil, http2.FramePing, 0, 0, []byte("12345678")))
		record := 0
		for {
			f := r.next(&record)
			if f.typ == http2.FramePing {
				if !f.flags.Has(http2.FlagPingAck) || string(f.data) != "12345678" {
					t.Errorf("PING answered with flags %v data %q, want ACK 12345678", f.flags, f.data)
				}
				return
			}
		}
	})
}

// TestDoHLeanErrorsAsHTTP1: every request the lean path does not answer
// itself (other paths and methods, wrong media types, bad dns parameters,
// the JSON form) gets over HTTP/2 the status, media type and body it gets
// over HTTP/1.1 (net/http's own server): RFC 8484's 400, 413, 415 and
// 405, and 404 elsewhere.
func TestDoHLeanErrorsAsHTTP1(t *testing.T) {
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{})
	base := "https://" + s.doh.Addr().String()
	h2 := h2Client(t, s.cert.Client(testHost))
	h1tr := &http.Transport{TLSClientConfig: s.cert.Client(testHost, "http/1.1"), TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	t.Cleanup(h1tr.CloseIdleConnections)
	h1 := &http.Client{Transport: h1tr, Timeout: 10 * time.Second}
	q := wwwQuery(t)
	qs := base64.RawURLEncoding.EncodeToString(q)
	resp := q[:]
	resp = append([]byte(nil), resp...)
	resp[2] |= 0x80
	cases := []struct {
		name, method, path, ctype string
		body                      []byte
		want                      int
	}{
		{"GET", "GET", "/dns-query?dns=" + qs, "", nil, 200},
		{"GET padded", "GET", "/dns-query?dns=" + qs + "==", "", nil, 200},
		{"POST", "POST", "/dns-query", dnsfront.MediaDNSMessage, q, 200},
		{"POST media type with a parameter", "POST", "/dns-query", dnsfront.MediaDNSMessage + "; charset=binary", q, 200},
		{"GET two parameters", "GET", "/dns-query?ct=x&dns=" + qs, "", nil, 200},
		{"GET not base64url", "GET", "/dns-query?dns=%21%21%21", "", nil, 400},
		{"GET bad base64url", "GET", "/dns-query?dns=A", "", nil, 400},
		{"GET empty dns", "GET", "/dns-query?dns=", "", nil, 400},
		{"GET no parameter", "GET", "/dns-query", "", nil, 400},
		{"GET shorter than a header", "GET", "/dns-query?dns=AAAA", "", nil, 400},
		{"GET a response", "GET", "/dns-query?dns=" + base64.RawURLEncoding.EncodeToString(resp), "", nil, 400},
		{"GET too large", "GET", "/dns-query?dns=" + strings.Repeat("A", 6000), "", nil, 413},
		{"POST wrong media type", "POST", "/dns-query", "text/plain", q, 415},
		{"POST no media type", "POST", "/dns-query", "", q, 415},
		{"POST empty", "POST", "/dns-query", dnsfront.MediaDNSMessage, nil, 400},
		{"PUT", "PUT", "/dns-query", dnsfront.MediaDNSMessage, q, 405},
		{"DELETE", "DELETE", "/dns-query", "", nil, 405},
		{"other path", "GET", "/other?dns=" + qs, "", nil, 404},
		{"path with a trailing slash", "GET", "/dns-query/?dns=" + qs, "", nil, 404},
		{"JSON", "GET", "/dns-query?name=www.example.&type=A", "", nil, 200},
		{"JSON bad type", "GET", "/dns-query?name=www.example.&type=NOPE", "", nil, 400},
	}
	do := func(c *http.Client, method, url, ctype string, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r2, b2 := do(h2, c.method, base+c.path, c.ctype, c.body)
			r1, b1 := do(h1, c.method, base+c.path, c.ctype, c.body)
			if r2.ProtoMajor != 2 || r1.ProtoMajor != 1 {
				t.Fatalf("protocols %s and %s, want HTTP/2 and HTTP/1.1", r2.Proto, r1.Proto)
			}
			if r2.StatusCode != c.want {
				t.Errorf("HTTP/2 %s %s: %s, want %d (%s)", c.method, c.path, r2.Status, c.want, b2)
			}
			if r2.StatusCode != r1.StatusCode || r2.Header.Get("Content-Type") != r1.Header.Get("Content-Type") ||
				r2.Header.Get("Cache-Control") != r1.Header.Get("Cache-Control") || r2.Header.Get("Allow") != r1.Header.Get("Allow") {
				t.Errorf("HTTP/2: %s %q %q %q, HTTP/1.1: %s %q %q %q", r2.Status, r2.Header.Get("Content-Type"), r2.Header.Get("Cache-Control"), r2.Header.Get("Allow"),
					r1.Status, r1.Header.Get("Content-Type"), r1.Header.Get("Cache-Control"), r1.Header.Get("Allow"))
			}
			if !strings.Contains(c.path, "name=") && !bytes.Equal(b2, b1) {
				t.Errorf("bodies differ: HTTP/2 %q, HTTP/1.1 %q", b2, b1)
			}
			if r2.Header.Get("Alt-Svc") == "" {
				t.Error("no Alt-Svc over HTTP/2")
			}
		})
	}
}

// TestDoHLeanCurl: curl over HTTP/2, GET and POST, gets the UDP reply
// byte for byte.
func TestDoHLeanCurl(t *testing.T) {
	curl := testtool.Need(t, "curl", "curl")
	h := signedHandler(t, dnsfront.Options{})
	s := startServers(t, h, limits{})
	qs, udp := plainQueries(t, h)
	port := strconv.Itoa(int(s.doh.Addr().Port()))
	base := "https://" + testHost + ":" + port + dnsfront.DefaultDoHPath
	dir := t.TempDir()
	for i, q := range qs[:3] {
		qf := filepath.Join(dir, fmt.Sprintf("q%d", i))
		if err := os.WriteFile(qf, q, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, form := range []struct {
			name string
			args []string
		}{
			{"GET", []string{base + "?dns=" + base64.RawURLEncoding.EncodeToString(q)}},
			{"POST", []string{"-H", "content-type: " + dnsfront.MediaDNSMessage, "--data-binary", "@" + qf, base}},
		} {
			out := filepath.Join(dir, fmt.Sprintf("r%d%s", i, form.name))
			args := append([]string{"-sS", "--http2", "--max-time", "10", "--cacert", s.cert.CAFile,
				"--resolve", testHost + ":" + port + ":127.0.0.1", "-o", out, "-w", "%{http_version} %{http_code}"}, form.args...)
			cmd := exec.Command(curl, args...)
			got, err := cmd.CombinedOutput()
			if err != nil || string(got) != "2 200" {
				t.Fatalf("curl %s: %v: %s, want HTTP/2 200", form.name, err, got)
			}
			body, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, udp[i]) {
				t.Errorf("curl %s %d: reply differs from the UDP reply\n got %x\nwant %x", form.name, i, body, udp[i])
			}
		}
	}
}
