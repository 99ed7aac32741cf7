package client

// rollback.go: a zone its owner rolled back (issue 17 item 7). The
// floor (floor.go) refuses a serial below the highest verified; a group
// that restored an older version of a zone with its owner's consent
// hands the owner's rollback statement (zone.Rollback) with its answers,
// and AcceptRollback lowers the floor to exactly that version.

import (
	"fmt"

	"github.com/ddnrs/ddnrs/zone"
)

// AcceptRollback lowers origin's floor, under its anchor (the current
// owner key), to the to-serial of the owner's rollback statement, when:
// the statement is signed by that key, the head (a signed zone head
// note) is the version it names (serial and root), and the floor is not
// above the statement's from-serial (a version verified after the
// rollback is not undone by replaying it). The hook set with
// OnFloorRaised is called with the lowered floor, so a node or stub
// saves it. Errors: ErrNoTrustAnchor, zone.ParseRollback's and
// ParseHead's, ErrStaleSerial (wrapped) when the floor is above the
// from-serial, ErrNotAnswer (wrapped) when the head is another version.
// Any goroutine may call it.
func (v *Verifier) AcceptRollback(origin string, statement, head []byte) error {
	origin = zone.CanonicalName(origin)
	k := v.anchor(origin)
	if k == nil {
		return ErrNoTrustAnchor
	}
	r, err := zone.ParseRollback(statement, k)
	if err != nil {
		return err
	}
	h, err := v.parseHead(origin, head, k)
	if err != nil {
		return err
	}
	if !r.Covers(h) {
		return fmt.Errorf("%w: the rollback statement is for serial %d, the head is serial %d (or another version)", ErrNotAnswer, r.To, h.Serial)
	}
	fk := floorKey{origin, keyID(k)}
	v.mu.Lock()
	hi, ok := v.highest[fk]
	if ok && zone.SerialAbove(hi, r.From) {
		v.mu.Unlock()
		return fmt.Errorf("%w: serial %d verified after the rollback from %d", ErrStaleSerial, hi, r.From)
	}
	if ok && hi == r.To {
		v.mu.Unlock()
		return nil
	}
	v.highest[fk] = r.To
	fn := v.onRaise
	v.mu.Unlock()
	if fn != nil {
		fn(Floor{Zone: origin, Key: fk.key, Serial: r.To})
	}
	return nil
}
