package forward

// forward.go: the Forwarder. A query goes to the cache, then to the
// upstreams in the order they are ranked (smoothed latency, recent
// failures last); when the first has not answered within the hedge delay
// the next is asked too, and the first usable reply wins. A reply is
// usable when it is NOERROR or NXDOMAIN (a SERVFAIL or REFUSED makes the
// next upstream be asked).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Defaults of Options.
const (
	DefaultCacheEntries = 10000
	DefaultHedge        = 300 * time.Millisecond
)

var (
	// ErrNoUpstreams is returned by New when Options lists none.
	ErrNoUpstreams = errors.New("no upstreams")
	// ErrUnreachable is wrapped by the *Error of a query no upstream
	// answered in time or at all.
	ErrUnreachable = errors.New("no upstream answered")
	// ErrUpstreamFailed is wrapped by the *Error of a query every
	// upstream answered with SERVFAIL, REFUSED or another failure rcode.
	ErrUpstreamFailed = errors.New("every upstream failed the query")
)

// Error is why a query could not be forwarded, with the Extended DNS
// Error (RFC 8914) a SERVFAIL reply gives: No Reachable Authority when no
// upstream answered, Network Error when they answered badly.
type Error struct {
	Err   error            // ErrUnreachable or ErrUpstreamFailed
	Tries map[string]error // upstream (String form) -> what went wrong
}

func (e *Error) Error() string {
	s := e.Err.Error()
	for _, u := range slices.Sorted(mapKeys(e.Tries)) {
		s += fmt.Sprintf("; %s: %v", u, e.Tries[u])
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// EDE implements the interface dnsfront reads for a SERVFAIL's Extended
// DNS Error.
func (e *Error) EDE() uint16 {
	if errors.Is(e.Err, ErrUnreachable) {
		return dns.ExtendedErrorCodeNoReachableAuthority
	}
	return dns.ExtendedErrorCodeNetworkError
}

func mapKeys(m map[string]error) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Options configure a Forwarder.
type Options struct {
	Upstreams []Upstream
	// TLS is the base client configuration of TLS and HTTPS upstreams
	// (its RootCAs, say); nil is the system's roots. ServerName is set
	// per upstream.
	TLS *tls.Config
	// CacheEntries bounds the cache; 0 means DefaultCacheEntries, a
	// negative value turns the cache off.
	CacheEntries int
	// Hedge is how long an upstream has before the next is asked too;
	// 0 means DefaultHedge.
	Hedge time.Duration
	// Now is the cache's clock; nil means time.Now.
	Now func() time.Time
	// Logger, when set, gets a debug line per failed upstream try.
	Logger *slog.Logger
}

// Forwarder sends queries to upstreams and caches their answers. It is
// safe for concurrent use; Close releases its idle connections.
type Forwarder struct {
	ups   []*exchanger
	cache *cache
	hedge time.Duration
	log   *slog.Logger

	mu    sync.Mutex
	score []upScore // by index in ups
}

// upScore ranks an upstream: smoothed latency, and consecutive failures.
type upScore struct {
	rtt   time.Duration
	fails int
}

// New returns a Forwarder over opt.Upstreams.
func New(opt Options) (*Forwarder, error) {
	if len(opt.Upstreams) == 0 {
		return nil, ErrNoUpstreams
	}
	n := opt.CacheEntries
	if n == 0 {
		n = DefaultCacheEntries
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	f := &Forwarder{cache: newCache(n, now), hedge: opt.Hedge, log: opt.Logger, score: make([]upScore, len(opt.Upstreams))}
	if f.hedge <= 0 {
		f.hedge = DefaultHedge
	}
	for _, u := range opt.Upstreams {
		f.ups = append(f.ups, newExchanger(u, opt.TLS))
	}
	return f, nil
}

// Close releases idle connections (DoH). Queries must not be in flight.
func (f *Forwarder) Close() {
	for _, e := range f.ups {
		e.close()
	}
}

// CacheLen returns the number of cached replies.
func (f *Forwarder) CacheLen() int { return f.cache.len() }

// Result is a forwarded reply.
type Result struct {
	Msg *dns.Msg
	// Cached says it came from the cache; Upstream names who answered
	// otherwise.
	Cached   bool
	Upstream string
}

// Forward answers req (one question) from the cache or the upstreams,
// within ctx. The upstream is asked with DO set, whatever req says: the
// reply carries the DNSSEC records the upstream gave, and a caller
// answering a query without DO strips them (RFC 4035 §3.2.1; dnsfront
// does). The reply has RA set, AD cleared (its records were not
// verified here) and AA cleared (an upstream's authority is not ours), the request's ID, and the upstream's sections (OPT
// included). Any error is an *Error.
func (f *Forwarder) Forward(ctx context.Context, req *dns.Msg) (*Result, error) {
	if len(req.Question) != 1 {
		return nil, &Error{Err: fmt.Errorf("%w: %d questions", ErrUpstreamFailed, len(req.Question))}
	}
	if m := f.cache.get(req); m != nil {
		m.Id = req.Id
		return &Result{Msg: m, Cached: true}, nil
	}
	q := new(dns.Msg)
	q.SetQuestion(req.Question[0].Name, req.Question[0].Qtype)
	q.Question[0].Qclass = req.Question[0].Qclass
	q.RecursionDesired = req.RecursionDesired
	q.CheckingDisabled = req.CheckingDisabled
	// Always with DO: one cached reply serves queries with and without
	// it (the caller strips DNSSEC records for the latter).
	q.SetEdns0(dns.DefaultMsgSize, true)
	r, who, err := f.ask(ctx, q)
	if err != nil {
		return nil, err
	}
	r.Id = req.Id
	r.RecursionAvailable = true
	r.AuthenticatedData = false
	r.Authoritative = false // the caller is not the zone's server
	f.cache.put(req, r)
	return &Result{Msg: r, Upstream: who}, nil
}

type reply struct {
	i   int
	r   *dns.Msg
	err error
	rtt time.Duration
}

// ask sends q to the upstreams in rank order, hedging, and returns the
// first usable reply.
func (f *Forwarder) ask(ctx context.Context, q *dns.Msg) (*dns.Msg, string, error) {
	order := f.ranked()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	replies := make(chan reply, len(order))
	send := func(i int) {
		go func() {
			start := time.Now()
			r, err := f.ups[i].exchange(ctx, q.Copy())
			replies <- reply{i: i, r: r, err: err, rtt: time.Since(start)}
		}()
	}
	tries := make(map[string]error)
	unreachable := true
	next := 0
	inflight := make(map[int]bool) // indexes in ups
	timer := time.NewTimer(f.hedge)
	defer timer.Stop()
	launch := func() {
		if next < len(order) {
			send(order[next])
			inflight[order[next]] = true
			next++
			timer.Reset(f.hedge)
		}
	}
	for {
		if len(inflight) == 0 {
			launch()
		}
		if len(inflight) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			for i := range inflight {
				tries[f.ups[i].up.String()] = ctx.Err()
			}
			return nil, "", &Error{Err: fmt.Errorf("%w: %w", ErrUnreachable, ctx.Err()), Tries: tries}
		case <-timer.C:
			launch()
		case rp := <-replies:
			delete(inflight, rp.i)
			name := f.ups[rp.i].up.String()
			if rp.err == nil && rp.r.Rcode != dns.RcodeSuccess && rp.r.Rcode != dns.RcodeNameError {
				rp.err = fmt.Errorf("rcode %s", dns.RcodeToString[rp.r.Rcode])
				unreachable = false
			}
			f.note(rp.i, rp.err, rp.rtt)
			if rp.err == nil {
				return rp.r, name, nil
			}
			tries[name] = rp.err
			if f.log != nil {
				f.log.Debug("upstream failed", "upstream", name, "name", q.Question[0].Name, "err", rp.err)
			}
			launch() // the next one at once, not after the hedge
		}
	}
	cause := ErrUnreachable
	if !unreachable {
		cause = ErrUpstreamFailed
	}
	return nil, "", &Error{Err: cause, Tries: tries}
}

// ranked returns the upstreams' indexes, best first: fewer consecutive
// failures, then lower smoothed latency, then configuration order.
func (f *Forwarder) ranked() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	idx := make([]int, len(f.ups))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		sa, sb := f.score[a], f.score[b]
		if sa.fails != sb.fails {
			return sa.fails - sb.fails
		}
		switch {
		case sa.rtt < sb.rtt:
			return -1
		case sa.rtt > sb.rtt:
			return 1
		}
		return 0
	})
	return idx
}

func (f *Forwarder) note(i int, err error, rtt time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &f.score[i]
	if err != nil {
		s.fails++
		return
	}
	s.fails = 0
	if s.rtt == 0 {
		s.rtt = rtt
	} else {
		s.rtt = (s.rtt*7 + rtt) / 8
	}
}
