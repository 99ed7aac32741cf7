package overlay_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/overlay/overlaytest"
)

// MarkGone: a zone whose providers no longer hold it (deleted, while the
// DHT still lists them) routes to its enclosing zone, or to no zone,
// without a lookup until the negative TTL ends.
func TestRouterMarkGone(t *testing.T) {
	hosts := overlaytest.NewHosts(t, 4)
	provide(t, hosts[1], "parent.test.")
	provide(t, hosts[2], "gone.parent.test.", "alone.test.")
	var clk clock
	r := newRouter(t, hosts[3], overlay.RouterOptions{PositiveTTL: time.Hour, NegativeTTL: 10 * time.Second, Now: clk.now})
	ctx := context.Background()
	for _, name := range []string{"www.gone.parent.test.", "www.alone.test."} {
		if _, _, err := r.FindZone(ctx, name); err != nil {
			t.Fatalf("FindZone(%s): %v", name, err)
		}
	}

	r.MarkGone("gone.parent.test")
	r.MarkGone("alone.test.")
	before := r.Stats().Lookups
	if z, _, err := r.FindZone(ctx, "www.gone.parent.test."); err != nil || z != "parent.test." {
		t.Errorf("after MarkGone: FindZone(www.gone.parent.test.) = %q, %v; want the enclosing parent.test.", z, err)
	}
	if z, _, err := r.FindZone(ctx, "www.alone.test."); !errors.Is(err, overlay.ErrNoZone) {
		t.Errorf("after MarkGone: FindZone(www.alone.test.) = %q, %v; want ErrNoZone", z, err)
	}
	if _, err := r.Providers(ctx, "alone.test."); !errors.Is(err, overlay.ErrNoZone) {
		t.Errorf("after MarkGone: Providers(alone.test.) error = %v, want ErrNoZone", err)
	}
	if got := r.Stats().Lookups; got != before {
		t.Errorf("a zone marked gone was looked up: lookups %d -> %d", before, got)
	}

	// Past the negative TTL the DHT is asked again (here it still lists
	// the provider).
	clk.advance(11 * time.Second)
	if z, _, err := r.FindZone(ctx, "www.alone.test."); err != nil || z != "alone.test." {
		t.Errorf("after the negative TTL: FindZone(www.alone.test.) = %q, %v; want alone.test. again", z, err)
	}
}
