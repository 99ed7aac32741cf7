package wire

import (
	"errors"
	"testing"
)

var errBad = errors.New("bad input")

func TestDecoder(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		read    func(d *Decoder) any
		want    any
		wantErr bool
	}{
		{"u8", []byte{7}, func(d *Decoder) any { return d.U8() }, uint8(7), false},
		{"u16", []byte{1, 2}, func(d *Decoder) any { return d.U16() }, uint16(0x0102), false},
		{"u32", []byte{1, 2, 3, 4}, func(d *Decoder) any { return d.U32() }, uint32(0x01020304), false},
		{"u64", []byte{0, 0, 0, 0, 0, 0, 1, 0}, func(d *Decoder) any { return d.U64() }, uint64(256), false},
		{"u32 truncated", []byte{1, 2, 3}, func(d *Decoder) any { return d.U32() }, uint32(0), true},
		{"str16", []byte{0, 2, 'h', 'i'}, func(d *Decoder) any { return d.Str16() }, "hi", false},
		{"str16 longer than input", []byte{0, 3, 'h', 'i'}, func(d *Decoder) any { return d.Str16() }, "", true},
		{"bytes32", []byte{0, 0, 0, 1, 9}, func(d *Decoder) any { return string(d.Bytes32()) }, "\x09", false},
		{"bytes32 empty is nil", []byte{0, 0, 0, 0}, func(d *Decoder) any { return d.Bytes32() == nil }, true, false},
		{"bytes32 longer than input", []byte{0xff, 0xff, 0xff, 0xff, 1}, func(d *Decoder) any { return d.Bytes32() == nil }, true, true},
		{"count fits", []byte{0, 0, 0, 2, 1, 2, 3, 4}, func(d *Decoder) any { return d.Count(2) }, 2, false},
		{"count forged", []byte{0xff, 0xff, 0xff, 0xff, 1}, func(d *Decoder) any { return d.Count(1) }, 0, true},
		{"negative take", []byte{1}, func(d *Decoder) any { return d.Take(-1) == nil }, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Decoder{B: tt.in, Malformed: errBad}
			if got := tt.read(d); got != tt.want {
				t.Errorf("read = %#v, want %#v", got, tt.want)
			}
			if (d.Err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", d.Err, tt.wantErr)
			}
			if d.Err != nil && !errors.Is(d.Err, errBad) {
				t.Errorf("err = %v does not wrap the Malformed sentinel", d.Err)
			}
		})
	}
}

func TestDecoderFirstErrorSticks(t *testing.T) {
	d := &Decoder{B: []byte{1, 2, 3}}
	if d.U32() != 0 || d.Err == nil {
		t.Fatalf("U32 of 3 bytes: err %v", d.Err)
	}
	first := d.Err
	if got := d.U8(); got != 0 {
		t.Errorf("U8 after a failure = %d, want 0 (bytes left must not be read)", got)
	}
	d.Fail("later failure")
	if d.Err != first {
		t.Errorf("err = %v, want the first failure %v", d.Err, first)
	}
}

func TestTakeIsCapped(t *testing.T) {
	in := []byte{1, 2, 3, 4}
	d := &Decoder{B: in}
	p := d.Take(2)
	_ = append(p, 9)
	if in[2] != 3 {
		t.Fatalf("appending to Take's result wrote into the input: %v", in)
	}
}
