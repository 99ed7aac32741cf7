package zone

// rollback.go: the owner's consent to a rollback (issue 17 item 7). A
// snapshot restore can move a zone back to an older serial; everyone
// who verified the newer one would refuse the older as a replay (the
// serial floor, client/floor.go). The owner consents with a rollback
// statement: a signed note, signed like the zone head by the owner key,
// naming the zone, the serial it goes back from, the serial it goes back
// to, and the Merkle root of the version it goes back to. A group takes
// a restore that lowers a zone's serial only with one, keeps it beside
// the zone, and hands it with its answers; a verifier whose floor is at
// most From accepts exactly that version (serial To, that root) and
// lowers its floor to To.

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"
	"golang.org/x/mod/sumdb/note"
)

// rollbackMagic is the first line of a rollback statement's text.
const rollbackMagic = "ddnrs-rollback/v1"

// ErrBadRollback is returned by ParseRollback when a statement is not a
// well-formed version 1 rollback statement, and by NewRollback when its
// serials do not go back.
var ErrBadRollback = errors.New("malformed rollback statement")

// Rollback is an owner's signed consent to zone Zone going back from
// serial From to the version with serial To and Merkle root Root.
type Rollback struct {
	Zone     string // canonical
	From, To uint32
	Root     [32]byte
	Note     []byte // the signed note
}

// NewRollback signs a rollback statement with owner key k:
//
//	ddnrs-rollback/v1
//	<zone, canonical presentation form>
//	<from serial, decimal>
//	<to serial, decimal>
//	<root of the version gone back to, standard base64 with padding>
//
// (every line ending in "\n"), a signed note with the key name and hash
// of the zone head's (NewHead). To must be below From in serial number
// arithmetic (RFC 1982), else ErrBadRollback.
func NewRollback(k *Key, from, to uint32, root [32]byte) (*Rollback, error) {
	if k == nil || len(k.Private) == 0 {
		return nil, ErrNoPrivateKey
	}
	if !SerialAbove(from, to) {
		return nil, fmt.Errorf("%w: serial %d is not below %d", ErrBadRollback, to, from)
	}
	r := &Rollback{Zone: CanonicalName(k.Zone), From: from, To: to, Root: root}
	signer, err := newNoteSigner(r.Zone, k.Private)
	if err != nil {
		return nil, err
	}
	if r.Note, err = note.Sign(&note.Note{Text: r.text()}, signer); err != nil {
		return nil, fmt.Errorf("signing rollback: %w", err)
	}
	return r, nil
}

func (r *Rollback) text() string {
	return fmt.Sprintf("%s\n%s\n%d\n%d\n%s\n", rollbackMagic, r.Zone, r.From, r.To, base64.StdEncoding.EncodeToString(r.Root[:]))
}

// ParseRollback verifies that msg is a rollback statement signed by owner
// key k and returns it: ErrBadRollback when its text is not one, else
// ParseHead's errors (ErrBadSignature, ErrWrongZone, ...).
func ParseRollback(msg []byte, k *Key) (*Rollback, error) {
	text, origin, err := openOwnerNote(msg, k, "rollback statement")
	if err != nil {
		return nil, err
	}
	r, err := parseRollbackText(text)
	if err != nil {
		return nil, err
	}
	if r.Zone != origin {
		return nil, fmt.Errorf("%w: statement names %s, key is for %s", ErrWrongZone, r.Zone, origin)
	}
	r.Note = bytes.Clone(msg)
	return r, nil
}

// parseRollbackText parses a statement's text strictly: exactly the five
// lines NewRollback writes.
func parseRollbackText(text string) (*Rollback, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 6 || lines[5] != "" {
		return nil, fmt.Errorf("%w: want 5 lines, got %d", ErrBadRollback, len(lines)-1)
	}
	if lines[0] != rollbackMagic {
		return nil, fmt.Errorf("%w: first line %q, want %q", ErrBadRollback, lines[0], rollbackMagic)
	}
	r := &Rollback{Zone: lines[1]}
	if _, ok := dns.IsDomainName(r.Zone); !ok || r.Zone == "" || CanonicalName(r.Zone) != r.Zone {
		return nil, fmt.Errorf("%w: zone %q is not a canonical name", ErrBadRollback, r.Zone)
	}
	for i, p := range []*uint32{&r.From, &r.To} {
		v, err := parseDecimal(lines[2+i], 32)
		if err != nil {
			return nil, fmt.Errorf("%w: serial: %v", ErrBadRollback, err)
		}
		*p = uint32(v)
	}
	if !SerialAbove(r.From, r.To) {
		return nil, fmt.Errorf("%w: serial %d is not below %d", ErrBadRollback, r.To, r.From)
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[4])
	if err != nil || len(root) != 32 || base64.StdEncoding.EncodeToString(root) != lines[4] {
		return nil, fmt.Errorf("%w: root %q is not 32 bytes of base64", ErrBadRollback, lines[4])
	}
	r.Root = [32]byte(root)
	return r, nil
}

// Covers reports whether r consents to head h: the same zone, serial To
// and root Root.
func (r *Rollback) Covers(h *Head) bool {
	return h != nil && h.Zone == r.Zone && h.Serial == r.To && h.Root == r.Root
}

// RootText is a Merkle root as statements and heads write it: standard
// base64 with padding.
func RootText(root [32]byte) string { return base64.StdEncoding.EncodeToString(root[:]) }

// ParseRootText reads RootText's form (ErrBadRollback otherwise).
func ParseRootText(s string) ([32]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != 32 {
		return [32]byte{}, fmt.Errorf("%w: root %q is not 32 bytes of base64", ErrBadRollback, s)
	}
	return [32]byte(b), nil
}
