package raftfsm

import (
	"fmt"
	"time"

	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
)

// Lease makes a claim ephemeral (issue 12 item 5): the registry tears
// the zone down when its deadline passes. The registry's leader proposes
// the teardown (ExpireZone) with its clock's time; every member applies
// it alike, checking the deadline against that committed time, never
// against its own clock.
type Lease struct {
	// Expires is the fixed deadline; zero: none.
	Expires time.Time
	// Idle is the number of seconds without a change after which the
	// zone is torn down; 0: none.
	Idle uint32
	// Active is the time of the last change the registry heard of (the
	// claim's creation, then each LeaseChange touch); Idle counts from
	// it.
	Active time.Time
	// Key is the API key that made the claim; its quota of live
	// namespaces counts this one.
	Key string
}

// IsZero reports whether l is no lease: the claim is permanent.
func (l Lease) IsZero() bool { return l.Expires.IsZero() && l.Idle == 0 }

// Deadline is when the claim is due for teardown: the earlier of Expires
// and Active plus Idle; zero for no lease.
func (l Lease) Deadline() time.Time {
	var d time.Time
	if l.Idle > 0 {
		d = l.Active.Add(time.Duration(l.Idle) * time.Second)
	}
	if !l.Expires.IsZero() && (d.IsZero() || l.Expires.Before(d)) {
		d = l.Expires
	}
	return d
}

// Due reports whether a claim with lease l is due for teardown at t.
func (l Lease) Due(t time.Time) bool {
	d := l.Deadline()
	return !d.IsZero() && !t.Before(d)
}

// lease writes l: expires time, uint32 idle seconds, active time, key id.
func (e *encoder) lease(l Lease) {
	e.time(l.Expires)
	e.u32(l.Idle)
	e.time(l.Active)
	e.str(l.Key)
}

func (d *decoder) lease() Lease {
	var l Lease
	l.Expires = d.time()
	l.Idle = d.U32()
	l.Active = d.time()
	l.Key = d.Str16()
	return l
}

// The lease command types (issue 12 item 5).
const (
	TypeLeaseChange CommandType = 20 // registry: extend, change or end a claim's lease, or touch it
	TypeExpireZone  CommandType = 21 // registry: release a claim whose lease is due
	TypeDropZone    CommandType = 22 // a zone's group: drop a zone whose claim the registry expired
)

// Reasons of lease rejections.
const (
	ReasonNoLease    = Reason("no-lease")    // LeaseChange or ExpireZone of a permanent claim
	ReasonNotDue     = Reason("not-due")     // ExpireZone before the lease's deadline (by the command's time)
	ReasonLeaseQuota = Reason("lease-quota") // ClaimZone with a lease past the key's quota of live leases
)

// LeaseChange changes the lease of a claimed zone. With Touch, only
// Active moves to Time (a change the registry heard of: Idle counts
// from it again). Otherwise the lease becomes Expires and Idle from Time
// on (Active = Time), or, both zero, the claim becomes permanent. The
// API checks that the caller's key covers the zone; the state machine
// checks the lease.
type LeaseChange struct {
	Zone, Actor string
	Time        time.Time
	Touch       bool
	Expires     time.Time
	Idle        uint32
}

// ExpireZone releases a leased claim whose deadline has passed by Time:
// the registry's leader proposes it with its clock's time, and every
// member checks Lease.Due(Time), the same answer everywhere. The
// release is logged (translog.KindRelease, actor "lease"), the name is
// free again; the leader then sends DropZone to the zone's group.
type ExpireZone struct {
	Zone string
	Time time.Time
}

// LeaseActor is the Actor of the release an ExpireZone logs.
const LeaseActor = "lease"

// DropZone removes a zone from its group without the owner's signature:
// the registry released the zone's claim when its lease ran out
// (ExpireZone), and its leader, a member of the cluster, sends this to
// the zone's group as an operator's command would be (like Suspend, it
// is taken from cluster members only). Owner is the owner DNSKEY of the
// released claim: a zone of the same name created since under another
// key is refused (ReasonWrongKey), and one already gone is ReasonNoZone.
type DropZone struct {
	Zone, Owner, Reason string
}

func (*LeaseChange) Type() CommandType { return TypeLeaseChange }
func (*ExpireZone) Type() CommandType  { return TypeExpireZone }
func (*DropZone) Type() CommandType    { return TypeDropZone }

// Bodies, version 1 (registry_codec.go's primitives):
//
//	LeaseChange: zone, actor, time, touch bool, expires time, uint32 idle
//	ExpireZone:  zone, time
//	DropZone:    zone, owner, reason
//	ClaimZone v4: the version 1 body, then group (may be empty), then
//	             consents (uint32 count, may be 0, each zone and
//	             signature, sorted), then the Lease (not zero), then
//	             uint32 max leases of the key (0: no cap)
const claimZoneVersion4 = 4

func newLeaseCommand(t CommandType) Command {
	switch t {
	case TypeLeaseChange:
		return &LeaseChange{}
	case TypeExpireZone:
		return &ExpireZone{}
	case TypeDropZone:
		return &DropZone{}
	}
	return nil
}

func encodeLeaseCommand(e *encoder, c Command) bool {
	switch c := c.(type) {
	case *LeaseChange:
		e.str(c.Zone)
		e.str(c.Actor)
		e.time(c.Time)
		e.boolean(c.Touch)
		e.time(c.Expires)
		e.u32(c.Idle)
	case *ExpireZone:
		e.str(c.Zone)
		e.time(c.Time)
	case *DropZone:
		e.str(c.Zone)
		e.str(c.Owner)
		e.str(c.Reason)
	default:
		return false
	}
	return true
}

func decodeLeaseCommand(d *decoder, c Command) bool {
	switch c := c.(type) {
	case *LeaseChange:
		c.Zone = d.Str16()
		c.Actor = d.Str16()
		c.Time = d.time()
		c.Touch = d.boolean()
		c.Expires = d.time()
		c.Idle = d.U32()
	case *ExpireZone:
		c.Zone = d.Str16()
		c.Time = d.time()
	case *DropZone:
		c.Zone = d.Str16()
		c.Owner = d.Str16()
		c.Reason = d.Str16()
	default:
		return false
	}
	return true
}

// liveLeases counts the leased claims key made.
func (r *RegistryState) liveLeases(key string) int {
	n, _ := r.perLeaseKey.Get(key)
	return n
}

// checkNewLease checks the lease of claim c (ClaimZone v4) at its time
// and returns it as the claim keeps it.
func (r *RegistryState) checkNewLease(c *ClaimZone) (Lease, error) {
	l := c.Lease
	if l.IsZero() {
		return l, reject(ReasonMalformed, "claim of %s: a lease with neither expiry nor idle time", c.Zone)
	}
	if !l.Expires.IsZero() && !l.Expires.After(c.Time) {
		return l, reject(ReasonMalformed, "claim of %s: the lease expires at %s, not after the claim", c.Zone, l.Expires.UTC().Format(time.RFC3339))
	}
	l.Active, l.Key = c.Time, c.Actor
	if c.MaxLeases > 0 {
		if n := r.liveLeases(l.Key); n >= int(c.MaxLeases) {
			return l, reject(ReasonLeaseQuota, "key %s holds %d live ephemeral zones, the limit %d", l.Key, n, c.MaxLeases)
		}
	}
	return l, nil
}

// applyLease applies a registry lease command; false when c is not one.
func (w *work) applyLease(c Command, logEntry func(translog.Entry) error) ([]func(kvTx) error, bool, error) {
	r := w.registry()
	st := r.st
	switch c := c.(type) {
	case *LeaseChange:
		origin := zone.CanonicalName(c.Zone)
		cl, ok := st.claim(origin)
		if !ok {
			return nil, true, reject(ReasonNoClaim, "%s is not claimed", origin)
		}
		if cl.Lease.IsZero() {
			return nil, true, reject(ReasonNoLease, "%s is permanent", origin)
		}
		switch {
		case c.Touch:
			if c.Time.After(cl.Lease.Active) {
				cl.Lease.Active = c.Time
			}
		case c.Expires.IsZero() && c.Idle == 0:
			cl.Lease = Lease{}
		default:
			if !c.Expires.IsZero() && !c.Expires.After(c.Time) {
				return nil, true, reject(ReasonMalformed, "lease of %s: expires at %s, not after the change", origin, c.Expires.UTC().Format(time.RFC3339))
			}
			cl.Lease = Lease{Expires: c.Expires, Idle: c.Idle, Active: c.Time, Key: cl.Lease.Key}
		}
		st.setClaim(cl)
		return []func(kvTx) error{func(tx kvTx) error { return putClaimTx(tx, cl) }}, true, nil
	case *ExpireZone:
		origin := zone.CanonicalName(c.Zone)
		cl, ok := st.claim(origin)
		if !ok {
			return nil, true, reject(ReasonNoClaim, "%s is not claimed", origin)
		}
		if cl.Lease.IsZero() {
			return nil, true, reject(ReasonNoLease, "%s is permanent", origin)
		}
		if !cl.Lease.Due(c.Time) {
			return nil, true, reject(ReasonNotDue, "the lease of %s runs until %s", origin, cl.Lease.Deadline().UTC().Format(time.RFC3339))
		}
		if err := logEntry(translog.Entry{Kind: translog.KindRelease, Time: c.Time, Zone: origin, OwnerKey: cl.Owner, Group: cl.Group, Region: cl.Region,
			Actor: LeaseActor, Reason: "lease ran out at " + cl.Lease.Deadline().UTC().Format(time.RFC3339)}); err != nil {
			return nil, true, err
		}
		st.deleteClaim(origin)
		// The drop the zone's group owes is registry state (teardown.go),
		// so whichever member leads next finishes it.
		return []func(kvTx) error{func(tx kvTx) error { return deleteClaimTx(tx, origin) }, r.oweDrop(cl, c.Time)}, true, nil
	}
	return nil, false, nil
}

// applyDrop applies DropZone to the zone state.
func (w *work) applyDrop(c *DropZone, res *ApplyResult) ([]func(kvTx) error, error) {
	origin := zone.CanonicalName(c.Zone)
	s, err := w.owned(origin)
	if err != nil {
		return nil, err
	}
	dk, err := ParseOwnerKey(c.Owner, origin)
	if err != nil {
		return nil, reject(ReasonMalformed, "drop of %s: %v", origin, err)
	}
	if !zone.SameKey(dk, s.Owner.DNSKEY) {
		return nil, reject(ReasonWrongKey, "zone %s is held by another owner key (tag %d) than the released claim's", origin, s.Owner.Tag())
	}
	w.zones[origin] = nil
	res.Serial = s.Zone.Serial()
	ops := w.dropStaging(origin)
	return append(ops, func(tx kvTx) error { return deleteZoneTx(tx, origin) }), nil
}

// leaseText is the reason a leased claim's registration logs:
// "ephemeral: expires <time>, idle <d>".
func leaseText(l Lease) string {
	s := "ephemeral:"
	if !l.Expires.IsZero() {
		s += " expires " + l.Expires.UTC().Format(time.RFC3339)
	}
	if l.Idle > 0 {
		if !l.Expires.IsZero() {
			s += ","
		}
		s += fmt.Sprintf(" idle %s", time.Duration(l.Idle)*time.Second)
	}
	return s
}
