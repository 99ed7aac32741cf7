// signatures.go: when the owner-made signatures of served zones run out.
// Nodes never sign, so a zone whose owner stops re-signing ('ddnrs zone
// keep-signed') goes bogus for validating resolvers when its first RRSIG
// expires. A node shows that date per zone as a gauge and logs a warning
// once per zone and serial when it is within Config.SignatureWarning.
package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddnrs/ddnrs/internal/wallclock"
	"github.com/ddnrs/ddnrs/zone"
)

// signatureCheckInterval is how often the warning loop looks.
const signatureCheckInterval = time.Minute

var descSigExpire = prometheus.NewDesc(
	prometheus.BuildFQName(Namespace, "zone", "signatures_expire_timestamp_seconds"),
	"Unix time at which the first RRSIG of a served zone expires (validating resolvers fail its answers after it unless the owner re-signs).",
	[]string{"zone"}, nil)

// expiries remembers each served zone's first expiry by its signed head
// (a new version of a zone has a new head), so a scrape or a check costs
// a map read per zone, not a walk over its signatures. It keeps the head,
// never the zone: a replaced or deleted zone is not held in memory.
type expiries struct {
	mu   sync.Mutex
	seen map[string]expiry
}

type expiry struct {
	head   *zone.Head // nil for a zone without a head: then the serial tells
	serial uint32
	at     time.Time
	signed bool
}

// of returns z's first signature expiry and whether z has signatures.
func (e *expiries) of(origin string, z *zone.Zone, now time.Time) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.seen[origin]; ok && x.head == z.Head && x.serial == z.Serial() {
		return x.at, x.signed
	}
	at, signed := zone.EarliestExpiry(z, now)
	if e.seen == nil {
		e.seen = map[string]expiry{}
	}
	e.seen[origin] = expiry{head: z.Head, serial: z.Serial(), at: at, signed: signed}
	return at, signed
}

// forget drops zones no longer served.
func (e *expiries) forget(keep map[string]bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for o := range e.seen {
		if !keep[o] {
			delete(e.seen, o)
		}
	}
}

// Zones are the zones a node serves.
type Zones interface {
	// Get returns the zone origin, or nil.
	Get(origin string) *zone.Zone
	// Origins lists the zones.
	Origins() []string
}

// Signatures watches the served zones' first signature expiry: a
// prometheus.Collector of ddnrs_zone_signatures_expire_timestamp_seconds
// (one series per served zone) and the warning loop Watch.
type Signatures struct {
	served Zones
	exp    expiries
}

// NewSignatures returns the watcher of zones.
func NewSignatures(zones Zones) *Signatures { return &Signatures{served: zones} }

// Describe implements prometheus.Collector.
func (c *Signatures) Describe(ch chan<- *prometheus.Desc) { ch <- descSigExpire }

// Collect implements prometheus.Collector: every served zone's first
// expiry at scrape time.
func (c *Signatures) Collect(ch chan<- prometheus.Metric) {
	now := wallclock.Now()
	origins := c.served.Origins()
	keep := make(map[string]bool, len(origins))
	for _, o := range origins {
		keep[o] = true
	}
	c.exp.forget(keep) // also when the warning loop is off
	for _, o := range origins {
		z := c.served.Get(o)
		if z == nil {
			continue
		}
		if at, ok := c.exp.of(o, z, now); ok {
			ch <- prometheus.MustNewConstMetric(descSigExpire, prometheus.GaugeValue, float64(at.Unix()), o)
		}
	}
}

// Watch logs to log, once per zone and serial, a warning for every
// served zone whose first signature expires within warn (an error once it
// has expired), until ctx ends. warn 0 turns the warnings off.
func (c *Signatures) Watch(ctx context.Context, warn time.Duration, log *slog.Logger) {
	if warn <= 0 {
		return
	}
	warned := map[string]warning{}
	tick := time.NewTicker(signatureCheckInterval)
	defer tick.Stop()
	for {
		c.check(log, warn, warned, wallclock.Now())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// warning is what was last logged of a zone: for which serial, and
// whether as expired.
type warning struct {
	serial  uint32
	expired bool
}

// check is one pass of Watch, logging to log.
func (c *Signatures) check(log *slog.Logger, warn time.Duration, warned map[string]warning, now time.Time) {
	keep := map[string]bool{}
	for _, o := range c.served.Origins() {
		keep[o] = true
		z := c.served.Get(o)
		if z == nil {
			continue
		}
		at, ok := c.exp.of(o, z, now)
		if !ok || at.Sub(now) > warn {
			continue
		}
		w := warning{serial: z.Serial(), expired: !at.After(now)}
		if last, done := warned[o]; done && last == w {
			continue
		}
		warned[o] = w
		if w.expired {
			log.Error("zone signatures have expired: validating resolvers fail its answers until the owner re-signs", "zone", o, "serial", z.Serial(), "expired", at.UTC())
			continue
		}
		log.Warn("zone signatures expire soon: the owner must re-sign (ddnrs zone keep-signed)", "zone", o, "serial", z.Serial(), "expires", at.UTC(), "in", at.Sub(now).Round(time.Minute))
	}
	for o := range warned {
		if !keep[o] {
			delete(warned, o)
		}
	}
	c.exp.forget(keep)
}
