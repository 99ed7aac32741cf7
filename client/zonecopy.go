package client

// zonecopy.go: a whole zone received from its group (DDNRS-RPC
// FetchZone), used only once VerifyZone has checked it against the zone
// owner's key: the head's signature, every RRSIG and the NSEC chain
// (zone.CheckSigned), that the Merkle tree of the records is the one the
// head signs (root, size, serial), and that the serial is not below the
// highest one already verified for the zone (the same record
// VerifyAnswer keeps for answers).

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ddnrs/ddnrs/zone"
)

// ErrZoneMismatch is returned by VerifyZone when a zone's records do not
// make the Merkle tree (root, size) or serial its signed head names.
var ErrZoneMismatch = errors.New("zone content does not match its signed head")

// VerifyZone checks a whole zone (text in presentation form, as
// zone.Write writes it) and its signed head, received for origin from
// a member of its group, against origin's owner key, and returns the zone with
// its Head set. On success it raises the zone's highest serial. Any error
// is a *VerifyError.
func (v *Verifier) VerifyZone(origin string, text, head []byte) (*zone.Zone, error) {
	origin = zone.CanonicalName(origin)
	key := v.anchor(origin)
	if key == nil {
		return nil, &VerifyError{Zone: origin, Err: ErrNoTrustAnchor}
	}
	fail := func(serial uint32, err error) (*zone.Zone, error) {
		return nil, &VerifyError{Zone: origin, Serial: serial, Err: err}
	}
	h, err := zone.ParseHead(head, key)
	if err != nil {
		return fail(0, err)
	}
	if h.Zone != origin {
		return fail(h.Serial, zone.ErrWrongZone)
	}
	if err := v.checkFloor(origin, key, h.Serial); err != nil {
		return fail(h.Serial, err)
	}
	z, err := zone.ParseFile(bytes.NewReader(text), origin, "zone "+origin+" from the overlay")
	if err != nil {
		return fail(h.Serial, fmt.Errorf("%w: %w", ErrBadResponse, err))
	}
	if z.Serial() != h.Serial {
		return fail(h.Serial, fmt.Errorf("%w: SOA serial %d, head serial %d", ErrZoneMismatch, z.Serial(), h.Serial))
	}
	if t := z.Tree(); t.Root() != h.Root || t.Size() != h.Size {
		return fail(h.Serial, fmt.Errorf("%w: %d RRsets with root %x, head says %d with root %x", ErrZoneMismatch, t.Size(), t.Root(), h.Size, h.Root))
	}
	if err := zone.CheckSigned(z, key, v.now()); err != nil {
		return fail(h.Serial, err)
	}
	if err := v.raise(origin, key, h.Serial); err != nil {
		return fail(h.Serial, err)
	}
	z.Head = h
	return z, nil
}
