package api

import (
	"sort"
	"time"
)

// ZoneExpiry is a zone whose first signature expires soon (or has).
type ZoneExpiry struct {
	Zone    string
	Group   string
	Expires time.Time
}

// Expiring is an optional capability of a Backend (found by type
// assertion): the zones this node's group holds whose first signature
// expires within the node's warning window (node signature_warning),
// and the window; 0 when warnings are off. The health page flags them.
// Zones of other groups are flagged by their own groups' nodes, and by
// the alert DDNRSZoneSignaturesExpiring on every node's gauge.
type Expiring interface {
	ExpiringZones(now time.Time) (window time.Duration, zones []ZoneExpiry)
}

// expiringView is the health page's list of zones about to go bogus.
type expiringView struct {
	Window time.Duration
	Zones  []expiringRow
}

type expiringRow struct {
	ZoneExpiry
	Expired bool
	Left    time.Duration
}

// expiring returns what the health page shows, nil when the backend
// cannot tell.
func (s *Server) expiring() *expiringView {
	e, ok := s.b.(Expiring)
	if !ok {
		return nil
	}
	now := s.now()
	window, zones := e.ExpiringZones(now)
	if window <= 0 {
		return nil
	}
	v := &expiringView{Window: window}
	for _, z := range zones {
		v.Zones = append(v.Zones, expiringRow{ZoneExpiry: z, Expired: !z.Expires.After(now), Left: z.Expires.Sub(now).Round(time.Minute)})
	}
	sort.Slice(v.Zones, func(i, j int) bool { return v.Zones[i].Expires.Before(v.Zones[j].Expires) })
	return v
}
