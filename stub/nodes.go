package stub

// nodes.go: the entry nodes, how they rank, and how they are measured.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Entry is one DDNRS node the stub may ask.
type Entry struct {
	Addr   string // its DNS address, HOST:PORT
	Region string // "" when unknown
	ID     string // its node id, from the log; "" when configured
}

// Bounds of the hedge delay: how long the best node has before the next
// is asked too. It is four times the node's smoothed latency, within
// these bounds.
const (
	minHedge = 10 * time.Millisecond
	maxHedge = 100 * time.Millisecond
)

// penaltyFor is how long a node that lied (an answer that did not
// verify) is ranked after every other.
const penaltyFor = time.Minute

// nodeState is what the stub measured of one node.
type nodeState struct {
	Entry
	rtt      time.Duration // smoothed; 0 until measured
	fails    int           // consecutive failures (no answer, bad answer)
	liedAt   time.Time     // last answer that did not verify
	answered int64
	// clientCookie (16 hex digits, random per node) and serverCookie
	// (as the node last gave it) are the DNS cookie (RFC 7873) sent to
	// the node: a node sends proofs over UDP only to an address a server
	// cookie proved (docs/proofs-option.md), else TC and TCP.
	clientCookie, serverCookie string
}

// nodeSet ranks the entry nodes. Safe for concurrent use.
type nodeSet struct {
	region string
	now    func() time.Time

	mu    sync.Mutex
	nodes map[string]*nodeState // by Addr
}

func newNodeSet(region string, now func() time.Time) *nodeSet {
	return &nodeSet{region: region, now: now, nodes: make(map[string]*nodeState)}
}

// set replaces the entries, keeping what was measured of those that stay.
func (s *nodeSet) set(es []Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]*nodeState, len(es))
	for _, e := range es {
		if old, ok := s.nodes[e.Addr]; ok {
			old.Entry = e
			next[e.Addr] = old
			continue
		}
		next[e.Addr] = &nodeState{Entry: e, clientCookie: newClientCookie()}
	}
	s.nodes = next
}

// ranked returns the nodes' addresses, best first: not penalised for a
// lie, fewer consecutive failures, same region as the stub, lower
// smoothed latency (unmeasured ones first, to measure them), address.
func (s *nodeSet) ranked() []string {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := make([]*nodeState, 0, len(s.nodes))
	for _, n := range s.nodes {
		ns = append(ns, n)
	}
	lied := func(n *nodeState) int {
		if !n.liedAt.IsZero() && now.Sub(n.liedAt) < penaltyFor {
			return 1
		}
		return 0
	}
	other := func(n *nodeState) int {
		if s.region != "" && n.Region != s.region {
			return 1
		}
		return 0
	}
	slices.SortFunc(ns, func(a, b *nodeState) int {
		if d := lied(a) - lied(b); d != 0 {
			return d
		}
		if d := min(a.fails, 3) - min(b.fails, 3); d != 0 {
			return d
		}
		if d := other(a) - other(b); d != 0 {
			return d
		}
		if a.rtt != b.rtt {
			if a.rtt < b.rtt {
				return -1
			}
			return 1
		}
		if a.Addr < b.Addr {
			return -1
		}
		return 1
	})
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Addr
	}
	return out
}

// hedge is how long addr has before the next node is asked too.
func (s *nodeSet) hedge(addr string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[addr]
	if !ok || n.rtt == 0 {
		return maxHedge / 2
	}
	return min(max(4*n.rtt, minHedge), maxHedge)
}

// ok records an answer from addr that verified, after rtt.
func (s *nodeSet) ok(addr string, rtt time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, found := s.nodes[addr]
	if !found {
		return
	}
	n.fails = 0
	n.answered++
	if n.rtt == 0 {
		n.rtt = rtt
	} else {
		n.rtt = (7*n.rtt + rtt) / 8
	}
}

// failed records that addr did not answer usefully; lied that its
// answer did not verify.
func (s *nodeSet) failed(addr string, lied bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, found := s.nodes[addr]
	if !found {
		return
	}
	n.fails++
	if lied {
		n.liedAt = s.now()
	}
}

// snapshot returns a copy of every node's state, by address.
func (s *nodeSet) snapshot() []nodeState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]nodeState, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b nodeState) int {
		if a.Addr < b.Addr {
			return -1
		}
		return 1
	})
	return out
}

// newClientCookie returns 8 random bytes in hex.
func newClientCookie() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// cookie returns the COOKIE option to send to addr.
func (s *nodeSet) cookie(addr string) *dns.EDNS0_COOKIE {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[addr]
	if !ok {
		return &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: newClientCookie()}
	}
	return &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: n.clientCookie + n.serverCookie}
}

// learnCookie keeps the server cookie of addr's reply r, when r echoes
// our client cookie.
func (s *nodeSet) learnCookie(addr string, r *dns.Msg) {
	o := r.IsEdns0()
	if o == nil {
		return
	}
	for _, e := range o.Option {
		c, ok := e.(*dns.EDNS0_COOKIE)
		if !ok || len(c.Cookie) < 32 || len(c.Cookie) > 80 {
			continue
		}
		s.mu.Lock()
		if n, ok := s.nodes[addr]; ok && c.Cookie[:16] == n.clientCookie {
			n.serverCookie = c.Cookie[16:]
		}
		s.mu.Unlock()
	}
}

// exchange asks addr q (a query made by client.NewQuery) over UDP with
// the node's cookie, and over TCP when the reply is truncated (proofs do
// not fit, or the node does not know our address yet).
func (s *nodeSet) exchange(ctx context.Context, addr string, q *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	q.IsEdns0().Option = append(q.IsEdns0().Option, s.cookie(addr))
	c := &dns.Client{Net: "udp", UDPSize: 1232, Timeout: timeout}
	r, _, err := c.ExchangeContext(ctx, q, addr)
	if err != nil {
		return nil, err
	}
	s.learnCookie(addr, r)
	if !r.Truncated {
		return r, nil
	}
	c.Net = "tcp"
	r, _, err = c.ExchangeContext(ctx, q, addr)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// probe measures every node once: a query for zone's SOA, timed, which
// also gets the node's server cookie; a node that answers anything counts as up (its
// answer is not served, so it is not verified here). Run by the stub's
// prober every ProbeInterval, and at start.
func (s *nodeSet) probe(ctx context.Context, zone string, timeout time.Duration) {
	var wg sync.WaitGroup
	for _, addr := range s.ranked() {
		wg.Go(func() {
			// Without the proofs option: a node gives its server cookie
			// in such a reply, but not in the TC it sends instead of
			// proofs to an unproven address; the next queries then get
			// their proofs over UDP.
			q := new(dns.Msg)
			q.SetQuestion(zone, dns.TypeSOA)
			q.RecursionDesired = false
			q.SetEdns0(1232, true)
			start := time.Now()
			_, err := s.exchange(ctx, addr, q, timeout)
			if err != nil {
				s.failed(addr, false)
				return
			}
			s.ok(addr, time.Since(start))
		})
	}
	wg.Wait()
}
