package raftfsm

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/ddnrs/ddnrs/internal/wire"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// CommandType is the first byte of a Raft command. Its high bit,
// IgnoreUnknown, tells a replica that does not know the type to skip the
// command instead of halting; the low seven bits name the type.
type CommandType uint8

// IgnoreUnknown is the flag bit of a CommandType that lets replicas that
// do not know the type skip the command (consul's IgnoreUnknownTypeFlag).
// Only commands whose loss cannot make replicas diverge may carry it.
const IgnoreUnknown CommandType = 0x80

// The command types. Their numbers are part of the log format: never
// renumber or reuse one.
const (
	TypeCreateZone    CommandType = 1
	TypePublishChange CommandType = 2
	TypeRotateKey     CommandType = 3
	TypeDeleteZone    CommandType = 4
	TypeSuspend       CommandType = 5
	TypeUnsuspend     CommandType = 6
	TypeSetMember     CommandType = 7
	// Types 8 to 16 are the registry's (registry.go).
	TypeStageBegin  CommandType = 17 // a staged upload (stage.go)
	TypeStageChunk  CommandType = 18
	TypeStageCommit CommandType = 19
)

func (t CommandType) String() string {
	names := map[CommandType]string{
		TypeCreateZone: "create-zone", TypePublishChange: "publish-change", TypeRotateKey: "rotate-key",
		TypeDeleteZone: "delete-zone", TypeSuspend: "suspend", TypeUnsuspend: "unsuspend", TypeSetMember: "set-member",
		TypeStageBegin: "stage-begin", TypeStageChunk: "stage-chunk", TypeStageCommit: "stage-commit",
		TypeLeaseChange: "lease-change", TypeExpireZone: "expire-zone", TypeDropZone: "drop-zone",
		TypeCollectKey: "collect-key", TypeZoneDropped: "zone-dropped", TypeRecordRollback: "record-rollback",
	}
	if n, ok := names[t&^IgnoreUnknown]; ok {
		return n
	}
	if n, ok := registryTypeNames[t&^IgnoreUnknown]; ok {
		return n
	}
	return "type-" + strconv.Itoa(int(t))
}

// commandVersion1 is the body version of every command type, but for
// ClaimZone (versions 2 and 3 too) and ChangeOwnerKey (version 2 too)
// (registry_codec.go). The body version is the second byte of a command.
const commandVersion1 = 1

// Errors of command encoding and decoding.
var (
	// ErrMalformedCommand is returned by DecodeCommand when the bytes are
	// not a well-formed command of a known type and version (truncated,
	// trailing bytes, bad lengths, records that do not unpack), and by
	// EncodeCommand when a command cannot be encoded.
	ErrMalformedCommand = errors.New("malformed command")
	// ErrCommandVersion is returned (wrapped in ErrMalformedCommand) by
	// DecodeCommand for a known type with a body version it does not know.
	ErrCommandVersion = errors.New("unknown command version")
)

// UnknownCommandError is returned by DecodeCommand when the type byte
// names no type this build knows. Ignorable says whether the command
// carries the IgnoreUnknown flag.
type UnknownCommandError struct {
	Type      CommandType
	Ignorable bool
}

func (e *UnknownCommandError) Error() string {
	if e.Ignorable {
		return fmt.Sprintf("unknown command type %#02x (ignorable)", uint8(e.Type))
	}
	return fmt.Sprintf("unknown command type %#02x", uint8(e.Type))
}

// Command is one decoded Raft command: *CreateZone, *PublishChange,
// *RotateKey, *DeleteZone, *Suspend, *Unsuspend or *SetMember, or one of
// the registry commands (registry.go).
type Command interface {
	Type() CommandType
}

// CreateZone creates a zone and binds it to its owner's key. Change is
// the whole signed zone (zone.SignedDiff(nil, z)).
type CreateZone struct {
	Change zone.ChangeSet
	Owner  *dns.DNSKEY // the owner key; every later change must be signed by it
}

// PublishChange changes a zone: a ChangeSet signed by the owner key.
type PublishChange struct {
	Change zone.ChangeSet
}

// RotateKey replaces a zone's owner key. Change turns the current zone
// into the zone signed by NewKey; Proof is the old key's Ed25519
// signature over RotateStatement(zone, NewKey, new serial).
type RotateKey struct {
	Change zone.ChangeSet
	NewKey *dns.DNSKEY
	Proof  []byte
}

// DeleteZone deletes a zone. Proof is the owner key's Ed25519 signature
// over DeleteStatement(Zone, Serial); Serial must be the zone's current
// serial, so an old deletion cannot be replayed on a zone created again.
type DeleteZone struct {
	Zone   string
	Serial uint32
	Proof  []byte
}

// Suspend stops a zone from being served (an operator's decision, taken
// through the mutually authenticated admin endpoint); the zone is kept,
// and its owner may still change it, delete it or rotate its key.
type Suspend struct {
	Zone   string
	Reason string
}

// Unsuspend serves a suspended zone again.
type Unsuspend struct {
	Zone   string
	Reason string
}

// SetMember records the admin and DNS addresses of the group member with
// Raft server ID ID; with both addresses empty it forgets the member.
type SetMember struct {
	ID    string
	Admin string // host:port of the admin endpoint (HTTPS)
	DNS   string // host:port the member answers DNS on
}

func (*CreateZone) Type() CommandType    { return TypeCreateZone }
func (*PublishChange) Type() CommandType { return TypePublishChange }
func (*RotateKey) Type() CommandType     { return TypeRotateKey }
func (*DeleteZone) Type() CommandType    { return TypeDeleteZone }
func (*Suspend) Type() CommandType       { return TypeSuspend }
func (*Unsuspend) Type() CommandType     { return TypeUnsuspend }
func (*SetMember) Type() CommandType     { return TypeSetMember }

// RotateStatement is the text the old owner key signs to hand a zone to
// a new key: "ddnrs-rotate/v1\n<zone>\n<new key tag>\n<new public key,
// base64>\n<new serial>\n".
func RotateStatement(origin string, newKey *dns.DNSKEY, serial uint32) []byte {
	return fmt.Appendf(nil, "ddnrs-rotate/v1\n%s\n%d\n%s\n%d\n", zone.CanonicalName(origin), newKey.KeyTag(), newKey.PublicKey, serial)
}

// DeleteStatement is the text the owner key signs to delete a zone:
// "ddnrs-delete/v1\n<zone>\n<current serial>\n".
func DeleteStatement(origin string, serial uint32) []byte {
	return fmt.Appendf(nil, "ddnrs-delete/v1\n%s\n%d\n", zone.CanonicalName(origin), serial)
}

// EncodeCommand returns the log bytes of c:
//
//	byte  type (CommandType, IgnoreUnknown clear for every type so far)
//	byte  body version (1; ClaimZone 1, 2 or 3, ChangeOwnerKey 1 or 2, see registry_codec.go)
//	body  by type, below
//
// Strings are a uint16 length and the bytes; byte strings and records a
// uint32 length and the bytes; integers big-endian. A ChangeSet is: zone
// string, uint32 put count, each put RRset in the zone store's RRset value
// form (records and RRSIGs, see encodeRRset) as a byte string, uint32
// delete count, each an owner string and a uint16 type, then the head as
// a byte string. A DNSKEY is an uncompressed wire-format RR as a byte
// string. Bodies:
//
//	CreateZone:    ChangeSet, owner DNSKEY
//	PublishChange: ChangeSet
//	RotateKey:     ChangeSet, new DNSKEY, proof (byte string)
//	DeleteZone:    zone string, uint32 serial, proof (byte string)
//	Suspend:       zone string, reason string
//	Unsuspend:     zone string, reason string
//	SetMember:     id string, admin string, DNS string
//
// The registry commands (types 8 to 16) are described in registry_codec.go,
// the staged upload's (17 to 19) in stage.go.
func EncodeCommand(c Command) ([]byte, error) {
	e := &encoder{b: []byte{byte(c.Type()), commandVersion(c)}}
	switch c := c.(type) {
	case *CreateZone:
		e.changeSet(c.Change)
		e.dnskey(c.Owner)
	case *PublishChange:
		e.changeSet(c.Change)
	case *RotateKey:
		e.changeSet(c.Change)
		e.dnskey(c.NewKey)
		e.bytes(c.Proof)
	case *DeleteZone:
		e.str(c.Zone)
		e.u32(c.Serial)
		e.bytes(c.Proof)
	case *Suspend:
		e.str(c.Zone)
		e.str(c.Reason)
	case *Unsuspend:
		e.str(c.Zone)
		e.str(c.Reason)
	case *SetMember:
		e.str(c.ID)
		e.str(c.Admin)
		e.str(c.DNS)
	default:
		if !encodeStageCommand(e, c) && !encodeRegistryCommand(e, c) && !encodeLeaseCommand(e, c) && !encodeMembershipCommand(e, c) && !encodeOwnerCommand(e, c) && !encodeRollbackCommand(e, c) {
			return nil, fmt.Errorf("%w: command of type %T", ErrMalformedCommand, c)
		}
	}
	if e.err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformedCommand, c.Type(), e.err)
	}
	return e.b, nil
}

// DecodeCommand parses log bytes written by EncodeCommand. An unknown
// type gives *UnknownCommandError; anything else that does not parse
// gives an error wrapping ErrMalformedCommand. It never panics, whatever
// the input (FuzzDecodeCommand).
func DecodeCommand(b []byte) (Command, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformedCommand, len(b))
	}
	t := CommandType(b[0])
	var c Command
	switch t {
	case TypeCreateZone:
		c = &CreateZone{}
	case TypePublishChange:
		c = &PublishChange{}
	case TypeRotateKey:
		c = &RotateKey{}
	case TypeDeleteZone:
		c = &DeleteZone{}
	case TypeSuspend:
		c = &Suspend{}
	case TypeUnsuspend:
		c = &Unsuspend{}
	case TypeSetMember:
		c = &SetMember{}
	default:
		if c = newStageCommand(t); c != nil {
			break
		}
		if c = newRegistryCommand(t); c != nil {
			break
		}
		if c = newLeaseCommand(t); c != nil {
			break
		}
		if c = newRollbackCommand(t); c != nil {
			break
		}
		if c = newMembershipCommand(t); c != nil {
			break
		}
		if c = newOwnerCommand(t); c != nil {
			break
		}
		return nil, &UnknownCommandError{Type: t, Ignorable: t&IgnoreUnknown != 0}
	}
	if !knownVersion(t, b[1]) {
		return nil, fmt.Errorf("%w: %w: %s version %d", ErrMalformedCommand, ErrCommandVersion, t, b[1])
	}
	d := newDecoder(b[2:])
	switch c := c.(type) {
	case *CreateZone:
		c.Change = d.changeSet()
		c.Owner = d.dnskey()
	case *PublishChange:
		c.Change = d.changeSet()
	case *RotateKey:
		c.Change = d.changeSet()
		c.NewKey = d.dnskey()
		c.Proof = d.bytes()
	case *DeleteZone:
		c.Zone = d.Str16()
		c.Serial = d.U32()
		c.Proof = d.bytes()
	case *Suspend:
		c.Zone = d.Str16()
		c.Reason = d.Str16()
	case *Unsuspend:
		c.Zone = d.Str16()
		c.Reason = d.Str16()
	case *SetMember:
		c.ID = d.Str16()
		c.Admin = d.Str16()
		c.DNS = d.Str16()
	default:
		if !decodeStageCommand(d, c) && !decodeLeaseCommand(d, c) && !decodeMembershipCommand(d, c) && !decodeOwnerCommand(d, c) && !decodeRollbackCommand(d, c) {
			decodeRegistryCommand(d, c, b[1])
		}
	}
	if d.Err == nil && len(d.B) > 0 {
		d.Err = fmt.Errorf("%d bytes after the body", len(d.B))
	}
	if d.Err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformedCommand, t, d.Err)
	}
	return c, nil
}

// encoder appends the primitives of the command format; the first error
// sticks.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }

func (e *encoder) str(s string) {
	if len(s) > math.MaxUint16 {
		e.fail(fmt.Errorf("string of %d bytes", len(s)))
		return
	}
	e.b = binary.BigEndian.AppendUint16(e.b, uint16(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) bytes(p []byte) {
	if uint64(len(p)) > math.MaxUint32 {
		e.fail(fmt.Errorf("byte string of %d bytes", len(p)))
		return
	}
	e.u32(uint32(len(p)))
	e.b = append(e.b, p...)
}

func (e *encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *encoder) rr(rr dns.RR) {
	if rr == nil {
		e.fail(errors.New("no record"))
		return
	}
	var m dns.Msg
	wire, err := appendRR(nil, &m, rr)
	if err != nil {
		e.fail(err)
		return
	}
	e.bytes(wire)
}

func (e *encoder) dnskey(k *dns.DNSKEY) {
	if k == nil {
		e.fail(errors.New("no DNSKEY"))
		return
	}
	e.rr(k)
}

func (e *encoder) changeSet(cs zone.ChangeSet) {
	e.str(cs.Zone)
	e.u32(uint32(len(cs.Put)))
	for _, s := range cs.Put {
		if s == nil {
			e.fail(errors.New("nil RRset"))
			return
		}
		v, err := encodeRRset(s)
		if err != nil {
			e.fail(err)
			return
		}
		e.bytes(v)
	}
	e.u32(uint32(len(cs.Delete)))
	for _, k := range cs.Delete {
		e.str(k.Name)
		e.b = binary.BigEndian.AppendUint16(e.b, k.Type)
	}
	e.bytes(cs.Head)
}

// decoder reads the primitives of the command format (wire.Decoder: the
// first error sticks and later reads return zero values) and its records.
type decoder struct{ wire.Decoder }

func newDecoder(b []byte) *decoder { return &decoder{wire.Decoder{B: b}} }

// bytes reads a byte string with a uint32 length as a copy, so a decoded
// command never aliases the Raft log's buffer.
func (d *decoder) bytes() []byte { return append([]byte(nil), d.Bytes32()...) }

func (d *decoder) rr() dns.RR {
	p := d.bytes()
	if d.Err != nil {
		return nil
	}
	rr, off, err := dns.UnpackRR(p, 0)
	switch {
	case err != nil:
		d.Err = fmt.Errorf("record: %w", err)
	case rr == nil:
		d.Err = errors.New("empty record")
	case off != len(p):
		d.Err = fmt.Errorf("%d bytes after a record", len(p)-off)
	}
	if d.Err != nil {
		return nil
	}
	return rr
}

func (d *decoder) dnskey() *dns.DNSKEY {
	rr := d.rr()
	if d.Err != nil {
		return nil
	}
	k, ok := rr.(*dns.DNSKEY)
	if !ok {
		d.Err = fmt.Errorf("%s record where a DNSKEY belongs", dns.TypeToString[rr.Header().Rrtype])
		return nil
	}
	k.Hdr.Name = zone.CanonicalName(k.Hdr.Name)
	return k
}

func (d *decoder) changeSet() zone.ChangeSet {
	var cs zone.ChangeSet
	cs.Zone = d.Str16()
	n := d.Count(4)
	for range n {
		v := d.bytes()
		if d.Err != nil {
			return cs
		}
		s, err := decodeRRset(v)
		if err != nil {
			d.Err = fmt.Errorf("put RRset %d: %w", len(cs.Put), err)
			return cs
		}
		cs.Put = append(cs.Put, s)
	}
	n = d.Count(4)
	for range n {
		name := d.Str16()
		t := d.U16()
		if d.Err != nil {
			return cs
		}
		cs.Delete = append(cs.Delete, zone.RRKey{Name: name, Type: t})
	}
	cs.Head = d.bytes()
	return cs
}

// ownerKey makes a verify-only zone.Key of a DNSKEY bound to origin.
func ownerKey(origin string, dk *dns.DNSKEY) (*zone.Key, error) {
	if dk == nil || dk.Algorithm != dns.ED25519 {
		return nil, errors.New("owner key is not an Ed25519 DNSKEY")
	}
	if zone.CanonicalName(dk.Hdr.Name) != zone.CanonicalName(origin) {
		return nil, fmt.Errorf("owner DNSKEY is for %s, not %s", dk.Hdr.Name, origin)
	}
	k := &zone.Key{Zone: zone.CanonicalName(origin), DNSKEY: dk}
	if len(k.Public()) != ed25519.PublicKeySize {
		return nil, errors.New("owner DNSKEY does not hold an Ed25519 public key")
	}
	return k, nil
}

// ChangeCommand returns the command an owner sends to publish the signed
// zone next: CreateZone binding k when old is nil (the group has no such
// zone), PublishChange with zone.SignedDiff(old, next) otherwise. next
// must be signed by k (zone.Sign or zone.Apply); old is the group's
// current copy. To change keys use RotateCommand.
func ChangeCommand(old, next *zone.Zone, k *zone.Key) ([]byte, error) {
	if next == nil || next.Head == nil {
		return nil, fmt.Errorf("%w: the new zone is not signed", ErrMalformedCommand)
	}
	if k == nil || k.DNSKEY == nil {
		return nil, fmt.Errorf("%w: no owner key", ErrMalformedCommand)
	}
	if old == nil {
		return EncodeCommand(&CreateZone{Change: zone.SignedDiff(nil, next), Owner: k.DNSKEY})
	}
	return EncodeCommand(&PublishChange{Change: zone.SignedDiff(old, next)})
}

// RotateCommand returns the RotateKey command that moves the zone old,
// owned by oldKey, to next, signed by newKey; oldKey must hold its
// private half, which signs the hand-over statement.
func RotateCommand(old, next *zone.Zone, oldKey, newKey *zone.Key) ([]byte, error) {
	if old == nil || next == nil || next.Head == nil {
		return nil, fmt.Errorf("%w: rotation needs the current and the new signed zone", ErrMalformedCommand)
	}
	if oldKey == nil || len(oldKey.Private) != ed25519.PrivateKeySize || newKey == nil || newKey.DNSKEY == nil {
		return nil, fmt.Errorf("%w: rotation needs the old private key and the new key", ErrMalformedCommand)
	}
	proof := ed25519.Sign(oldKey.Private, RotateStatement(next.Origin, newKey.DNSKEY, next.Serial()))
	return EncodeCommand(&RotateKey{Change: zone.SignedDiff(old, next), NewKey: newKey.DNSKEY, Proof: proof})
}

// DeleteCommand returns the DeleteZone command for z, the group's
// current copy, signed by its owner key k (private half needed).
func DeleteCommand(z *zone.Zone, k *zone.Key) ([]byte, error) {
	if z == nil || k == nil || len(k.Private) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: deletion needs the zone and the owner's private key", ErrMalformedCommand)
	}
	proof := ed25519.Sign(k.Private, DeleteStatement(z.Origin, z.Serial()))
	return EncodeCommand(&DeleteZone{Zone: z.Origin, Serial: z.Serial(), Proof: proof})
}
