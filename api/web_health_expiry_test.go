package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/zone"
)

// expiringBackend is the test backend with the health page's optional
// capability, computed as node does (node/expiring.go, tested there on a
// real node): the zones it holds whose first signature expires within
// window.
type expiringBackend struct {
	*testBackend
	window time.Duration
}

func (b expiringBackend) ExpiringZones(now time.Time) (time.Duration, []ZoneExpiry) {
	reg, _ := b.Registry()
	var out []ZoneExpiry
	for _, cl := range reg.Claims() {
		z, err := b.Zone(context.Background(), cl.Zone)
		if err != nil {
			continue
		}
		if t, ok := zone.EarliestExpiry(z, now); ok && t.Sub(now) < b.window {
			out = append(out, ZoneExpiry{Zone: cl.Zone, Group: cl.Group, Expires: t})
		}
	}
	return b.window, out
}

// TestWebHealthFlagsExpiringZones: the health page lists the zones whose
// signatures expire within the warning window, an expired one marked
// bogus, and says so when there are none.
func TestWebHealthFlagsExpiringZones(t *testing.T) {
	var eb expiringBackend
	f := newFixture(t, func(o *Options) {
		eb = expiringBackend{testBackend: o.Backend.(*testBackend), window: 240 * time.Hour}
		o.Backend = eb
	})
	w := &webFixture{fixture: f}
	c := w.client(t)
	if status, page := w.get(t, c, "/health"); status != http.StatusOK || !strings.Contains(pageText(page), "No zone of this node's group has signatures expiring within 240h0m0s") {
		t.Errorf("/health without zones: %d\n%s", status, pageText(page))
	}
	owner := f.issue("owner", userScope("example.org."), bigLimits, time.Time{})
	tz := newTestZone(t, "example.org.")
	createZone(t, f, owner, tz)
	at, _ := zone.EarliestExpiry(tz.z, f.b.Now())
	f.b.advance(at.Sub(f.b.Now()) - 48*time.Hour)
	status, page := w.get(t, c, "/health")
	if txt := pageText(page); status != http.StatusOK || !strings.Contains(txt, "example.org. g1") || !strings.Contains(txt, "expires in 48h0m0s") {
		t.Errorf("/health two days before the signatures expire: %d\n%s", status, txt)
	}
	f.b.advance(72 * time.Hour)
	if _, page := w.get(t, c, "/health"); !strings.Contains(pageText(page), "expired: bogus for validating resolvers") {
		t.Errorf("/health after the signatures expired:\n%s", pageText(page))
	}
}
