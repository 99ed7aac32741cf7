package overlay

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
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
// version 1: a change there is a wire format change and needs a new
// version.
var goldenMessages = []struct {
	name string
	id   uint64
	msg  Message
}{
	{"query_request", 0x0102030405060708, &QueryRequest{Name: "www.example.", Type: 1, DO: true}},
	{"query_response", 0x0102030405060708, &QueryResponse{
		Msg:   []byte{0xab, 0xcd, 0x84, 0x00},
		Head:  []byte("ddnrs-szh/v1\nexample.\n7\n"),
		Proof: []byte{1, 2, 3},
		Audit: []AuditHop{{Node: "12D3KooWentry", Hash: [32]byte{1, 2, 3}}, {Node: "12D3KooWowner"}},
	}},
	{"submit_change_request", 42, &SubmitChangeRequest{Zone: "example.", Cmd: []byte{0x01, 0xff}}},
	{"submit_change_request_dry_run", 44, &SubmitChangeRequest{Zone: "example.", Cmd: []byte{0x01, 0xff}, DryRun: true}},
	{"submit_change_response", 42, &SubmitChangeResponse{Serial: 2026112701, Index: 1234}},
	{"submit_change_response_refused", 43, &SubmitChangeResponse{Code: CodeNotLeader, Message: "leader is 12D3KooWleader"}},
	{"ping", 7, &Ping{}},
	{"pong", 7, &Pong{}},
	{"error", 9, &ErrorResponse{Code: CodeNotFound, Message: "no zone holds nothere."}},
	{"fetch_zone_request", 11, &FetchZoneRequest{Zone: "example.", MaxSize: 16 << 20}},
	{"fetch_zone_response", 11, &FetchZoneResponse{
		Form: ZoneFormPresentation,
		Zone: []byte("example.\t3600\tIN\tSOA\tns1.example. h.example. 7 7200 3600 1209600 300\n"),
		Head: []byte("ddnrs-szh/v1\nexample.\n7\n"),
	}},
	{"error_too_large", 12, &ErrorResponse{Code: CodeTooLarge, Message: "zone example. is 20 bytes of text, above the cap of 10"}},
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
		t.Run(g.name, func(t *testing.T) {
			got, err := AppendMessage(nil, g.id, g.msg, 0)
			if err != nil {
				t.Fatalf("AppendMessage(%s) error: %v", g.name, err)
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
			id, m, err := DecodeMessage(want, 0)
			if err != nil {
				t.Fatalf("DecodeMessage(golden %s) error: %v", g.name, err)
			}
			if id != g.id || !reflect.DeepEqual(m, g.msg) {
				t.Errorf("DecodeMessage(golden %s) = %d, %#v, want %d, %#v", g.name, id, m, g.id, g.msg)
			}
			// The stream reader agrees with the buffer decoder.
			id, m, err = ReadMessage(bytes.NewReader(want), 0)
			if err != nil || id != g.id || !reflect.DeepEqual(m, g.msg) {
				t.Errorf("ReadMessage(golden %s) = %d, %#v, %v, want %d, %#v", g.name, id, m, err, g.id, g.msg)
			}
		})
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
		{"version 2", mutate(func(b []byte) []byte { b[2] = 2; return b }), 0, ErrVersion},
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
		b, err := AppendMessage(nil, g.id, g.msg, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xDD, 'R', 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 1 << 16
		id, m, err := DecodeMessage(b, limit)
		rid, rm, rerr := ReadMessage(bytes.NewReader(b), limit)
		if err != nil {
			if m != nil {
				t.Fatalf("DecodeMessage returned a message with error %v", err)
			}
			return
		}
		if rerr != nil || rid != id || !reflect.DeepEqual(rm, m) {
			t.Fatalf("ReadMessage = %d, %#v, %v; DecodeMessage = %d, %#v", rid, rm, rerr, id, m)
		}
		again, err := AppendMessage(nil, id, m, limit)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", m, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, b)
		}
	})
}
