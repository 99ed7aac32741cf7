package overlay

import (
	"container/list"
	"context"
	"errors"
	"fmt"
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
	DefaultMaxProviders  = 8
	DefaultLookupTimeout = 5 * time.Second
	DefaultMaxBackground = 64
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
	// MaxProviders is how many providers a lookup collects before it stops.
	// Default: DefaultMaxProviders.
	MaxProviders int
	// LookupTimeout bounds one DHT lookup of one suffix. Default:
	// DefaultLookupTimeout.
	LookupTimeout time.Duration
	// MaxBackground bounds the lookups FindZone runs in the background
	// (suffixes longer than a cached zone); beyond it a suffix is left
	// for a later FindZone to look up. Default: DefaultMaxBackground.
	MaxBackground int
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

	hits, lookups, background, negatives atomic.Uint64
}

// routeEntry is a cached outcome for one suffix; providers == nil means no
// zone by that name.
type routeEntry struct {
	name      string
	providers []peer.AddrInfo
	expires   time.Time
}

// lookup is one DHT lookup of one suffix, shared by every caller waiting
// for it.
type lookup struct {
	done      chan struct{}
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
// (shorter lookups finish in the background and fill the cache); that
// route is not provisional, every longer suffix being known. A lookup that
// failed (timed out, or found nothing while this host knows no peer) is
// not cached. For the providers of exactly one zone, use Providers.
func (r *Router) FindRoute(ctx context.Context, qname string) (Route, error) {
	cands := Suffixes(qname)
	now := r.opts.Now()
	var uncached []string
	r.mu.Lock()
	if r.ctx.Err() != nil {
		r.mu.Unlock()
		return Route{}, ErrRouterClosed
	}
	for _, s := range cands {
		e, ok := r.cachedLocked(s, now)
		if !ok {
			uncached = append(uncached, s)
			continue
		}
		r.hits.Add(1)
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

	for i, l := range pending {
		select {
		case <-l.done:
		case <-ctx.Done():
			return Route{}, ctx.Err()
		}
		if l.err != nil {
			return Route{}, fmt.Errorf("overlay: find zone of %s: %w", qname, l.err)
		}
		if len(l.providers) > 0 {
			return Route{Zone: uncached[i], Providers: clonePeers(l.providers)}, nil
		}
	}
	return Route{}, ErrNoZone
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
	l := r.startLocked(s, false)
	r.mu.Unlock()
	select {
	case <-l.done:
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
// so that a later FindRoute or CachedChild knows. A node that holds a
// parent zone calls it for the zone cuts it answers with a referral.
func (r *Router) Prefetch(zoneName string) {
	s := canonical(zoneName)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return
	}
	if _, ok := r.cachedLocked(s, r.opts.Now()); ok {
		return
	}
	r.startLocked(s, true)
}

// Forget drops the cached route of zone, so the next FindZone for a name
// in it asks the DHT again. Called when a provider says it no longer holds
// the zone.
func (r *Router) Forget(zoneName string) {
	s := canonical(zoneName)
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.entries[s]; ok {
		r.lru.Remove(el)
		delete(r.entries, s)
	}
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
		Hits: r.hits.Load(), Lookups: r.lookups.Load(), Background: r.background.Load(),
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
	l := &lookup{done: make(chan struct{})}
	r.inflight[s] = l
	r.lookups.Add(1)
	r.wg.Go(func() {
		provs, cache, err := r.find(s)
		l.providers, l.err = provs, err
		r.mu.Lock()
		delete(r.inflight, s)
		if bg {
			r.bgRunning--
		}
		if cache {
			if len(provs) == 0 {
				r.negatives.Add(1)
			}
			r.storeLocked(s, provs)
		}
		r.mu.Unlock()
		close(l.done)
	})
	return l
}

// find asks the DHT for the providers of zone s. This host counts only
// while it provides s: its own record outlives StopProviding in the local
// provider store. cache says whether the outcome may be cached.
func (r *Router) find(s string) (provs []peer.AddrInfo, cache bool, err error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.LookupTimeout)
	defer cancel()
	self := r.h.ID()
	selfProvides := r.h.Provides(s)
	var out []peer.AddrInfo
	for ai := range r.h.dht.FindProvidersAsync(ctx, ZoneKey(s), r.opts.MaxProviders) {
		if ai.ID == self {
			if !selfProvides {
				continue
			}
			ai = r.h.AddrInfo()
		}
		out = append(out, ai)
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
