package overlay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// ErrNoProviders is returned by Client.Query when the provider list holds
// no peer other than the client's own host.
var ErrNoProviders = errors.New("overlay: no providers to query")

// AllFailedError is returned by Client.Query when every provider failed;
// Errs holds each one's error, by peer.
type AllFailedError struct {
	Errs map[peer.ID]error
}

func (e *AllFailedError) Error() string {
	return fmt.Sprintf("overlay: all %d providers failed: %v", len(e.Errs), errors.Join(e.unwrap()...))
}

func (e *AllFailedError) unwrap() []error {
	out := make([]error, 0, len(e.Errs))
	for id, err := range e.Errs {
		out = append(out, fmt.Errorf("%s: %w", id, err))
	}
	return out
}

// Unwrap returns the providers' errors, so errors.Is/As see through.
func (e *AllFailedError) Unwrap() []error { return e.unwrap() }

// ClientOptions configure a Client. Zero fields take the defaults named.
type ClientOptions struct {
	// Scores ranks providers; share one across clients of a node. Default:
	// a new table with default ScoreOptions.
	Scores *Scores
	// Logger receives per-attempt failures at debug level. Default:
	// discard.
	Logger *slog.Logger
	// MaxMessageSize bounds response bodies read. Default
	// DefaultMaxMessageSize (1 MiB).
	MaxMessageSize int
	// MaxZoneSize bounds the zone text FetchZone accepts; the request
	// asks the server to refuse a larger zone. Default DefaultMaxZoneSize.
	MaxZoneSize int
	// Timeout bounds one attempt against one peer, dial included.
	// Default 2 s.
	Timeout time.Duration
	// HedgeDelay is how long Query waits for a provider before asking the
	// next one as well, when the provider's RTT is unknown or 2×RTT is
	// shorter. Default 50 ms.
	HedgeDelay time.Duration
	// MaxHedgeDelay caps the hedge delay of a provider whose 2×RTT is
	// long, so a silent provider is bypassed in time. Default 150 ms.
	MaxHedgeDelay time.Duration
}

// Client sends DDNRS-RPC requests from a libp2p host. It is safe for
// concurrent use and holds no goroutines between calls.
type Client struct {
	h      host.Host
	opts   ClientOptions
	scores *Scores
	log    *slog.Logger
	nextID atomic.Uint64

	queries, answered, attempts, hedges, failed, slow atomic.Uint64
}

// ClientStats are a Client's counters since it was created, for a metrics
// collector to read at scrape time.
type ClientStats struct {
	Queries  uint64 // Query calls with at least one provider
	Answered uint64 // Query calls that returned an answer
	Attempts uint64 // requests sent to a provider by Query
	Hedges   uint64 // attempts started because the previous one was slow
	Failed   uint64 // attempts that failed (unreachable, reset, refused)
	Slow     uint64 // attempts abandoned after their hedge delay
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	return ClientStats{
		Queries: c.queries.Load(), Answered: c.answered.Load(), Attempts: c.attempts.Load(),
		Hedges: c.hedges.Load(), Failed: c.failed.Load(), Slow: c.slow.Load(),
	}
}

// NewClient returns a client sending from h.
func NewClient(h host.Host, opts ClientOptions) *Client {
	if opts.Scores == nil {
		opts.Scores = NewScores(ScoreOptions{})
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = DefaultMaxMessageSize
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.MaxZoneSize <= 0 {
		opts.MaxZoneSize = DefaultMaxZoneSize
	}
	if opts.HedgeDelay <= 0 {
		opts.HedgeDelay = 50 * time.Millisecond
	}
	if opts.MaxHedgeDelay < opts.HedgeDelay {
		opts.MaxHedgeDelay = max(opts.HedgeDelay, 150*time.Millisecond)
	}
	c := &Client{h: h, opts: opts, scores: opts.Scores, log: opts.Logger.With("component", "overlay-rpc")}
	c.nextID.Store(rand.Uint64())
	return c
}

// Scores returns the client's score table.
func (c *Client) Scores() *Scores { return c.scores }

// Penalize records that p sent an answer that failed verification; p
// drops in the ranking of later queries.
func (c *Client) Penalize(p peer.ID) { c.scores.Penalize(p) }

// hedgeDelay is how long to wait for p before also asking the next
// provider: 2×p's RTT when that is longer than HedgeDelay, capped at
// MaxHedgeDelay.
func (c *Client) hedgeDelay(p peer.ID) time.Duration {
	d := c.opts.HedgeDelay
	if rtt, ok := c.scores.RTT(p); ok && 2*rtt > d {
		d = 2 * rtt
	}
	return min(d, c.opts.MaxHedgeDelay)
}

type attemptResult struct {
	p       peer.ID
	resp    *QueryResponse
	err     error
	elapsed time.Duration
	due     time.Duration // the hedge delay the attempt was given
}

// maxInflight bounds the providers one Query waits on at once: the best
// one and up to three hedges, so three silent members in a row (a third
// of a group of seven may be down) cost three hedge delays, not the
// attempt timeout. Peers known to be dead or silent rank last (Scores),
// so hedges beyond the first are rare.
const maxInflight = 4

// Query asks providers for req and returns the first answer and the peer
// that gave it. Providers are tried best-scored first; when one has not
// answered within its hedge delay the next is asked too (at most
// maxInflight at once), and when one fails the next is asked at once, so
// a dead or silent provider costs at most one hedge delay. Each reply or failure updates the scores;
// a provider that loses a race without answering is recorded as Slow.
// The client's own peer id is skipped. An ErrorResponse from a provider
// counts as its failure (and the next is tried), except CodeNotFound
// and CodeBadRequest, which every provider would give: those return a
// *RPCError at once. When all fail, Query returns *AllFailedError.
//
// The caller must verify the answer before using it and call Penalize on
// the returned peer when verification fails.
func (c *Client) Query(ctx context.Context, providers []peer.AddrInfo, req *QueryRequest) (*QueryResponse, peer.ID, error) {
	infos := make(map[peer.ID]peer.AddrInfo, len(providers))
	ids := make([]peer.ID, 0, len(providers))
	for _, ai := range providers {
		if ai.ID == c.h.ID() || ai.ID == "" {
			continue
		}
		if _, dup := infos[ai.ID]; dup {
			continue
		}
		infos[ai.ID] = ai
		ids = append(ids, ai.ID)
	}
	if len(ids) == 0 {
		return nil, "", ErrNoProviders
	}
	order := c.scores.Rank(ids)
	c.queries.Add(1)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan attemptResult, len(order))
	inflight := 0
	next := 0
	waiting := make(map[peer.ID]bool, maxInflight) // launched, not returned
	launch := func() time.Duration {
		p := order[next]
		next++
		inflight++
		waiting[p] = true
		c.attempts.Add(1)
		due := c.hedgeDelay(p)
		t0 := time.Now()
		go func() {
			var resp QueryResponse
			err := c.exchange(ctx, infos[p], req, &resp, c.opts.MaxMessageSize)
			results <- attemptResult{p: p, resp: &resp, err: err, elapsed: time.Since(t0), due: due}
		}()
		return due
	}
	// Every launched goroutine sends exactly once to the buffered
	// channel; drain the ones still running before returning so none
	// outlives the call.
	defer func() {
		cancel()
		for ; inflight > 0; inflight-- {
			r := <-results
			c.recordLoser(r)
		}
	}()

	hedge := time.NewTimer(launch())
	defer hedge.Stop()
	errs := make(map[peer.ID]error)
	for {
		select {
		case <-hedge.C:
			if next < len(order) && inflight < maxInflight {
				c.hedges.Add(1)
				hedge.Reset(launch())
			}
		case r := <-results:
			inflight--
			delete(waiting, r.p)
			if r.err == nil {
				c.scores.Success(r.p, r.elapsed)
				c.answered.Add(1)
				return r.resp, r.p, nil
			}
			if re, ok := errors.AsType[*RPCError](r.err); ok && (re.Code == CodeNotFound || re.Code == CodeBadRequest) {
				c.scores.Success(r.p, r.elapsed)
				return nil, r.p, r.err
			}
			if ctxDone(ctx) != nil {
				errs[r.p] = r.err
				return nil, "", c.cutShort(ctx, errs, waiting)
			}
			c.scores.Failure(r.p)
			c.failed.Add(1)
			c.log.Debug("rpc query attempt failed", "peer", r.p, "err", r.err)
			errs[r.p] = r.err
			if next < len(order) {
				hedge.Reset(launch())
			} else if inflight == 0 {
				return nil, "", &AllFailedError{Errs: errs}
			}
		case <-ctx.Done():
			return nil, "", c.cutShort(ctx, errs, waiting)
		}
	}
}

// cutShort is Query's error when ctx ended first: ctx's error joined with
// an *AllFailedError naming every provider asked, those still waited for
// included, so a caller retrying elsewhere knows whom not to ask again.
func (c *Client) cutShort(ctx context.Context, errs map[peer.ID]error, waiting map[peer.ID]bool) error {
	cerr := ctxDone(ctx)
	for p := range waiting {
		errs[p] = cerr
	}
	if len(errs) == 0 {
		return cerr
	}
	return errors.Join(cerr, &AllFailedError{Errs: errs})
}

// ctxDone is ctx.Err(), or context.DeadlineExceeded once ctx's deadline
// has passed even if ctx's own timer has not fired yet. A stream's read
// deadline is set from ctx's, and its timer can fire first; the attempt
// that fails then failed because the caller's time ran out, not because
// the provider did, so it must neither be scored against the provider nor
// reported as an ordinary failure.
func ctxDone(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// recordLoser scores an attempt that was still running when Query
// returned: if it failed on its own it is a failure; if it was cut off
// after its hedge delay had passed it is Slow by the time it had been
// waited for; a hedge cut off before its own delay was up is not scored
// (it was not given the time to answer). A late success still counts as
// a success.
func (c *Client) recordLoser(r attemptResult) {
	switch {
	case r.err == nil:
		c.scores.Success(r.p, r.elapsed)
	case errors.Is(r.err, context.Canceled):
		if r.elapsed >= r.due {
			c.scores.Slow(r.p, r.elapsed)
			c.slow.Add(1)
		}
	default:
		if _, ok := errors.AsType[*RPCError](r.err); !ok {
			c.scores.Failure(r.p)
			c.failed.Add(1)
		}
	}
}

// Ping sends a Ping to p and returns the round-trip time, which also
// enters p's score.
func (c *Client) Ping(ctx context.Context, p peer.AddrInfo) (time.Duration, error) {
	t0 := time.Now()
	var pong Pong
	if err := c.exchange(ctx, p, &Ping{}, &pong, c.opts.MaxMessageSize); err != nil {
		if ctxDone(ctx) == nil {
			c.scores.Failure(p.ID)
		}
		return 0, err
	}
	rtt := time.Since(t0)
	c.scores.Success(p.ID, rtt)
	return rtt, nil
}

// SubmitChange sends req to p, which should be the zone group's leader.
// A refusal returns the response and a *RPCError with its code
// (CodeNotLeader: ask the leader). It is never retried: changes are not
// replay-safe. A dry run (req.DryRun) may go to any member; a member
// that predates dry runs refuses it (CodeBadRequest: malformed) and one
// without a ChangeChecker answers CodeUnsupported, neither applying it.
func (c *Client) SubmitChange(ctx context.Context, p peer.AddrInfo, req *SubmitChangeRequest) (*SubmitChangeResponse, error) {
	var resp SubmitChangeResponse
	if err := c.exchange(ctx, p, req, &resp, c.opts.MaxMessageSize); err != nil {
		return nil, err
	}
	if resp.Code != "" {
		return &resp, &RPCError{Code: resp.Code, Reason: resp.Reason, Message: resp.Message}
	}
	return &resp, nil
}

// FetchZone asks providers, best-scored first and one at a time, for the
// whole signed zone origin and returns the first response and the peer
// that gave it. A provider that fails is scored as a failure and the next
// asked; CodeNotFound and CodeBadRequest return a *RPCError at once,
// and a zone above the size cap (refused by the server, or longer than
// MaxZoneSize) returns ErrZoneTooLarge at once: every member holds the
// same zone. When all fail, FetchZone returns *AllFailedError. The
// client's own peer id is skipped.
//
// The caller must verify the zone before using it and call Penalize on
// the returned peer when verification fails.
func (c *Client) FetchZone(ctx context.Context, providers []peer.AddrInfo, origin string) (*FetchZoneResponse, peer.ID, error) {
	var ids []peer.ID
	infos := make(map[peer.ID]peer.AddrInfo, len(providers))
	for _, ai := range providers {
		if ai.ID == c.h.ID() || ai.ID == "" {
			continue
		}
		if _, dup := infos[ai.ID]; !dup {
			infos[ai.ID] = ai
			ids = append(ids, ai.ID)
		}
	}
	if len(ids) == 0 {
		return nil, "", ErrNoProviders
	}
	req := &FetchZoneRequest{Zone: origin, MaxSize: uint32(min(c.opts.MaxZoneSize, math.MaxUint32))}
	limit := zoneFrameLimit(c.opts.MaxZoneSize, c.opts.MaxMessageSize)
	errs := make(map[peer.ID]error)
	for _, p := range c.scores.Rank(ids) {
		c.attempts.Add(1)
		t0 := time.Now()
		var resp FetchZoneResponse
		err := c.exchange(ctx, infos[p], req, &resp, limit)
		if err == nil && len(resp.Zone) > c.opts.MaxZoneSize {
			err = fmt.Errorf("%w: %d bytes from %s, cap %d", ErrZoneTooLarge, len(resp.Zone), p, c.opts.MaxZoneSize)
		}
		if err == nil {
			c.scores.Success(p, time.Since(t0))
			return &resp, p, nil
		}
		if errors.Is(err, ErrTooLarge) {
			err = fmt.Errorf("%w: %w", ErrZoneTooLarge, err)
		}
		if re, ok := errors.AsType[*RPCError](err); ok {
			switch re.Code {
			case CodeTooLarge:
				return nil, p, fmt.Errorf("%w: %w", ErrZoneTooLarge, err)
			case CodeNotFound, CodeBadRequest:
				return nil, p, err
			}
		}
		if errors.Is(err, ErrZoneTooLarge) {
			return nil, p, err
		}
		if cerr := ctxDone(ctx); cerr != nil {
			errs[p] = err
			return nil, "", errors.Join(cerr, &AllFailedError{Errs: errs})
		}
		c.scores.Failure(p)
		c.failed.Add(1)
		c.log.Debug("rpc fetch zone attempt failed", "peer", p, "zone", origin, "err", err)
		errs[p] = err
	}
	return nil, "", &AllFailedError{Errs: errs}
}

// exchange runs one request/response on a new stream to p and decodes the
// response into resp, which must point to the expected response type; a
// response body above readLimit is refused unread. An ErrorResponse
// returns *RPCError.
func (c *Client) exchange(ctx context.Context, p peer.AddrInfo, req Message, resp Message, readLimit int) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	if len(p.Addrs) > 0 {
		c.h.Peerstore().AddAddrs(p.ID, p.Addrs, peerstore.TempAddrTTL)
	}
	// Version 2 first; a peer that speaks only version 1 gets version 1.
	st, err := c.h.NewStream(ctx, p.ID, protocol.ID(ProtocolID), protocol.ID(ProtocolIDV1))
	if err != nil {
		return fmt.Errorf("opening stream to %s: %w", p.ID, err)
	}
	v := uint8(WireVersion)
	if st.Protocol() == protocol.ID(ProtocolIDV1) {
		v = 1
	}
	// Reset on cancellation unblocks reads and writes at once.
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	id := c.nextID.Add(1)
	fail := func(err error) error {
		_ = st.Reset()
		if cerr := ctxDone(ctx); cerr != nil {
			return fmt.Errorf("%w (%w)", cerr, err)
		}
		return err
	}
	if err := WriteFrame(st, v, id, req, c.opts.MaxMessageSize); err != nil {
		return fail(fmt.Errorf("writing %s: %w", req.Kind(), err))
	}
	// A server that refuses the request before reading it all (unknown
	// version, too large) replies and stops reading, which can make
	// CloseWrite fail when its stop arrives first; its reply is still
	// there to read, and is the better error.
	cwErr := st.CloseWrite()
	gotID, m, err := ReadMessage(st, readLimit)
	if err != nil {
		if cwErr != nil {
			return fail(fmt.Errorf("closing write side: %w", cwErr))
		}
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: stream closed without a response", ErrUnexpected)
		}
		return fail(fmt.Errorf("reading response: %w", err))
	}
	_ = st.Close()
	if e, ok := m.(*ErrorResponse); ok && (gotID == id || gotID == 0) {
		return &RPCError{Code: e.Code, Reason: e.Reason, Message: e.Message}
	}
	if gotID != id {
		return fmt.Errorf("%w: response id %d to request %d", ErrUnexpected, gotID, id)
	}
	if m.Kind() != resp.Kind() {
		return fmt.Errorf("%w: %s in reply to %s", ErrUnexpected, m.Kind(), req.Kind())
	}
	assign(resp, m)
	return nil
}

// assign copies the decoded message m into dst of the same kind.
func assign(dst, m Message) {
	switch d := dst.(type) {
	case *QueryResponse:
		*d = *m.(*QueryResponse)
	case *SubmitChangeResponse:
		*d = *m.(*SubmitChangeResponse)
	case *FetchZoneResponse:
		*d = *m.(*FetchZoneResponse)
	case *Pong:
	}
}
