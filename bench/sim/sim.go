// Package sim is the overlay at internet scale, simulated in one process
// (issue 15 item 1; docs/scale.md): thousands of DDNRS overlay hosts,
// each the real overlay.Host (go-libp2p-kad-dht with the overlay's
// settings, protocol /ddnrs) on a libp2p host of go-libp2p's mocknet,
// whose links delay every write by the latency between the two hosts'
// regions; groups of members that provide their zones in the DHT; the
// real overlay.Router finding them, from the DHT or from the registry's
// log (RouterOptions.Directory); DDNRS-RPC pings for the round trip of
// a query. What it cannot run at full size (10,000,000 zones, 3,600
// registry heartbeats a second for hours) it runs at a scale that fits
// and extrapolates, saying how (cache.go, registry.go, report.go).
// bench/cmd/sim prints the tables (`make sim`); TestSim runs a small
// one in CI and asserts properties, never timings.
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/ddnrs/ddnrs/overlay"
)

// Config sizes a DHT simulation. Zero fields take the defaults named.
type Config struct {
	// Nodes is how many overlay hosts run (default 200).
	Nodes int
	// GroupSize is the members per group (default 7); the last group
	// takes the nodes left over.
	GroupSize int
	// Regions is how many regions the groups are spread over, round
	// robin, a group's members in one region (default 10).
	Regions int
	// MinDelay and MaxDelay bound the one-way latency between two
	// regions, drawn once per pair of regions (defaults 20 ms and
	// 150 ms); LocalDelay is the latency inside a region (default 1 ms).
	// A round trip between two regions costs twice their delay.
	MinDelay, MaxDelay, LocalDelay time.Duration
	// ZonesPerGroup is how many zones each group's members provide in
	// the DHT (default 2).
	ZonesPerGroup int
	// Lookups is how many cold lookups are sampled per way of routing
	// (default 100).
	Lookups int
	// Parallel bounds the hosts started, routing tables refreshed and
	// zones provided at once (default 64; lookups, whose times are
	// measured, run at most 16 at once). Latencies are wall-clock: more
	// at once only costs CPU, which a loaded machine lacks.
	Parallel int
	// Seed makes the regions' delays and the samples repeatable
	// (default 1).
	Seed uint64
	// Progress receives a line per phase; nil: none.
	Progress io.Writer
}

func (c *Config) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Nodes, 200)
	def(&c.GroupSize, 7)
	def(&c.Regions, 10)
	def(&c.ZonesPerGroup, 2)
	def(&c.Lookups, 100)
	def(&c.Parallel, 64)
	if c.MinDelay <= 0 {
		c.MinDelay = 20 * time.Millisecond
	}
	if c.MaxDelay < c.MinDelay {
		c.MaxDelay = max(c.MinDelay, 150*time.Millisecond)
	}
	if c.LocalDelay <= 0 {
		c.LocalDelay = time.Millisecond
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// ErrConfig is returned by Run for a configuration it cannot simulate.
var ErrConfig = errors.New("sim: bad configuration")

func (c *Config) validate() error {
	var errs []error
	if c.Nodes < 2*c.GroupSize {
		errs = append(errs, fmt.Errorf("%w: %d nodes make fewer than 2 groups of %d", ErrConfig, c.Nodes, c.GroupSize))
	}
	if c.GroupSize > overlay.DefaultMaxProviders {
		errs = append(errs, fmt.Errorf("%w: groups of %d exceed the %d providers a lookup collects", ErrConfig, c.GroupSize, overlay.DefaultMaxProviders))
	}
	return errors.Join(errs...)
}

// hangBound bounds a lookup, a search or a ping of the simulation: far
// above what any takes on an idle machine, it only catches hangs (the
// router's own DHT lookup stops at overlay.DefaultLookupTimeout).
const hangBound = 30 * time.Second

// node is one simulated overlay host.
type node struct {
	h      *overlay.Host
	c      *Counter
	group  int
	region int
	client *overlay.Client
	server *overlay.Server
}

// World is a running simulation: the network, its nodes, their groups.
type World struct {
	cfg    Config
	net    *Net
	rng    *rand.Rand
	delays [][]time.Duration
	nodes  []*node
	groups [][]*node
	zones  []string // zones provided; zone i belongs to group i % len(groups)
	count  Counter  // every node's traffic

	logSearches atomic.Uint64 // DHT lookups the routers with the directory started
}

// Result is what Run measured; report.go prints it.
type Result struct {
	Config Config
	Groups int
	Zones  int

	Start          time.Duration // every host started and joined
	HeapPerNode    float64       // bytes of Go heap per host after the start (all of libp2p, the DHT, the routing table)
	RoutingTable   Stats         // routing table sizes
	Links          int64         // mocknet links made
	StartBytes     int64         // wire bytes of the joins and refreshes
	Provide        time.Duration // every member provided every zone of its group
	ProvideBytes   float64       // wire bytes per provide (lookup of the closest peers and the ADD_PROVIDER messages)
	HeapPerRecord  float64       // bytes of heap per provider record in a DHT's store (recordBytes)
	DHT, Log, Warm Lookups       // cold lookups through the DHT, cold from the log's directory, warm (cached route)
	Hops           Stats         // DHT search depth at which the first provider was found (0: the asking node stores it)
	Queried        Stats         // DHT peers asked per search
	LookupBytes    float64       // wire bytes per cold DHT lookup of a route
	// PathDHT and PathLog are a cold query's time by the links alone
	// (ms), whatever the CPU: through the DHT, a round trip to each peer
	// of the search's chain to the first provider, then one to the
	// member; from the directory, the one to the member.
	PathDHT, PathLog Stats
	ProvideFailed    int    // provides that did not reach the closest peers within a minute
	LogSearches      uint64 // DHT lookups the routers with the directory started (none expected)
	NewGroup         NewGroup
}

// Lookups are the times of one way of routing.
type Lookups struct {
	Route   Stats    // FindRoute: until the route is known
	Resolve Stats    // route plus one DDNRS-RPC exchange with its first member
	Failed  int      // lookups that found no route or no answer
	Errors  []string // the first few distinct reasons
	Delay   Stats    // one-way delay between the asking node's and the zone's regions
}

// NewGroup is a group joining an overlay in full swing.
type NewGroup struct {
	Join          time.Duration // the members' hosts started and joined
	Provide       time.Duration // every member provided every zone
	Findable      int           // zones found from every sampled node afterwards
	Zones         int
	Checkers      int // nodes that looked every zone up
	Unfound       int // (checker, zone) lookups that found no provider
	ProvideFailed int // provides that failed (each is retried by the host, not awaited here)
}

// Stats summarises samples.
type Stats struct {
	N                  int
	Min, P50, P99, Max float64
	Mean               float64
}

func summarize(xs []float64) Stats {
	if len(xs) == 0 {
		return Stats{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	q := func(p float64) float64 { return s[min(len(s)-1, int(math.Ceil(p*float64(len(s))))-1)] }
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	return Stats{N: len(s), Min: s[0], P50: q(0.5), P99: q(0.99), Max: s[len(s)-1], Mean: sum / float64(len(s))}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Run builds the world, measures, and tears it down.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w := &World{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 15))}
	w.delays = make([][]time.Duration, cfg.Regions+1) // +1: the new group's region
	for a := range w.delays {
		w.delays[a] = make([]time.Duration, cfg.Regions+1)
	}
	for a := range w.delays {
		for b := a; b < len(w.delays); b++ {
			d := cfg.LocalDelay
			if a != b {
				d = cfg.MinDelay + time.Duration(w.rng.Int64N(int64(cfg.MaxDelay-cfg.MinDelay)+1))
			}
			w.delays[a][b], w.delays[b][a] = d, d
		}
	}
	w.net = newNet(func(a, b int) time.Duration { return w.delays[a][b] })
	defer w.close()
	res := &Result{Config: cfg}
	var err error
	if res.HeapPerRecord, err = recordBytes(ctx, 50_000); err != nil {
		return nil, err
	}
	if err := w.start(ctx, res); err != nil {
		return nil, err
	}
	if err := w.provide(ctx, res); err != nil {
		return nil, err
	}
	w.lookups(ctx, res)
	if err := w.newGroup(ctx, res); err != nil {
		return nil, err
	}
	return res, nil
}

func (w *World) logf(format string, args ...any) {
	fmt.Fprintf(w.cfg.Progress, "sim: "+format+"\n", args...)
}

// close stops every node and the network.
func (w *World) close() {
	var wg sync.WaitGroup
	for _, n := range w.nodes {
		wg.Go(func() {
			if n.server != nil {
				n.server.Close()
			}
			n.h.Close()
		})
	}
	wg.Wait()
	w.net.Close()
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// parallel runs f(i) for i in [0, n), at most limit at once.
func parallel(limit, n int, f func(i int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

// addNode makes a host in group g and region r, joined through boot.
func (w *World) addNode(ctx context.Context, g, r int, boot []peer.AddrInfo) (*node, error) {
	n := &node{c: new(Counter), group: g, region: r}
	p2p, err := w.net.addHost(r, &w.count)
	if err != nil {
		return nil, err
	}
	n.h, err = overlay.NewHostOn(ctx, p2p, boot, overlay.HostOptions{})
	if err != nil {
		return nil, err
	}
	n.server = overlay.NewServer(n.h.P2P(), overlay.ServerOptions{})
	n.client = overlay.NewClient(n.h.P2P(), overlay.ClientOptions{})
	return n, nil
}

// start makes every node: the first joins nobody, the next few the first,
// the rest three random nodes among the first 16 (a node's configured
// bootstrap peers), many at once; then every node looks itself up.
func (w *World) start(ctx context.Context, res *Result) error {
	cfg := w.cfg
	ngroups := cfg.Nodes / cfg.GroupSize
	w.groups = make([][]*node, ngroups)
	h0 := heap()
	t0 := time.Now()
	w.nodes = make([]*node, cfg.Nodes)
	groupOf := func(i int) int { return min(i/cfg.GroupSize, ngroups-1) }
	seeds := min(16, cfg.Nodes)
	for i := range seeds {
		var boot []peer.AddrInfo
		if i > 0 {
			boot = []peer.AddrInfo{w.nodes[0].h.AddrInfo()}
		}
		n, err := w.addNode(ctx, groupOf(i), groupOf(i)%cfg.Regions, boot)
		if err != nil {
			return err
		}
		w.nodes[i] = n
	}
	bootOf := make([][]peer.AddrInfo, cfg.Nodes)
	for i := seeds; i < cfg.Nodes; i++ {
		for _, j := range w.rng.Perm(seeds)[:3] {
			bootOf[i] = append(bootOf[i], w.nodes[j].h.AddrInfo())
		}
	}
	var errs []error
	var mu sync.Mutex
	parallel(w.cfg.Parallel, cfg.Nodes-seeds, func(k int) {
		i := seeds + k
		n, err := w.addNode(ctx, groupOf(i), groupOf(i)%cfg.Regions, bootOf[i])
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		w.nodes[i] = n
		if i%500 == 0 {
			w.logf("%d hosts started", i)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	w.logf("%d hosts started in %v", cfg.Nodes, time.Since(t0).Round(time.Millisecond))
	// Every node looks itself up once more now that all have joined:
	// the step of a routing table refresh that fills the buckets
	// nearest to the node (the DHT's full refresh, one search per bucket,
	// runs every 10 minutes; here it would cost minutes of CPU).
	t1 := time.Now()
	self := make([]float64, cfg.Nodes)
	parallel(cfg.Nodes, cfg.Nodes, func(i int) { // waits on the network, not the CPU
		t := time.Now()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		h := w.nodes[i].h
		h.DHT().GetClosestPeers(sctx, string(h.ID()))
		self[i] = ms(time.Since(t))
	})
	rs := summarize(self)
	w.logf("every node looked itself up in %v (one: p50 %.0f ms, max %.0f ms)", time.Since(t1).Round(time.Millisecond), rs.P50, rs.Max)
	res.Start = time.Since(t0)
	res.StartBytes = w.count.Bytes() / 2
	for _, n := range w.nodes {
		w.groups[n.group] = append(w.groups[n.group], n)
	}
	res.Groups = ngroups
	var rt []float64
	for _, n := range w.nodes {
		rt = append(rt, float64(n.h.RoutingTableSize()))
	}
	res.RoutingTable = summarize(rt)
	res.HeapPerNode = float64(heap()-min(h0, heap())) / float64(cfg.Nodes)
	res.Links = w.net.Links()
	w.logf("joined in %v: routing tables %v peers (median), %.0f KiB heap a host", res.Start.Round(time.Millisecond), res.RoutingTable.P50, res.HeapPerNode/1024)
	return ctx.Err()
}

// zoneName is zone i of the simulation; its group is i % groups.
func zoneName(i int) string { return "z" + strconv.Itoa(i) + ".sim." }

// zoneIndex is zoneName's inverse, or -1.
func zoneIndex(name string) int {
	s, ok := strings.CutPrefix(name, "z")
	if !ok {
		return -1
	}
	s, ok = strings.CutSuffix(s, ".sim.")
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return i
}

// isZone is the MayBeZone of the simulation's routers: the zones are
// known (as trust anchors from the registry's log are), their parent
// sim. is not a zone.
func isZone(name string) bool { return zoneIndex(name) >= 0 }

// provide has every member of every group provide the group's zones.
func (w *World) provide(ctx context.Context, res *Result) error {
	ng := len(w.groups)
	nz := ng * w.cfg.ZonesPerGroup
	w.zones = make([]string, nz)
	type job struct {
		n *node
		z string
	}
	var jobs []job
	for i := range nz {
		w.zones[i] = zoneName(i)
		for _, n := range w.groups[i%ng] {
			jobs = append(jobs, job{n, w.zones[i]})
		}
	}
	w.rng.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	h0, b0 := heap(), w.count.Bytes()
	t0 := time.Now()
	var failed int
	var mu sync.Mutex
	parallel(w.cfg.Parallel, len(jobs), func(i int) {
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := jobs[i].n.h.Provide(pctx, jobs[i].z); err != nil {
			mu.Lock()
			failed++
			mu.Unlock()
		}
	})
	res.Provide = time.Since(t0)
	res.Zones = nz
	res.ProvideBytes = float64(w.count.Bytes()-b0) / 2 / float64(len(jobs))
	// Each provide stores a record on this node and on the (up to) 20
	// closest peers to the key.
	_ = h0
	res.ProvideFailed = failed
	w.logf("%d provides (%d zones x their group's members) in %v, %d failed; %.0f wire bytes a provide", len(jobs), nz, res.Provide.Round(time.Millisecond), failed, res.ProvideBytes)
	if failed == len(jobs) {
		return fmt.Errorf("sim: all %d provides failed", failed)
	}
	return ctx.Err()
}

// otherZone picks a node and a zone of another group.
func (w *World) otherZone() (*node, int) {
	for {
		n := w.nodes[w.rng.IntN(len(w.nodes))]
		z := w.rng.IntN(len(w.zones))
		if z%len(w.groups) != n.group {
			return n, z
		}
	}
}

// directory is RouterOptions.Directory as a node following the
// registry's log has it (intergroup.Directory): the zone's group's
// members, from the zone's name.
func (w *World) directory(zoneName string) []peer.AddrInfo {
	i := zoneIndex(zoneName)
	if i < 0 || i >= len(w.zones) {
		return nil
	}
	var out []peer.AddrInfo
	for _, n := range w.groups[i%len(w.groups)] {
		out = append(out, n.h.AddrInfo())
	}
	return out
}

type sample struct {
	route, resolve time.Duration
	delay          time.Duration
	ok             bool
	err            string // why not ok
}

// lookup routes a query for a name in zone z from n, through a router
// made for the occasion (cold: no cached route), with the directory or
// not, then routes it again (warm), asking the first member each time.
func (w *World) lookup(ctx context.Context, n *node, z int, dir bool) (cold, warm sample) {
	opts := overlay.RouterOptions{MayBeZone: isZone}
	if dir {
		opts.Directory = w.directory
	}
	r := overlay.NewRouter(n.h, opts)
	defer func() {
		if dir {
			w.logSearches.Add(r.Stats().Lookups)
		}
		r.Close()
	}()
	g := w.groups[z%len(w.groups)]
	delay := w.delays[n.region][g[0].region]
	one := func() sample {
		s := sample{delay: delay}
		t0 := time.Now()
		lctx, cancel := context.WithTimeout(ctx, hangBound)
		defer cancel()
		rt, err := r.FindRoute(lctx, "www."+w.zones[z])
		s.route = time.Since(t0)
		if err != nil || rt.Zone != w.zones[z] || len(rt.Providers) == 0 {
			s.err = fmt.Sprintf("route: %q %d providers, %v", rt.Zone, len(rt.Providers), err)
			return s
		}
		if _, err := n.client.Ping(lctx, rt.Providers[0]); err != nil {
			s.err = fmt.Sprintf("ping: %v", err)
			return s
		}
		s.resolve, s.ok = time.Since(t0), true
		return s
	}
	return one(), one()
}

// search follows one DHT search for zone z's providers from n (as the
// router starts it) through the DHT's query events: the depth at which
// the first provider came (seed peers from the routing table are depth
// 1, a peer first named in a depth-d peer's answer d+1; the provider
// came in the answer of a peer still being asked then: the least depth
// of those), and how many peers the search asked.
func (w *World) search(ctx context.Context, n *node, z int) (hops, asked int, path time.Duration, ok bool) {
	sctx, cancel := context.WithTimeout(ctx, hangBound)
	defer cancel()
	ectx, events := routing.RegisterForQueryEvents(sctx)
	depth := map[peer.ID]int{}
	parent := map[peer.ID]peer.ID{}
	waiting := map[peer.ID]bool{}
	found := n.h.DHT().FindProvidersAsync(ectx, overlay.ZoneKey(w.zones[z]), overlay.DefaultMaxProviders)
	hops = -1
	for found != nil || events != nil {
		select {
		case ev, more := <-events:
			if !more {
				events = nil
				continue
			}
			switch ev.Type {
			case routing.SendingQuery:
				if _, ok := depth[ev.ID]; !ok {
					depth[ev.ID] = 1
				}
				waiting[ev.ID] = true
				asked++
			case routing.PeerResponse:
				delete(waiting, ev.ID)
				for _, ai := range ev.Responses {
					if _, ok := depth[ai.ID]; !ok {
						depth[ai.ID] = depth[ev.ID] + 1
						parent[ai.ID] = ev.ID
					}
				}
			}
		case _, more := <-found:
			if !more {
				found = nil
				cancel() // ends the events too
				continue
			}
			if hops < 0 {
				hops = 0 // in this node's own store, unless a peer was being asked
				least, from := math.MaxInt, peer.ID("")
				for p := range waiting {
					if depth[p] < least {
						least, from = depth[p], p
					}
				}
				if least < math.MaxInt {
					hops = least
					// The search asks every peer itself: its time is a
					// round trip to each peer of the chain that led to
					// the one that answered.
					for p := from; p != ""; p = parent[p] {
						path += 2 * w.net.delayOf(n.h.ID(), p)
					}
				}
			}
		}
	}
	return hops, asked, path, hops >= 0
}

// lookups samples cold lookups through the DHT and from the directory,
// and warm ones, and follows DHT searches for their depth.
func (w *World) lookups(ctx context.Context, res *Result) {
	type pair struct {
		n *node
		z int
	}
	pick := func() []pair {
		ps := make([]pair, w.cfg.Lookups)
		for i := range ps {
			ps[i].n, ps[i].z = w.otherZone()
		}
		return ps
	}
	run := func(dir bool, warm *Lookups) Lookups {
		ps := pick()
		cold := make([]sample, len(ps))
		warms := make([]sample, len(ps))
		parallel(min(16, w.cfg.Parallel), len(ps), func(i int) { cold[i], warms[i] = w.lookup(ctx, ps[i].n, ps[i].z, dir) })
		if warm != nil {
			*warm = collect(warms)
		}
		return collect(cold)
	}
	b0 := w.count.Bytes()
	res.DHT = run(false, nil)
	res.LookupBytes = float64(w.count.Bytes()-b0) / 2 / float64(w.cfg.Lookups)
	res.Log = run(true, &res.Warm)
	res.LogSearches = w.logSearches.Load()
	for _, l := range []struct {
		name string
		l    Lookups
	}{{"DHT", res.DHT}, {"directory", res.Log}, {"warm", res.Warm}} {
		if l.l.Failed > 0 {
			w.logf("%s: %d failed: %s", l.name, l.l.Failed, strings.Join(l.l.Errors, "; "))
		}
	}
	ps := pick()
	var hops, asked, path, direct []float64
	var mu sync.Mutex
	parallel(min(16, w.cfg.Parallel), len(ps), func(i int) {
		h, a, p, ok := w.search(ctx, ps[i].n, ps[i].z)
		// The directory's route costs no round trip; its query one, to
		// the member the client asks first (the nearest, once scored).
		g := w.groups[ps[i].z%len(w.groups)]
		rtt := 2 * w.delays[ps[i].n.region][g[0].region]
		mu.Lock()
		defer mu.Unlock()
		direct = append(direct, ms(rtt))
		if ok {
			hops, asked, path = append(hops, float64(h)), append(asked, float64(a)), append(path, ms(p+rtt))
		}
	})
	res.Hops, res.Queried = summarize(hops), summarize(asked)
	res.PathDHT, res.PathLog = summarize(path), summarize(direct)
	w.logf("cold route p50/p99: DHT %.0f/%.0f ms, log %.1f/%.1f ms; DHT depth p50 %v max %v; by the links: DHT %.0f/%.0f ms, log %.0f/%.0f ms", res.DHT.Route.P50, res.DHT.Route.P99, res.Log.Route.P50, res.Log.Route.P99, res.Hops.P50, res.Hops.Max, res.PathDHT.P50, res.PathDHT.P99, res.PathLog.P50, res.PathLog.P99)
}

func collect(ss []sample) Lookups {
	var l Lookups
	var route, resolve, delay []float64
	for _, s := range ss {
		if !s.ok {
			l.Failed++
			if len(l.Errors) < 3 && !slices.Contains(l.Errors, s.err) {
				l.Errors = append(l.Errors, s.err)
			}
			continue
		}
		route = append(route, ms(s.route))
		resolve = append(resolve, ms(s.resolve))
		delay = append(delay, ms(s.delay))
	}
	l.Route, l.Resolve, l.Delay = summarize(route), summarize(resolve), summarize(delay)
	return l
}

// newGroup adds a group of GroupSize hosts in a region of its own, with
// ZonesPerGroup zones of its own, to the running overlay: the time its
// members take to join and to provide every zone, after which every zone
// must be found from every sampled node, through the DHT (the directory
// would route them as soon as the log is read: docs/scale.md).
func (w *World) newGroup(ctx context.Context, res *Result) error {
	cfg := w.cfg
	g := len(w.groups)
	ng := &res.NewGroup
	t0 := time.Now()
	members := make([]*node, cfg.GroupSize)
	var errs []error
	var mu sync.Mutex
	boots := make([][]peer.AddrInfo, cfg.GroupSize)
	for i := range boots {
		for _, j := range w.rng.Perm(len(w.nodes))[:3] {
			boots[i] = append(boots[i], w.nodes[j].h.AddrInfo())
		}
	}
	parallel(w.cfg.Parallel, cfg.GroupSize, func(i int) {
		n, err := w.addNode(ctx, g, cfg.Regions, boots[i])
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		members[i] = n
	})
	for _, n := range members {
		if n != nil {
			w.nodes = append(w.nodes, n)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	ng.Join = time.Since(t0)
	var zones []string
	for i := range cfg.ZonesPerGroup {
		zones = append(zones, fmt.Sprintf("new%d.sim.", i))
	}
	t1 := time.Now()
	var failed int
	parallel(w.cfg.Parallel, len(members)*len(zones), func(i int) {
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := members[i%len(members)].h.Provide(pctx, zones[i/len(members)]); err != nil {
			mu.Lock()
			failed++
			mu.Unlock()
		}
	})
	ng.Provide = time.Since(t1)
	ng.Zones = len(zones)
	ng.ProvideFailed = failed
	checkers := min(20, len(w.nodes)-cfg.GroupSize)
	ng.Checkers = checkers
	found := make([]int, len(zones))
	parallel(w.cfg.Parallel, checkers, func(i int) {
		n := w.nodes[(i*7919)%(len(w.nodes)-cfg.GroupSize)]
		// Findable is the property here, not how fast: the search may
		// take up to hangBound on a loaded machine.
		r := overlay.NewRouter(n.h, overlay.RouterOptions{LookupTimeout: hangBound})
		defer r.Close()
		for j, z := range zones {
			lctx, cancel := context.WithTimeout(ctx, hangBound)
			provs, err := r.Providers(lctx, z)
			cancel()
			mu.Lock()
			if err == nil && len(provs) > 0 {
				found[j]++
			} else {
				ng.Unfound++
			}
			mu.Unlock()
		}
	})
	for _, f := range found {
		if f == checkers {
			ng.Findable++
		}
	}
	w.logf("new group: joined in %v, provided %d zones in %v, %d/%d findable from %d nodes", ng.Join.Round(time.Millisecond), len(zones), ng.Provide.Round(time.Millisecond), ng.Findable, len(zones), checkers)
	return ctx.Err()
}

// recordBytes is the Go heap one provider record takes in a DHT's
// provider store (kad-dht's default: an in-memory datastore), measured
// apart on one host with n records of n zones (the heap of the running
// world moves by more than the records while they are stored).
func recordBytes(ctx context.Context, n int) (float64, error) {
	net := newNet(func(a, b int) time.Duration { return 0 })
	defer net.Close()
	p2p, err := net.addHost(0, new(Counter))
	if err != nil {
		return 0, err
	}
	h, err := overlay.NewHostOn(ctx, p2p, nil, overlay.HostOptions{})
	if err != nil {
		return 0, err
	}
	defer h.Close()
	ps := h.DHT().ProviderStore()
	prov := peer.AddrInfo{ID: h.ID()}
	h0 := heap()
	for i := range n {
		if err := ps.AddProvider(ctx, overlay.ZoneKey(zoneName(i)).Hash(), prov); err != nil {
			return 0, fmt.Errorf("sim: provider store: %w", err)
		}
	}
	return float64(int64(heap())-int64(h0)) / float64(n), nil
}
