// Package intergroup is a node's traffic with the other groups over the
// overlay: with [overlay] enabled, the node runs a libp2p host (QUIC only) in the /ddnrs
// DHT, provides the zones its group holds, serves DDNRS-RPC queries for
// them (AnswerLocal), and answers DNS queries for zones of other groups:
// it finds the group in the DHT, asks a member, verifies the answer
// against the zone owner's key (client.Verifier) and caches it
// (client.Cache). It also fetches whole zones of other groups
// (FetchZone) and hands out its own (LocalZone), remembers the overlay
// peers it met across restarts (peers.go), leaves names of child zones
// other groups hold to them (child.go), and reports its figures to the
// node's Prometheus registry (metrics.go). Writes that arrive over
// DDNRS-RPC go to the node's write path through the small Writes
// interface. docs/architecture.md, "A query", step 3, tells the story.
package intergroup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/internal/wallclock"
	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/zone"
)

// KeyFile is the node's libp2p identity key, in its data directory.
const KeyFile = "overlay.key"

// Zones are the zones this node's group holds, as the node serves them.
type Zones interface {
	// Zone returns the zone that encloses name most closely, or nil.
	Zone(name string) *zone.Zone
	// Get returns the zone origin, or nil.
	Get(origin string) *zone.Zone
	// Origins lists the zones.
	Origins() []string
}

// Writes take the writes other nodes send over DDNRS-RPC SubmitChange:
// changes (Submit) and dry runs (CheckChange) of the zones this group
// holds. The node's write path implements it.
type Writes interface {
	overlay.Submitter
	overlay.ChangeChecker
}

// Options configure an Overlay.
type Options struct {
	// DataDir holds the host's key (KeyFile) and the remembered peers
	// (PeersFile).
	DataDir string
	// Listen lists the libp2p multiaddrs to listen on, QUIC only;
	// empty: overlay.DefaultListen.
	Listen []string
	// Bootstrap lists the configured peers to join the DHT through; the
	// remembered ones are added.
	Bootstrap []string
	// Anchors are the pinned trust anchors ([overlay] trust_anchors).
	Anchors client.Anchors
	// CacheBytes caps the verified-answer cache (0: client.DefaultCacheBytes).
	CacheBytes int
	// RelayedTTL bounds how long a verified answer is cached, whatever
	// its TTL: how long old data may be served after a zone changed in
	// its group ([overlay] relayed_ttl). 0: no bound but the answer's.
	RelayedTTL time.Duration
	// Zones are the group's zones, provided in the DHT and answered.
	Zones Zones
	// Writes take the changes other nodes send; nil refuses them.
	Writes Writes
	// RefreshAnchors polls the registry's log now, for an answer whose
	// head is signed by a key the anchors do not know yet (a rotation
	// this node has not read in the log); true when the anchors may have
	// changed (logfollow.Follower.RefreshAnchors). nil without a log to
	// follow.
	RefreshAnchors func(ctx context.Context) bool
	// Rollback, when set, returns the owner's rollback statement kept
	// beside one of the group's zones (raftfsm.FSM.Rollback), handed with
	// its answers; nil: none.
	Rollback func(origin string) []byte
	// AllowPeer, when set, is the host's membership list
	// (overlay.HostOptions.AllowPeer): only the peers it admits are
	// connected to, asked or listed as providers. nil: any peer.
	AllowPeer func(peer.ID) bool
	// Directory, when set, routes the zones the registry's log names to
	// their group's members without a DHT search (directory.go); the
	// node keeps it from the log it follows. nil: the DHT only.
	Directory *Directory
	// Logger; nil discards.
	Logger *slog.Logger
}

// Overlay is a node's running overlay. Its methods may be called from
// any goroutine until Close.
type Overlay struct {
	log            *slog.Logger
	served         Zones
	dir            string
	host           *overlay.Host
	router         *overlay.Router
	client         *overlay.Client
	server         *overlay.Server
	verifier       *client.Verifier
	cache          *client.Cache
	self           string
	relayedTTL     time.Duration                  // Options.RelayedTTL
	refreshAnchors func(ctx context.Context) bool // Options.RefreshAnchors
	rollback       func(origin string) []byte     // Options.Rollback

	failures atomic.Uint64 // answers refused by verification

	stats overlayCounters // read by the metrics collector (metrics.go)

	ctx    context.Context // ends at close: background refreshes
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{} // bounds background refreshes

	mu      sync.Mutex
	relooks map[string]time.Time // zone -> when its thin route was last dropped
}

// Start starts the host, router, RPC client and server. Call ProvideAll
// once the node hands new zones to OnZone, so no zone falls between the
// two.
func Start(ctx context.Context, c Options) (*Overlay, error) {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	anchors := c.Anchors
	if anchors == nil {
		anchors = client.Anchors{}
	}
	// One score table: the RPC client ranks members by it, and the DHT's
	// searches skip the peers it finds dead or silent.
	scores := overlay.NewScores(overlay.ScoreOptions{})
	h, err := overlay.NewHost(ctx, overlay.HostOptions{
		KeyFile:   filepath.Join(c.DataDir, KeyFile),
		Listen:    c.Listen,
		Bootstrap: bootstrapPeers(c.Bootstrap, c.DataDir, log), // configured, then remembered (peers.go)
		Logger:    log,
		Avoid:     scores.Suspect,
		AllowPeer: c.AllowPeer,
	})
	if err != nil {
		return nil, fmt.Errorf("overlay host: %w", err)
	}
	verifier := client.NewVerifier(anchors, wallclock.Now) // RRSIG windows by the node's wall clock
	ropts := overlay.RouterOptions{LookupTimeout: lookupTimeout, MayBeZone: verifier.Anchored}
	if c.Directory != nil {
		ropts.Directory = c.Directory.Providers
	}
	if err := keepFloors(c.DataDir, verifier, log); err != nil {
		h.Close()
		return nil, err
	}
	o := &Overlay{
		log:    log,
		served: c.Zones,
		dir:    c.DataDir,
		host:   h,
		// A zone without a trust anchor could not be verified: the
		// router does not search the DHT for such names.
		router:         overlay.NewRouter(h, ropts),
		client:         overlay.NewClient(h.P2P(), overlay.ClientOptions{Logger: log, Scores: scores}),
		verifier:       verifier,
		cache:          client.NewCache(c.CacheBytes, nil),
		self:           h.ID().String(),
		relayedTTL:     c.RelayedTTL,
		refreshAnchors: c.RefreshAnchors,
		rollback:       c.Rollback,
		sem:            make(chan struct{}, 16),
		relooks:        make(map[string]time.Time),
	}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.wg.Go(func() { o.rememberPeers(o.dir) })
	so := overlay.ServerOptions{Answerer: o, Zones: o, Logger: log}
	if c.Writes != nil {
		so.Submitter, so.Checker = c.Writes, c.Writes
	}
	o.server = overlay.NewServer(h.P2P(), so)
	return o, nil
}

// ProvideAll provides every zone the group holds; the node calls it once
// the overlay is published to OnZone, so no zone falls between the two.
func (o *Overlay) ProvideAll() {
	for _, origin := range o.served.Origins() {
		o.provide(origin)
	}
}

// provide announces origin in the background: Provide waits on the DHT,
// and the FSM goroutine that calls onZone must not.
func (o *Overlay) provide(origin string) {
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		ctx, cancel := context.WithTimeout(o.ctx, 30*time.Second)
		defer cancel()
		if err := o.host.Provide(ctx, origin); err != nil {
			// The host keeps the zone and retries on its own schedule.
			o.log.Debug("provide", "zone", origin, "err", err)
		}
	}()
}

// Readmit applies a change of Options.AllowPeer's answers
// (overlay.Host.Readmit): peers no longer admitted are disconnected; it
// returns them.
func (o *Overlay) Readmit() []peer.ID { return o.host.Readmit() }

// ConnectPeers dials up to max of the admitted peers addrs name
// (overlay.Host.ConnectPeers), in the background.
func (o *Overlay) ConnectPeers(addrs []string, max int) { o.host.ConnectPeers(addrs, max) }

// OnZone follows the group's zones: provide the held ones, stop
// providing deleted ones (z nil). Called on the FSM goroutine; does not
// block.
func (o *Overlay) OnZone(origin string, z *zone.Zone) {
	if z == nil {
		o.host.StopProviding(origin)
		return
	}
	if !o.host.Provides(origin) {
		o.provide(origin)
	}
}

// Close leaves the DHT: the RPC server, router and host, in that order,
// after the background work.
func (o *Overlay) Close() error {
	o.cancel()
	o.wg.Wait()
	errs := []error{o.server.Close(), o.router.Close(), o.host.Close()}
	return errors.Join(errs...)
}

// AnswerLocal implements overlay.Answerer: the answer of this node's
// group to a query for one of its zones, with the proof and this node as
// the first audit hop.
func (o *Overlay) AnswerLocal(ctx context.Context, name string, t uint16, do bool) (*overlay.QueryResponse, error) {
	la, err := AnswerLocal(o.served, name, t)
	if err != nil {
		if errors.Is(err, ErrNotHosted) {
			return nil, &overlay.RPCError{Code: overlay.CodeNotFound, Message: err.Error()}
		}
		return nil, err
	}
	resp := &overlay.QueryResponse{
		Msg: la.Msg, Head: la.Head, Proof: la.Proof,
		Audit: []overlay.AuditHop{{Node: o.self, Hash: la.Hash}},
	}
	if o.rollback != nil {
		resp.Rollback = o.rollback(la.Zone)
	}
	return resp, nil
}

// lookupError is the cause of a SERVFAIL on the other-group path, with the
// Extended DNS Error (RFC 8914) that says it.
type lookupError struct {
	ede uint16
	err error
}

func (e *lookupError) Error() string { return e.err.Error() }
func (e *lookupError) Unwrap() error { return e.err }
func (e *lookupError) EDE() uint16   { return e.ede }

// Resolve implements dnsfront.OtherGroups: the cached verified answer, or one
// fetched from a member of the zone's group and verified. A member whose
// answer fails verification is penalised and the next one asked; when no
// member gives a verifiable answer the error says why (SERVFAIL with EDE).
func (o *Overlay) Resolve(ctx context.Context, req *dns.Msg) (*dnsfront.OtherGroupAnswer, error) {
	q := req.Question[0]
	name := zone.CanonicalName(q.Name)
	if v, age, refresh, ok := o.cache.Get(name, q.Qtype); ok {
		if refresh {
			o.refresh(name, q.Qtype)
		}
		o.stats.cached.Add(1)
		a := otherGroupAnswer(v, age)
		a.Cached = true
		return a, nil
	}
	start := time.Now()
	v, err := o.fetch(ctx, name, q.Qtype)
	if errors.Is(err, errZoneGone) {
		// The route's zone was deleted: now routed to an enclosing zone
		// held elsewhere, or to none (REFUSED, as for any name of no zone).
		v, err = o.fetch(ctx, name, q.Qtype)
	}
	if err != nil {
		o.log.Debug("lookup in another group failed", "name", name, "type", dns.TypeToString[q.Qtype], "err", err)
	}
	if errors.Is(err, overlay.ErrNoZone) {
		m := new(dns.Msg)
		m.Rcode = dns.RcodeRefused // no group holds it: as without the overlay
		return &dnsfront.OtherGroupAnswer{Msg: m}, nil
	}
	if err != nil {
		return nil, err
	}
	o.stats.fetched.Add(1)
	a := otherGroupAnswer(v, 0)
	if n := len(v.Audit); n >= 2 {
		// The answering member's hop comes before this node's own.
		a.Trace = []dnsfront.TraceHop{{Kind: dnsfront.TraceMember, Node: v.Audit[n-2].Node, Elapsed: time.Since(start)}}
	}
	return a, nil
}

// thinRelook is how often a route with fewer than two providers is
// looked up again: the DHT may have learnt of other members since (they
// provide the zone only once they hold it), and with one provider a
// member's failure cannot be hedged.
const thinRelook = 2 * time.Second

// thinRoute refreshes the cached route of origin in the background, at
// most every thinRelook, when it lists fewer than two peers to ask; the
// cached route keeps answering until the new lookup is done.
func (o *Overlay) thinRoute(origin string, provs []peer.AddrInfo) {
	n := 0
	for _, p := range provs {
		if p.ID != o.host.ID() {
			n++
		}
	}
	if n >= 2 {
		return
	}
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if now.Sub(o.relooks[origin]) < thinRelook {
		return
	}
	if len(o.relooks) > 10000 {
		clear(o.relooks)
	}
	o.relooks[origin] = now
	o.router.Refresh(origin)
}

// errZoneGone is returned by fetch when every member the DHT lists for
// the route's zone says it does not hold it (the zone was deleted; the
// DHT's provider records outlive it). The router then has the zone as no
// zone (Router.MarkGone) and the answer cache has none of its answers, so
// a second fetch takes the enclosing zone's route, or gets ErrNoZone.
var errZoneGone = fmt.Errorf("%w: its group no longer holds it", overlay.ErrNoZone)

// firstTryTimeout bounds the first round of queries to a zone's cached
// providers; the client hedges to a second member well within it.
const firstTryTimeout = 500 * time.Millisecond

// lookupTimeout bounds a DHT lookup of a zone: two thirds of the DNS
// deadline (dnsfront.DefaultOtherGroupTimeout, 3 s), so a lookup that must
// run to its end (a name in no zone) is over in time to answer.
const lookupTimeout = dnsfront.DefaultOtherGroupTimeout * 2 / 3

// lookupShare is the part of a query's remaining time its route lookup
// may take; the rest is left to ask the members, a second one included.
// A lookup usually returns in milliseconds (Router answers on the first
// providers); this bounds the rare one that does not.
func lookupShare(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithTimeout(ctx, lookupTimeout)
	}
	return context.WithDeadline(ctx, time.Now().Add(time.Until(dl)*2/3))
}

// fetch asks the zone's group for (name, t) and verifies and caches the
// answer. An answer through a provisional route (overlay.Route) is not
// cached: a child zone held by another group may yet be found.
func (o *Overlay) fetch(ctx context.Context, name string, t uint16) (*client.Verified, error) {
	lctx, lcancel := lookupShare(ctx)
	rt, err := o.router.FindRoute(lctx, name)
	lcancel()
	origin, provs := rt.Zone, rt.Providers
	if err != nil {
		if errors.Is(err, overlay.ErrNoZone) {
			return nil, err
		}
		return nil, &lookupError{dns.ExtendedErrorCodeNoReachableAuthority, err}
	}
	o.thinRoute(origin, provs)
	var last error
	failed := make(map[peer.ID]bool) // peers that failed in this call
	relooked, rerouted := false, false
	// notHeld: some member said it does not hold the zone; otherFailure:
	// some failed otherwise (unreachable, or a refused answer).
	notHeld, otherFailure := false, false
	for len(provs) > 0 {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if !relooked {
			// Bound the first try, so that a stale route (every provider
			// it lists gone) leaves time to look the zone up again.
			actx, cancel = context.WithTimeout(ctx, firstTryTimeout)
		}
		resp, p, err := o.client.Query(actx, provs, &overlay.QueryRequest{Name: name, Type: t, DO: true})
		cancel()
		if re, ok := errors.AsType[*overlay.RPCError](err); ok && re.Code == overlay.CodeNotFound && p != "" {
			// This member does not hold the zone: a stale provider
			// record, or the zone was deleted. Ask the others.
			notHeld, failed[p] = true, true
			provs = slices.DeleteFunc(provs, func(ai peer.AddrInfo) bool { return ai.ID == p })
			if len(provs) > 0 {
				continue
			}
		} else if err != nil {
			otherFailure = true
		}
		if err != nil {
			var all *overlay.AllFailedError
			if errors.As(err, &all) {
				for id := range all.Errs {
					failed[id] = true
				}
			}
			if !relooked && ctx.Err() == nil {
				// Ask the members not asked yet, once: the cached route
				// holds every provider its lookup has found by now
				// (Router answers on the first few); when none is left
				// the route may be stale (members gone, others provided
				// since), so ask the DHT again for the same zone
				// (FindZone could answer with a cached parent zone).
				relooked = true
				fresh := o.notAsked(ctx, origin, failed)
				var ferr error
				if len(fresh) == 0 {
					o.router.Forget(origin)
					lctx, lcancel := lookupShare(ctx)
					fresh, ferr = o.router.Providers(lctx, origin)
					lcancel()
					fresh = slices.DeleteFunc(fresh, func(ai peer.AddrInfo) bool { return failed[ai.ID] })
				}
				if ferr == nil && len(fresh) > 0 {
					provs = fresh
					continue
				}
			}
			if last != nil {
				break
			}
			if notHeld && !otherFailure {
				return nil, o.zoneGone(origin)
			}
			return nil, &lookupError{dns.ExtendedErrorCodeNoReachableAuthority, fmt.Errorf("zone %s: %w", origin, err)}
		}
		v, err := o.verifier.VerifyAnswer(name, t, resp.Msg, resp.Head, resp.Proof)
		if anchorMiss(err) && o.refreshAnchors != nil && o.refreshAnchors(ctx) {
			// A zone registered (or rotated) since the last poll of the
			// registry's log: poll it now (logfollow/anchor_miss.go).
			v, err = o.verifier.VerifyAnswer(name, t, resp.Msg, resp.Head, resp.Proof)
		}
		if errors.Is(err, client.ErrStaleSerial) && len(resp.Rollback) > 0 && o.acceptRollback(err, resp) {
			v, err = o.verifier.VerifyAnswer(name, t, resp.Msg, resp.Head, resp.Proof)
		}
		if child, ok := childOf(rt, origin, err); ok && !rerouted {
			// A genuine answer of the parent zone through a provisional
			// route, while the trust anchors know the child zone: not
			// tampering. Ask the child's group instead.
			rerouted = true
			if fresh, ferr := o.router.Providers(ctx, child); ferr == nil {
				origin, provs = child, fresh
				continue
			}
		}
		if err != nil {
			otherFailure = true
			o.failures.Add(1)
			o.stats.refuse(err)
			o.client.Penalize(p)
			o.log.Warn("answer from another group refused", "zone", origin, "peer", p, "err", err)
			last = fmt.Errorf("from %s: %w", p, err)
			failed[p] = true
			provs = slices.DeleteFunc(provs, func(ai peer.AddrInfo) bool { return ai.ID == p })
			if len(provs) == 0 {
				// The route's lookup may have found more members since
				// it answered with its first ones.
				provs = o.notAsked(ctx, origin, failed)
			}
			continue
		}
		for _, h := range resp.Audit {
			v.Audit = append(v.Audit, client.AuditHop{Node: h.Node, Hash: h.Hash})
		}
		v.Audit = append(v.Audit, client.AuditHop{Node: o.self, Hash: v.Hash})
		if !rt.Provisional && !o.newCut(origin, v.Msg) {
			// A provisional route may be a parent zone's while a child
			// zone of another group is still being looked up: its
			// referral or denial is served this once, never cached.
			o.cache.Put(name, t, o.relayed(v))
		} else {
			o.cache.Seen(v.Zone, v.Serial) // still drops answers of older serials
		}
		return v, nil
	}
	if last == nil && notHeld && !otherFailure {
		// The relook found only members already asked.
		return nil, o.zoneGone(origin)
	}
	var ve *client.VerifyError
	if errors.As(last, &ve) {
		return nil, &lookupError{ve.EDE(), fmt.Errorf("no verifiable answer: %w", last)}
	}
	return nil, &lookupError{dns.ExtendedErrorCodeDNSBogus, fmt.Errorf("no verifiable answer: %w", last)}
}

// newCut reports whether m is a referral of zone origin to a zone cut the
// router knows nothing of yet, and has it looked up in the background. The
// router does not search the DHT for names without a trust anchor
// (RouterOptions.MayBeZone), so a child zone held by another group whose
// key this node lacks is learnt from its parent's referral: the referral
// is served uncached until the router knows whether the cut is a zone of
// the overlay (then asked there) or not (a delegation elsewhere, cached).
func (o *Overlay) newCut(origin string, m *dns.Msg) bool {
	if m == nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
		return false
	}
	for _, rr := range m.Ns {
		if ns, ok := rr.(*dns.NS); ok {
			cut := zone.CanonicalName(ns.Hdr.Name)
			return cut != origin && zone.IsSubDomain(origin, cut) && !o.router.Prefetch(cut)
		}
	}
	return false
}

// notAsked returns the providers of origin the route knows now (its
// lookup adds the ones it finds after answering with its first few) but
// failed does not list.
func (o *Overlay) notAsked(ctx context.Context, origin string, failed map[peer.ID]bool) []peer.AddrInfo {
	provs, err := o.router.Providers(ctx, origin)
	if err != nil {
		return nil
	}
	return slices.DeleteFunc(provs, func(ai peer.AddrInfo) bool { return failed[ai.ID] })
}

// zoneGone forgets origin, which no member holds any more: the router
// routes its names elsewhere for a while and the answer cache drops its
// answers. It returns errZoneGone.
func (o *Overlay) zoneGone(origin string) error {
	o.log.Info("zone of another group no longer held by the members the DHT lists", "zone", origin)
	o.router.MarkGone(origin)
	o.cache.PurgeZone(origin)
	return errZoneGone
}

// ForgetZone is zoneGone for a zone the registry log says was released:
// the router routes its names elsewhere for a while and the answer cache
// drops its answers.
func (o *Overlay) ForgetZone(origin string) {
	o.router.MarkGone(origin)
	o.cache.PurgeZone(origin)
}

// Reclaimed is for a zone the registry log says was released and
// claimed again since, maybe by another group: its route is looked up
// afresh and its cached answers dropped.
func (o *Overlay) Reclaimed(origin string) {
	o.router.Forget(origin)
	o.cache.PurgeZone(origin)
}

// Suspended drops the cached answers of a zone the registry suspended.
func (o *Overlay) Suspended(origin string) { o.cache.PurgeZone(origin) }

// refresh fetches (name, t) again in the background, at most a few at
// once; a refresh that cannot start is skipped (the entry expires and is
// fetched on demand).
func (o *Overlay) refresh(name string, t uint16) {
	select {
	case o.sem <- struct{}{}:
	default:
		return
	}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		defer func() { <-o.sem }()
		ctx, cancel := context.WithTimeout(o.ctx, dnsfront.DefaultOtherGroupTimeout)
		defer cancel()
		if _, err := o.fetch(ctx, name, t); err != nil {
			o.log.Debug("refresh", "name", name, "type", dns.TypeToString[t], "err", err)
		}
	}()
}

// otherGroupAnswer is v for dnsfront, its TTLs lowered by age.
func otherGroupAnswer(v *client.Verified, age time.Duration) *dnsfront.OtherGroupAnswer {
	m := v.Msg
	if sec := uint32(age / time.Second); sec > 0 {
		m = m.Copy()
		for _, s := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
			signed := signedSets(s)
			for _, rr := range s {
				// An unsigned RRset (a referral's NS, glue) keeps the TTL
				// its Merkle leaf covers, so a client verifying the
				// proofs in band (docs/proofs-option.md) can; the entry
				// expires with its smallest TTL all the same.
				if h := rr.Header(); h.Rrtype != dns.TypeOPT && signed[signedKey{zone.CanonicalName(h.Name), h.Rrtype}] {
					h.Ttl -= min(h.Ttl, sec)
				}
			}
		}
	}
	audit := make([]dnsfront.AuditHop, len(v.Audit))
	for i, h := range v.Audit {
		audit[i] = dnsfront.AuditHop{Node: h.Node, Hash: h.Hash}
	}
	return &dnsfront.OtherGroupAnswer{Msg: m, Verified: true, Audit: audit, Head: v.Head, Proof: v.Proof}
}

type signedKey struct {
	name string
	t    uint16
}

// signedSets returns the (owner, type) of the records of a section an
// RRSIG covers, the RRSIGs' own included.
func signedSets(sec []dns.RR) map[signedKey]bool {
	out := make(map[signedKey]bool)
	for _, rr := range sec {
		if sig, ok := rr.(*dns.RRSIG); ok {
			n := zone.CanonicalName(sig.Hdr.Name)
			out[signedKey{n, sig.TypeCovered}] = true
			out[signedKey{n, dns.TypeRRSIG}] = true
		}
	}
	return out
}

// ID is the host's peer id.
func (o *Overlay) ID() peer.ID { return o.host.ID() }

// Addrs are the host's overlay multiaddrs.
func (o *Overlay) Addrs() []string { return o.host.Addrs() }

// Failures returns how many answers (and zone copies) from other groups
// were refused because they did not verify.
func (o *Overlay) Failures() uint64 { return o.failures.Load() }

// Verifier is the verifier of other groups' answers; the node hands it
// the trust anchors it learns from the registry's log.
func (o *Overlay) Verifier() *client.Verifier { return o.verifier }

// Cache is the verified-answer cache.
func (o *Overlay) Cache() *client.Cache { return o.cache }

// Router finds the groups that hold zones; the write path asks it for
// the members of another group.
func (o *Overlay) Router() *overlay.Router { return o.router }

// Client sends DDNRS-RPC requests to other nodes; the write path submits
// changes to other groups with it.
func (o *Overlay) Client() *overlay.Client { return o.client }

// RoutingTableSize is the number of peers in the DHT's routing table.
func (o *Overlay) RoutingTableSize() int { return o.host.RoutingTableSize() }

// anchorMiss reports whether err is a refusal that the anchors of a
// later checkpoint of the log may lift: no anchor for the zone, or a
// head whose signature the known keys do not verify (a rotation this
// node has not read yet).
func anchorMiss(err error) bool {
	return errors.Is(err, client.ErrNoTrustAnchor) || errors.Is(err, zone.ErrBadSignature)
}

// relayed is v as the cache keeps it: for at most Options.RelayedTTL.
func (o *Overlay) relayed(v *client.Verified) *client.Verified {
	if o.relayedTTL <= 0 || v.TTL <= o.relayedTTL {
		return v
	}
	c := *v
	c.TTL = o.relayedTTL
	return &c
}

// acceptRollback lowers the floor of the zone err names to the version
// resp carries, when resp's rollback statement is the owner's consent to
// it (client.Verifier.AcceptRollback), and drops the zone's cached
// answers; it reports whether the floor now admits the answer.
func (o *Overlay) acceptRollback(err error, resp *overlay.QueryResponse) bool {
	var ve *client.VerifyError
	if !errors.As(err, &ve) {
		return false
	}
	if aerr := o.verifier.AcceptRollback(ve.Zone, resp.Rollback, resp.Head); aerr != nil {
		o.log.Warn("rollback statement refused", "zone", ve.Zone, "err", aerr)
		return false
	}
	o.log.Info("zone rolled back by its owner: serial floor lowered", "zone", ve.Zone, "serial", ve.Serial)
	o.cache.PurgeZone(ve.Zone)
	return true
}
