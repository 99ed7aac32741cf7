package overlay_test

import (
	"context"
	"testing"

	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/overlay/overlaytest"
)

// With MayBeZone, names under a zone it accepts cost no DHT lookup of
// their longer suffixes, and the route is not provisional; a child zone
// it does not accept is found once Prefetch (a relayed referral) put it
// in the cache.
func TestFindRouteMayBeZone(t *testing.T) {
	hosts := overlaytest.NewHosts(t, 3)
	provide(t, hosts[1], "zone.test.")
	provide(t, hosts[2], "child.zone.test.")
	r := newRouter(t, hosts[0], overlay.RouterOptions{MayBeZone: func(name string) bool { return name == "zone.test." }})
	ctx := context.Background()
	rt, err := r.FindRoute(ctx, "www.zone.test.")
	if err != nil || rt.Zone != "zone.test." || rt.Provisional {
		t.Fatalf("FindRoute(www.zone.test.) = %+v, %v; want zone.test., not provisional", rt, err)
	}
	if got := r.Stats().Lookups; got != 2 {
		t.Errorf("lookups after a cold name = %d, want 2 (zone.test. and test., not www.zone.test.)", got)
	}
	for _, name := range []string{"a.zone.test.", "b.zone.test.", "x.child.zone.test."} {
		rt, err := r.FindRoute(ctx, name)
		if err != nil || rt.Zone != "zone.test." || rt.Provisional {
			t.Errorf("FindRoute(%s) = %+v, %v; want zone.test. from the cache, not provisional", name, rt, err)
		}
	}
	if got := r.Stats().Lookups; got != 2 {
		t.Errorf("lookups after names under the cached zone = %d, want still 2", got)
	}
	if r.Prefetch("child.zone.test.") {
		t.Errorf("Prefetch(child.zone.test.) = true before any lookup of it, want false")
	}
	waitIdle(t, r)
	if !r.Prefetch("child.zone.test.") {
		t.Errorf("Prefetch(child.zone.test.) = false after its lookup, want true (cached)")
	}
	if rt, err := r.FindRoute(ctx, "x.child.zone.test."); err != nil || rt.Zone != "child.zone.test." {
		t.Errorf("FindRoute(x.child.zone.test.) after Prefetch = %+v, %v; want child.zone.test.", rt, err)
	}
}
