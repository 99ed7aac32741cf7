package sim

// cache.go: the route cache under a Zipf query mix, at full size. One
// node's real overlay.Router (its LRU of DefaultRouteEntries routes,
// DefaultPositiveTTL each) answers a simulated stream of queries for
// names in 10,000,000 zones on a virtual clock (RouterOptions.Now); a
// miss is routed by the registry log's directory (RouterOptions.
// Directory), which is instant, so hours of queries take seconds. Every
// miss would otherwise be a DHT search (what a node that does not
// follow the log pays).

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddnrs/ddnrs/overlay"
)

// CacheConfig sizes a route-cache simulation. Zero fields take the
// defaults named.
type CacheConfig struct {
	Zones int     // zones queries fall in (default 10,000,000)
	Alpha float64 // Zipf exponent of zone popularity (default 1.0)
	QPS   float64 // queries a second this node routes to other groups (default 100)
	Span  time.Duration
	// Span is the simulated time measured, after as long again to warm
	// the cache (default 20 minutes).
	Entries int           // route cache size (default overlay.DefaultRouteEntries)
	TTL     time.Duration // route lifetime (default overlay.DefaultPositiveTTL)
	Seed    uint64        // default 1
}

// CacheResult is one route-cache simulation.
type CacheResult struct {
	Config  CacheConfig
	Queries int     // measured (after the warm-up)
	HitRate float64 // of the measured queries, answered from the cache
	// MissesPerSec is the routes a second not in the cache: DHT
	// searches a second for a node without the directory, none with it.
	MissesPerSec float64
}

// ErrCacheConfig is returned by RouteCache for a configuration it
// cannot simulate.
var ErrCacheConfig = errors.New("sim: bad route cache configuration")

// RouteCache runs one route-cache simulation.
func RouteCache(ctx context.Context, c CacheConfig) (*CacheResult, error) {
	if c.Zones <= 0 {
		c.Zones = 10_000_000
	}
	if c.Alpha <= 0 {
		c.Alpha = 1.0
	}
	if c.QPS <= 0 {
		c.QPS = 100
	}
	if c.Span <= 0 {
		c.Span = 20 * time.Minute
	}
	if c.Entries <= 0 {
		c.Entries = overlay.DefaultRouteEntries
	}
	if c.TTL <= 0 {
		c.TTL = overlay.DefaultPositiveTTL
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if n := c.QPS * 2 * c.Span.Seconds(); n > 50_000_000 {
		return nil, fmt.Errorf("%w: %.0f queries (QPS x 2 x span) is more than 50 million", ErrCacheConfig, n)
	}
	net := newNet(func(a, b int) time.Duration { return 0 })
	defer net.Close()
	p2p, err := net.addHost(0, new(Counter))
	if err != nil {
		return nil, err
	}
	h, err := overlay.NewHostOn(ctx, p2p, nil, overlay.HostOptions{})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	member := peer.AddrInfo{ID: peer.ID("sim-member")} // the zone's group; never dialled here
	t := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	r := overlay.NewRouter(h, overlay.RouterOptions{
		MaxEntries:  c.Entries,
		PositiveTTL: c.TTL,
		MayBeZone:   isZone,
		Directory: func(z string) []peer.AddrInfo {
			if isZone(z) {
				return []peer.AddrInfo{member}
			}
			return nil
		},
		Now: func() time.Time { return t },
	})
	defer r.Close()
	rng := rand.New(rand.NewPCG(c.Seed, 16))
	step := time.Duration(float64(time.Second) / c.QPS)
	warm := int(c.QPS * c.Span.Seconds())
	var before overlay.RouterStats
	for i := range 2 * warm {
		if i == warm {
			before = r.Stats()
		}
		if i%65536 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		z := zipf(rng, c.Zones, c.Alpha)
		if _, err := r.FindRoute(ctx, "www."+zoneName(z)); err != nil {
			return nil, fmt.Errorf("sim: route cache: %w", err)
		}
		t = t.Add(step)
	}
	after := r.Stats()
	hits := after.Hits - before.Hits
	res := &CacheResult{Config: c, Queries: warm, HitRate: float64(hits) / float64(warm)}
	res.MissesPerSec = float64(uint64(warm)-hits) / c.Span.Seconds()
	return res, nil
}

// zipf draws a rank in [0, n) with probability about proportional to
// 1/(rank+1)^alpha, by inverting the continuous approximation of the
// distribution's CDF (exact enough for a cache's hit rate; math/rand's
// Zipf needs alpha > 1).
func zipf(rng *rand.Rand, n int, alpha float64) int {
	u := rng.Float64()
	var x float64
	if math.Abs(alpha-1) < 1e-9 {
		x = math.Pow(float64(n)+1, u)
	} else {
		a := 1 - alpha
		x = math.Pow((math.Pow(float64(n)+1, a)-1)*u+1, 1/a)
	}
	return min(n-1, max(0, int(x)-1))
}
