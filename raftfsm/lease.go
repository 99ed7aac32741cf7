package raftfsm

import (
	"time"
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
