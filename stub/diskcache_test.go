package stub

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzDecodeDiskValue: a cache file is bytes on disk anyone with access
// may have changed; whatever a value holds, decoding gives a message or
// errBadEntry, never a panic, and a decoded value encodes back to a value
// that decodes to the same time.
func FuzzDecodeDiskValue(f *testing.F) {
	m := new(dns.Msg)
	m.SetQuestion("www.example.", dns.TypeA)
	wire, _ := m.Pack()
	f.Add(encodeDiskValue(time.Unix(1700000000, 0), wire))
	f.Add([]byte{1})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		at, m, err := decodeDiskValue(b)
		if err != nil {
			if !errors.Is(err, errBadEntry) {
				t.Fatalf("decodeDiskValue error %v is not errBadEntry", err)
			}
			return
		}
		wire, err := m.Pack()
		if err != nil {
			return // miekg/dns unpacks a few messages it will not pack
		}
		at2, _, err := decodeDiskValue(encodeDiskValue(at, wire))
		if err != nil || !at2.Equal(at) {
			t.Fatalf("round trip: %v, %v != %v", err, at2, at)
		}
	})
}

// FuzzParseDiskKey: keys come from the same file.
func FuzzParseDiskKey(f *testing.F) {
	f.Add(diskKey("www.example.", dns.TypeA))
	f.Add([]byte{0, 0, 1})
	f.Fuzz(func(t *testing.T, k []byte) {
		name, qt, err := parseDiskKey(k)
		if err != nil {
			if !errors.Is(err, errBadEntry) {
				t.Fatalf("parseDiskKey error %v is not errBadEntry", err)
			}
			return
		}
		if !bytes.Equal(diskKey(name, qt), k) {
			t.Fatalf("parseDiskKey(%q) = %q %d, which encodes to %q", k, name, qt, diskKey(name, qt))
		}
	})
}
