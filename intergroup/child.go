package intergroup

// child.go: nested zones held by different groups. A node whose
// group holds a parent zone (example.) would answer every name below it
// itself, with a referral or NXDOMAIN, even for names of a child zone
// (sub.example.) another group holds. With the overlay on, dnsfront reads
// the zones through childZones, which leaves such names to the overlay.

import (
	"errors"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/zone"
)

// childZones is the dnsfront.Reader of a node with the overlay on: the
// group's zones, except that a name below one of them is reported as held
// by no local zone (so dnsfront hands it to Overlay.Resolve, which
// asks the child's group) when the router's cache knows a longer enclosing
// zone provided by some peer. The router learns of a child zone when a
// query is routed through it (FindRoute looks the longer suffixes up) or
// when the local zone answers with a referral: the zone cut is looked up
// in the background (Prefetch), once, and the queries that follow go to
// the child's group. A child zone the parent does not delegate (no NS at
// the cut: the parent answers NXDOMAIN) is learnt only through routing,
// never from local answers, so that random names under a local zone cost
// no DHT lookups.
//
// Limits: the DS RRset at the child's apex is then answered by the
// child's group (NODATA) rather than from the parent's side of the cut,
// because a Reader does not see the query type; and until the cut's
// lookup is done (or while it fails) the parent's referral is served.
type childZones struct {
	served Zones
	router *overlay.Router
}

// Reader is the dnsfront.Reader of a node with the overlay on: the
// group's zones, without the names of child zones other groups hold.
func (o *Overlay) Reader() dnsfront.Reader { return childZones{served: o.served, router: o.router} }

// Zone implements dnsfront.Reader. It does not block: CachedChild and
// Prefetch read the router's cache and start at most a background lookup.
func (c childZones) Zone(name string) *zone.Zone {
	z := c.served.Zone(name)
	if z == nil || name == z.Origin {
		return z
	}
	if cut := z.Delegation(name); cut != nil {
		c.router.Prefetch(cut.Name)
	}
	if _, ok := c.router.CachedChild(name, z.Origin); ok {
		return nil
	}
	return z
}

// childOf returns the zone that err, the verification failure of an
// answer fetched for zone origin through route rt, says the name belongs
// to, when the route was provisional and that zone lies below origin (the
// node holds its trust anchor): the answer was the parent's, for a name of
// a child zone held by another group, which is a routing artefact rather
// than tampering.
func childOf(rt overlay.Route, origin string, err error) (string, bool) {
	var ve *client.VerifyError
	if !rt.Provisional || !errors.Is(err, zone.ErrWrongZone) || !errors.As(err, &ve) {
		return "", false
	}
	if ve.Zone == origin || !zone.IsSubDomain(origin, ve.Zone) {
		return "", false
	}
	return ve.Zone, true
}
