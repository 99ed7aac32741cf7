package overlay

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// silenceable answers like testAnswerer until silent is set, then waits
// for its context instead (a member stopped with SIGSTOP: its
// connections stay up, nothing answers).
type silenceable struct {
	testAnswerer
	silent atomic.Bool
}

func (a *silenceable) AnswerLocal(ctx context.Context, name string, typ uint16, do bool) (*QueryResponse, error) {
	if a.silent.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return a.testAnswerer.AnswerLocal(ctx, name, typ, do)
}

// TestQueryRanksSilentProviderDown (issue 15 item 4): the provider a
// client asks first, best by RTT by far, goes silent. Its first
// unanswered query (the other provider answered after the hedge delay)
// ranks it behind the answering one although its RTT is still the
// lower; when it answers again its miss no longer weighs. Ranks and
// counts, no timing.
func TestQueryRanksSilentProviderDown(t *testing.T) {
	fast, other := &silenceable{}, &testAnswerer{}
	pf := newTestProviderWith(t, nil, ServerOptions{Answerer: fast})
	fast.node = pf.h.ID().String()
	po := newTestProvider(t, other, nil)
	// The hedge delay is 2 x RTT, at least 20 ms: the silent provider's
	// 20 ms; the other's seconds (below), so that once it is asked first
	// the silent one is not hedged to while it answers.
	c := newTestClient(t, ClientOptions{HedgeDelay: 20 * time.Millisecond, MaxHedgeDelay: time.Minute, Timeout: time.Minute})
	providers := []peer.AddrInfo{po.info(), pf.info()}
	ids := []peer.ID{po.h.ID(), pf.h.ID()}
	// What earlier queries measured: the first provider is 1 ms away, the
	// other 2 s (far away, or overloaded).
	c.Scores().Success(pf.h.ID(), time.Millisecond)
	c.Scores().Success(po.h.ID(), 2*time.Second)
	if got := c.Scores().Rank(ids); got[0] != pf.h.ID() {
		t.Fatalf("Rank before = %v, want the 1 ms provider %s first", got, pf.h.ID())
	}

	fast.silent.Store(true)
	_, from, err := c.Query(t.Context(), providers, &QueryRequest{Name: "a.example.", Type: 1})
	if err != nil || from != po.h.ID() {
		t.Fatalf("Query with the first provider silent = %s, %v; want answered by %s", from, err, po.h.ID())
	}
	if st := c.Stats(); st.Slow != 1 {
		t.Errorf("Stats() = %+v, want the silent provider's attempt counted slow once", st)
	}
	if got := c.Scores().Rank(ids); got[0] != po.h.ID() {
		t.Errorf("Rank after one unanswered query = %v (silent %+v, answering %+v); want the answering %s first",
			got, c.Scores().Stats(pf.h.ID()), c.Scores().Stats(po.h.ID()), po.h.ID())
	}
	// Asked first from now on: the silent provider gets no further miss
	// (it would be hedged to only after the other's hedge delay, over a
	// second here).
	for _, name := range []string{"b.example.", "c.example.", "d.example."} {
		if _, from, err := c.Query(t.Context(), providers, &QueryRequest{Name: name, Type: 1}); err != nil || from != po.h.ID() {
			t.Fatalf("Query(%s) = %s, %v; want answered by %s", name, from, err, po.h.ID())
		}
	}
	if st := c.Scores().Stats(pf.h.ID()); st.Consecutive != 1 {
		t.Errorf("silent provider's stats after 3 more queries = %+v; want still the one miss (it was not asked first again)", st)
	}

	fast.silent.Store(false)
	if _, from, err := c.Query(t.Context(), providers[1:], &QueryRequest{Name: "e.example.", Type: 1}); err != nil || from != pf.h.ID() {
		t.Fatalf("Query of the provider answering again = %s, %v", from, err)
	}
	st := c.Scores().Stats(pf.h.ID())
	if st.Consecutive != 0 || st.Failures != 0 || st.Score != st.RTT {
		t.Errorf("stats of the provider answering again = %+v; want no failure weighing, scored by its RTT alone", st)
	}
}
