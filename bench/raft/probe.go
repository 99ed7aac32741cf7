package raftbench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Query asks addr (with DO set; UDP, then TCP when the answer is truncated) one
// question, bounded by ctx and 1 s.
func Query(ctx context.Context, addr, name string, qtype uint16) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(1232, true) // DO: RRSIGs and NSEC in the answer
	c := &dns.Client{Net: "udp"}
	r, _, err := c.ExchangeContext(ctx, q, addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, q, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s at %s: %w", name, dns.TypeToString[qtype], addr, err)
	}
	return r, nil
}

// SOASerial returns the serial of origin's SOA as addr answers it.
func SOASerial(ctx context.Context, addr, origin string) (uint32, error) {
	r, err := Query(ctx, addr, origin, dns.TypeSOA)
	if err != nil {
		return 0, err
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial, nil
		}
	}
	return 0, fmt.Errorf("%s SOA at %s: no SOA in the answer (rcode %s)", origin, addr, dns.RcodeToString[r.Rcode])
}

// WaitSerial polls addr until it serves origin's SOA with a serial at
// or above want (RFC 1982), bounded by ctx and 10 s. A member may lag the
// commit it reports applied by a few milliseconds while its FSM and DNS
// registry catch up.
func WaitSerial(ctx context.Context, addr, origin string, want uint32) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		got, err := SOASerial(ctx, addr, origin)
		if err == nil && (got == want || got-want < 1<<31) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s at %s: serial %d (%v), want %d or above: %w", origin, addr, got, err, want, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TXT returns the first string of name's TXT RRset as addr answers it,
// and whether there was one.
func TXT(ctx context.Context, addr, name string) (string, bool, error) {
	r, err := Query(ctx, addr, name, dns.TypeTXT)
	if err != nil {
		return "", false, err
	}
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok && len(t.Txt) > 0 {
			return t.Txt[0], true, nil
		}
	}
	return "", false, nil
}

// Prober queries every member's DNS listener continuously (SOA of a
// zone, every 10 ms, 250 ms timeout) while the member is up, and records
// the longest time between two answers, and from a (re)start to the
// first answer. Nothing is counted while a member is down.
type Prober struct {
	origin string
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	longest map[string]time.Duration
	startup map[string]time.Duration
	fails   map[string][]string
	queries map[string]int
	answers map[string]int
	// unanswered counts queries (and their retry) a member left
	// unanswered after it had answered since it came up.
	unanswered map[string]int
}

// StartProber starts one probing goroutine per member; Stop ends them.
func (c *Cluster) StartProber(ctx context.Context, origin string) *Prober {
	ctx, cancel := context.WithCancel(ctx)
	p := &Prober{origin: dns.Fqdn(origin), cancel: cancel, longest: map[string]time.Duration{}, startup: map[string]time.Duration{}, fails: map[string][]string{},
		queries: map[string]int{}, answers: map[string]int{}, unanswered: map[string]int{}}
	for _, m := range c.Members {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.probe(ctx, m)
		}()
	}
	return p
}

func (p *Prober) probe(ctx context.Context, m *Member) {
	q := new(dns.Msg)
	q.SetQuestion(p.origin, dns.TypeSOA)
	c := &dns.Client{Net: "udp", Timeout: 250 * time.Millisecond}
	retry := &dns.Client{Net: "udp", Timeout: time.Second}
	var last time.Time // last answer; zero before the first since up
	var up time.Time
	if u := m.UpSince(); !u.IsZero() {
		up, last = u, time.Now() // already up: count gaps from now
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if !last.IsZero() && m.UpSince().Equal(up) {
				p.mu.Lock()
				if g := time.Since(last); g > p.longest[m.ID] {
					p.longest[m.ID] = g // no answer since, to the end
				}
				p.mu.Unlock()
			}
			return
		case <-tick.C:
		}
		u := m.UpSince()
		if u.IsZero() {
			last, up = time.Time{}, time.Time{}
			continue
		}
		if !u.Equal(up) {
			up, last = u, time.Time{}
		}
		r, _, err := c.ExchangeContext(ctx, q, m.DNS)
		ok := err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0
		serving := !last.IsZero()
		if !ok && serving && ctx.Err() == nil {
			// A member that was answering gets one retry, as a stub
			// resolver would: one lost datagram on a loaded machine is
			// not an outage, a second miss in a row is.
			r, _, err = retry.ExchangeContext(ctx, q, m.DNS)
			ok = err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0
		}
		now := time.Now()
		if !m.UpSince().Equal(up) || ctx.Err() != nil {
			continue // killed while we asked, or the probe ended
		}
		p.mu.Lock()
		p.queries[m.ID]++
		if ok {
			p.answers[m.ID]++
			if last.IsZero() {
				if g := now.Sub(up); g > p.startup[m.ID] {
					p.startup[m.ID] = g
				}
			} else if g := now.Sub(last); g > p.longest[m.ID] {
				p.longest[m.ID] = g
			}
			last = now
		} else {
			if serving {
				p.unanswered[m.ID]++
			}
			if len(p.fails[m.ID]) < 5 {
				what := fmt.Sprint(err)
				if err == nil {
					what = fmt.Sprintf("rcode %s, %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
				}
				when := "before its first answer"
				if serving {
					when = "while serving, retried once"
				}
				p.fails[m.ID] = append(p.fails[m.ID], fmt.Sprintf("%v after up (%s): %s", now.Sub(up).Round(time.Millisecond), when, what))
			}
		}
		p.mu.Unlock()
	}
}

// ProbeStats is what a Prober saw of one member.
type ProbeStats struct {
	Queries, Answers int
	// LongestGap is the longest time between two answers (or between
	// its last answer and the end) while the member was up.
	LongestGap time.Duration
	// Startup is the longest time from the member's ready file to its
	// first answer for the zone (after a start or restart).
	Startup time.Duration
	// Unanswered counts queries left unanswered, retry included, by a
	// member that had answered since it came up: an outage of a live
	// member. Misses before its first answer after a (re)start are in
	// Startup instead.
	Unanswered int
	// Failures describes the first few unanswered queries.
	Failures []string
}

// Stop ends the probes and returns what each member did, by ID.
func (p *Prober) Stop() map[string]ProbeStats {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]ProbeStats{}
	for id, q := range p.queries {
		out[id] = ProbeStats{Queries: q, Answers: p.answers[id], LongestGap: p.longest[id], Startup: p.startup[id], Unanswered: p.unanswered[id], Failures: p.fails[id]}
	}
	return out
}
