package overlay

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Defaults for RouterOptions.
const (
	DefaultPositiveTTL   = 5 * time.Minute
	DefaultNegativeTTL   = 30 * time.Second
	DefaultRouteEntries  = 10000
	DefaultMaxProviders  = 7
	DefaultLookupTimeout = 2 * time.Second
	DefaultMaxBackground = 64
	// DefaultEarlyProviders and DefaultEarlyWait: see RouterOptions.
	DefaultEarlyProviders = 3
	DefaultEarlyWait      = 10 * time.Millisecond
	// DefaultProvisionalWait: see RouterOptions.ProvisionalWait.
	DefaultProvisionalWait = 25 * time.Millisecond
)

var (
	// ErrNoZone is returned by Router.FindZone when no suffix of the name
	// has a provider in the overlay: no group holds an enclosing zone.
	ErrNoZone = errors.New("overlay: no zone encloses the name")
	// ErrRouterClosed is returned by Router.FindZone after Close.
	ErrRouterClosed = errors.New("overlay: router closed")
)

// RouterOptions configures NewRouter. Every zero field takes its default.
type RouterOptions struct {
	// PositiveTTL is how long a zone's providers are cached.
	// Default: DefaultPositiveTTL.
	PositiveTTL time.Duration
	// NegativeTTL is how long "no zone here" is cached for a suffix; it
	// bounds how late a newly created zone is seen. Default:
	// DefaultNegativeTTL.
	NegativeTTL time.Duration
	// MaxEntries caps the cache (positive and negative entries together);
	// the least recently used entry goes first. Default: DefaultRouteEntries.
	MaxEntries int
	// MaxProviders is how many providers a lookup collects before it
	// stops. A group's members all provide its zones and, in an overlay
	// of a few dozen nodes, every node stores every provider record, so
	// with MaxProviders no larger than a group the DHT answers from the
	// local store and asks no peer. Default: DefaultMaxProviders (7, the
	// default group size).
	MaxProviders int
	// EarlyProviders and EarlyWait decide when the callers waiting for a
	// lookup are answered: as soon as EarlyProviders providers are
	// known, or EarlyWait after the first one, whichever comes first; the
	// lookup goes on in the background and each provider it finds later
	// joins the cached route. So a lookup never waits for the DHT search
	// to end, nor for a dead or silent peer the search asks. Defaults:
	// DefaultEarlyProviders, DefaultEarlyWait.
	EarlyProviders int
	EarlyWait      time.Duration
	// ProvisionalWait is how long FindRoute, having found providers for a
	// suffix of the name, waits for the lookups of longer suffixes (child
	// zones) before it answers with the shorter one as a Provisional
	// route. Default: DefaultProvisionalWait.
	ProvisionalWait time.Duration
	// LookupTimeout bounds one DHT lookup of one suffix, in the
	// background; a caller waits only as long as its context allows.
	// Keep it below the DNS deadline (dnsfront.DefaultOtherGroupTimeout, 3 s):
	// a lookup that finds nothing is then over, and negative, in time
	// for the next query. Default: DefaultLookupTimeout.
	LookupTimeout time.Duration
	// MaxBackground bounds the lookups FindZone runs in the background
	// (suffixes longer than a cached zone); beyond it a suffix is left
	// for a later FindZone to look up. Default: DefaultMaxBackground.
	MaxBackground int
	// MayBeZone, when set, reports whether a name can be a zone this node
	// would accept answers of (it holds a trust anchor for it). FindRoute
	// neither looks up nor waits for the suffixes of a name longer than
	// the longest one MayBeZone accepts, unless they are cached already
	// (Prefetch): a new name under a known zone then costs no DHT search
	// at all (in an overlay of a few dozen nodes each such search asks
	// every node), and its route is not Provisional. When MayBeZone
	// accepts no suffix of the name, every suffix is looked up. Default
	// nil: every suffix may be a zone.
	MayBeZone func(name string) bool
	// Directory, when set, returns the peers that hold exactly the zone
	// zoneName as the registry's log names them (the members of the
	// group the log places the zone on), or nil when it does not know
	// the zone. A zone it knows is routed at once, with no DHT search:
	// a node that follows the log learns a zone's group there, and a
	// cold lookup then costs no round trip (issue 15 item 2; the DHT
	// search it replaces takes several). A zone it does not know (pinned
	// anchors, a log not followed) is looked up in the DHT as before.
	// Called from any goroutine, at times with the router's lock held:
	// it must be fast, safe for concurrent use, and must not call the
	// Router. Default nil: the DHT only.
	Directory func(zoneName string) []peer.AddrInfo
	// Now is the clock for cache expiry. Default: time.Now.
	Now func() time.Time
}

func (o *RouterOptions) defaults() {
	if o.PositiveTTL <= 0 {
		o.PositiveTTL = DefaultPositiveTTL
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = DefaultNegativeTTL
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultRouteEntries
	}
	if o.MaxProviders <= 0 {
		o.MaxProviders = DefaultMaxProviders
	}
	if o.LookupTimeout <= 0 {
		o.LookupTimeout = DefaultLookupTimeout
	}
	if o.EarlyProviders <= 0 {
		o.EarlyProviders = DefaultEarlyProviders
	}
	if o.EarlyWait <= 0 {
		o.EarlyWait = DefaultEarlyWait
	}
	if o.ProvisionalWait <= 0 {
		o.ProvisionalWait = DefaultProvisionalWait
	}
	if o.MaxBackground <= 0 {
		o.MaxBackground = DefaultMaxBackground
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// RouterStats counts what FindZone did, for metrics and tests.
type RouterStats struct {
	Hits       uint64 // suffixes answered from the cache
	Directory  uint64 // suffixes answered by RouterOptions.Directory (and cached)
	Lookups    uint64 // DHT lookups started, in the background or not
	Background uint64 // of Lookups, those no FindZone call waited for
	Negatives  uint64 // of Lookups, those that found no provider and were cached as negative
	InFlight   int    // lookups running now
	Entries    int    // entries in the cache now
}

// Router finds the zone enclosing a name and the peers that provide it. It
// walks the name's suffixes longest first, looks the uncached ones up in
// the DHT in parallel (one lookup per suffix however many callers want it),
// and caches the outcome, positive and negative, so a warm name costs no
// DHT traffic, and a new name under a warm zone costs none on the query
// path (see FindZone). Safe for concurrent use; Close stops its lookups.
type Router struct {
	h    *Host
	opts RouterOptions

	ctx  context.Context // parent of every lookup; done after Close
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu        sync.Mutex
	entries   map[string]*list.Element // suffix -> *routeEntry in lru
	lru       *list.List               // front = most recently used
	inflight  map[string]*lookup
	bgRunning int // background lookups in inflight

	hits, directory, lookups, background, negatives atomic.Uint64
}

// routeEntry is a cached outcome for one suffix; providers == nil means no
// zone by that name.
type routeEntry struct {
	name      string
	providers []peer.AddrInfo
	expires   time.Time
}

// lookup is one DHT lookup of one suffix, shared by every caller waiting
// for it. Callers wait for ready, closed once the first providers are
// known (see RouterOptions.EarlyProviders) or when the lookup ends;
// providers and err are set before it closes and never change after.
type lookup struct {
	ready     chan struct{}
	providers []peer.AddrInfo
	err       error
}

// NewRouter returns a Router that looks zones up through h's DHT.
func NewRouter(h *Host, opts RouterOptions) *Router {
	opts.defaults()
	ctx, stop := context.WithCancel(context.Background())
	return &Router{
		h:        h,
		opts:     opts,
		ctx:      ctx,
		stop:     stop,
		entries:  make(map[string]*list.Element),
		lru:      list.New(),
		inflight: make(map[string]*lookup),
	}
}

// Route is where FindRoute found a name's zone.
type Route struct {
	// Zone is the longest zone enclosing the name that some peer provides,
	// as far as the router knows now.
	Zone string
	// Providers lists up to MaxProviders of Zone's providers (this host
	// among them when it provides the zone itself).
	Providers []peer.AddrInfo
	// Provisional is true when Zone came from the cache while some longer
	// suffix of the name was not known yet (its lookup in the background,
	// or not started for MaxBackground): a child zone held by another
	// group may still turn up, and an answer obtained through this route
	// may be the parent's referral or denial for a name the child serves.
	// Do not cache such an answer beyond the query.
	Provisional bool
}

// FindZone is FindRoute without Route.Provisional.
func (r *Router) FindZone(ctx context.Context, qname string) (string, []peer.AddrInfo, error) {
	rt, err := r.FindRoute(ctx, qname)
	return rt.Zone, rt.Providers, err
}

// FindRoute returns the longest zone enclosing qname that some peer
// provides, with up to MaxProviders of its providers. It returns ErrNoZone
// when no suffix has a provider.
//
// When some suffix is cached as a zone, FindRoute answers at once with the
// longest such zone and makes no DHT lookup on the caller's path: the
// longer suffixes not cached yet are looked up in the background (at most
// MaxBackground at once, one per suffix, stopped by Close), and their
// outcomes are cached, so a child zone provided elsewhere is answered from
// the next call on; until then the route is Provisional. Otherwise the
// uncached suffixes are looked up in parallel, and FindRoute returns as
// soon as the longest outstanding suffix is known to have providers
// (its first ones: see EarlyProviders; shorter lookups finish in the
// background and fill the cache); that route is not provisional, every
// longer suffix being known. When a shorter suffix has providers but a
// longer one is still being looked up after ProvisionalWait, or its
// lookup failed, the shorter one is answered as Provisional. A lookup
// that failed (timed out, or found nothing while this host knows no
// peer) is not cached. ctx bounds only the wait: the lookups go on in
// the background and cache what they find. A suffix
// RouterOptions.Directory knows counts as cached: its route costs no
// search. For the providers of exactly one zone, use Providers.
func (r *Router) FindRoute(ctx context.Context, qname string) (Route, error) {
	cands := Suffixes(qname)
	// Uncached suffixes longer than the longest one MayBeZone accepts
	// (cands[floor]) are not looked up; cached ones still count.
	floor := 0
	if r.opts.MayBeZone != nil {
		for i, c := range cands {
			if r.opts.MayBeZone(c) {
				floor = i
				break
			}
		}
	}
	now := r.opts.Now()
	var uncached []string
	r.mu.Lock()
	if r.ctx.Err() != nil {
		r.mu.Unlock()
		return Route{}, ErrRouterClosed
	}
	for i, s := range cands {
		e, ok := r.cachedLocked(s, now)
		if ok {
			r.hits.Add(1)
		} else if e, ok = r.fromDirectoryLocked(s); !ok {
			if i >= floor {
				uncached = append(uncached, s)
			}
			continue
		}
		if e.providers == nil {
			continue
		}
		// The longest cached zone: answer with it now. The longer
		// suffixes may be zones of their own; find out off the query path.
		for _, u := range uncached {
			r.startLocked(u, true)
		}
		r.mu.Unlock()
		return Route{Zone: s, Providers: clonePeers(e.providers), Provisional: len(uncached) > 0}, nil
	}
	pending := make([]*lookup, len(uncached))
	for i, u := range uncached {
		pending[i] = r.startLocked(u, false)
	}
	r.mu.Unlock()

	return r.await(ctx, qname, uncached, pending)
}

// await waits for the lookups of names (qname's uncached suffixes,
// longest first) and returns the longest with providers once every
// longer one is known to have none. When a shorter suffix has providers
// while a longer one is still looked up (a search that must run to its
// end to say "none", waiting on dead or silent peers), it waits at most
// ProvisionalWait more, then answers with the shorter one, Provisional.
func (r *Router) await(ctx context.Context, qname string, names []string, pending []*lookup) (Route, error) {
	var grace <-chan time.Time
	cases := make([]reflect.SelectCase, 0, len(pending)+2)
	for {
		open, unsure := false, false // a longer lookup is running, or failed
		best := -1
		for i, l := range pending {
			if !isReady(l) {
				open = true
				continue
			}
			if len(l.providers) == 0 {
				unsure = unsure || l.err != nil
				continue
			}
			if !open {
				return Route{Zone: names[i], Providers: clonePeers(l.providers), Provisional: unsure}, nil
			}
			best = i
			break
		}
		if !open {
			for _, l := range pending {
				if l.err != nil {
					return Route{}, fmt.Errorf("overlay: find zone of %s: %w", qname, l.err)
				}
			}
			return Route{}, ErrNoZone
		}
		if best >= 0 && grace == nil {
			t := time.NewTimer(r.opts.ProvisionalWait)
			defer t.Stop()
			grace = t.C
		}
		cases = cases[:0]
		cases = append(cases,
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(grace)})
		for _, l := range pending {
			if !isReady(l) {
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(l.ready)})
			}
		}
		switch chosen, _, _ := reflect.Select(cases); chosen {
		case 0:
			return Route{}, ctx.Err()
		case 1:
			return Route{Zone: names[best], Providers: clonePeers(pending[best].providers), Provisional: true}, nil
		}
	}
}

// isReady reports whether l's callers may read its outcome.
func isReady(l *lookup) bool {
	select {
	case <-l.ready:
		return true
	default:
		return false
	}
}

// Providers returns up to MaxProviders providers of exactly zoneName, from
// the cache or else from a DHT lookup it waits for (and caches). It returns
// ErrNoZone when the zone has none. Unlike FindZone it never answers with
// an enclosing zone.
func (r *Router) Providers(ctx context.Context, zoneName string) ([]peer.AddrInfo, error) {
	s := canonical(zoneName)
	r.mu.Lock()
	if r.ctx.Err() != nil {
		r.mu.Unlock()
		return nil, ErrRouterClosed
	}
	if e, ok := r.cachedLocked(s, r.opts.Now()); ok {
		r.hits.Add(1)
		r.mu.Unlock()
		if e.providers == nil {
			return nil, ErrNoZone
		}
		return clonePeers(e.providers), nil
	}
	if e, ok := r.fromDirectoryLocked(s); ok {
		r.mu.Unlock()
		return clonePeers(e.providers), nil
	}
	l := r.startLocked(s, false)
	r.mu.Unlock()
	select {
	case <-l.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if l.err != nil {
		return nil, fmt.Errorf("overlay: providers of %s: %w", s, l.err)
	}
	if len(l.providers) == 0 {
		return nil, ErrNoZone
	}
	return clonePeers(l.providers), nil
}

// CachedChild returns the longest zone that encloses qname, lies strictly
// below parent and is cached with providers, or false. It makes no DHT
// lookup, does not wait and does not allocate: a node that answers parent
// itself asks it on every query, to hand names of a child zone held by
// another group to that group. qname and parent are canonical, qname at or
// below parent.
func (r *Router) CachedChild(qname, parent string) (string, bool) {
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) == 0 {
		return "", false
	}
	for n := qname; len(n) > len(parent); {
		if e, ok := r.cachedLocked(n, now); ok && e.providers != nil {
			return n, true
		}
		i := nextLabel(n)
		if i < 0 {
			break
		}
		n = n[i:]
	}
	return "", false
}

// Prefetch looks zoneName up in the background when the cache knows
// nothing of it and no lookup of it is in flight (within MaxBackground),
// so that a later FindRoute or CachedChild knows. It reports whether the
// cache knew zoneName already (as a zone or as none). A node that holds a
// parent zone calls it for the zone cuts it answers with a referral, and
// one that relays a referral for the cuts in it.
func (r *Router) Prefetch(zoneName string) bool {
	s := canonical(zoneName)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return false
	}
	if _, ok := r.cachedLocked(s, r.opts.Now()); ok {
		return true
	}
	r.startLocked(s, true)
	return false
}

// Forget drops the cached route of zone, so the next FindZone for a name
// in it asks the DHT again (in a new lookup, not one already in flight). Called when a provider says it no longer holds
// the zone.
func (r *Router) Forget(zoneName string) {
	s := canonical(zoneName)
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.entries[s]; ok {
		r.lru.Remove(el)
		delete(r.entries, s)
	}
	// A lookup in flight may have answered its callers already, with its
	// first providers: the next caller starts a new one.
	delete(r.inflight, s)
}

// MarkGone caches zoneName as no zone for NegativeTTL, replacing any
// route cached for it: its providers said they no longer hold it (it was
// deleted) while the DHT may still list them. A name in it is then routed
// to its enclosing zone, or gets ErrNoZone, until the negative expires.
func (r *Router) MarkGone(zoneName string) {
	s := canonical(zoneName)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.negatives.Add(1)
	r.storeLocked(s, nil)
	delete(r.inflight, s) // its providers must not come back

}

// Refresh looks zoneName up again in the background (within
// MaxBackground, joining a lookup in flight) and caches the outcome; the
// cached route, if any, keeps answering until then. Use it rather than
// Forget to learn of new providers: after Forget, FindZone answers with a
// cached enclosing zone while the zone itself is looked up again.
func (r *Router) Refresh(zoneName string) {
	s := canonical(zoneName)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() == nil {
		r.startLocked(s, true)
	}
}

// Stats returns the counters since NewRouter.
func (r *Router) Stats() RouterStats {
	r.mu.Lock()
	n, inflight := r.lru.Len(), len(r.inflight)
	r.mu.Unlock()
	return RouterStats{
		Hits: r.hits.Load(), Directory: r.directory.Load(), Lookups: r.lookups.Load(), Background: r.background.Load(),
		Negatives: r.negatives.Load(),
		InFlight:  inflight, Entries: n,
	}
}

// Close cancels the lookups in flight and waits for them. FindZone returns
// ErrRouterClosed afterwards. Idempotent; it does not close the Host.
func (r *Router) Close() error {
	r.mu.Lock()
	r.stop()
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}

// cachedLocked returns the unexpired entry for s, refreshing its place in
// the LRU, and drops it when expired. r.mu must be held.
func (r *Router) cachedLocked(s string, now time.Time) (*routeEntry, bool) {
	el, ok := r.entries[s]
	if !ok {
		return nil, false
	}
	e := el.Value.(*routeEntry)
	if !now.Before(e.expires) {
		r.lru.Remove(el)
		delete(r.entries, s)
		return nil, false
	}
	r.lru.MoveToFront(el)
	return e, true
}

// fromDirectoryLocked caches and returns the route RouterOptions.Directory
// gives for s, up to MaxProviders of its peers without this host, or
// false when it gives none. r.mu must be held.
func (r *Router) fromDirectoryLocked(s string) (*routeEntry, bool) {
	provs := r.directoryPeers(s)
	if len(provs) == 0 {
		return nil, false
	}
	r.storeLocked(s, provs)
	return r.entries[s].Value.(*routeEntry), true
}

// directoryPeers returns up to MaxProviders of the peers
// RouterOptions.Directory gives for s, without this host and the peers
// the host does not admit, and counts the answer.
func (r *Router) directoryPeers(s string) []peer.AddrInfo {
	if r.opts.Directory == nil {
		return nil
	}
	self := r.h.ID()
	var provs []peer.AddrInfo
	for _, ai := range r.opts.Directory(s) {
		if ai.ID != self && r.h.Admits(ai.ID) && len(provs) < r.opts.MaxProviders {
			provs = append(provs, ai)
		}
	}
	if len(provs) > 0 {
		r.directory.Add(1)
		// The directory lists a group's members in one order for every
		// node; the RPC client asks peers it has no score for in the
		// order given, so unshuffled every node would ask the same
		// member first (the DHT shuffles the providers it returns).
		rand.Shuffle(len(provs), func(i, j int) { provs[i], provs[j] = provs[j], provs[i] })
	}
	return provs
}

// startLocked returns the lookup of s in flight, starting one when there is
// none. A background lookup (bg) is one no caller waits for; when
// MaxBackground of them run already, none is started and it returns nil.
// r.mu must be held and r.ctx not done.
func (r *Router) startLocked(s string, bg bool) *lookup {
	if l, ok := r.inflight[s]; ok {
		return l
	}
	if bg {
		if r.bgRunning >= r.opts.MaxBackground {
			return nil
		}
		r.bgRunning++
		r.background.Add(1)
	}
	l := &lookup{ready: make(chan struct{})}
	r.inflight[s] = l
	r.lookups.Add(1)
	r.wg.Go(func() {
		provs, cache, err := r.find(s, l)
		r.mu.Lock()
		current := r.inflight[s] == l
		if current {
			delete(r.inflight, s)
		}
		if bg {
			r.bgRunning--
		}
		if cache && current {
			if len(provs) == 0 {
				r.negatives.Add(1)
			}
			r.storeLocked(s, provs)
		}
		r.mu.Unlock()
		r.settle(l, provs, err)
	})
	return l
}

// settle answers l's callers with provs or err, once; later calls do
// nothing.
func (r *Router) settle(l *lookup, provs []peer.AddrInfo, err error) {
	select {
	case <-l.ready:
		return
	default:
	}
	l.providers, l.err = clonePeers(provs), err
	close(l.ready)
}

// find asks the DHT for the providers of zone s and answers l's callers
// early (RouterOptions.EarlyProviders, EarlyWait), caching what it has
// then and every provider found after. This host counts only while it
// provides s: its own record outlives StopProviding in the local
// provider store. cache says whether the final outcome may be cached.
func (r *Router) find(s string, l *lookup) (provs []peer.AddrInfo, cache bool, err error) {
	if provs := r.directoryPeers(s); len(provs) > 0 {
		// The registry's log names the zone's group: no search
		// (Refresh, Prefetch and a relook after Forget come here).
		return provs, true, nil
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.LookupTimeout)
	defer cancel()
	r.h.pruneAvoided()
	self := r.h.ID()
	selfProvides := r.h.Provides(s)
	var out []peer.AddrInfo
	var early <-chan time.Time
	answered := false
	// keep caches what the lookup found so far, unless Forget or
	// MarkGone detached it since.
	keep := func() {
		r.mu.Lock()
		if r.ctx.Err() == nil && r.inflight[s] == l {
			r.storeLocked(s, out)
		}
		r.mu.Unlock()
	}
	answer := func() {
		answered, early = true, nil
		keep()
		r.settle(l, out, nil)
	}
	found := r.h.dht.FindProvidersAsync(ctx, ZoneKey(s), r.opts.MaxProviders)
	for found != nil {
		select {
		case ai, ok := <-found:
			if !ok {
				found = nil
				continue
			}
			if ai.ID == self {
				if !selfProvides {
					continue
				}
				ai = r.h.AddrInfo()
			} else if !r.h.Admits(ai.ID) {
				// A provider outside the overlay's membership
				// (HostOptions.AllowPeer) is no provider.
				continue
			}
			out = append(out, ai)
			switch {
			case answered:
				// A provider found after the callers were answered
				// joins the cached route for the next queries.
				keep()
			case len(out) >= r.opts.EarlyProviders:
				answer()
			case early == nil:
				t := time.NewTimer(r.opts.EarlyWait)
				defer t.Stop()
				early = t.C
			}
		case <-early:
			answer()
		}
	}
	if len(out) > 0 {
		return out, true, nil
	}
	if err := ctx.Err(); err != nil {
		if r.ctx.Err() != nil {
			return nil, false, ErrRouterClosed
		}
		return nil, false, err
	}
	// Looked everywhere: negative. Alone (no peer in the routing table),
	// only the local store was asked, so the negative is not cached.
	return nil, r.h.RoutingTableSize() > 0, nil
}

// storeLocked caches the outcome for s (an empty providers slice caches a
// negative) and evicts the least recently used entries beyond MaxEntries.
func (r *Router) storeLocked(s string, provs []peer.AddrInfo) {
	ttl := r.opts.PositiveTTL
	var keep []peer.AddrInfo
	if len(provs) == 0 {
		ttl = r.opts.NegativeTTL
	} else {
		keep = clonePeers(provs)
	}
	e := &routeEntry{name: s, providers: keep, expires: r.opts.Now().Add(ttl)}
	if el, ok := r.entries[s]; ok {
		el.Value = e
		r.lru.MoveToFront(el)
	} else {
		r.entries[s] = r.lru.PushFront(e)
	}
	for r.lru.Len() > r.opts.MaxEntries {
		el := r.lru.Back()
		r.lru.Remove(el)
		delete(r.entries, el.Value.(*routeEntry).name)
	}
}

func clonePeers(in []peer.AddrInfo) []peer.AddrInfo {
	out := make([]peer.AddrInfo, len(in))
	copy(out, in)
	return out
}
