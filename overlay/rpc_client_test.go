package overlay

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
)

// rpcTestHost starts a plain libp2p host with only the QUIC transport on
// 127.0.0.1 and closes it in t.Cleanup. The RPC takes any host.Host, so
// these tests do not need the DHT that Host brings.
func rpcTestHost(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatalf("libp2p.New: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("closing host: %v", err)
		}
	})
	return h
}

// deadProvider returns the address of a host that has been closed: nothing
// listens there any more.
func deadProvider(t testing.TB) peer.AddrInfo {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatalf("libp2p.New: %v", err)
	}
	ai := peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
	if err := h.Close(); err != nil {
		t.Fatalf("closing host: %v", err)
	}
	return ai
}

// testAnswerer answers every query with the name in Msg and the server's
// peer id as the one audit hop, counting calls. With block set it waits
// for its context instead, like a member that stopped answering.
type testAnswerer struct {
	node  string
	block bool
	err   error
	calls atomic.Int64
	done  atomic.Int64 // calls that returned
}

func (a *testAnswerer) AnswerLocal(ctx context.Context, name string, typ uint16, do bool) (*QueryResponse, error) {
	a.calls.Add(1)
	defer a.done.Add(1)
	if a.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if a.err != nil {
		return nil, a.err
	}
	flags := byte(0)
	if do {
		flags = 1
	}
	return &QueryResponse{
		Msg:   append([]byte(name), byte(typ>>8), byte(typ), flags),
		Head:  []byte("head"),
		Audit: []AuditHop{{Node: a.node, Hash: [32]byte{1}}},
	}, nil
}

// testProvider is a host serving DDNRS-RPC with a testAnswerer.
type testProvider struct {
	h   host.Host
	ans *testAnswerer
	srv *Server
}

func (p *testProvider) info() peer.AddrInfo { return peer.AddrInfo{ID: p.h.ID(), Addrs: p.h.Addrs()} }

func newTestProvider(t testing.TB, ans *testAnswerer, sub Submitter) *testProvider {
	t.Helper()
	return newTestProviderWith(t, ans, ServerOptions{Submitter: sub})
}

// newTestProviderWith is newTestProvider with server options; ans (nil for
// none) becomes opts.Answerer.
func newTestProviderWith(t testing.TB, ans *testAnswerer, opts ServerOptions) *testProvider {
	t.Helper()
	h := rpcTestHost(t)
	if ans != nil {
		ans.node = h.ID().String()
		opts.Answerer = ans
	}
	srv := NewServer(h, opts)
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing server: %v", err)
		}
	})
	return &testProvider{h: h, ans: ans, srv: srv}
}

func newTestClient(t testing.TB, opts ClientOptions) *Client {
	t.Helper()
	return NewClient(rpcTestHost(t), opts)
}

func TestQueryAnswered(t *testing.T) {
	p := newTestProvider(t, &testAnswerer{}, nil)
	c := newTestClient(t, ClientOptions{})
	ctx := t.Context()
	resp, from, err := c.Query(ctx, []peer.AddrInfo{p.info()}, &QueryRequest{Name: "www.example.", Type: 28, DO: true})
	if err != nil {
		t.Fatalf("Query error: %v", err)
	}
	if from != p.h.ID() {
		t.Errorf("Query answered by %s, want %s", from, p.h.ID())
	}
	if want := append([]byte("www.example."), 0, 28, 1); string(resp.Msg) != string(want) {
		t.Errorf("Query Msg = %q, want %q", resp.Msg, want)
	}
	if len(resp.Audit) != 1 || resp.Audit[0].Node != p.h.ID().String() {
		t.Errorf("Query Audit = %+v, want one hop of %s", resp.Audit, p.h.ID())
	}
	if st := c.Scores().Stats(from); st.Samples != 1 || st.Failures != 0 {
		t.Errorf("Stats(answering peer) = %+v, want one RTT sample and no failure", st)
	}
}

func TestQuerySkipsSelfAndEmpty(t *testing.T) {
	c := newTestClient(t, ClientOptions{})
	self := peer.AddrInfo{ID: c.h.ID(), Addrs: c.h.Addrs()}
	if _, _, err := c.Query(t.Context(), []peer.AddrInfo{self}, &QueryRequest{Name: "a."}); !errors.Is(err, ErrNoProviders) {
		t.Errorf("Query(only self) error = %v, want ErrNoProviders", err)
	}
	if _, _, err := c.Query(t.Context(), nil, &QueryRequest{Name: "a."}); !errors.Is(err, ErrNoProviders) {
		t.Errorf("Query(no providers) error = %v, want ErrNoProviders", err)
	}
}

// With the first provider dead, the query is answered by the second, and
// the dead one ends up ranked behind it.
func TestQueryFailoverDeadProvider(t *testing.T) {
	dead := deadProvider(t)
	live := newTestProvider(t, &testAnswerer{}, nil)
	c := newTestClient(t, ClientOptions{})
	providers := []peer.AddrInfo{dead, live.info()}
	_, from, err := c.Query(t.Context(), providers, &QueryRequest{Name: "www.example.", Type: 1})
	if err != nil {
		t.Fatalf("Query error: %v", err)
	}
	if from != live.h.ID() {
		t.Errorf("Query answered by %s, want the live provider %s", from, live.h.ID())
	}
	ds, ls := c.Scores().Stats(dead.ID), c.Scores().Stats(live.h.ID())
	if ds.Failures == 0 || ds.Score <= ls.Score {
		t.Errorf("dead provider stats %+v, live %+v: want a failure and a worse score for the dead one", ds, ls)
	}
	if got := c.Scores().Rank([]peer.ID{dead.ID, live.h.ID()}); got[0] != live.h.ID() {
		t.Errorf("Rank after failover = %v, want the live provider first", got)
	}
}

// A provider that accepts the stream but never answers is bypassed by the
// hedge; it is recorded as slow and the next query goes to the fast one
// first.
func TestQueryHedgesSilentProvider(t *testing.T) {
	silent := newTestProvider(t, &testAnswerer{block: true}, nil)
	fast := newTestProvider(t, &testAnswerer{}, nil)
	c := newTestClient(t, ClientOptions{HedgeDelay: 20 * time.Millisecond})
	providers := []peer.AddrInfo{silent.info(), fast.info()}
	_, from, err := c.Query(t.Context(), providers, &QueryRequest{Name: "a.example.", Type: 1})
	if err != nil {
		t.Fatalf("Query error: %v", err)
	}
	if from != fast.h.ID() {
		t.Fatalf("Query answered by %s, want the fast provider %s", from, fast.h.ID())
	}
	// The client's own counts show the silent provider was asked first
	// and abandoned. Its Answerer's count cannot: on a loaded machine the
	// fast answer can arrive before the silent server reads the request,
	// and the abandoned stream is then reset unread.
	if n := silent.ans.calls.Load(); n > 1 {
		t.Errorf("silent provider got %d calls, want at most 1", n)
	}
	if st, want := c.Stats(), (ClientStats{Queries: 1, Answered: 1, Attempts: 2, Hedges: 1, Slow: 1}); st != want {
		t.Errorf("client Stats() = %+v, want %+v", st, want)
	}
	if st := c.Scores().Stats(silent.h.ID()); st.Failures == 0 || st.Samples == 0 {
		t.Errorf("silent provider stats %+v, want a slow sample counted as failure", st)
	}
	// The next query asks the fast provider first. (Whether the silent
	// one is asked too depends on the fast one answering within its hedge
	// delay, which a loaded machine does not promise.)
	if got := c.Scores().Rank([]peer.ID{silent.h.ID(), fast.h.ID()}); got[0] != fast.h.ID() {
		t.Errorf("Rank after the hedge = %v, want the fast provider %s first", got, fast.h.ID())
	}
	if _, from, err = c.Query(t.Context(), providers, &QueryRequest{Name: "b.example.", Type: 1}); err != nil || from != fast.h.ID() {
		t.Fatalf("second Query = %s, %v, want answered by the fast provider", from, err)
	}
}

// Three silent providers ranked first do not hold the query until the
// attempt timeout: each gets its hedge delay, then the next is asked as
// well, and the fourth answers; a query cut short by its context names
// every provider it was still waiting for.
func TestQueryHedgesPastSilentProviders(t *testing.T) {
	var providers []peer.AddrInfo
	for range 3 {
		providers = append(providers, newTestProvider(t, &testAnswerer{block: true}, nil).info())
	}
	fast := newTestProvider(t, &testAnswerer{}, nil)
	providers = append(providers, fast.info())
	c := newTestClient(t, ClientOptions{HedgeDelay: 20 * time.Millisecond, MaxHedgeDelay: 20 * time.Millisecond, Timeout: time.Minute})
	_, from, err := c.Query(t.Context(), providers, &QueryRequest{Name: "a.example.", Type: 1})
	if err != nil || from != fast.h.ID() {
		t.Fatalf("Query = %s, %v; want an answer from the fourth provider %s", from, err, fast.h.ID())
	}
	if st := c.Stats(); st.Hedges != 3 || st.Slow != 3 {
		t.Errorf("Stats() = %+v, want 3 hedges and 3 slow attempts", st)
	}

	silent := providers[:3]
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, _, err = c.Query(ctx, silent, &QueryRequest{Name: "b.example.", Type: 1})
	all, ok := errors.AsType[*AllFailedError](err)
	// The query ends with the deadline, and says so, even when a stream's
	// read deadline (set from ctx's) fires before ctx's own timer does.
	if !errors.Is(err, context.DeadlineExceeded) || !ok || len(all.Errs) != 3 {
		t.Fatalf("Query of silent providers = %v; want it ended by the deadline, with an AllFailedError naming all 3", err)
	}
}

func TestQueryAllFail(t *testing.T) {
	a, b := deadProvider(t), deadProvider(t)
	c := newTestClient(t, ClientOptions{Timeout: 300 * time.Millisecond})
	_, _, err := c.Query(t.Context(), []peer.AddrInfo{a, b}, &QueryRequest{Name: "a.example."})
	var all *AllFailedError
	if !errors.As(err, &all) {
		t.Fatalf("Query(two dead) error = %v, want *AllFailedError", err)
	}
	for _, id := range []peer.ID{a.ID, b.ID} {
		if all.Errs[id] == nil {
			t.Errorf("AllFailedError has no error for %s: %v", id, all.Errs)
		}
		if st := c.Scores().Stats(id); st.Failures == 0 {
			t.Errorf("Stats(%s) = %+v, want a failure", id, st)
		}
	}
}

// Codes that every member would give stop the query at once; others make
// the client try the next member.
func TestQueryRPCErrors(t *testing.T) {
	notFound := newTestProvider(t, &testAnswerer{err: &RPCError{Code: CodeNotFound, Message: "no such zone"}}, nil)
	broken := newTestProvider(t, &testAnswerer{err: errors.New("disk on fire")}, nil)
	noAnswerer := newTestProvider(t, nil, nil)
	good := newTestProvider(t, &testAnswerer{}, nil)
	// No hedging: on a loaded machine the first provider can take longer
	// than the default 50 ms hedge delay, and a hedged good provider would
	// then answer in its place; this test is about what each error makes
	// the client do next, hedging has its own tests.
	c := newTestClient(t, ClientOptions{HedgeDelay: time.Hour, MaxHedgeDelay: time.Hour})
	req := &QueryRequest{Name: "x.example.", Type: 1}

	_, _, err := c.Query(t.Context(), []peer.AddrInfo{notFound.info(), good.info()}, req)
	if re, ok := errors.AsType[*RPCError](err); !ok || re.Code != CodeNotFound {
		t.Errorf("Query(not_found first) error = %v, want RPCError %s", err, CodeNotFound)
	}
	if good.ans.calls.Load() != 0 {
		t.Errorf("after not_found the next provider was asked too")
	}

	_, from, err := c.Query(t.Context(), []peer.AddrInfo{broken.info(), noAnswerer.info(), good.info()}, req)
	if err != nil || from != good.h.ID() {
		t.Errorf("Query(internal, unsupported, good) = %s, %v, want answered by the good provider", from, err)
	}
	if st := c.Scores().Stats(broken.h.ID()); st.Failures == 0 {
		t.Errorf("Stats(broken) = %+v, want a failure", st)
	}

	_, _, err = c.Query(t.Context(), []peer.AddrInfo{noAnswerer.info()}, req)
	if re, ok := errors.AsType[*RPCError](err); !ok || re.Code != CodeUnsupported {
		t.Errorf("Query(no answerer) error = %v, want RPCError %s inside", err, CodeUnsupported)
	}
}

func TestQueryPenalize(t *testing.T) {
	a := newTestProvider(t, &testAnswerer{}, nil)
	b := newTestProvider(t, &testAnswerer{}, nil)
	// No hedging: a hedge to the penalized provider, launched because the
	// other was slow on a loaded machine, could answer first; the
	// property here is the ranking after Penalize.
	c := newTestClient(t, ClientOptions{HedgeDelay: time.Hour, MaxHedgeDelay: time.Hour})
	providers := []peer.AddrInfo{a.info(), b.info()}
	// Measure both so neither is unknown.
	for _, p := range providers {
		if _, err := c.Ping(t.Context(), p); err != nil {
			t.Fatalf("Ping(%s): %v", p.ID, err)
		}
	}
	_, first, err := c.Query(t.Context(), providers, &QueryRequest{Name: "a.example."})
	if err != nil {
		t.Fatal(err)
	}
	c.Penalize(first)
	_, second, err := c.Query(t.Context(), providers, &QueryRequest{Name: "a.example."})
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Errorf("after Penalize(%s) the next query went to it again", first)
	}
}

func TestQueryContextCanceled(t *testing.T) {
	silent := newTestProvider(t, &testAnswerer{block: true}, nil)
	c := newTestClient(t, ClientOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		// Cancel once the provider is inside AnswerLocal.
		for silent.ans.calls.Load() == 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, _, err := c.Query(ctx, []peer.AddrInfo{silent.info()}, &QueryRequest{Name: "a.example."})
	<-stopped
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Query(canceled) error = %v, want context.Canceled", err)
	}
}

// An attempt cut off because another answered is scored Slow only when it
// had its hedge delay to answer and did not.
func TestRecordLoser(t *testing.T) {
	canceled := fmt.Errorf("reading response: %w", context.Canceled)
	tests := []struct {
		name         string
		r            attemptResult
		wantFailures float64
		wantSamples  int
	}{
		{"overdue", attemptResult{err: canceled, elapsed: 60 * time.Millisecond, due: 50 * time.Millisecond}, 1, 1},
		{"hedge not yet due", attemptResult{err: canceled, elapsed: 2 * time.Millisecond, due: 50 * time.Millisecond}, 0, 0},
		{"late success", attemptResult{resp: &QueryResponse{}, elapsed: 3 * time.Millisecond, due: 50 * time.Millisecond}, 0, 1},
		{"failed on its own", attemptResult{err: errors.New("stream reset"), elapsed: 3 * time.Millisecond}, 1, 0},
		{"refused", attemptResult{err: &RPCError{Code: CodeNotFound}, elapsed: 3 * time.Millisecond}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &scoreClock{t: time.Unix(1_800_000_000, 0)}
			c := &Client{scores: NewScores(ScoreOptions{Now: clk.Now})}
			tt.r.p = "p"
			c.recordLoser(tt.r)
			if st := c.scores.Stats("p"); st.Failures != tt.wantFailures || st.Samples != tt.wantSamples {
				t.Errorf("recordLoser(%+v): stats %+v, want %v failures, %d samples", tt.r, st, tt.wantFailures, tt.wantSamples)
			}
		})
	}
}
