package zone

import (
	"bytes"
	"errors"
	"testing"
)

func TestProofsOption(t *testing.T) {
	head, proof := []byte("ddnrs-szh/v1 head"), []byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}
	b, err := EncodeProofsOption(Proved, head, proof)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte{1, 0, 0, byte(len(head))}, head...), 0, byte(len(proof))), proof...)
	if !bytes.Equal(b, want) {
		t.Fatalf("EncodeProofsOption = %x, want %x", b, want)
	}
	st, h, p, err := DecodeProofsOption(b)
	if err != nil || st != Proved || !bytes.Equal(h, head) || !bytes.Equal(p, proof) {
		t.Fatalf("DecodeProofsOption(%x) = %v %q %x %v", b, st, h, p, err)
	}
	for _, st := range []ProofsStatus{NeedDO, NotProvable, TooLarge} {
		b, err := EncodeProofsOption(st, nil, nil)
		if err != nil || !bytes.Equal(b, []byte{1, byte(st)}) {
			t.Errorf("EncodeProofsOption(%v) = %x, %v", st, b, err)
		}
		if got, h, p, err := DecodeProofsOption(b); err != nil || got != st || h != nil || p != nil {
			t.Errorf("DecodeProofsOption(%x) = %v %x %x %v", b, got, h, p, err)
		}
	}
	if _, err := EncodeProofsOption(NeedDO, head, nil); !errors.Is(err, ErrProofsOption) {
		t.Errorf("EncodeProofsOption(NeedDO with a head) = %v, want ErrProofsOption", err)
	}
	if _, err := EncodeProofsOption(Proved, make([]byte, 70000), proof); !errors.Is(err, ErrProofsOption) {
		t.Errorf("EncodeProofsOption(70000-byte head) = %v, want ErrProofsOption", err)
	}
	bad := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version only", []byte{1}},
		{"version 2", []byte{2, 0, 0, 1, 'h', 0, 1, 'p'}},
		{"version 0", []byte{0, 1}},
		{"unknown status", []byte{1, 4}},
		{"status with data", []byte{1, 1, 0}},
		{"no head", []byte{1, 0}},
		{"empty head", []byte{1, 0, 0, 0, 0, 1, 'p'}},
		{"head longer than data", []byte{1, 0, 0, 9, 'h'}},
		{"no proof", []byte{1, 0, 0, 1, 'h'}},
		{"empty proof", []byte{1, 0, 0, 1, 'h', 0, 0}},
		{"proof longer than data", []byte{1, 0, 0, 1, 'h', 0, 3, 'p'}},
		{"trailing byte", []byte{1, 0, 0, 1, 'h', 0, 1, 'p', 0}},
	}
	for _, c := range bad {
		if _, _, _, err := DecodeProofsOption(c.b); !errors.Is(err, ErrProofsOption) {
			t.Errorf("%s: DecodeProofsOption(%x) = %v, want ErrProofsOption", c.name, c.b, err)
		}
	}
}

// FuzzDecodeProofsOption: the decoder never panics, and what it accepts
// encodes back to the same bytes.
func FuzzDecodeProofsOption(f *testing.F) {
	z, _ := mkTestZone(f)
	p, err := z.ProveInclusion("www.example.", 1)
	if err != nil {
		f.Fatal(err)
	}
	pb, _ := p.MarshalBinary()
	good, _ := EncodeProofsOption(Proved, z.Head.Note, pb)
	f.Add(good)
	f.Add([]byte{1, 1})
	f.Add([]byte{1, 3})
	f.Add([]byte{1, 0, 0, 1, 'h', 0, 1, 'p'})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, h, p, err := DecodeProofsOption(b)
		if err != nil {
			return
		}
		again, err := EncodeProofsOption(st, h, p)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("DecodeProofsOption(%x) = %v %x %x, encodes back to %x, %v", b, st, h, p, again, err)
		}
	})
}
