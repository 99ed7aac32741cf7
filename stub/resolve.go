package stub

// resolve.go: a DDNRS name, asked of the entry nodes and verified.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
)

var (
	// ErrNoNodes is wrapped by the error of a DDNRS query when the stub
	// knows no entry node.
	ErrNoNodes = errors.New("no entry nodes known")
	// ErrNoVerifiedAnswer is wrapped by the error of a DDNRS query when
	// no node gave an answer that verified before the deadline.
	ErrNoVerifiedAnswer = errors.New("no node gave an answer that verifies")
)

// resolveError is why a DDNRS query failed, with the Extended DNS Error
// its SERVFAIL carries: the last verification failure's (DNSSEC Bogus,
// Signature Expired, ...), else No Reachable Authority.
type resolveError struct {
	err   error
	ede   uint16
	tries map[string]error // node -> what went wrong
}

func (e *resolveError) Error() string {
	s := e.err.Error()
	for n, err := range e.tries {
		s += fmt.Sprintf("; %s: %v", n, err)
	}
	return s
}

func (e *resolveError) Unwrap() error { return e.err }
func (e *resolveError) EDE() uint16   { return e.ede }

// fetched is a verified answer and where it came from.
type fetched struct {
	v    *client.Verified
	node string
	rtt  time.Duration
}

type attempt struct {
	node string
	m    *dns.Msg
	err  error
	rtt  time.Duration
}

// fetch asks the entry nodes for (name, t), best first, hedging to the
// next after the node's hedge delay and at once when one fails or lies,
// and returns the first answer that verifies. Every answer a node gives
// is verified before it is used; one that does not verify marks the
// node a liar (ranked last for penaltyFor) and is counted. A node asked
// before the one that answered and still silent counts as failed
// (unanswered), so a silent node ranks down after its first unanswered
// query instead of being asked first, and hedged past, every time.
func (s *Stub) fetch(ctx context.Context, name string, t uint16) (*fetched, error) {
	order := s.nodes.ranked()
	if len(order) == 0 {
		return nil, &resolveError{err: ErrNoNodes, ede: dns.ExtendedErrorCodeNoReachableAuthority}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	results := make(chan attempt, len(order))
	ask := func(node string) {
		go func() {
			start := time.Now()
			m, err := s.nodes.exchange(ctx, node, client.NewQuery(name, t), s.opt.Timeout)
			results <- attempt{node: node, m: m, err: err, rtt: time.Since(start)}
		}()
	}
	tries := make(map[string]error)
	ede := uint16(dns.ExtendedErrorCodeNoReachableAuthority)
	next := 0
	inflight := make(map[string]bool)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	launch := func() {
		if next < len(order) {
			ask(order[next])
			inflight[order[next]] = true
			timer.Reset(s.nodes.hedge(order[next]))
			next++
		}
	}
	launch()
	for len(inflight) > 0 {
		select {
		case <-ctx.Done():
			for n := range inflight {
				tries[n] = ctx.Err()
				s.nodes.failed(n, false)
			}
			return nil, &resolveError{err: fmt.Errorf("%w: %w", ErrNoVerifiedAnswer, ctx.Err()), ede: ede, tries: tries}
		case <-timer.C:
			launch()
		case a := <-results:
			delete(inflight, a.node)
			if a.err != nil {
				tries[a.node] = a.err
				s.nodes.failed(a.node, false)
				launch()
				continue
			}
			v, err := s.verifier.VerifyResponse(name, t, a.m)
			if err != nil {
				tries[a.node] = err
				var ve *client.VerifyError
				lied := errors.As(err, &ve) && !errors.Is(err, client.ErrNoTrustAnchor)
				if errors.Is(err, client.ErrNoProof) && a.m.Rcode != dns.RcodeSuccess && a.m.Rcode != dns.RcodeNameError {
					lied = false // a REFUSED or SERVFAIL without proofs: a failure, not a lie
				}
				s.nodes.failed(a.node, lied)
				if lied {
					ede = ve.EDE()
					s.met.refused.WithLabelValues(a.node).Inc()
					s.log.Warn("answer refused: it does not verify", "node", a.node, "name", name, "type", dns.TypeToString[t], "err", err)
				}
				launch()
				continue
			}
			s.nodes.ok(a.node, a.rtt)
			s.unanswered(order[:next], inflight, a.node)
			return &fetched{v: v, node: a.node, rtt: a.rtt}, nil
		}
		if len(inflight) == 0 {
			launch()
		}
	}
	return nil, &resolveError{err: ErrNoVerifiedAnswer, ede: ede, tries: tries}
}

// unanswered marks as failed every node of asked (in the order asked)
// still in flight that was asked before winner: its hedge delay passed
// (a later node is asked only then, or after a failure of a node asked
// after it) and it had not answered when winner's answer verified. It
// ranks behind the nodes that answer (nodeSet.ranked) until it answers a
// query or a probe again.
func (s *Stub) unanswered(asked []string, inflight map[string]bool, winner string) {
	for _, n := range asked {
		if n == winner {
			return
		}
		if inflight[n] {
			s.nodes.failed(n, false)
			s.met.unanswered.WithLabelValues(n).Inc()
		}
	}
}
