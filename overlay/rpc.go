package overlay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/ddnrs/ddnrs/internal/wire"
)

// DDNRS-RPC wire format, versions 1 and 2.
//
// Every message on a /ddnrs/rpc/2 (or /ddnrs/rpc/1) stream is one frame:
//
//	offset size field
//	0      2    magic 0xDD 0x52 ("\xddR")
//	2      1    version (2; 1 on a /ddnrs/rpc/1 stream)
//	3      1    kind (KindQueryRequest ...)
//	4      8    request id, big endian; a response carries its request's id
//	12     4    body length, big endian; at most the reader's size limit
//	16     n    body, laid out per kind (see each message's doc)
//
// Inside bodies, integers are big endian; a "str16" or "bytes16" is a u16
// length then that many bytes; a "bytes32" is a u32 length then that many
// bytes. A body must be consumed exactly: trailing bytes, unknown flag bits,
// or a length running past the end make the frame malformed. A reader
// rejects a frame with another magic, another version or an unknown kind.
//
// Version 2 differs from version 1 only in the bodies of ErrorResponse and
// SubmitChangeResponse, which end with a str16 Reason: the state
// machine's rejection reason (raftfsm.Reason) when Code is "rejected",
// so a refusal crosses groups typed instead of as text. A server answers
// in the version of the request; to a version-1 peer it writes a
// rejection's reason in front of the message ("reason: message"), which
// is what version-1 nodes read. A client opens /ddnrs/rpc/2 and falls
// back to /ddnrs/rpc/1 for a peer that speaks only that.
//
// A stream carries exactly one exchange: the client writes one request
// frame and closes its write side; the server reads that frame and the
// end of the stream, writes one response frame and closes. Both sides set
// deadlines on the stream.

// ProtocolID is the libp2p protocol of DDNRS-RPC version 2, the one this
// code speaks first.
const ProtocolID = "/ddnrs/rpc/2"

// ProtocolIDV1 is the libp2p protocol of DDNRS-RPC version 1, still
// served and spoken to peers that know no other.
const ProtocolIDV1 = "/ddnrs/rpc/1"

// WireVersion is the version byte of the frames this code writes unless
// the peer speaks only an older one; it reads every version from
// MinWireVersion to WireVersion.
const WireVersion = 2

// MinWireVersion is the oldest version this code reads and writes.
const MinWireVersion = 1

// HeaderSize is the fixed size of a frame header in bytes.
const HeaderSize = 16

// DefaultMaxMessageSize is the largest frame body read unless configured
// otherwise: 1 MiB.
const DefaultMaxMessageSize = 1 << 20

// DefaultMaxZoneSize is the largest zone text a FetchZone exchange
// carries unless configured otherwise: 16 MiB. Its frame may exceed the
// message size limit by that much (zoneFrameLimit).
const DefaultMaxZoneSize = 16 << 20

// zoneFrameLimit is the body limit for a FetchZoneResponse carrying at
// most maxZone bytes of zone text: the zone plus room for the head and
// framing, never below the ordinary message limit.
func zoneFrameLimit(maxZone, maxMessage int) int {
	return max(maxZone+DefaultMaxMessageSize, maxMessage)
}

// magic opens every frame.
var magic = [2]byte{0xDD, 'R'}

// Kind says which message a frame's body holds.
type Kind uint8

// Message kinds of wire versions 1 and 2. Values are part of the wire
// format: never renumber, only add.
const (
	KindQueryRequest         Kind = 1
	KindQueryResponse        Kind = 2
	KindSubmitChangeRequest  Kind = 3
	KindSubmitChangeResponse Kind = 4
	KindPing                 Kind = 5
	KindPong                 Kind = 6
	KindError                Kind = 7
	KindFetchZoneRequest     Kind = 8
	KindFetchZoneResponse    Kind = 9
)

// maxKind is the highest kind of wire versions 1 and 2.
const maxKind = KindFetchZoneResponse

// String returns the kind's name, for logs and errors.
func (k Kind) String() string {
	switch k {
	case KindQueryRequest:
		return "QueryRequest"
	case KindQueryResponse:
		return "QueryResponse"
	case KindSubmitChangeRequest:
		return "SubmitChangeRequest"
	case KindSubmitChangeResponse:
		return "SubmitChangeResponse"
	case KindPing:
		return "Ping"
	case KindPong:
		return "Pong"
	case KindError:
		return "Error"
	case KindFetchZoneRequest:
		return "FetchZoneRequest"
	case KindFetchZoneResponse:
		return "FetchZoneResponse"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

var (
	// ErrBadMagic is returned when a frame does not start with the
	// DDNRS-RPC magic.
	ErrBadMagic = errors.New("overlay: not a DDNRS-RPC frame")
	// ErrVersion is returned when a frame carries a wire version this code
	// does not speak.
	ErrVersion = errors.New("overlay: unsupported DDNRS-RPC version")
	// ErrUnknownKind is returned when a frame's kind is not one of the
	// kinds of its version.
	ErrUnknownKind = errors.New("overlay: unknown DDNRS-RPC message kind")
	// ErrTooLarge is returned when a frame body exceeds the size limit, on
	// reading (before the body is read) or on writing.
	ErrTooLarge = errors.New("overlay: DDNRS-RPC message too large")
	// ErrMalformed is returned when a frame or body is truncated, has
	// trailing bytes, unknown flag bits, or a field too long for its
	// length prefix.
	ErrMalformed = errors.New("overlay: malformed DDNRS-RPC message")
	// ErrUnexpected is returned when a peer sends a message of the wrong
	// kind or request id for the exchange, or more than one request on a
	// stream.
	ErrUnexpected = errors.New("overlay: unexpected DDNRS-RPC message")
	// ErrZoneTooLarge is returned by Client.FetchZone when the zone's text
	// exceeds the size cap: the server refused to send it (CodeTooLarge)
	// or sent more than the client's MaxZoneSize.
	ErrZoneTooLarge = errors.New("overlay: zone larger than the FetchZone size cap")
)

// Message is one DDNRS-RPC message body. The set of messages is closed:
// only this package's types implement it.
type Message interface {
	// Kind returns the frame kind that carries this message.
	Kind() Kind
	// appendBody appends the body encoding of wire version v to b.
	appendBody(b []byte, v uint8) ([]byte, error)
}

// QueryRequest asks for name/type from the node holding name's zone.
//
// Body: str16 name, u16 type, u8 flags (bit 0: DO; other bits zero).
type QueryRequest struct {
	Name string // the query name, presentation form
	Type uint16 // the query type (dns.TypeA ...)
	DO   bool   // DNSSEC OK: include RRSIGs and NSEC denial
}

// AuditHop is one node on a query's path and the hash of what it verified
// (zero when it only relayed or answered from its own store).
type AuditHop struct {
	Node string   // the node's peer id, string form
	Hash [32]byte // the verification hash
}

// QueryResponse is the owning node's answer to a QueryRequest.
//
// Body: bytes32 Msg, bytes32 Head, bytes32 Proof, u16 hop count, then per
// hop str16 Node and 32 bytes Hash, then, only when the zone was rolled
// back with its owner's consent, bytes32 Rollback (never empty when
// present: an empty one is malformed). A reader that predates the field
// refuses such an answer as malformed (trailing bytes), as it would have
// refused the older serial anyway.
type QueryResponse struct {
	Msg   []byte     // DNS response wire, computed with DO set
	Head  []byte     // signed zone head note
	Proof []byte     // zone.Proof MarshalBinary for answer+authority RRsets
	Audit []AuditHop // nodes that handled the query, in order
	// Rollback is the owner's rollback statement (zone.Rollback) for the
	// version Head names, when the group restored an older version with
	// the owner's consent; nil otherwise.
	Rollback []byte
}

// SubmitChangeRequest forwards a zone change to the zone group's leader,
// or, with DryRun, asks a member of the group whether its replica would
// accept it.
//
// Body: str16 Zone, bytes32 Cmd, then an optional u8 flags (bit 0: dry
// run; other bits zero). The flags byte is present exactly when it is
// not zero, so a change without flags encodes as before the field was
// added, and a reader that predates it refuses a dry run as malformed
// (trailing byte) rather than applying it; a present zero flags byte is
// malformed (one encoding per message).
type SubmitChangeRequest struct {
	Zone string // the zone, presentation form
	Cmd  []byte // the encoded change command, opaque to the overlay
	// DryRun asks the receiving member to check Cmd against its own
	// replica's state without proposing it, and to answer the serial the
	// change would give (Index zero) or the refusal it would meet. A
	// follower's state may lag its leader's by a few entries, so the
	// answer can differ from the outcome of the real change.
	DryRun bool
}

// SubmitChangeResponse is the leader's outcome of a SubmitChangeRequest.
// Code is empty on success; otherwise Code (stable, see Code* constants),
// Reason and Message say why, and Serial and Index are zero. The answer
// to a dry run has Index zero and Serial the serial the change would
// give.
//
// Body: u32 Serial, u64 Index, str16 Code, str16 Message; version 2 adds
// str16 Reason.
type SubmitChangeResponse struct {
	Serial  uint32 // the zone's SOA serial after the change
	Index   uint64 // the Raft log index the change committed at
	Code    string // "" on success
	Message string // human-readable detail when Code is set
	// Reason is the state machine's rejection reason (a raftfsm.Reason)
	// when Code is CodeRejected; version 2 only.
	Reason string
}

// Ping asks a peer whether it serves DDNRS-RPC. Body: empty.
type Ping struct{}

// Pong answers a Ping. Body: empty.
type Pong struct{}

// ErrorResponse is a server's refusal of a request it could not serve.
//
// Body: str16 Code, str16 Message; version 2 adds str16 Reason.
type ErrorResponse struct {
	Code    string // stable code, see Code* constants
	Message string // human-readable detail
	// Reason is the state machine's rejection reason when Code is
	// CodeRejected; version 2 only.
	Reason string
}

// FetchZoneRequest asks a member for the whole signed zone its group
// holds, as its local replica stores it.
//
// Body: str16 Zone, u32 MaxSize.
type FetchZoneRequest struct {
	Zone string // the zone's origin, presentation form
	// MaxSize is the largest zone text the client accepts, in bytes; the
	// server refuses a larger zone with CodeTooLarge rather than sending
	// it. 0 leaves the limit to the server.
	MaxSize uint32
}

// Zone forms of a FetchZoneResponse. Values are part of the wire format.
const (
	// ZoneFormPresentation is the zone file text (RFC 1035 §5) as
	// zone.Write produces it: every record, RRSIGs and NSECs included.
	ZoneFormPresentation uint8 = 1
)

// FetchZoneResponse carries a whole signed zone and its signed zone head.
// The receiver must verify both against the zone owner's key before use.
//
// Body: u8 Form, bytes32 Zone, bytes32 Head.
type FetchZoneResponse struct {
	Form uint8  // ZoneFormPresentation
	Zone []byte // the zone in Form
	Head []byte // the zone's signed head note
}

func (*QueryRequest) Kind() Kind         { return KindQueryRequest }
func (*FetchZoneRequest) Kind() Kind     { return KindFetchZoneRequest }
func (*FetchZoneResponse) Kind() Kind    { return KindFetchZoneResponse }
func (*QueryResponse) Kind() Kind        { return KindQueryResponse }
func (*SubmitChangeRequest) Kind() Kind  { return KindSubmitChangeRequest }
func (*SubmitChangeResponse) Kind() Kind { return KindSubmitChangeResponse }
func (*Ping) Kind() Kind                 { return KindPing }
func (*Pong) Kind() Kind                 { return KindPong }
func (*ErrorResponse) Kind() Kind        { return KindError }

const flagDO = 1

// flagDryRun is bit 0 of a SubmitChangeRequest's optional flags byte.
const flagDryRun = 1

func (m *QueryRequest) appendBody(b []byte, _ uint8) ([]byte, error) {
	b, err := appendStr16(b, m.Name)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, m.Type)
	var flags byte
	if m.DO {
		flags |= flagDO
	}
	return append(b, flags), nil
}

func (m *QueryResponse) appendBody(b []byte, _ uint8) ([]byte, error) {
	var err error
	for _, f := range [][]byte{m.Msg, m.Head, m.Proof} {
		if b, err = appendBytes32(b, f); err != nil {
			return nil, err
		}
	}
	if len(m.Audit) > math.MaxUint16 {
		return nil, fmt.Errorf("%w: %d audit hops", ErrTooLarge, len(m.Audit))
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Audit)))
	for _, h := range m.Audit {
		if b, err = appendStr16(b, h.Node); err != nil {
			return nil, err
		}
		b = append(b, h.Hash[:]...)
	}
	if len(m.Rollback) > 0 {
		return appendBytes32(b, m.Rollback)
	}
	return b, nil
}

func (m *SubmitChangeRequest) appendBody(b []byte, _ uint8) ([]byte, error) {
	b, err := appendStr16(b, m.Zone)
	if err != nil {
		return nil, err
	}
	if b, err = appendBytes32(b, m.Cmd); err != nil {
		return nil, err
	}
	if m.DryRun {
		b = append(b, flagDryRun)
	}
	return b, nil
}

func (m *SubmitChangeResponse) appendBody(b []byte, v uint8) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(b, m.Serial)
	b = binary.BigEndian.AppendUint64(b, m.Index)
	b, err := appendStr16(b, m.Code)
	if err != nil {
		return nil, err
	}
	if b, err = appendStr16(b, m.Message); err != nil {
		return nil, err
	}
	return appendReason(b, v, m.Reason)
}

// appendReason appends a version-2 Reason field; version 1 has none, and
// a message with a reason cannot be written in it (the server folds the
// reason into the message for such a peer: ForVersion).
func appendReason(b []byte, v uint8, reason string) ([]byte, error) {
	if v < 2 {
		if reason != "" {
			return nil, fmt.Errorf("%w: a reason needs wire version 2, not %d", ErrMalformed, v)
		}
		return b, nil
	}
	return appendStr16(b, reason)
}

func (m *FetchZoneRequest) appendBody(b []byte, _ uint8) ([]byte, error) {
	b, err := appendStr16(b, m.Zone)
	if err != nil {
		return nil, err
	}
	return binary.BigEndian.AppendUint32(b, m.MaxSize), nil
}

func (m *FetchZoneResponse) appendBody(b []byte, _ uint8) ([]byte, error) {
	if m.Form != ZoneFormPresentation {
		return nil, fmt.Errorf("%w: zone form %d", ErrMalformed, m.Form)
	}
	b = append(b, m.Form)
	b, err := appendBytes32(b, m.Zone)
	if err != nil {
		return nil, err
	}
	return appendBytes32(b, m.Head)
}

func (*Ping) appendBody(b []byte, _ uint8) ([]byte, error) { return b, nil }
func (*Pong) appendBody(b []byte, _ uint8) ([]byte, error) { return b, nil }

func (m *ErrorResponse) appendBody(b []byte, v uint8) ([]byte, error) {
	b, err := appendStr16(b, m.Code)
	if err != nil {
		return nil, err
	}
	if b, err = appendStr16(b, m.Message); err != nil {
		return nil, err
	}
	return appendReason(b, v, m.Reason)
}

// ForVersion returns m as a peer speaking wire version v reads it: for
// version 1, a refusal's reason moves in front of its message
// ("reason: message"), the form version-1 nodes expect. Other messages,
// and every message for version 2, are returned as they are.
func ForVersion(m Message, v uint8) Message {
	if v >= 2 {
		return m
	}
	fold := func(reason, msg string) string {
		if reason == "" {
			return msg
		}
		return reason + ": " + msg
	}
	switch m := m.(type) {
	case *ErrorResponse:
		if m.Reason != "" {
			return &ErrorResponse{Code: m.Code, Message: fold(m.Reason, m.Message)}
		}
	case *SubmitChangeResponse:
		if m.Reason != "" {
			c := *m
			c.Message, c.Reason = fold(m.Reason, m.Message), ""
			return &c
		}
	}
	return m
}

func appendStr16(b []byte, s string) ([]byte, error) {
	if len(s) > math.MaxUint16 {
		return nil, fmt.Errorf("%w: string field of %d bytes", ErrTooLarge, len(s))
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...), nil
}

func appendBytes32(b []byte, p []byte) ([]byte, error) {
	if uint64(len(p)) > math.MaxUint32 {
		return nil, fmt.Errorf("%w: field of %d bytes", ErrTooLarge, len(p))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...), nil
}

// AppendMessage appends the frame of m with request id id to b, in wire
// version WireVersion. It returns ErrTooLarge when the body exceeds
// maxBody bytes (DefaultMaxMessageSize when maxBody <= 0) or a field
// exceeds its length prefix.
func AppendMessage(b []byte, id uint64, m Message, maxBody int) ([]byte, error) {
	return AppendFrame(b, WireVersion, id, m, maxBody)
}

// AppendFrame is AppendMessage in wire version v (MinWireVersion to
// WireVersion). A field version v lacks (a Reason in version 1) must be
// empty: ErrMalformed otherwise.
func AppendFrame(b []byte, v uint8, id uint64, m Message, maxBody int) ([]byte, error) {
	if v < MinWireVersion || v > WireVersion {
		return nil, fmt.Errorf("%w: %d", ErrVersion, v)
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxMessageSize
	}
	start := len(b)
	b = append(b, magic[0], magic[1], v, byte(m.Kind()))
	b = binary.BigEndian.AppendUint64(b, id)
	b = append(b, 0, 0, 0, 0) // length, filled in below
	b, err := m.appendBody(b, v)
	if err != nil {
		return nil, err
	}
	n := len(b) - start - HeaderSize
	if n > maxBody {
		return nil, fmt.Errorf("%w: %s body of %d bytes, limit %d", ErrTooLarge, m.Kind(), n, maxBody)
	}
	binary.BigEndian.PutUint32(b[start+12:], uint32(n))
	return b, nil
}

// header is a decoded frame header.
type header struct {
	version uint8
	kind    Kind
	id      uint64
	size    uint32
}

// parseHeader checks and decodes a frame header; maxBody as in
// AppendMessage.
func parseHeader(h []byte, maxBody int) (header, error) {
	if maxBody <= 0 {
		maxBody = DefaultMaxMessageSize
	}
	if len(h) < HeaderSize {
		return header{}, fmt.Errorf("%w: header of %d bytes", ErrMalformed, len(h))
	}
	if h[0] != magic[0] || h[1] != magic[1] {
		return header{}, ErrBadMagic
	}
	if h[2] < MinWireVersion || h[2] > WireVersion {
		return header{}, fmt.Errorf("%w: %d", ErrVersion, h[2])
	}
	hd := header{
		version: h[2],
		kind:    Kind(h[3]),
		id:      binary.BigEndian.Uint64(h[4:12]),
		size:    binary.BigEndian.Uint32(h[12:16]),
	}
	if hd.kind < KindQueryRequest || hd.kind > maxKind {
		return header{}, fmt.Errorf("%w: %d", ErrUnknownKind, uint8(hd.kind))
	}
	if uint64(hd.size) > uint64(maxBody) {
		return header{}, fmt.Errorf("%w: %s body of %d bytes, limit %d", ErrTooLarge, hd.kind, hd.size, maxBody)
	}
	return hd, nil
}

// DecodeMessage decodes exactly one frame of any version this code reads
// from b: b must hold the header and the whole body and nothing after it.
// maxBody as in AppendMessage.
func DecodeMessage(b []byte, maxBody int) (id uint64, m Message, err error) {
	_, id, m, err = DecodeFrame(b, maxBody)
	return id, m, err
}

// DecodeFrame is DecodeMessage that also returns the frame's version.
func DecodeFrame(b []byte, maxBody int) (v uint8, id uint64, m Message, err error) {
	hd, err := parseHeader(b, maxBody)
	if err != nil {
		return 0, 0, nil, err
	}
	if uint64(len(b)-HeaderSize) != uint64(hd.size) {
		return 0, 0, nil, fmt.Errorf("%w: body of %d bytes, header says %d", ErrMalformed, len(b)-HeaderSize, hd.size)
	}
	m, err = decodeBody(hd.kind, hd.version, b[HeaderSize:])
	if err != nil {
		return 0, 0, nil, err
	}
	return hd.version, hd.id, m, nil
}

// WriteMessage writes the frame of m to w in one Write, in wire version
// WireVersion.
func WriteMessage(w io.Writer, id uint64, m Message, maxBody int) error {
	return WriteFrame(w, WireVersion, id, m, maxBody)
}

// WriteFrame is WriteMessage in wire version v.
func WriteFrame(w io.Writer, v uint8, id uint64, m Message, maxBody int) error {
	b, err := AppendFrame(nil, v, id, m, maxBody)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// ReadMessage reads one frame from r. The header is checked, including the
// size limit, before any body byte is read or buffered. A stream that ends
// before the first header byte returns io.EOF; one that ends inside a
// frame returns an error wrapping io.ErrUnexpectedEOF.
func ReadMessage(r io.Reader, maxBody int) (id uint64, m Message, err error) {
	_, id, m, err = ReadFrame(r, maxBody)
	return id, m, err
}

// ReadFrame is ReadMessage that also returns the frame's version.
func ReadFrame(r io.Reader, maxBody int) (v uint8, id uint64, m Message, err error) {
	var h [HeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, 0, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return 0, 0, nil, err
	}
	hd, err := parseHeader(h[:], maxBody)
	if err != nil {
		return 0, 0, nil, err
	}
	body := make([]byte, hd.size)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, nil, fmt.Errorf("%w: %s body: %w", ErrMalformed, hd.kind, err)
	}
	m, err = decodeBody(hd.kind, hd.version, body)
	if err != nil {
		return 0, 0, nil, err
	}
	return hd.version, hd.id, m, nil
}

// decodeBody decodes the body of a frame of kind k and version v.
func decodeBody(k Kind, v uint8, b []byte) (Message, error) {
	d := wire.Decoder{B: b, Malformed: ErrMalformed}
	var m Message
	switch k {
	case KindQueryRequest:
		q := &QueryRequest{Name: d.Str16(), Type: d.U16()}
		flags := d.U8()
		if flags&^flagDO != 0 {
			d.Fail("unknown query flags %#x", flags)
		}
		q.DO = flags&flagDO != 0
		m = q
	case KindQueryResponse:
		q := &QueryResponse{Msg: d.Bytes32(), Head: d.Bytes32(), Proof: d.Bytes32()}
		n := int(d.U16())
		if d.Err == nil && n > 0 {
			// Each hop needs at least 2+32 bytes: bound the allocation by
			// what the body can hold.
			if n > len(d.B)/(2+32) {
				d.Fail("%d audit hops in %d bytes", n, len(d.B))
			} else {
				q.Audit = make([]AuditHop, n)
				for i := range q.Audit {
					q.Audit[i].Node = d.Str16()
					copy(q.Audit[i].Hash[:], d.Take(32))
				}
			}
		}
		if d.Err == nil && len(d.B) > 0 {
			if q.Rollback = d.Bytes32(); d.Err == nil && len(q.Rollback) == 0 {
				d.Fail("empty rollback statement (omitted when empty)")
			}
		}
		m = q
	case KindSubmitChangeRequest:
		r := &SubmitChangeRequest{Zone: d.Str16(), Cmd: d.Bytes32()}
		if d.Err == nil && len(d.B) > 0 {
			flags := d.U8()
			switch {
			case flags == 0:
				d.Fail("zero change flags byte (omitted when zero)")
			case flags&^flagDryRun != 0:
				d.Fail("unknown change flags %#x", flags)
			}
			r.DryRun = flags&flagDryRun != 0
		}
		m = r
	case KindSubmitChangeResponse:
		r := &SubmitChangeResponse{Serial: d.U32(), Index: d.U64(), Code: d.Str16(), Message: d.Str16()}
		if v >= 2 {
			r.Reason = d.Str16()
		}
		m = r
	case KindPing:
		m = &Ping{}
	case KindPong:
		m = &Pong{}
	case KindError:
		e := &ErrorResponse{Code: d.Str16(), Message: d.Str16()}
		if v >= 2 {
			e.Reason = d.Str16()
		}
		m = e
	case KindFetchZoneRequest:
		m = &FetchZoneRequest{Zone: d.Str16(), MaxSize: d.U32()}
	case KindFetchZoneResponse:
		f := &FetchZoneResponse{Form: d.U8()}
		if d.Err == nil && f.Form != ZoneFormPresentation {
			d.Fail("unknown zone form %d", f.Form)
		}
		f.Zone, f.Head = d.Bytes32(), d.Bytes32()
		m = f
	default:
		return nil, fmt.Errorf("%w: %d", ErrUnknownKind, uint8(k))
	}
	if d.Err == nil && len(d.B) != 0 {
		d.Fail("%d trailing bytes", len(d.B))
	}
	if d.Err != nil {
		return nil, fmt.Errorf("%s: %w", k, d.Err)
	}
	return m, nil
}
