package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// Ephemeral zones (issue 12 item 5; raftfsm/lease.go has the rules,
// node/leases.go the teardown, docs/ephemeral-zones.md the how-to). A
// create with "expires" (a time) or "idle" (a duration) claims the zone
// with a lease; the registry's leader tears the zone down when it runs
// out and the name is free again. POST /v1/zones/{zone}/lease extends,
// changes or ends the lease; every change through the API counts as
// activity for the idle time.

// DefaultMaxLeases caps the live ephemeral zones one key made
// (Options.MaxLeases); the cap travels in each claim.
const DefaultMaxLeases = 10

// maxLease bounds a lease's expiry and idle time: an ephemeral zone that
// lives longer than a year should be permanent.
const maxLease = 366 * 24 * time.Hour

// ParseLeaseDuration reads a lease duration: Go's form ("72h", "90m") or
// whole days ("7d"); at least a second, at most a year.
func ParseLeaseDuration(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("%q: want a duration such as 72h or 7d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q: want a duration such as 72h or 7d", s)
		}
	}
	if d < time.Second || d > maxLease {
		return 0, fmt.Errorf("%q: want between 1s and %s", s, maxLease)
	}
	return d.Truncate(time.Second), nil
}

// leaseOf reads a create's or a lease change's expires and idle fields.
func (s *Server) leaseOf(expires *time.Time, idle string) (raftfsm.Lease, error) {
	var l raftfsm.Lease
	now := s.now()
	if expires != nil && !expires.IsZero() {
		if !expires.After(now) {
			return l, invalid("expires", "%s is not in the future", expires.UTC().Format(time.RFC3339))
		}
		if expires.Sub(now) > maxLease {
			return l, invalid("expires", "%s is more than a year away: make the zone permanent instead", expires.UTC().Format(time.RFC3339))
		}
		l.Expires = expires.UTC().Truncate(time.Second)
	}
	if idle != "" {
		d, err := ParseLeaseDuration(idle)
		if err != nil {
			return l, invalid("idle", "%v", err)
		}
		l.Idle = uint32(d / time.Second)
	}
	return l, nil
}

// leaseJSON is a claim's lease as the API shows it.
type leaseJSON struct {
	Expires     *time.Time `json:"expires,omitempty"`
	IdleSeconds uint32     `json:"idle_seconds,omitempty"`
	Active      time.Time  `json:"active"`
	Deadline    time.Time  `json:"deadline"`
	KeyID       string     `json:"key_id"`
}

func leaseView(l raftfsm.Lease) *leaseJSON {
	if l.IsZero() {
		return nil
	}
	j := &leaseJSON{IdleSeconds: l.Idle, Active: l.Active, Deadline: l.Deadline(), KeyID: l.Key}
	if !l.Expires.IsZero() {
		t := l.Expires
		j.Expires = &t
	}
	return j
}

// leaseInput is the body of POST /v1/zones/{zone}/lease.
type leaseInput struct {
	Expires   *time.Time `json:"expires,omitempty"`   // a new fixed deadline
	Extend    string     `json:"extend,omitempty"`    // or: the current deadline (or now) plus this
	Idle      string     `json:"idle,omitempty"`      // the idle time; "" keeps the current one when the deadline changes
	Permanent bool       `json:"permanent,omitempty"` // end the lease: the zone stays
}

// handleLease changes the lease of an ephemeral zone. The caller needs
// update on the zone and must be the key that made the lease or a key
// above it (or admin): another key covering the zone's suffix does not
// keep someone else's namespace alive.
func (s *Server) handleLease(w http.ResponseWriter, r *http.Request, c *call) error {
	origin, err := pathZone(r)
	if err != nil {
		return err
	}
	if err := allowZone(c.key, ActionUpdate, origin); err != nil {
		return err
	}
	var in leaseInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	cl, err := s.claimed(origin)
	if err != nil {
		return err
	}
	if cl.Lease.IsZero() {
		return &raftfsm.RejectedError{Reason: raftfsm.ReasonNoLease, Err: fmt.Errorf("%s is permanent", origin)}
	}
	reg, err := s.registry()
	if err != nil {
		return err
	}
	if lk, ok := reg.Key(cl.Lease.Key); !isAdmin(c.key) && (!ok || !above(reg, c.key.ID, lk)) {
		return &ScopeError{What: "lease", Detail: fmt.Sprintf("the lease of %s belongs to key %s; only it, a key above it or an admin key changes it", origin, cl.Lease.Key)}
	}
	now := s.now()
	lc := &raftfsm.LeaseChange{Zone: origin, Actor: c.key.ID, Time: now}
	switch {
	case in.Permanent:
		if in.Expires != nil || in.Extend != "" || in.Idle != "" {
			return invalid("permanent", "permanent goes alone: it ends the lease")
		}
	case in.Expires == nil && in.Extend == "" && in.Idle == "":
		return missing("expires, extend, idle or permanent")
	case in.Expires != nil && in.Extend != "":
		return invalid("extend", "give expires or extend, not both")
	default:
		var l raftfsm.Lease
		if in.Extend != "" {
			d, err := ParseLeaseDuration(in.Extend)
			if err != nil {
				return invalid("extend", "%v", err)
			}
			base := cl.Lease.Expires
			if base.IsZero() || base.Before(now) {
				base = now
			}
			t := base.Add(d)
			if l, err = s.leaseOf(&t, in.Idle); err != nil {
				return err
			}
		} else {
			if l, err = s.leaseOf(in.Expires, in.Idle); err != nil {
				return err
			}
		}
		if in.Expires == nil && in.Extend == "" {
			l.Expires = cl.Lease.Expires // only the idle time changes
			if !l.Expires.IsZero() && !l.Expires.After(now) {
				l.Expires = time.Time{}
			}
		}
		if in.Idle == "" {
			l.Idle = cl.Lease.Idle
		}
		lc.Expires, lc.Idle = l.Expires, l.Idle
	}
	if err := s.propose(r.Context(), lc); err != nil {
		return err
	}
	if reg, err = s.registry(); err != nil {
		return err
	}
	cl, _ = reg.Claim(origin)
	writeJSON(w, http.StatusOK, claimView(cl))
	return nil
}

// touchLease records a change to an ephemeral zone with an idle time as
// activity, at most once per tenth of the idle time (each touch is a
// registry entry). Failing to touch fails nothing: it is logged.
func (s *Server) touchLease(ctx context.Context, origin string) {
	cl, err := s.claimed(origin)
	if err != nil || cl.Lease.Idle == 0 {
		return
	}
	now := s.now()
	if now.Sub(cl.Lease.Active) < time.Duration(cl.Lease.Idle)*time.Second/10 {
		return
	}
	if err := s.propose(ctx, &raftfsm.LeaseChange{Zone: origin, Actor: raftfsm.LeaseActor, Time: now, Touch: true}); err != nil {
		s.log.Warn("ephemeral zone's activity not recorded", "zone", origin, "err", err)
	}
}
