package dnsfront

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// bytesConn is a connection whose client sent in and reads nothing back.
type bytesConn struct {
	r *bytes.Reader
	w int
}

func (c *bytesConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *bytesConn) Write(p []byte) (int, error) { c.w += len(p); return len(p), nil }
func (c *bytesConn) Close() error                { return nil }
func (c *bytesConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443} }
func (c *bytesConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
}
func (c *bytesConn) SetDeadline(t time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(t time.Time) error { return nil }

func fuzzH2Seed(f *testing.F) {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	q := []byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 0, 0, 1, 0, 1}
	frame := func(t http2.FrameType, fl http2.Flags, id uint32, p []byte) []byte {
		b := []byte{byte(len(p) >> 16), byte(len(p) >> 8), byte(len(p)), byte(t), byte(fl)}
		return append(binary.BigEndian.AppendUint32(b, id), p...)
	}
	hdrs := func(method, path string, extra ...string) []byte {
		hb.Reset()
		all := append([]string{":method", method, ":scheme", "https", ":path", path, ":authority", "x"}, extra...)
		for i := 0; i+1 < len(all); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: all[i], Value: all[i+1]})
		}
		return bytes.Clone(hb.Bytes())
	}
	settings := frame(http2.FrameSettings, 0, 0, nil)
	get := frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 1,
		hdrs("GET", DefaultDoHPath+"?dns="+base64.RawURLEncoding.EncodeToString(q)))
	post := append(frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders, 3, hdrs("POST", DefaultDoHPath, "content-type", MediaDNSMessage)),
		frame(http2.FrameData, http2.FlagDataEndStream, 3, q)...)
	other := frame(http2.FrameHeaders, http2.FlagHeadersEndHeaders|http2.FlagHeadersEndStream, 5, hdrs("GET", "/other"))
	f.Add(append(append(append([]byte(nil), settings...), get...), post...))
	f.Add(append(append([]byte(nil), settings...), other...))
	f.Add(append(append([]byte(nil), settings...), frame(http2.FrameWindowUpdate, 0, 0, []byte{0, 0, 0, 1})...))
	f.Add(append(append([]byte(nil), settings...), frame(http2.FramePing, 0, 0, make([]byte, 8))...))
	f.Add(append(append([]byte(nil), frame(http2.FrameSettings, 0, 0, []byte{0, 4, 0, 0, 0, 0})...), get...))
	f.Add(append(append([]byte(nil), settings...), frame(http2.FrameRSTStream, 0, 1, []byte{0, 0, 0, 8})...))
}

// FuzzLeanH2 feeds the lean HTTP/2 server arbitrary frames after the
// client preface: it must not panic, must end when the input does, and
// must leave no goroutine behind (serve waits for them).
func FuzzLeanH2(f *testing.F) {
	fuzzH2Seed(f)
	opt := HTTPSOptions{MaxStreams: 4}
	opt.defaults()
	l := newLeanH2(&echoResponder{}, opt, `h3=":443"; ma=2592000`, nil)
	fallback := NewDoHHandler(&echoResponder{}, opt)
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &bytesConn{r: bytes.NewReader(append([]byte(http2.ClientPreface), in...))}
		done := make(chan struct{})
		go func() {
			defer close(done)
			l.serve(context.Background(), c, fallback)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second): // a hang, not a speed bound
			t.Fatalf("serve did not end at the end of its input %x", in)
		}
		if c.w == 0 {
			t.Fatal("nothing written: the server's SETTINGS are missing")
		}
	})
}

// FuzzDoHGetQuery: dohGetQuery accepts only base64url of at most limit
// octets, and returns exactly what it encodes.
func FuzzDoHGetQuery(f *testing.F) {
	f.Add("AAABAAABAAAAAAAAA3d3dwAAAQAB", 512)
	f.Add("AAABAAABAAAAAAAAA3d3dwAAAQAB==", 512)
	f.Add("%41", 512)
	f.Add("A", 512)
	f.Add("", 0)
	f.Add(strings.Repeat("A", 100), 10)
	f.Fuzz(func(t *testing.T, v string, limit int) {
		if limit < 0 || limit > maxMsg {
			limit = maxMsg
		}
		raw, ok := dohGetQuery(v, nil, limit)
		if !ok {
			return
		}
		want, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
		if err != nil || !bytes.Equal(raw, want) || len(raw) > limit {
			t.Fatalf("dohGetQuery(%q, %d) = %x, want %x (%v)", v, limit, raw, want, err)
		}
	})
}
