package sim

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// TestSim runs a small overlay (42 real overlay hosts on mocknet, 6
// groups, 20-150 ms between regions) and checks what must hold at any
// size, never how fast: every sampled zone is found by a DHT search
// from a node of another group, no deeper than Kademlia's bound for the
// size; the routes the registry log's directory gives need no DHT
// search and answer; a new group's zones are found from every sampled
// node once its members provided them.
func TestSim(t *testing.T) {
	cfg := Config{Nodes: 42, Lookups: 20, ZonesPerGroup: 1, Progress: testWriter{t}}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Groups != 6 || res.Zones != 6 {
		t.Errorf("groups %d, zones %d; want 6 and 6", res.Groups, res.Zones)
	}
	if res.Hops.N != cfg.Lookups {
		t.Errorf("DHT searches that found a provider: %d of %d", res.Hops.N, cfg.Lookups)
	}
	// Kademlia: each round of a search at least halves the distance to
	// the key among the peers a node knows of; from a routing table of
	// k=20 peers, log2(nodes/20) rounds reach the closest, plus the
	// round that asks them.
	if bound := math.Ceil(math.Log2(float64(cfg.Nodes)/20)) + 1; res.Hops.Max > bound {
		t.Errorf("DHT search depth max %v, want at most %v at %d nodes", res.Hops.Max, bound, cfg.Nodes)
	}
	if res.Log.Failed != 0 || res.Log.Route.N != cfg.Lookups {
		t.Errorf("directory routes: %d failed, %d answered, want all %d answered", res.Log.Failed, res.Log.Route.N, cfg.Lookups)
	}
	if res.LogSearches != 0 {
		t.Errorf("routers with the directory started %d DHT lookups, want none", res.LogSearches)
	}
	if res.Warm.Failed != 0 {
		t.Errorf("warm routes: %d failed", res.Warm.Failed)
	}
	if ng := res.NewGroup; ng.Findable != ng.Zones || ng.Unfound != 0 || ng.Zones != cfg.ZonesPerGroup {
		t.Errorf("new group: %d of %d zones findable from every node, %d lookups found none", ng.Findable, ng.Zones, ng.Unfound)
	}
	// The extrapolation prints (a table a row short would panic).
	var tables strings.Builder
	(&Report{DHT: res, Caches: []*CacheResult{{Config: CacheConfig{Zones: 1}}}, Registry: &RegistryResult{}}).Print(&tables)
	t.Log(tables.String())
}

// TestRouteCache: the real router's hit rate rises with the skew of the
// query mix and with the cache's size, and every query is counted.
func TestRouteCache(t *testing.T) {
	ctx := context.Background()
	run := func(alpha float64, entries int) float64 {
		t.Helper()
		r, err := RouteCache(ctx, CacheConfig{Zones: 1_000_000, Alpha: alpha, QPS: 20, Span: 5 * time.Minute, Entries: entries})
		if err != nil {
			t.Fatal(err)
		}
		if r.Queries != 6000 || r.HitRate < 0 || r.HitRate > 1 {
			t.Fatalf("alpha %v, %d entries: %d queries, hit rate %v", alpha, entries, r.Queries, r.HitRate)
		}
		return r.HitRate
	}
	flat, skewed, small := run(0.8, 0), run(1.2, 0), run(1.2, 10)
	if !(flat < skewed) || !(small < skewed) {
		t.Errorf("hit rates: alpha 0.8 %v, alpha 1.2 %v, alpha 1.2 with 10 routes %v; want the second the highest", flat, skewed, small)
	}
	if _, err := RouteCache(ctx, CacheConfig{QPS: 1e6, Span: time.Hour}); !errors.Is(err, ErrCacheConfig) {
		t.Errorf("RouteCache(too many queries) err = %v, want ErrCacheConfig", err)
	}
}

// TestRegistryLoad: a lease as short as the interval commits every
// heartbeat (the rule before issue 15); the default lease commits a
// tenth of them, plus the changes.
func TestRegistryLoad(t *testing.T) {
	every, err := RegistryLoad(RegistryConfig{Nodes: 700, Lease: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if every.CommitsPerSec != every.HeartbeatsPerSec || every.HeartbeatsPerSec != 70 {
		t.Errorf("lease = interval: %v commits/s of %v heartbeats/s, want 70 and 70", every.CommitsPerSec, every.HeartbeatsPerSec)
	}
	def, err := RegistryLoad(RegistryConfig{Nodes: 700})
	if err != nil {
		t.Fatal(err)
	}
	// 700 nodes / 100 s lease = 7/s; 7 moves and ~2 elections x 7
	// members an hour add well under 0.1/s.
	if def.CommitsPerSec < 7 || def.CommitsPerSec > 7.1 {
		t.Errorf("default lease: %v commits/s, want 7 to 7.1", def.CommitsPerSec)
	}
	for _, c := range []RegistryConfig{{Moves: 2}, {Churn: -1}, {Nodes: 1_000_000, Span: 24 * time.Hour}} {
		if _, err := RegistryLoad(c); !errors.Is(err, ErrRegistryConfig) {
			t.Errorf("RegistryLoad(%+v) err = %v, want ErrRegistryConfig", c, err)
		}
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	for _, c := range []Config{{Nodes: 10}, {Nodes: 100, GroupSize: 9}} {
		if _, err := Run(context.Background(), c); !errors.Is(err, ErrConfig) {
			t.Errorf("Run(%+v) err = %v, want ErrConfig", c, err)
		}
	}
}

// testWriter sends the progress lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

// TestRecordBytes: provider records take heap, each at least its key.
func TestRecordBytes(t *testing.T) {
	b, err := recordBytes(context.Background(), 5000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%.0f bytes of heap a provider record", b)
	if b < 34 { // a record's key holds the 34-byte multihash at least
		t.Errorf("recordBytes = %v, want at least 34", b)
	}
}
