package zone

// inband.go: the proofs option, which carries a zone's signed head and
// the Merkle proof of a DNS response's RRsets inside the response itself
// (EDNS(0) option 65002, docs/proofs-option.md), so a client can verify
// an answer from one untrusted node with only the owner's key. Both the
// node (dnsfront) and the client (package client) read and write it here.

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ProofsOptionCode is the EDNS(0) option (RFC 6891 §6.1.2, local/
// experimental range 65001-65534) a client puts, empty, in a query to
// ask for the proofs, and a node puts in the reply with them
// (docs/proofs-option.md). 65001 is the audit option, 65003 the trace.
const ProofsOptionCode = 65002

// ProofsOptionVersion is the version of the reply's option data, its
// first byte. DecodeProofsOption refuses any other.
const ProofsOptionVersion = 1

// ProofsStatus says whether a reply's proofs option carries proofs, and
// why not.
type ProofsStatus uint8

// The statuses of a proofs option.
const (
	// Proved: the head and the proof of every RRset of the response follow.
	Proved ProofsStatus = 0
	// NeedDO: the query had no DO bit, so the response has no RRSIGs to
	// verify; ask again with DO.
	NeedDO ProofsStatus = 1
	// NotProvable: the response holds nothing a zone's head covers
	// (REFUSED, SERVFAIL, FORMERR..., or a zone without a signed head).
	NotProvable ProofsStatus = 2
	// TooLarge: the response and its proofs exceed the 65535 bytes of a
	// DNS message; the response is sent without them.
	TooLarge ProofsStatus = 3
)

func (s ProofsStatus) String() string {
	switch s {
	case Proved:
		return "proved"
	case NeedDO:
		return "no DO bit in the query"
	case NotProvable:
		return "nothing to prove"
	case TooLarge:
		return "too large for a DNS message"
	}
	return fmt.Sprintf("ProofsStatus(%d)", uint8(s))
}

// ErrProofsOption is returned by DecodeProofsOption when the option data
// is malformed: another version, an unknown status, lengths that do not
// add up, or trailing bytes.
var ErrProofsOption = errors.New("malformed proofs option")

// EncodeProofsOption returns the reply's option data, version 1:
//
//	version u8 = 1 | status u8
//	status 0 only: head length u16 | head | proof length u16 | proof
//
// head is the zone's signed head note, proof a Proof in binary form.
// With a status other than Proved, head and proof must be empty. It
// returns ErrProofsOption when head or proof exceeds 65535 bytes.
func EncodeProofsOption(status ProofsStatus, head, proof []byte) ([]byte, error) {
	if status != Proved {
		if len(head) != 0 || len(proof) != 0 {
			return nil, fmt.Errorf("%w: status %d with data", ErrProofsOption, status)
		}
		return []byte{ProofsOptionVersion, byte(status)}, nil
	}
	if len(head) > 0xFFFF || len(proof) > 0xFFFF {
		return nil, fmt.Errorf("%w: head of %d or proof of %d bytes", ErrProofsOption, len(head), len(proof))
	}
	b := make([]byte, 0, 6+len(head)+len(proof))
	b = append(b, ProofsOptionVersion, byte(Proved))
	b = binary.BigEndian.AppendUint16(b, uint16(len(head)))
	b = append(b, head...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(proof)))
	b = append(b, proof...)
	return b, nil
}

// DecodeProofsOption parses the reply's option data. head and proof
// alias b. Only the framing is checked: the head's signature and the
// proof are checked by Verify (package client's VerifyResponse).
func DecodeProofsOption(b []byte) (status ProofsStatus, head, proof []byte, err error) {
	if len(b) < 2 || b[0] != ProofsOptionVersion {
		return 0, nil, nil, fmt.Errorf("%w: version", ErrProofsOption)
	}
	status = ProofsStatus(b[1])
	b = b[2:]
	switch status {
	case NeedDO, NotProvable, TooLarge:
		if len(b) != 0 {
			return 0, nil, nil, fmt.Errorf("%w: %d bytes after status %d", ErrProofsOption, len(b), status)
		}
		return status, nil, nil, nil
	case Proved:
	default:
		return 0, nil, nil, fmt.Errorf("%w: unknown status %d", ErrProofsOption, status)
	}
	take := func() []byte {
		if len(b) < 2 {
			return nil
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil
		}
		out := b[2 : 2+n : 2+n]
		b = b[2+n:]
		return out
	}
	if head = take(); len(head) == 0 {
		return 0, nil, nil, fmt.Errorf("%w: head missing or short", ErrProofsOption)
	}
	if proof = take(); len(proof) == 0 {
		return 0, nil, nil, fmt.Errorf("%w: proof missing or short", ErrProofsOption)
	}
	if len(b) != 0 {
		return 0, nil, nil, fmt.Errorf("%w: %d trailing bytes", ErrProofsOption, len(b))
	}
	return Proved, head, proof, nil
}
