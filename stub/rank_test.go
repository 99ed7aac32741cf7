package stub_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/stub"
)

// pausable is a node that passes queries on to the genuine node at
// upstream and can be made silent: while paused it reads queries and
// answers none, as a node stopped with SIGSTOP (alive to the kernel,
// its sockets open) does.
type pausable struct {
	addr   string
	paused atomic.Bool
}

func startPausable(t *testing.T, upstream string) *pausable {
	t.Helper()
	p := &pausable{}
	p.addr = serveMiekg(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		if p.paused.Load() {
			return // read, never answered
		}
		r, _, err := (&dns.Client{Net: "tcp", Timeout: 5 * time.Second}).Exchange(req, upstream)
		if err != nil {
			return
		}
		w.WriteMsg(r)
	}))
	return p
}

// TestStubRanksSilentNodeDown (issue 15 item 4): of two entry nodes, the
// one the stub asks first goes silent. Its first unanswered query (the
// other node answered, after the hedge delay) ranks it down: the stub
// asks the other first from then on, so the silent node leaves no
// further query unanswered (each would be counted; hedges to it after
// the answering node are not, they were not given their time). When it
// answers again (a probe) its failures are cleared and it is ranked by
// latency again: it answers while the other is silent. Counts, no timing.
func TestStubRanksSilentNodeDown(t *testing.T) {
	z, k := signedExample(t, "2024010102")
	good := startNode(t, z)
	nodes := map[string]*pausable{}
	var addrs []string
	for range 2 {
		p := startPausable(t, good)
		nodes[p.addr] = p
		addrs = append(addrs, p.addr)
	}
	s := startStub(t, stub.Options{DataDir: t.TempDir(), Nodes: addrs, Anchors: client.Anchors{"example.": k}, Timeout: 10 * time.Second})
	resolve := func(name string) {
		t.Helper()
		if r := ask(t, s.Addr().String(), name, dns.TypeA, true); !r.AuthenticatedData || aOf(r) != "192.0.2.99" {
			t.Fatalf("%s A through the stub = %v; want 192.0.2.99 (the wildcard's) with AD", name, r)
		}
	}
	resolve("a1.wild.example.")
	first := stub.Ranked(s.Stub)[0]
	other := addrs[0]
	if other == first {
		other = addrs[1]
	}
	// Counted from here: while both answered, the one asked first may
	// have been slower than its hedge delay (a loaded machine) and lost.
	unanswered := func(node string) float64 { return s.count(t, "ddnrs_stub_unanswered_total", node) }
	base := unanswered(first)
	nodes[first].paused.Store(true)
	resolve("a2.wild.example.")
	if n := unanswered(first) - base; n != 1 {
		t.Errorf("after the first query %s left unanswered: counted %v unanswered, want 1", first, n)
	}
	if got := stub.Ranked(s.Stub); got[0] != other {
		t.Errorf("after one unanswered query the stub ranks %v; want %s (answering) first", got, other)
	}
	for i := range 5 {
		resolve("b" + string(rune('0'+i)) + ".wild.example.")
	}
	if n := unanswered(first) - base; n != 1 {
		t.Errorf("the silent node %s was asked first again: %v unanswered queries counted after 6 queries, want 1", first, n)
	}

	nodes[first].paused.Store(false)
	stub.Probe(s.Stub)
	if f := stub.Fails(s.Stub, first); f != 0 {
		t.Errorf("%s answered a probe again: %d consecutive failures counted, want 0", first, f)
	}
	// Back in rotation: with the other node silent now, every query is
	// answered, and the other is asked first at most once (it may rank
	// first by latency; its first unanswered query ranks it down).
	base = unanswered(other)
	nodes[other].paused.Store(true)
	for i := range 5 {
		resolve("c" + string(rune('0'+i)) + ".wild.example.")
	}
	if n := unanswered(other) - base; n > 1 {
		t.Errorf("%s silent, %s back: %s left %v queries unanswered, want at most 1", other, first, other, n)
	}
}
