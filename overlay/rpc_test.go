package overlay

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var updateRPCGolden = flag.Bool("update-rpc", false, "rewrite the DDNRS-RPC golden encodings in testdata/rpc/")

// goldenMessages are one sample of every message kind, with the request id
// each is framed with. The encodings in testdata/rpc/NAME.hex pin wire
// version 1 and NAME_v2.hex version 2: a change there is a wire format
// change and needs a new version. A sample with minVersion 2 has no
// version-1 encoding.
var goldenMessages = []struct {
	name       string
	id         uint64
	msg        Message
	minVersion uint8
}{
	{"query_request", 0x0102030405060708, &QueryRequest{Name: "www.example.", Type: 1, DO: true}, 0},
	{"query_response", 0x0102030405060708, &QueryResponse{
		Msg:   []byte{0xab, 0xcd, 0x84, 0x00},
		Head:  []byte("ddnrs-szh/v1\nexample.\n7\n"),
		Proof: []byte{1, 2, 3},
		Audit: []AuditHop{{Node: "12D3KooWentry", Hash: [32]byte{1, 2, 3}}, {Node: "12D3KooWowner"}},
	}, 0},
	{"query_response_rollback", 0x0102030405060709, &QueryResponse{
		Msg:      []byte{0xab, 0xcd, 0x84, 0x00},
		Head:     []byte("ddnrs-szh/v1\nexample.\n5\n"),
		Proof:    []byte{1, 2, 3},
		Audit:    []AuditHop{{Node: "12D3KooWowner"}},
		Rollback: []byte("ddnrs-rollback/v1\nexample.\n7\n5\n"),
	}, 0},
	{"submit_change_request", 42, &SubmitChangeRequest{Zone: "example.", Cmd: []byte{0x01, 0xff}}, 0},
	{"submit_change_request_dry_run", 44, &SubmitChangeRequest{Zone: "example.", Cmd: []byte{0x01, 0xff}, DryRun: true}, 0},
	{"submit_change_response", 42, &SubmitChangeResponse{Serial: 2026112701, Index: 1234}, 0},
	{"submit_change_response_refused", 43, &SubmitChangeResponse{Code: CodeNotLeader, Message: "leader is 12D3KooWleader"}, 0},
	{"ping", 7, &Ping{}, 0},
	{"pong", 7, &Pong{}, 0},
	{"error", 9, &ErrorResponse{Code: CodeNotFound, Message: "no zone holds nothere."}, 0},
	{"fetch_zone_request", 11, &FetchZoneRequest{Zone: "example.", MaxSize: 16 << 20}, 0},
	{"fetch_zone_response", 11, &FetchZoneResponse{
		Form: ZoneFormPresentation,
		Zone: []byte("example.\t3600\tIN\tSOA\tns1.example. h.example. 7 7200 3600 1209600 300\n"),
		Head: []byte("ddnrs-szh/v1\nexample.\n7\n"),
	}, 0},
	{"error_too_large", 12, &ErrorResponse{Code: CodeTooLarge, Message: "zone example. is 20 bytes of text, above the cap of 10"}, 0},
	{"error_rejected", 13, &ErrorResponse{Code: CodeRejected, Reason: "stale-serial", Message: "serial 3 is not above 4"}, 2},
	{"submit_change_response_rejected", 14, &SubmitChangeResponse{Code: CodeRejected, Reason: "wrong-key", Message: "signed by key 1234, not the owner's"}, 2},
}

// goldenName is the golden file of sample name in wire version v.
func goldenName(name string, v uint8) string {
	if v == 1 {
		return name
	}
	return fmt.Sprintf("%s_v%d", name, v)
}

// hexDump renders b as lowercase hex, 16 bytes a line.
func hexDump(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		n := min(16, len(b))
		sb.WriteString(hex.EncodeToString(b[:n]))
		sb.WriteByte('\n')
		b = b[n:]
	}
	return sb.String()
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "rpc", name+".hex"))
	if err != nil {
		t.Fatalf("reading golden %s: %v (run go test -run TestGoldenEncodings -update-rpc)", name, err)
	}
	b, err := hex.DecodeString(strings.ReplaceAll(string(text), "\n", ""))
	if err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	return b
}

func TestGoldenEncodings(t *testing.T) {
	for _, g := range goldenMessages {
		for v := max(MinWireVersion, g.minVersion); v <= WireVersion; v++ {
			t.Run(goldenName(g.name, v), func(t *testing.T) { testGolden(t, goldenName(g.name, v), v, g.id, g.msg) })
		}
	}
}

func testGolden(t *testing.T, name string, v uint8, gid uint64, msg Message) {
	t.Helper()
	g := struct {
		name string
		id   uint64
		msg  Message
	}{name, gid, msg}
	{
		{
			got, err := AppendFrame(nil, v, g.id, g.msg, 0)
			if err != nil {
				t.Fatalf("AppendFrame(%s) error: %v", g.name, err)
			}
			path := filepath.Join("testdata", "rpc", g.name+".hex")
			if *updateRPCGolden {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(hexDump(got)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readGolden(t, g.name)
			if !bytes.Equal(got, want) {
				t.Errorf("AppendMessage(%s) =\n%s\nwant (golden)\n%s", g.name, hexDump(got), hexDump(want))
			}
			gv, id, m, err := DecodeFrame(want, 0)
			if err != nil {
				t.Fatalf("DecodeFrame(golden %s) error: %v", g.name, err)
			}
			if gv != v || id != g.id || !reflect.DeepEqual(m, g.msg) {
				t.Errorf("DecodeFrame(golden %s) = v%d %d, %#v, want v%d %d, %#v", g.name, gv, id, m, v, g.id, g.msg)
			}
			// The stream reader agrees with the buffer decoder.
			gv, id, m, err = ReadFrame(bytes.NewReader(want), 0)
			if err != nil || gv != v || id != g.id || !reflect.DeepEqual(m, g.msg) {
				t.Errorf("ReadFrame(golden %s) = v%d %d, %#v, %v, want v%d %d, %#v", g.name, gv, id, m, err, v, g.id, g.msg)
			}
		}
	}
}

// TestVersionOneRefusal: a version-1 peer cannot be sent a reason field;
// the server folds it into the message, the form version-1 nodes read.
func TestVersionOneRefusal(t *testing.T) {
	rej := &SubmitChangeResponse{Code: CodeRejected, Reason: "stale-serial", Message: "serial 3 is not above 4"}
	if _, err := AppendFrame(nil, 1, 1, rej, 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("AppendFrame(v1, response with a reason) error = %v, want ErrMalformed", err)
	}
	tests := []struct {
		in, want Message
	}{
		{rej, &SubmitChangeResponse{Code: CodeRejected, Message: "stale-serial: serial 3 is not above 4"}},
		{&ErrorResponse{Code: CodeRejected, Reason: "no-zone", Message: "m"}, &ErrorResponse{Code: CodeRejected, Message: "no-zone: m"}},
		{&ErrorResponse{Code: CodeNotFound, Message: "m"}, &ErrorResponse{Code: CodeNotFound, Message: "m"}},
		{&SubmitChangeResponse{Serial: 7, Index: 9}, &SubmitChangeResponse{Serial: 7, Index: 9}},
	}
	for _, tt := range tests {
		got := ForVersion(tt.in, 1)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ForVersion(%#v, 1) = %#v, want %#v", tt.in, got, tt.want)
		}
		if _, err := AppendFrame(nil, 1, 1, got, 0); err != nil {
			t.Errorf("AppendFrame(v1, %#v) error: %v", got, err)
		}
		if got := ForVersion(tt.in, 2); got != tt.in {
			t.Errorf("ForVersion(%#v, 2) = %#v, want it unchanged", tt.in, got)
		}
	}
	// A version-1 body of a response has no reason field: the version-2
	// reader of a version-1 frame reads none, and a version-1 frame with
	// a version-2 body is malformed (trailing bytes).
	v2, err := AppendFrame(nil, 2, 1, &ErrorResponse{Code: CodeRejected, Message: "m"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	v2[2] = 1
	if _, _, err := DecodeMessage(v2, 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("DecodeMessage(v1 header, v2 error body) error = %v, want ErrMalformed", err)
	}
}

func TestDecodeMessageRejects(t *testing.T) {
	valid, err := AppendMessage(nil, 1, &QueryRequest{Name: "a.example.", Type: 28}, 0)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte {
		return f(bytes.Clone(valid))
	}
	// withBody frames body under kind k with a correct length.
	withBody := func(k Kind, body []byte) []byte {
		b := []byte{0xDD, 'R', WireVersion, byte(k), 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, byte(len(body))}
		return append(b, body...)
	}
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"empty", nil, 0, ErrMalformed},
		{"short header", valid[:HeaderSize-1], 0, ErrMalformed},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'D'; return b }), 0, ErrBadMagic},
		{"version 0", mutate(func(b []byte) []byte { b[2] = 0; return b }), 0, ErrVersion},
		{"version 3", mutate(func(b []byte) []byte { b[2] = 3; return b }), 0, ErrVersion},
		{"kind 0", mutate(func(b []byte) []byte { b[3] = 0; return b }), 0, ErrUnknownKind},
		{"kind 10", mutate(func(b []byte) []byte { b[3] = 10; return b }), 0, ErrUnknownKind},
		{"zone form 0", withBody(KindFetchZoneResponse, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0}), 0, ErrMalformed},
		{"zone form 2", withBody(KindFetchZoneResponse, []byte{2, 0, 0, 0, 0, 0, 0, 0, 0}), 0, ErrMalformed},
		{"fetch request short", withBody(KindFetchZoneRequest, []byte{0, 1, 'a', 0, 0, 1}), 0, ErrMalformed},
		{"zone past end", withBody(KindFetchZoneResponse, []byte{1, 0, 0, 0, 9, 'a'}), 0, ErrMalformed},
		{"over limit", valid, len(valid) - HeaderSize - 1, ErrTooLarge},
		{"truncated body", valid[:len(valid)-1], 0, ErrMalformed},
		{"trailing byte", append(bytes.Clone(valid), 0), 0, ErrMalformed},
		{"unknown flag", withBody(KindQueryRequest, []byte{0, 1, 'a', 0, 1, 2}), 0, ErrMalformed},
		{"string past end", withBody(KindQueryRequest, []byte{0, 9, 'a', 0, 1, 0}), 0, ErrMalformed},
		{"ping with body", withBody(KindPing, []byte{0}), 0, ErrMalformed},
		{"hops past end", withBody(KindQueryResponse, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}), 0, ErrMalformed},
		{"bytes32 past end", withBody(KindSubmitChangeRequest, []byte{0, 0, 0xff, 0xff, 0xff, 0xff}), 0, ErrMalformed},
		{"change flags zero", withBody(KindSubmitChangeRequest, []byte{0, 0, 0, 0, 0, 0, 0}), 0, ErrMalformed},
		{"change flags unknown", withBody(KindSubmitChangeRequest, []byte{0, 0, 0, 0, 0, 0, 3}), 0, ErrMalformed},
		{"change flags twice", withBody(KindSubmitChangeRequest, []byte{0, 0, 0, 0, 0, 0, 1, 1}), 0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, m, err := DecodeMessage(tt.in, tt.max)
			if !errors.Is(err, tt.want) {
				t.Errorf("DecodeMessage(%x) = %#v, %v, want %v", tt.in, m, err, tt.want)
			}
		})
	}
}

// failAfter is a reader that hands out its data, then fails the test if
// read again: ReadMessage must not read a body it has to reject.
type failAfter struct {
	t    *testing.T
	data []byte
}

func (r *failAfter) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		r.t.Errorf("body read after a header that should have been rejected")
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadMessageLimits(t *testing.T) {
	big, err := AppendMessage(nil, 5, &SubmitChangeRequest{Zone: "example.", Cmd: make([]byte, 4096)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The header says 4096+ bytes; the limit is 1 KiB; only the header is
	// offered, so reading on would trip failAfter.
	_, _, err = ReadMessage(&failAfter{t: t, data: big[:HeaderSize]}, 1024)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadMessage(4 KiB body, limit 1 KiB) error = %v, want ErrTooLarge", err)
	}
	if _, err := AppendMessage(nil, 5, &SubmitChangeRequest{Cmd: make([]byte, 4096)}, 1024); !errors.Is(err, ErrTooLarge) {
		t.Errorf("AppendMessage(4 KiB body, limit 1 KiB) error = %v, want ErrTooLarge", err)
	}
	if err := WriteMessage(io.Discard, 5, &QueryRequest{Name: strings.Repeat("a", 70000)}, 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("WriteMessage(70000-byte name) error = %v, want ErrTooLarge", err)
	}
	// End of stream: clean before a frame, unexpected inside one.
	if _, _, err := ReadMessage(bytes.NewReader(nil), 0); !errors.Is(err, io.EOF) {
		t.Errorf("ReadMessage(empty stream) error = %v, want io.EOF", err)
	}
	if _, _, err := ReadMessage(bytes.NewReader(big[:HeaderSize+10]), 0); !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadMessage(cut body) error = %v, want ErrMalformed and io.ErrUnexpectedEOF", err)
	}
}

func TestMessageRoundTrip(t *testing.T) {
	tests := []Message{
		&QueryRequest{},
		&QueryRequest{Name: ".", Type: 65535},
		&QueryResponse{},
		&QueryResponse{Msg: make([]byte, 70000), Audit: []AuditHop{{Hash: [32]byte{31: 1}}}},
		&SubmitChangeRequest{},
		&SubmitChangeRequest{Zone: "example.", DryRun: true},
		&SubmitChangeResponse{Serial: 1<<32 - 1, Index: 1<<64 - 1},
		&ErrorResponse{},
	}
	for _, m := range tests {
		b, err := AppendMessage([]byte("prefix"), 99, m, 0)
		if err != nil {
			t.Fatalf("AppendMessage(%#v) error: %v", m, err)
		}
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("AppendMessage did not append")
		}
		id, got, err := DecodeMessage(b[len("prefix"):], 0)
		if err != nil || id != 99 || !reflect.DeepEqual(got, m) {
			t.Errorf("round trip of %#v = %d, %#v, %v", m, id, got, err)
		}
	}
}

// FuzzDecodeMessage checks that DecodeMessage never panics, that whatever
// it accepts re-encodes to the same bytes (one encoding per message), and
// that ReadMessage agrees with it.
func FuzzDecodeMessage(f *testing.F) {
	for _, g := range goldenMessages {
		for v := max(MinWireVersion, g.minVersion); v <= WireVersion; v++ {
			b, err := AppendFrame(nil, v, g.id, g.msg, 0)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte{0xDD, 'R', 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 1 << 16
		v, id, m, err := DecodeFrame(b, limit)
		rv, rid, rm, rerr := ReadFrame(bytes.NewReader(b), limit)
		if err != nil {
			if m != nil {
				t.Fatalf("DecodeFrame returned a message with error %v", err)
			}
			return
		}
		if rerr != nil || rv != v || rid != id || !reflect.DeepEqual(rm, m) {
			t.Fatalf("ReadFrame = v%d %d, %#v, %v; DecodeFrame = v%d %d, %#v", rv, rid, rm, rerr, v, id, m)
		}
		again, err := AppendFrame(nil, v, id, m, limit)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", m, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, b)
		}
	})
}
