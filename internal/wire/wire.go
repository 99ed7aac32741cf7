// Package wire reads the big-endian, length-prefixed binary formats DDNRS
// versions itself: Raft commands and stored values (raftfsm), DDNRS-RPC
// messages (overlay) and transparency-log entries (translog). It is the
// one implementation of the bounds checks each of their strict decoders
// needs; the formats themselves, and what a field means, stay in their
// packages. zone keeps its own small reader, since zone imports nothing
// of ours.
package wire

import (
	"encoding/binary"
	"fmt"
)

// Decoder reads primitives from B. The first failure sticks in Err and
// every later read returns a zero value, so a decoder reads a whole body
// and checks Err once.
type Decoder struct {
	B   []byte // the bytes not read yet
	Err error  // the first failure, nil while every read fitted
	// Malformed, when not nil, is wrapped by every failure: the owning
	// package's sentinel (errors.Is(d.Err, Malformed)).
	Malformed error
}

// Fail records a failure unless one is recorded already.
func (d *Decoder) Fail(format string, args ...any) {
	if d.Err != nil {
		return
	}
	if d.Malformed != nil {
		d.Err = fmt.Errorf("%w: "+format, append([]any{d.Malformed}, args...)...)
		return
	}
	d.Err = fmt.Errorf(format, args...)
}

// Take returns the next n bytes, capped so that appending to them never
// writes into the input, or nil when fewer than n are left.
func (d *Decoder) Take(n int) []byte {
	if d.Err != nil {
		return nil
	}
	if n < 0 || n > len(d.B) {
		d.Fail("truncated: %d bytes wanted, %d left", n, len(d.B))
		return nil
	}
	p := d.B[:n:n]
	d.B = d.B[n:]
	return p
}

// U8 reads one byte.
func (d *Decoder) U8() uint8 {
	if p := d.Take(1); p != nil {
		return p[0]
	}
	return 0
}

// U16 reads a big-endian uint16.
func (d *Decoder) U16() uint16 {
	if p := d.Take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

// U32 reads a big-endian uint32.
func (d *Decoder) U32() uint32 {
	if p := d.Take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

// U64 reads a big-endian uint64.
func (d *Decoder) U64() uint64 {
	if p := d.Take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

// Str16 reads a string with a uint16 length prefix.
func (d *Decoder) Str16() string { return string(d.Take(int(d.U16()))) }

// Bytes32 reads a byte string with a uint32 length prefix, as a subslice
// of the input (nil when empty); callers that keep it past the input's
// life copy it.
func (d *Decoder) Bytes32() []byte {
	n := d.U32()
	if d.Err != nil || n == 0 {
		return nil
	}
	if uint64(n) > uint64(len(d.B)) {
		d.Fail("truncated: byte string of %d bytes, %d left", n, len(d.B))
		return nil
	}
	return d.Take(int(n))
}

// Count reads a uint32 count of items at least min bytes long each and
// checks it against the bytes left, so a forged count cannot make the
// caller allocate more than the input's size.
func (d *Decoder) Count(min int) int {
	n := d.U32()
	if d.Err == nil && uint64(n)*uint64(min) > uint64(len(d.B)) {
		d.Fail("count %d does not fit in %d bytes", n, len(d.B))
	}
	if d.Err != nil {
		return 0
	}
	return int(n)
}
