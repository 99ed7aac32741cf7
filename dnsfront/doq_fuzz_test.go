package dnsfront

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzReadDoQ feeds the DoQ stream reader arbitrary stream contents and
// size limits: it must not panic, and must either return a message with
// ID 0 that fits the limit and matches its length prefix, or a protocol
// error. A stream with anything after the message is a protocol error.
func FuzzReadDoQ(f *testing.F) {
	f.Add([]byte{0, 12, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}, 512)
	f.Add([]byte{0, 12, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}, 512)
	f.Add([]byte{0xff, 0xff, 0}, 65535)
	f.Add([]byte{0}, 12)
	f.Add([]byte{0, 12, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, 512) // a trailing octet
	f.Fuzz(func(t *testing.T, stream []byte, limit int) {
		if limit < 0 || limit > maxMsg {
			limit = maxMsg
		}
		msg, bp, err := readDoQ(bytes.NewReader(stream), limit)
		if err != nil {
			if !errors.Is(err, errDoQ) {
				t.Fatalf("readDoQ: %v, want a protocol error (a byte reader cannot fail)", err)
			}
			return
		}
		n := int(binary.BigEndian.Uint16(stream))
		if len(msg) != n || len(stream) != 2+n || len(msg) > limit || len(msg) < headerLen || msg[0] != 0 || msg[1] != 0 ||
			!bytes.Equal(msg, stream[2:2+n]) {
			t.Fatalf("readDoQ(%x, %d) = %x", stream, limit, msg)
		}
		putBuf(bp)
	})
}
