package translog

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ddnrs/ddnrs/internal/wire"
)

// Kind is what an Entry records. Values are part of the wire format and
// never change.
type Kind uint8

// The kinds of entries.
const (
	KindRegistration   Kind = 1  // a zone claimed by an owner key, placed on a group
	KindOwnerKeyChange Kind = 2  // a zone's owner key replaced
	KindSuspension     Kind = 3  // a zone suspended by the registry
	KindUnsuspension   Kind = 4  // a suspension lifted
	KindNodeAdmission  Kind = 5  // a node first seen in the directory (or moved group)
	KindRelease        Kind = 6  // a zone deleted and its name released
	KindCertRevocation Kind = 7  // a cluster certificate revoked: NodeAddrs holds "serial=HEX"
	KindNodeRemoval    Kind = 8  // a node removed from the directory for good (ddnrs ops node remove)
	KindZoneMove       Kind = 12 // a zone's claim moved to another group (ddnrs ops zone move): Group is the new one, NodeAddrs "from=OLD"
	// KindNodeApproval is a node's certificate request approved by an
	// operator (issue 14 item 2): NodeAddrs holds "scope=", "serial=",
	// "agreement=", "agreement-sha256=", "uptime=", "bandwidth-mbps=" and
	// "request-sha256=" (docs/transparency-log.md).
	KindNodeApproval Kind = 9
	// KindNodeRequest is a community node's certificate request submitted
	// to the registry's review (issue 14 item 2): NodeAddrs holds "id=",
	// "scope=", "agreement=", "agreement-sha256=", "uptime=",
	// "bandwidth-mbps=", "request-sha256=", "token-sha256=" and "csr="
	// (the request's DER, base64).
	KindNodeRequest Kind = 13
	// KindNodeRequestDecision is a step of a community node's request
	// after its submission: NodeAddrs holds "id=" and "status=" approved
	// (with "scope=", "serial=", "agreement=", "agreement-sha256=",
	// "uptime=", "bandwidth-mbps=", "request-sha256=" and "cert=", the
	// certificate's DER, base64), rejected (Reason: the reviewer's
	// message) or collected; Actor is the reviewer's key id.
	KindNodeRequestDecision Kind = 14
)

var kindNames = [...]string{
	KindRegistration:        "registration",
	KindOwnerKeyChange:      "owner-key-change",
	KindSuspension:          "suspension",
	KindUnsuspension:        "unsuspension",
	KindNodeAdmission:       "node-admission",
	KindRelease:             "release",
	KindCertRevocation:      "cert-revocation",
	KindNodeRemoval:         "node-removal",
	KindZoneMove:            "zone-move",
	KindNodeApproval:        "node-approval",
	KindNodeRequest:         "node-request",
	KindNodeRequestDecision: "node-request-decision",
}

// valid reports whether k is a kind this package knows: one with a name
// (kinds are not all consecutive: each is reserved for a feature).
func (k Kind) valid() bool { return int(k) < len(kindNames) && kindNames[k] != "" }

// String returns the kind's name ("registration", ..., "release"), or
// "kind(N)" for an unknown value.
func (k Kind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MarshalText returns the kind's name; unknown kinds are an error.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.valid() {
		return nil, fmt.Errorf("%w: unknown kind %d", ErrMalformedEntry, uint8(k))
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText parses a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n != "" && n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("%w: unknown kind %q", ErrMalformedEntry, b)
}

// EntryVersion is the first byte of every encoded Entry.
const EntryVersion = 0x01

// MaxField is the longest string field, and the most node addresses, an
// Entry may carry (each length is a 16-bit number on the wire).
const MaxField = math.MaxUint16

// maxUnix is 10000-01-01T00:00:00Z: entry times lie in years 1970 to
// 9999, so that RFC 3339 can write them.
const maxUnix = 253402300800

// Entry is one log entry. Its leaf data (what the Merkle tree hashes) is
// MarshalBinary's output. Which fields are set depends on Kind; unused
// fields are empty.
type Entry struct {
	Kind      Kind
	Time      time.Time // whole seconds, 1970 to 9999; taken from the Raft command, never a replica's clock
	Zone      string    // canonical (lower-case, trailing dot); "" for node admission
	OwnerKey  string    // DNSKEY RR, presentation format (registration, owner-key-change)
	Group     string    // placement group (registration) or the node's group (admission)
	Region    string    // requested region (registration) or the node's region (admission)
	Reason    string    // suspension / unsuspension
	Actor     string    // API key id, or "operator"
	NodeID    string    // admission
	NodeAddrs []string  // admission: "dns=host:port", "peer=<libp2p id>", ...; revocation: "serial=<hex>"
}

// strings returns the entry's string fields in wire order.
func (e *Entry) strings() [7]*string {
	return [7]*string{&e.Zone, &e.OwnerKey, &e.Group, &e.Region, &e.Reason, &e.Actor, &e.NodeID}
}

var fieldNames = [7]string{"zone", "owner key", "group", "region", "reason", "actor", "node id"}

// validate checks what both MarshalBinary and ParseEntry require, so that
// every entry ParseEntry accepts encodes back to the same bytes.
func (e *Entry) validate() error {
	if !e.Kind.valid() {
		return fmt.Errorf("%w: unknown kind %d", ErrMalformedEntry, uint8(e.Kind))
	}
	for i, p := range e.strings() {
		if len(*p) > MaxField {
			return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrMalformedEntry, fieldNames[i], len(*p), MaxField)
		}
		if !utf8.ValidString(*p) {
			return fmt.Errorf("%w: %s is not UTF-8", ErrMalformedEntry, fieldNames[i])
		}
	}
	if len(e.NodeAddrs) > MaxField {
		return fmt.Errorf("%w: %d node addresses, at most %d", ErrMalformedEntry, len(e.NodeAddrs), MaxField)
	}
	for _, a := range e.NodeAddrs {
		if len(a) > MaxField || !utf8.ValidString(a) {
			return fmt.Errorf("%w: node address too long or not UTF-8", ErrMalformedEntry)
		}
	}
	if s := e.Time.Unix(); s < 0 || s >= maxUnix {
		return fmt.Errorf("%w: time %d is not between 1970 and 9999", ErrMalformedEntry, s)
	}
	switch {
	case e.Kind == KindNodeAdmission, e.Kind == KindNodeRemoval, e.Kind == KindNodeApproval, e.Kind == KindNodeRequest, e.Kind == KindNodeRequestDecision:
		if e.NodeID == "" {
			return fmt.Errorf("%w: %s without a node id", ErrMalformedEntry, e.Kind)
		}
	case e.Kind == KindCertRevocation:
		if _, err := RevokedSerial(*e); err != nil {
			return err
		}
	case e.Zone == "":
		return fmt.Errorf("%w: %s without a zone", ErrMalformedEntry, e.Kind)
	}
	if e.Zone != "" && (!strings.HasSuffix(e.Zone, ".") || strings.ToLower(e.Zone) != e.Zone) {
		return fmt.Errorf("%w: zone %q is not canonical (lower case, trailing dot)", ErrMalformedEntry, e.Zone)
	}
	return nil
}

// RevokedSerial returns the serial number a cert-revocation entry
// revokes: its one "serial=HEX" address, lower-case hexadecimal without
// leading zeros (as fmt's %x writes a big.Int), at most 40 digits (RFC
// 5280 serials are at most 20 octets). ErrMalformedEntry otherwise.
func RevokedSerial(e Entry) (string, error) {
	if e.Kind != KindCertRevocation || len(e.NodeAddrs) != 1 {
		return "", fmt.Errorf("%w: a cert revocation names one serial (serial=HEX)", ErrMalformedEntry)
	}
	hex, ok := strings.CutPrefix(e.NodeAddrs[0], "serial=")
	if !ok || !CanonicalSerial(hex) {
		return "", fmt.Errorf("%w: cert revocation %q: want serial=HEX, lower-case, no leading zeros, 1 to 40 digits", ErrMalformedEntry, e.NodeAddrs[0])
	}
	return hex, nil
}

// CanonicalSerial reports whether hex is a certificate serial number as
// revocations write it: lower-case hexadecimal, no leading zeros, 1 to 40
// digits.
func CanonicalSerial(hex string) bool {
	if hex == "" || len(hex) > 40 || hex[0] == '0' {
		return false
	}
	for _, r := range hex {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// MarshalBinary returns the entry's leaf data: version byte 0x01, kind
// byte, time as a big-endian int64 of Unix seconds, then Zone, OwnerKey,
// Group, Region, Reason, Actor and NodeID each as a big-endian uint16
// length and that many UTF-8 bytes, then a uint16 count of NodeAddrs and
// each address the same way. The encoding is deterministic; it fails
// (ErrMalformedEntry) when the time is not whole seconds or validation
// fails.
func (e Entry) MarshalBinary() ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	if e.Time.Nanosecond() != 0 {
		return nil, fmt.Errorf("%w: time %s is not whole seconds", ErrMalformedEntry, e.Time)
	}
	n := 2 + 8 + 2
	for _, p := range e.strings() {
		n += 2 + len(*p)
	}
	for _, a := range e.NodeAddrs {
		n += 2 + len(a)
	}
	b := make([]byte, 0, n)
	b = append(b, EntryVersion, byte(e.Kind))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.Unix()))
	for _, p := range e.strings() {
		b = appendString(b, *p)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.NodeAddrs)))
	for _, a := range e.NodeAddrs {
		b = appendString(b, a)
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// ParseEntry decodes leaf data written by MarshalBinary. It is strict:
// any other version, an unknown kind, a truncated or over-long input, a
// field that is not UTF-8 or an entry MarshalBinary would refuse is
// ErrMalformedEntry, so every accepted input re-encodes to the same
// bytes. The returned Time is in UTC.
func ParseEntry(b []byte) (Entry, error) {
	d := wire.Decoder{B: b, Malformed: ErrMalformedEntry}
	var e Entry
	if v := d.U8(); d.Err == nil && v != EntryVersion {
		return Entry{}, fmt.Errorf("%w: version %d, want %d", ErrMalformedEntry, v, EntryVersion)
	}
	e.Kind = Kind(d.U8())
	e.Time = time.Unix(int64(d.U64()), 0).UTC()
	for _, p := range e.strings() {
		*p = d.Str16()
	}
	if n := int(d.U16()); d.Err == nil && n > 0 {
		if n > len(d.B)/2 {
			return Entry{}, fmt.Errorf("%w: %d node addresses in %d bytes", ErrMalformedEntry, n, len(d.B))
		}
		e.NodeAddrs = make([]string, n)
		for i := range e.NodeAddrs {
			e.NodeAddrs[i] = d.Str16()
		}
	}
	if d.Err != nil {
		return Entry{}, d.Err
	}
	if len(d.B) != 0 {
		return Entry{}, fmt.Errorf("%w: %d bytes after the entry", ErrMalformedEntry, len(d.B))
	}
	if err := e.validate(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// entryJSON is the JSON form of an Entry, as the REST API serves it.
type entryJSON struct {
	Kind      Kind      `json:"kind"`
	Time      time.Time `json:"time"`
	Zone      string    `json:"zone,omitempty"`
	OwnerKey  string    `json:"owner_key,omitempty"`
	Group     string    `json:"group,omitempty"`
	Region    string    `json:"region,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	NodeID    string    `json:"node_id,omitempty"`
	NodeAddrs []string  `json:"node_addrs,omitempty"`
}

// MarshalJSON returns {"kind":"registration","time":"RFC 3339",
// "zone":...,"owner_key":...,"group":...,"region":...,"reason":...,
// "actor":...,"node_id":...,"node_addrs":[...]}, empty fields left out.
// The JSON form is for reading; the leaf data is what is signed.
func (e Entry) MarshalJSON() ([]byte, error) {
	return json.Marshal(entryJSON{
		Kind: e.Kind, Time: e.Time.UTC(), Zone: e.Zone, OwnerKey: e.OwnerKey, Group: e.Group,
		Region: e.Region, Reason: e.Reason, Actor: e.Actor, NodeID: e.NodeID, NodeAddrs: e.NodeAddrs,
	})
}

// UnmarshalJSON parses MarshalJSON's output.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var j entryJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Entry{
		Kind: j.Kind, Time: j.Time.UTC(), Zone: j.Zone, OwnerKey: j.OwnerKey, Group: j.Group,
		Region: j.Region, Reason: j.Reason, Actor: j.Actor, NodeID: j.NodeID, NodeAddrs: j.NodeAddrs,
	}
	return nil
}
