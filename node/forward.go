package node

// forward.go: a node as a resolver ([forward], issue 13 item 4). With
// upstreams configured, a recursive query (RD set) for a name no DDNRS
// zone encloses is sent to them (package forward) instead of being
// REFUSED: the reply has RA set, never AD (the node did not verify it),
// is cached, and an upstream failure is SERVFAIL with an Extended DNS
// Error. A name under a zone DDNRS knows (a trust anchor, configured or
// from the registry's log) is never forwarded, whatever happens on the
// overlay: an attacker who makes a DDNRS lookup fail must not get the
// name answered by someone else. Off by default.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/forward"
	"github.com/ddnrs/ddnrs/zone"
)

// ForwardConfig is [forward]: upstream resolvers for names outside DDNRS.
type ForwardConfig struct {
	// Upstreams are tried best first (latency, failures), each hedged
	// to the next after Hedge: "192.0.2.1" (plain DNS), "tcp://ADDR",
	// "tls://ADDR#NAME" (DoT), "https://HOST/dns-query" (DoH); see
	// forward.ParseUpstream. Empty (the default) turns forwarding off:
	// names outside DDNRS are REFUSED.
	Upstreams []string `toml:"upstreams"`
	// CAFile is a PEM file of the CAs that DoT and DoH upstreams'
	// certificates must chain to; "" (the default) means the system's.
	// Relative to data_dir.
	CAFile string `toml:"ca_file"`
	// CacheEntries bounds the cache of forwarded answers (each kept for
	// its TTL, at most a day); -1 turns it off. Default 10000.
	CacheEntries int `toml:"cache_entries"`
	// Hedge is how long an upstream has before the next one is asked
	// too. Default 300ms.
	Hedge time.Duration `toml:"hedge"`
}

// DefaultForward is [forward]'s default: off, with the cache and hedge
// it would use.
func DefaultForward() ForwardConfig {
	return ForwardConfig{CacheEntries: forward.DefaultCacheEntries, Hedge: forward.DefaultHedge}
}

// Enabled reports whether forwarding is on.
func (c ForwardConfig) Enabled() bool { return len(c.Upstreams) > 0 }

func (c ForwardConfig) validate() []error {
	var errs []error
	for i, s := range c.Upstreams {
		if _, err := forward.ParseUpstream(s); err != nil {
			errs = append(errs, fmt.Errorf("forward.upstreams[%d]: %w", i, err))
		}
	}
	if c.CacheEntries < -1 {
		errs = append(errs, fmt.Errorf("forward.cache_entries: %d, want -1 (off) or more", c.CacheEntries))
	}
	if c.Hedge < time.Millisecond {
		errs = append(errs, fmt.Errorf("forward.hedge: %v, want at least 1ms", c.Hedge))
	}
	if c.CAFile != "" && !c.Enabled() {
		errs = append(errs, errors.New("forward.ca_file: set without forward.upstreams"))
	}
	return errs
}

// forwarding is the dnsfront.OtherGroups of a node with [forward]: the
// overlay first (when on), the upstreams for names DDNRS does not hold.
type forwarding struct {
	n     *Node
	inner dnsfront.OtherGroups // the overlay; nil without it
	fw    *forward.Forwarder
	count *prometheus.CounterVec
}

// startForward builds the forwarder; the caller closes it.
func (n *Node) startForward(inner dnsfront.OtherGroups) (*forwarding, error) {
	c := n.cfg.Forward
	var ups []forward.Upstream
	for _, s := range c.Upstreams {
		u, _ := forward.ParseUpstream(s) // checked by validate
		ups = append(ups, u)
	}
	opt := forward.Options{Upstreams: ups, CacheEntries: c.CacheEntries, Hedge: c.Hedge, Logger: n.log.With("component", "forward")}
	if c.CAFile != "" {
		p := c.CAFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(n.cfg.DataDir, p)
		}
		pem, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("forward.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("forward.ca_file %s: no PEM certificate in it", p)
		}
		opt.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	fw, err := forward.New(opt)
	if err != nil {
		return nil, err
	}
	f := &forwarding{n: n, inner: inner, fw: fw, count: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ddnrs_forward_queries_total",
		Help: "Queries for names outside DDNRS sent to [forward] upstreams, by result: cached, forwarded (an upstream answered), failed (SERVFAIL), refused (RD not set). Such answers are not verified.",
	}, []string{"result"})}
	if err := n.metrics.Registry().Register(f.count); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		f.count = are.ExistingCollector.(*prometheus.CounterVec)
	}
	return f, nil
}

// ddnrsName reports whether a zone DDNRS knows of (a trust anchor,
// configured or from the registry's log) encloses name.
func (f *forwarding) ddnrsName(name string) bool {
	la := f.n.logAnchors.Load()
	ov := f.n.ov.Load()
	for s := name; ; s = zone.Parent(s) {
		if la != nil && (*la)[s] != nil {
			return true
		}
		if ov != nil && ov.Verifier().Anchored(s) {
			return true
		}
		if s == "." || s == "" {
			return false
		}
	}
}

// Resolve implements dnsfront.OtherGroups.
func (f *forwarding) Resolve(ctx context.Context, req *dns.Msg) (*dnsfront.OtherGroupAnswer, error) {
	name := zone.CanonicalName(req.Question[0].Name)
	if f.inner != nil {
		ans, err := f.inner.Resolve(ctx, req)
		if err != nil || ans == nil || ans.Msg == nil || ans.Msg.Rcode != dns.RcodeRefused {
			return ans, err // a DDNRS zone's answer, or why it failed
		}
	}
	refused := func() (*dnsfront.OtherGroupAnswer, error) {
		m := new(dns.Msg)
		m.Rcode = dns.RcodeRefused
		return &dnsfront.OtherGroupAnswer{Msg: m}, nil
	}
	if f.ddnrsName(name) {
		return refused() // never answered by an upstream
	}
	if !req.RecursionDesired {
		f.count.WithLabelValues("refused").Inc()
		return refused()
	}
	res, err := f.fw.Forward(ctx, req)
	if err != nil {
		f.count.WithLabelValues("failed").Inc()
		return nil, err
	}
	if res.Cached {
		f.count.WithLabelValues("cached").Inc()
	} else {
		f.count.WithLabelValues("forwarded").Inc()
	}
	return &dnsfront.OtherGroupAnswer{Msg: res.Msg}, nil
}
