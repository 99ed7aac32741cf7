package overlay_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/overlay/overlaytest"
	"github.com/libp2p/go-libp2p/core/peer"
)

// clock is a settable clock for cache expiry.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }
func newRouter(t *testing.T, h *overlay.Host, o overlay.RouterOptions) *overlay.Router {
	t.Helper()
	r := overlay.NewRouter(h, o)
	t.Cleanup(func() { r.Close() })
	return r
}

func ids(ais []peer.AddrInfo) []string {
	out := make([]string, len(ais))
	for i, ai := range ais {
		out[i] = ai.ID.String()
	}
	slices.Sort(out)
	return out
}

func provide(t *testing.T, h *overlay.Host, zones ...string) {
	t.Helper()
	for _, z := range zones {
		if err := h.Provide(context.Background(), z); err != nil {
			t.Fatalf("Provide(%s): %v", z, err)
		}
	}
}

// Eight hosts bootstrapped through one: zones provided by some are found
// from every host, each name resolving to its longest enclosing zone.
func TestFindZoneFromEveryHost(t *testing.T) {
	hosts := overlaytest.NewHosts(t, 8)
	provide(t, hosts[1], "example.org.")
	provide(t, hosts[3], "example.org.")
	provide(t, hosts[2], "sub.example.org.")
	provide(t, hosts[7], "Other.NET")

	want := func(hs ...*overlay.Host) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.ID().String())
		}
		slices.Sort(out)
		return out
	}
	// first, when set, is the answer of the first call: the enclosing
	// zone cached by an earlier row, given at once while the longer
	// suffixes are looked up in the background; zone is the answer once
	// those lookups are done.
	tests := []struct {
		qname string
		first string
		zone  string
		provs []string
	}{
		{"example.org.", "", "example.org.", want(hosts[1], hosts[3])},
		{"www.example.org.", "", "example.org.", want(hosts[1], hosts[3])},
		{"sub.example.org.", "example.org.", "sub.example.org.", want(hosts[2])},
		{"a.b.SUB.example.org", "", "sub.example.org.", want(hosts[2])},
		{"xsub.example.org.", "", "example.org.", want(hosts[1], hosts[3])},
		{"mail.other.net.", "", "other.net.", want(hosts[7])},
		{"nothing.test.", "", "", nil},
	}
	for i, h := range hosts {
		r := newRouter(t, h, overlay.RouterOptions{})
		for _, tc := range tests {
			if tc.first != "" {
				z, _, err := r.FindZone(context.Background(), tc.qname)
				if err != nil || z != tc.first {
					t.Errorf("host %d: first FindZone(%q) = %q, %v; want the cached %q", i, tc.qname, z, err, tc.first)
				}
				waitIdle(t, r)
			}
			z, provs, err := r.FindZone(context.Background(), tc.qname)
			if tc.zone == "" {
				if !errors.Is(err, overlay.ErrNoZone) {
					t.Errorf("host %d: FindZone(%q) = %q, %v; want ErrNoZone", i, tc.qname, z, err)
				}
				continue
			}
			if err != nil || z != tc.zone || !slices.Equal(ids(provs), tc.provs) {
				t.Errorf("host %d: FindZone(%q) = %q, %v, %v; want %q, %v", i, tc.qname, z, ids(provs), err, tc.zone, tc.provs)
			}
		}
	}
}

// Outcomes are cached, negatives too: a repeated name costs no lookup, and
// a zone created after a negative is seen once the negative expires.
func TestRouterCache(t *testing.T) {
	hosts := overlaytest.NewHosts(t, 5)
	var clk clock
	r := newRouter(t, hosts[4], overlay.RouterOptions{
		PositiveTTL: time.Minute, NegativeTTL: 10 * time.Second, Now: clk.now,
	})
	ctx := context.Background()

	if _, _, err := r.FindZone(ctx, "x.late.test."); !errors.Is(err, overlay.ErrNoZone) {
		t.Fatalf("FindZone(x.late.test.) error = %v, want ErrNoZone", err)
	}
	s := r.Stats()
	if s.Lookups != 3 || s.Entries != 3 {
		t.Fatalf("after a cold miss: %+v, want 3 lookups and 3 entries (x.late.test., late.test., test.)", s)
	}
	provide(t, hosts[1], "late.test.")
	if _, _, err := r.FindZone(ctx, "x.late.test."); !errors.Is(err, overlay.ErrNoZone) {
		t.Fatalf("within the negative TTL: error = %v, want the cached ErrNoZone", err)
	}
	if s2 := r.Stats(); s2.Lookups != 3 || s2.Hits != 3 {
		t.Fatalf("a cached miss: %+v, want no new lookup and 3 hits", s2)
	}

	clk.advance(11 * time.Second)
	z, provs, err := r.FindZone(ctx, "x.late.test.")
	if err != nil || z != "late.test." || len(provs) != 1 || provs[0].ID != hosts[1].ID() {
		t.Fatalf("after the negative TTL: FindZone = %q, %v, %v; want late.test. from host 1", z, ids(provs), err)
	}
	warm := r.Stats().Lookups
	for range 3 {
		if z, _, err := r.FindZone(ctx, "x.late.test."); err != nil || z != "late.test." {
			t.Fatalf("warm FindZone = %q, %v", z, err)
		}
	}
	if got := r.Stats().Lookups; got != warm {
		t.Errorf("warm FindZone looked the DHT up: lookups %d -> %d", warm, got)
	}

	r.Forget("late.test.")
	if _, _, err := r.FindZone(ctx, "x.late.test."); err != nil {
		t.Fatal(err)
	}
	if got := r.Stats().Lookups; got != warm+1 {
		t.Errorf("after Forget: lookups %d, want %d (late.test. again only)", got, warm+1)
	}
}

// The cache is bounded: beyond MaxEntries the least recently used entry is
// evicted.
func TestRouterCacheBounded(t *testing.T) {
	hosts := overlaytest.NewHosts(t, 3)
	r := newRouter(t, hosts[0], overlay.RouterOptions{MaxEntries: 4})
	for _, n := range []string{"a.test.", "b.test.", "c.test.", "d.test.", "e.test."} {
		r.FindZone(context.Background(), n)
	}
	if got := r.Stats().Entries; got != 4 {
		t.Errorf("Entries = %d, want 4 (the cap)", got)
	}
	before := r.Stats().Lookups
	r.FindZone(context.Background(), "a.test.") // evicted: looked up again
	if got := r.Stats().Lookups; got != before+1 {
		t.Errorf("lookups after asking for an evicted name = %d, want %d", got, before+1)
	}
}

// StopProviding: the host no longer lists itself, but the provider record
// it put on other peers stays there until it expires (48 h), so other
// routers still name it; they drop it with Forget when its RPC says the
// zone is gone.
func TestStopProviding(t *testing.T) {
	hosts := overlaytest.NewHosts(t, 5)
	provide(t, hosts[1], "gone.test.")
	hosts[1].StopProviding("GONE.test")
	if hosts[1].Provides("gone.test.") || len(hosts[1].Providing()) != 0 {
		t.Fatalf("after StopProviding: Provides = true or Providing = %q", hosts[1].Providing())
	}
	local := newRouter(t, hosts[1], overlay.RouterOptions{})
	if z, provs, err := local.FindZone(context.Background(), "gone.test."); !errors.Is(err, overlay.ErrNoZone) {
		t.Errorf("own router: FindZone(gone.test.) = %q, %v, %v; want ErrNoZone", z, ids(provs), err)
	}
	remote := newRouter(t, hosts[3], overlay.RouterOptions{})
	z, provs, err := remote.FindZone(context.Background(), "gone.test.")
	if err != nil || z != "gone.test." || !slices.Equal(ids(provs), []string{hosts[1].ID().String()}) {
		t.Errorf("other router: FindZone(gone.test.) = %q, %v, %v; want the stale record of host 1 (expires in 48 h)", z, ids(provs), err)
	}
}

// BenchmarkFindZone compares a cold lookup (a fresh router: one DHT lookup
// per suffix, in parallel) with a warm one (answered from the cache) on ten
// hosts on loopback. Run: go test -run '^$' -bench FindZone ./overlay/
func BenchmarkFindZone(b *testing.B) {
	hosts := overlaytest.NewHosts(b, 10)
	if err := hosts[3].Provide(context.Background(), "zone.bench."); err != nil {
		b.Fatal(err)
	}
	const qname = "www.zone.bench."
	ctx := context.Background()
	b.Run("cold", func(b *testing.B) {
		var lat []time.Duration
		for i := 0; b.Loop(); i++ {
			r := overlay.NewRouter(hosts[i%9+1], overlay.RouterOptions{})
			start := time.Now()
			z, _, err := r.FindZone(ctx, qname)
			lat = append(lat, time.Since(start))
			r.Close()
			if err != nil || z != "zone.bench." {
				b.Fatalf("FindZone = %q, %v", z, err)
			}
		}
		report(b, lat)
	})
	b.Run("warm", func(b *testing.B) {
		r := overlay.NewRouter(hosts[5], overlay.RouterOptions{})
		defer r.Close()
		if _, _, err := r.FindZone(ctx, qname); err != nil {
			b.Fatal(err)
		}
		var lat []time.Duration
		for b.Loop() {
			start := time.Now()
			z, _, err := r.FindZone(ctx, qname)
			lat = append(lat, time.Since(start))
			if err != nil || z != "zone.bench." {
				b.Fatalf("FindZone = %q, %v", z, err)
			}
		}
		report(b, lat)
		b.ReportMetric(float64(r.Stats().Lookups), "dht-lookups-total")
	})
}

// report adds p50 and p99 latencies in nanoseconds to the benchmark line.
func report(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(p(0.50), "p50-ns")
	b.ReportMetric(p(0.99), "p99-ns")
	b.Logf("%s: n=%d p50=%v p99=%v", strings.TrimPrefix(b.Name(), "BenchmarkFindZone/"), len(lat), lat[len(lat)/2], lat[int(0.99*float64(len(lat)-1))])
}

// Callers asking for the same cold name at once share one DHT lookup per
// suffix.
func TestFindZoneSharesLookups(t *testing.T) {
	hosts := overlaytest.NewHosts(t, 4)
	provide(t, hosts[2], "shared.test.")
	r := newRouter(t, hosts[0], overlay.RouterOptions{})
	const callers = 16
	errs := make(chan error, callers)
	for range callers {
		go func() {
			z, _, err := r.FindZone(context.Background(), "a.b.shared.test.")
			if err == nil && z != "shared.test." {
				err = errors.New("zone " + z)
			}
			errs <- err
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Errorf("FindZone(a.b.shared.test.): %v", err)
		}
	}
	// a.b.shared.test., b.shared.test., shared.test. and test.: one
	// lookup each, however many callers.
	if got := r.Stats().Lookups; got != 4 {
		t.Errorf("lookups = %d for %d concurrent callers, want 4 (one per suffix)", got, callers)
	}
}

// waitIdle waits, bounded, until r has no lookup in flight.
func waitIdle(t *testing.T, r *overlay.Router) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().InFlight > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("router lookups still in flight after 10 s: %+v", r.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// With a zone's route cached, a new name under it is answered at once
// from the cache, with no DHT lookup on the caller's path; the longer
// suffixes are looked up in the background, which caches the negatives
// and finds a child zone provided elsewhere for the next call.
func TestFindZoneAnswersFromCachedZone(t *testing.T) {
	hosts := overlaytest.NewHosts(t, 5)
	provide(t, hosts[1], "warm.test.")
	provide(t, hosts[2], "child.warm.test.")
	r := newRouter(t, hosts[4], overlay.RouterOptions{})
	ctx := context.Background()
	if z, _, err := r.FindZone(ctx, "warm.test."); err != nil || z != "warm.test." {
		t.Fatalf("FindZone(warm.test.) = %q, %v", z, err)
	}
	waitIdle(t, r)
	parent := []string{hosts[1].ID().String()}

	tests := []struct {
		qname    string
		bg       uint64 // suffixes looked up in the background
		later    string // the answer once they are done
		laterPrv []string
	}{
		{"new.warm.test.", 1, "warm.test.", parent},
		{"a.b.warm.test.", 2, "warm.test.", parent},
		{"x.child.warm.test.", 2, "child.warm.test.", []string{hosts[2].ID().String()}},
	}
	for _, tc := range tests {
		before := r.Stats()
		rt, err := r.FindRoute(ctx, tc.qname)
		after := r.Stats()
		if err != nil || rt.Zone != "warm.test." || !slices.Equal(ids(rt.Providers), parent) || !rt.Provisional {
			t.Errorf("FindRoute(%q) = %q, %v, provisional %v, %v; want the cached warm.test. from host 1, provisional", tc.qname, rt.Zone, ids(rt.Providers), rt.Provisional, err)
		}
		sync := (after.Lookups - before.Lookups) - (after.Background - before.Background)
		if sync != 0 || after.Background-before.Background != tc.bg {
			t.Errorf("FindZone(%q): %d lookups on the caller's path, %d in the background; want 0 and %d",
				tc.qname, sync, after.Background-before.Background, tc.bg)
		}
		waitIdle(t, r)
		settled := r.Stats()
		rt, err = r.FindRoute(ctx, tc.qname)
		if err != nil || rt.Zone != tc.later || !slices.Equal(ids(rt.Providers), tc.laterPrv) || rt.Provisional {
			t.Errorf("FindRoute(%q) after the background lookups = %q, %v, provisional %v, %v; want %q %v, settled", tc.qname, rt.Zone, ids(rt.Providers), rt.Provisional, err, tc.later, tc.laterPrv)
		}
		// Every suffix is cached now, negatives too: no lookup at all.
		if got := r.Stats().Lookups; got != settled.Lookups {
			t.Errorf("FindZone(%q) after the background lookups: lookups %d -> %d, want the outcomes cached", tc.qname, settled.Lookups, got)
		}
	}

	// Refresh looks the zone up again in the background; the cached route
	// keeps answering meanwhile.
	before := r.Stats()
	r.Refresh("WARM.test")
	z, provs, err := r.FindZone(ctx, "warm.test.")
	after := r.Stats()
	if err != nil || z != "warm.test." || !slices.Equal(ids(provs), parent) {
		t.Errorf("FindZone(warm.test.) during Refresh = %q, %v, %v; want the cached route", z, ids(provs), err)
	}
	if after.Lookups-before.Lookups != 1 || after.Background-before.Background != 1 {
		t.Errorf("Refresh: %d lookups, %d in the background; want 1 and 1", after.Lookups-before.Lookups, after.Background-before.Background)
	}
	waitIdle(t, r)
}

// Background lookups are bounded: beyond MaxBackground the suffix is left
// for a later call, and the answer still comes from the cache at once.
func TestFindZoneBackgroundBounded(t *testing.T) {
	hosts := overlaytest.NewHosts(t, 3)
	provide(t, hosts[1], "bound.test.")
	r := newRouter(t, hosts[0], overlay.RouterOptions{MaxBackground: 1})
	ctx := context.Background()
	if _, _, err := r.FindZone(ctx, "bound.test."); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, r)
	before := r.Stats()
	z, _, err := r.FindZone(ctx, "a.b.c.bound.test.")
	if err != nil || z != "bound.test." {
		t.Fatalf("FindZone = %q, %v; want bound.test.", z, err)
	}
	after := r.Stats()
	if got := after.Background - before.Background; got != 1 || after.Lookups-before.Lookups != 1 {
		t.Errorf("background lookups started = %d (all lookups %d), want 1 (MaxBackground)", got, after.Lookups-before.Lookups)
	}
}

// Providers answers for exactly one zone, never an enclosing one.
func TestRouterProviders(t *testing.T) {
	hosts := overlaytest.NewHosts(t, 4)
	provide(t, hosts[1], "top.test.")
	provide(t, hosts[2], "kid.top.test.")
	r := newRouter(t, hosts[3], overlay.RouterOptions{})
	ctx := context.Background()
	if z, _, err := r.FindZone(ctx, "top.test."); err != nil || z != "top.test." {
		t.Fatalf("FindZone(top.test.) = %q, %v", z, err)
	}
	provs, err := r.Providers(ctx, "KID.top.test")
	if err != nil || !slices.Equal(ids(provs), []string{hosts[2].ID().String()}) {
		t.Errorf("Providers(kid.top.test.) = %v, %v; want host 2", ids(provs), err)
	}
	if provs, err := r.Providers(ctx, "none.top.test."); !errors.Is(err, overlay.ErrNoZone) {
		t.Errorf("Providers(none.top.test.) = %v, %v; want ErrNoZone", ids(provs), err)
	}
}

// CachedChild finds a child zone only once the cache knows it (Prefetch
// looks it up, once), and only strictly below the given parent.
func TestCachedChildAndPrefetch(t *testing.T) {
	hosts := overlaytest.NewHosts(t, 3)
	provide(t, hosts[1], "child.top.test.")
	r := newRouter(t, hosts[0], overlay.RouterOptions{})
	if z, ok := r.CachedChild("x.child.top.test.", "top.test."); ok {
		t.Errorf("CachedChild before any lookup = %q, want none", z)
	}
	before := r.Stats()
	r.Prefetch("CHILD.top.test")
	waitIdle(t, r)
	if got := r.Stats().Lookups - before.Lookups; got != 1 {
		t.Errorf("Prefetch: %d lookups, want 1", got)
	}
	tests := []struct {
		qname, parent, want string
	}{
		{"x.child.top.test.", "top.test.", "child.top.test."},
		{"a.b.child.top.test.", "top.test.", "child.top.test."},
		{"child.top.test.", "top.test.", "child.top.test."},
		{"x.other.top.test.", "top.test.", ""},
		{"x.child.top.test.", "child.top.test.", ""},
		{"top.test.", "top.test.", ""},
	}
	for _, tc := range tests {
		z, ok := r.CachedChild(tc.qname, tc.parent)
		if z != tc.want || ok != (tc.want != "") {
			t.Errorf("CachedChild(%q, %q) = %q, %v; want %q", tc.qname, tc.parent, z, ok, tc.want)
		}
	}
	settled := r.Stats().Lookups
	r.Prefetch("child.top.test.")
	if got := r.Stats().Lookups; got != settled {
		t.Errorf("Prefetch of a cached zone: lookups %d -> %d, want none", settled, got)
	}
}
