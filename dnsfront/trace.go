package dnsfront

// trace.go: the query trace option, which tells a client that asks for it
// which nodes its query went through and how long each took
// (docs/trace-option.md).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// TraceOptionCode is the EDNS(0) option (RFC 6891 §6.1.2, local/
// experimental range 65001-65534) a client puts, empty, in a query to ask
// for the trace of its query; the reply carries the hops
// (docs/trace-option.md). A DoH JSON client asks with the parameter
// trace=1 instead.
const TraceOptionCode = 65003

// TraceKind says what a hop of a trace did.
type TraceKind uint8

// The kinds of hop. A trace starts with the node that received the query
// (local, cache or relayed); a relayed query adds the member of the other
// group that answered.
const (
	// TraceLocal: the node answered from a zone its own group holds.
	TraceLocal TraceKind = 1
	// TraceCache: the node answered from its cache of verified answers
	// of other groups.
	TraceCache TraceKind = 2
	// TraceRelayed: the node asked another group and verified the answer.
	TraceRelayed TraceKind = 3
	// TraceMember: the member of the other group that answered; its
	// Elapsed is the exchange as the relaying node timed it (route lookup,
	// the query, verification).
	TraceMember TraceKind = 4
)

var traceKindNames = [...]string{TraceLocal: "local", TraceCache: "cache", TraceRelayed: "relayed", TraceMember: "member"}

func (k TraceKind) String() string {
	if int(k) < len(traceKindNames) && traceKindNames[k] != "" {
		return traceKindNames[k]
	}
	return "TraceKind(" + strconv.Itoa(int(k)) + ")"
}

// TraceHop is one node a query went through.
type TraceHop struct {
	Kind TraceKind
	// Node is the node's id: its overlay peer id when the overlay is on,
	// else its Raft server id. At most 255 bytes.
	Node string
	// Elapsed is how long the hop took, from the query's arrival (for the
	// first hop) to its reply; microsecond resolution, at most about 71
	// minutes.
	Elapsed time.Duration
}

// String reads "relayed 12D3KooW... 1.234ms".
func (h TraceHop) String() string {
	return fmt.Sprintf("%s %s %s", h.Kind, h.Node, h.Elapsed)
}

// Trace option data, version 1 (docs/trace-option.md): version (1), hop
// count, then per hop its kind, a one-byte length, the node id and the
// elapsed time in microseconds (uint32, big-endian).
const traceVersion = 1

// ErrTraceOption is returned by DecodeTrace when the option data is
// malformed or of an unknown version.
var ErrTraceOption = errors.New("malformed trace option")

// AppendTrace appends the trace option data for hops to b. Hops beyond
// 255, and node ids longer than 255 bytes, are cut; an elapsed time
// beyond the field's range is written as its largest value.
func AppendTrace(b []byte, hops []TraceHop) []byte {
	n := min(len(hops), 255)
	b = append(b, traceVersion, byte(n))
	for _, h := range hops[:n] {
		id := h.Node
		if len(id) > 255 {
			id = id[:255]
		}
		b = append(b, byte(h.Kind), byte(len(id)))
		b = append(b, id...)
		b = binary.BigEndian.AppendUint32(b, traceMicros(h.Elapsed))
	}
	return b
}

func traceMicros(d time.Duration) uint32 {
	us := d.Microseconds()
	switch {
	case us < 0:
		return 0
	case us > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(us)
}

// DecodeTrace parses trace option data, as found in a reply's OPT record
// under TraceOptionCode.
func DecodeTrace(b []byte) ([]TraceHop, error) {
	if len(b) < 2 || b[0] != traceVersion {
		return nil, ErrTraceOption
	}
	n := int(b[1])
	b = b[2:]
	hops := make([]TraceHop, 0, n)
	for range n {
		if len(b) < 2 || len(b) < 2+int(b[1])+4 {
			return nil, ErrTraceOption
		}
		k, l := TraceKind(b[0]), int(b[1])
		if k == 0 {
			return nil, ErrTraceOption
		}
		hops = append(hops, TraceHop{
			Kind:    k,
			Node:    string(b[2 : 2+l]),
			Elapsed: time.Duration(binary.BigEndian.Uint32(b[2+l:])) * time.Microsecond,
		})
		b = b[2+l+4:]
	}
	if len(b) != 0 {
		return nil, ErrTraceOption
	}
	return hops, nil
}

// traceMaxHop is the size of the option data of a one-hop trace with the
// longest node id.
const traceMaxHop = 2 + 2 + 255 + 4
