package dnsfront

import (
	"bytes"
	"net"
	"testing"
)

// recordWriter keeps each Write apart, standing in for TLS records.
type recordWriter struct{ writes [][]byte }

func (w *recordWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

// h2frame builds an HTTP/2 frame of the given type with n payload octets.
func h2frame(typ byte, n int) []byte {
	f := []byte{byte(n >> 16), byte(n >> 8), byte(n), typ, 0, 0, 0, 0, 1}
	return append(f, bytes.Repeat([]byte{typ + 'a'}, n)...)
}

// dataEnds returns the offsets in stream at which a DATA frame ends.
func dataEnds(t *testing.T, stream []byte) map[int]bool {
	t.Helper()
	ends := map[int]bool{}
	for off := 0; off < len(stream); {
		if off+frameHeaderLen > len(stream) {
			t.Fatalf("truncated frame header at %d", off)
		}
		n := int(stream[off])<<16 | int(stream[off+1])<<8 | int(stream[off+2])
		typ := stream[off+3]
		off += frameHeaderLen + n
		if typ == frameTypeData {
			ends[off] = true
		}
	}
	return ends
}

func TestDataRecordSplitter(t *testing.T) {
	const headers, settings, windowUpdate = 0x1, 0x4, 0x8
	var replies []byte // the HEADERS of 5 replies, then their DATA, as Go flushes them
	for range 5 {
		replies = append(replies, h2frame(headers, 6)...)
	}
	for i := range 5 {
		replies = append(replies, h2frame(frameTypeData, 48+i)...)
	}
	tests := []struct {
		name   string
		stream []byte
		chunks []int // sizes of the caller's writes; the rest in one write
		want   int   // writes expected on the record writer
	}{
		{"no data", append(h2frame(settings, 18), h2frame(windowUpdate, 4)...), nil, 1},
		{"one reply", append(h2frame(headers, 6), h2frame(frameTypeData, 79)...), nil, 1},
		{"five replies in one flush", replies, nil, 5},
		{"empty DATA with END_STREAM", append(h2frame(frameTypeData, 10), h2frame(frameTypeData, 0)...), nil, 2},
		{"frames after the last DATA", append(bytes.Clone(replies), h2frame(settings, 0)...), nil, 6},
		{"header split across writes", replies, []int{4, 3, 50}, 8},
		{"byte by byte", append(h2frame(headers, 6), h2frame(frameTypeData, 3)...), []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 27},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &recordWriter{}
			s := &dataRecordSplitter{w: w}
			rest := tc.stream
			for _, n := range append(tc.chunks, len(tc.stream)) {
				n = min(n, len(rest))
				if n == 0 {
					continue
				}
				got, err := s.Write(rest[:n])
				if err != nil || got != n {
					t.Fatalf("Write(%d octets) = %d, %v", n, got, err)
				}
				rest = rest[n:]
			}
			if joined := bytes.Join(w.writes, nil); !bytes.Equal(joined, tc.stream) {
				t.Fatalf("records do not add up to the stream: %d octets, want %d", len(joined), len(tc.stream))
			}
			if len(w.writes) != tc.want {
				t.Errorf("%d records, want %d", len(w.writes), tc.want)
			}
			// Every DATA frame ends a record, and no record holds the end of
			// two DATA frames.
			ends := dataEnds(t, tc.stream)
			off := 0
			for i, rec := range w.writes {
				n := 0
				for o := off + 1; o <= off+len(rec); o++ {
					if ends[o] {
						n++
					}
				}
				if n > 1 {
					t.Errorf("record %d holds the end of %d DATA frames", i, n)
				}
				off += len(rec)
			}
			recEnds := map[int]bool{}
			off = 0
			for _, rec := range w.writes {
				off += len(rec)
				recEnds[off] = true
			}
			for e := range ends {
				if !recEnds[e] {
					t.Errorf("the DATA frame ending at %d does not end a record", e)
				}
			}
		})
	}
}

// countConn counts the writes that reach the network.
type countConn struct {
	net.Conn
	writes [][]byte
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func TestCorkConn(t *testing.T) {
	under := &countConn{}
	c := &corkConn{Conn: under}
	if _, err := c.Write([]byte("handshake")); err != nil {
		t.Fatal(err)
	}
	c.cork()
	for _, rec := range []string{"rec1", "rec2", "rec3"} {
		if n, err := c.Write([]byte(rec)); err != nil || n != len(rec) {
			t.Fatalf("corked Write = %d, %v", n, err)
		}
	}
	if len(under.writes) != 1 {
		t.Fatalf("%d writes reached the network while corked, want 1 (the one before)", len(under.writes))
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	want := []string{"handshake", "rec1rec2rec3"}
	if len(under.writes) != len(want) {
		t.Fatalf("writes %q, want %q", under.writes, want)
	}
	for i, w := range want {
		if string(under.writes[i]) != w {
			t.Errorf("write %d = %q, want %q", i, under.writes[i], w)
		}
	}
	// A corked burst over corkMax goes out before uncork.
	c.cork()
	big := bytes.Repeat([]byte{'x'}, corkMax)
	if _, err := c.Write(big); err != nil {
		t.Fatal(err)
	}
	if len(under.writes) != 3 {
		t.Errorf("%d writes after a corked %d-octet write, want 3", len(under.writes), corkMax)
	}
	if err := c.uncork(); err != nil || len(under.writes) != 3 {
		t.Errorf("uncork with nothing held: %v, %d writes", err, len(under.writes))
	}
}
