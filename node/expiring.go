package node

import (
	"time"

	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/zone"
)

var _ api.Expiring = apiBackend{}

// ExpiringZones implements api.Expiring for the health page: the zones
// this node serves whose first signature expires within
// SignatureWarning (expired ones included). It walks each served zone's
// signatures; the page is read by people, not scraped.
func (b apiBackend) ExpiringZones(now time.Time) (time.Duration, []api.ZoneExpiry) {
	n := b.n
	window := n.cfg.SignatureWarning
	if window <= 0 {
		return 0, nil
	}
	var out []api.ZoneExpiry
	for _, origin := range n.served.Origins() {
		z := n.served.Get(origin)
		if z == nil {
			continue
		}
		if t, ok := zone.EarliestExpiry(z, now); ok && t.Sub(now) < window {
			out = append(out, api.ZoneExpiry{Zone: origin, Group: n.cfg.Group.Name, Expires: t.UTC()})
		}
	}
	return window, out
}
