package raftfsm

// rollback.go: a zone rolled back by a snapshot restore, with its owner's
// consent (issue 17 item 7). A restore that would move a zone to an
// older serial is refused unless the owner signed a rollback statement
// for it (zone.Rollback: zone, from-serial, to-serial, the root of the
// version gone back to; `ddnrs zone rollback-sign`). Once the restore is
// done, the leader proposes RecordRollback for each such zone: every
// member keeps the statement beside the zone and hands it with its
// answers, so other groups' serial floors accept the older version.
// The zone's next change must go above the statement's from-serial (a
// serial in between would be refused by every floor that saw from);
// once one does, the statement is dropped.

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/ddnrs/ddnrs/zone"
)

// TypeRecordRollback is the command type of RecordRollback.
const TypeRecordRollback CommandType = 26

// ReasonUnsignedRollback is the reason a restore that would move zones
// to older serials is refused without the owners' rollback statements.
const ReasonUnsignedRollback = Reason("unsigned-rollback")

// RecordRollback keeps an owner's rollback statement beside the zone it
// names: accepted when the statement is signed by the zone's owner key
// and covers the zone's current head (its serial is the statement's
// to-serial, its root the statement's). Body version 1: zone (string),
// statement (byte string).
type RecordRollback struct {
	Zone      string
	Statement []byte
}

func (*RecordRollback) Type() CommandType { return TypeRecordRollback }

func newRollbackCommand(t CommandType) Command {
	if t == TypeRecordRollback {
		return &RecordRollback{}
	}
	return nil
}

func encodeRollbackCommand(e *encoder, c Command) bool {
	r, ok := c.(*RecordRollback)
	if ok {
		e.str(r.Zone)
		e.bytes(r.Statement)
	}
	return ok
}

func decodeRollbackCommand(d *decoder, c Command) bool {
	r, ok := c.(*RecordRollback)
	if ok {
		r.Zone = d.Str16()
		r.Statement = d.bytes()
	}
	return ok
}

// applyRollback applies RecordRollback.
func (w *work) applyRollback(c *RecordRollback, res *ApplyResult) ([]func(kvTx) error, error) {
	origin := zone.CanonicalName(c.Zone)
	s, err := w.owned(origin)
	if err != nil {
		return nil, err
	}
	r, err := zone.ParseRollback(c.Statement, s.Owner)
	if err != nil {
		return nil, reject(ReasonBadSignature, "zone %s: rollback statement: %v", origin, err)
	}
	if !r.Covers(s.Zone.Head) {
		return nil, reject(ReasonStaleSerial, "zone %s: the rollback statement is for serial %d, the zone is at %d (or another version)", origin, r.To, s.Zone.Serial())
	}
	s.Rollback = r
	w.zones[origin] = &s
	res.Serial = s.Zone.Serial()
	stmt := bytes.Clone(c.Statement)
	return []func(kvTx) error{func(tx kvTx) error { return setRollbackTx(tx, origin, stmt) }}, nil
}

// afterRollback checks a change of s to serial against the rollback
// statement s keeps, if any: the serial must go above its from-serial.
// It returns the store write that drops the statement, or nil.
func afterRollback(s *ZoneState, serial uint32) (func(kvTx) error, error) {
	if s.Rollback == nil {
		return nil, nil
	}
	if !zone.SerialAbove(serial, s.Rollback.From) {
		return nil, reject(ReasonStaleSerial, "zone %s was rolled back from serial %d with its owner's consent: its next serial must be above %d, got %d", s.Zone.Origin, s.Rollback.From, s.Rollback.From, serial)
	}
	origin := s.Zone.Origin
	s.Rollback = nil
	return func(tx kvTx) error { return setRollbackTx(tx, origin, nil) }, nil
}

// Rollback returns the rollback statement kept beside zone origin (the
// signed note), or nil. Any goroutine may call it.
func (f *FSM) Rollback(origin string) []byte {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if s, ok := f.state.zones[origin]; ok && s.Rollback != nil {
		return s.Rollback.Note
	}
	return nil
}

// RollbackNeed is a zone a snapshot would move to an older serial.
type RollbackNeed struct {
	Zone     string
	From, To uint32   // the serial held now, the snapshot's
	Root     [32]byte // the Merkle root of the snapshot's version
}

// Command is how the zone's owner makes the statement.
func (n RollbackNeed) Command() string {
	return fmt.Sprintf("ddnrs zone rollback-sign --key OWNER.private --zone %s --from %d --to %d --root %s",
		n.Zone, n.From, n.To, zone.RootText(n.Root))
}

// RollbackError is what CheckRollbacks refuses a snapshot with when it
// would move zones to older serials without their owners' statements,
// inside a *RejectedError of reason ReasonUnsignedRollback.
type RollbackError struct{ Needs []RollbackNeed }

func (e *RollbackError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the snapshot would move %d zone(s) to an older serial, which every node of another group that saw the newer one would refuse (SERVFAIL, EDE 6) unless the owner signs the rollback; pass each owner's statement with --rollback FILE:", len(e.Needs))
	for _, n := range e.Needs {
		fmt.Fprintf(&b, "\n  %s serial %d now, %d in the snapshot: the owner runs: %s > %srollback", n.Zone, n.From, n.To, n.Command(), n.Zone)
	}
	return b.String()
}

// CheckRollbacks reads the snapshot snap and returns, for every zone it
// would move to an older serial, the statement among statements that
// consents (signed by the zone's owner key in the snapshot, from the
// serial held now, to the snapshot's version); else a *RejectedError
// (ReasonUnsignedRollback) around a *RollbackError listing the zones
// without one. Statements for no such zone are refused too
// (ReasonMalformed), and a snapshot that does not read, ErrBadSnapshot.
func (f *FSM) CheckRollbacks(snap []byte, statements [][]byte) (map[string][]byte, error) {
	st, err := readSnapshot(snap)
	if err != nil {
		return nil, err
	}
	f.mu.RLock()
	var needs []RollbackNeed
	owners := make(map[string]*zone.Key)
	for origin, cur := range f.state.zones {
		next, ok := st.zones[origin]
		if !ok || cur.Zone == nil || next.Zone == nil || next.Zone.Head == nil || !zone.SerialAbove(cur.Zone.Serial(), next.Zone.Serial()) {
			continue
		}
		needs = append(needs, RollbackNeed{Zone: origin, From: cur.Zone.Serial(), To: next.Zone.Serial(), Root: next.Zone.Head.Root})
		owners[origin] = next.Owner
	}
	f.mu.RUnlock()
	ok := make(map[string][]byte)
	var missing []RollbackNeed
	for _, n := range needs {
		for _, b := range statements {
			if owners[n.Zone] == nil {
				break
			}
			r, err := zone.ParseRollback(b, owners[n.Zone])
			if err == nil && r.From == n.From && r.To == n.To && r.Root == n.Root {
				ok[n.Zone] = b
				break
			}
		}
		if ok[n.Zone] == nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		sortNeeds(missing)
		return nil, &RejectedError{Reason: ReasonUnsignedRollback, Err: &RollbackError{Needs: missing}}
	}
	if len(ok) != len(statements) {
		return nil, reject(ReasonMalformed, "%d rollback statement(s) given, %d match a zone the snapshot moves back (from the serial held now, to the snapshot's version, signed by its owner key)", len(statements), len(ok))
	}
	return ok, nil
}

func sortNeeds(n []RollbackNeed) {
	for i := 1; i < len(n); i++ {
		for j := i; j > 0 && zone.Compare(n[j-1].Zone, n[j].Zone) > 0; j-- {
			n[j-1], n[j] = n[j], n[j-1]
		}
	}
}
