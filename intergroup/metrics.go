package intergroup

// metrics.go: the overlay's figures for the node's Prometheus registry
// (ddnrs_overlay_*), read at scrape time; metrics/metrics.go lists them all.

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/zone"
)

// refusalReasons are the values of the reason label of
// ddnrs_overlay_refused_answers_total, matched in this order against the
// cause of a VerifyError (client.ErrNSECMissing comes with client.ErrNotAnswer, so it is
// tried first). A cause matching none is "other".
var refusalReasons = []struct {
	reason string
	errs   []error
}{
	{"no_trust_anchor", []error{client.ErrNoTrustAnchor}},
	{"stale_serial", []error{client.ErrStaleSerial}},
	{"expired", []error{client.ErrExpired, zone.ErrSignatureWindow, zone.ErrRRSIGTime}},
	{"nsec_missing", []error{client.ErrNSECMissing}},
	{"bad_signature", []error{zone.ErrBadSignature, zone.ErrInvalidRRSIG, zone.ErrMissingRRSIG, zone.ErrUnsigned, zone.ErrNoAnchor}},
	{"bad_proof", []error{zone.ErrNotIncluded, zone.ErrTreeSize, zone.ErrNotAdjacent, zone.ErrNotBetween, zone.ErrMalformedProof, zone.ErrProofVersion, client.ErrZoneMismatch}},
	{"wrong_zone", []error{zone.ErrWrongZone}},
	{"not_answer", []error{client.ErrNotAnswer, zone.ErrAnswerMismatch, zone.ErrNoRRset}},
	{"malformed", []error{client.ErrBadResponse, zone.ErrBadHead}},
}

// refusalReason returns the reason label for err and the Extended DNS
// Error code a client is given for it (DNSSEC Bogus unless err is a
// *VerifyError that says otherwise).
func refusalReason(err error) (reason string, ede uint16) {
	ede = dns.ExtendedErrorCodeDNSBogus
	var ve *client.VerifyError
	if errors.As(err, &ve) {
		ede = ve.EDE()
	}
	for _, r := range refusalReasons {
		for _, e := range r.errs {
			if errors.Is(err, e) {
				return r.reason, ede
			}
		}
	}
	return "other", ede
}

// refusalKey labels one series of refused answers.
type refusalKey struct {
	reason string
	ede    uint16
}

// overlayCounters are the overlay counters of this package (the overlay
// package's client, server, router and scores keep their own): answers
// served from the cache or fetched, and refusals by reason. Safe for
// concurrent use; the zero value is ready.
type overlayCounters struct {
	cached, fetched atomic.Uint64

	mu      sync.Mutex
	refused map[refusalKey]uint64
}

// refuse counts a remote answer refused by verification with err.
func (c *overlayCounters) refuse(err error) {
	reason, ede := refusalReason(err)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused == nil {
		c.refused = make(map[refusalKey]uint64)
	}
	c.refused[refusalKey{reason, ede}]++
}

func (c *overlayCounters) refusals() map[refusalKey]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[refusalKey]uint64, len(c.refused))
	for k, v := range c.refused {
		out[k] = v
	}
	return out
}

func overlayDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName("ddnrs", "overlay", name), help, labels, nil)
}

var (
	descOvRefused      = overlayDesc("refused_answers_total", "Answers from members of other groups refused because they did not verify (the peer is penalised), by reason and by the Extended DNS Error code (RFC 8914) it maps to.", "reason", "ede")
	descOvAnswers      = overlayDesc("answers_total", "Answers for zones of other groups served, by source: \"cache\" (the verified-answer cache) or \"fetched\" (asked a member and verified).", "source")
	descOvCacheEntries = overlayDesc("cache_entries", "Verified answers in the answer cache, expired ones not yet evicted included.")
	descOvCacheBytes   = overlayDesc("cache_bytes", "Approximate bytes held by the verified-answer cache (counted against overlay.cache_bytes).")
	descOvCliQueries   = overlayDesc("client_queries_total", "DDNRS-RPC Query calls made to another group's members (each may send several attempts).")
	descOvCliAnswered  = overlayDesc("client_answered_total", "DDNRS-RPC Query calls that got an answer from some member (before verification).")
	descOvCliAttempts  = overlayDesc("client_attempts_total", "DDNRS-RPC requests sent to a member by Query calls.")
	descOvCliHedges    = overlayDesc("client_hedges_total", "DDNRS-RPC attempts started because the previous member had not answered within the hedge delay.")
	descOvCliFailed    = overlayDesc("client_failed_attempts_total", "DDNRS-RPC attempts that failed: member unreachable, stream reset, request refused.")
	descOvCliSlow      = overlayDesc("client_slow_attempts_total", "DDNRS-RPC attempts abandoned because another member answered first after a hedge.")
	descOvSrvRequests  = overlayDesc("server_requests_total", "DDNRS-RPC requests this node handled for other nodes, by kind (query, change, ping).", "kind")
	descOvSrvRefused   = overlayDesc("server_refused_total", "DDNRS-RPC streams answered bad_request (protocol violations, oversized or malformed frames).")
	descOvSrvBusy      = overlayDesc("server_busy_total", "DDNRS-RPC requests answered unavailable because the server was at its concurrency limit.")
	descOvSrvFailures  = overlayDesc("server_failures_total", "DDNRS-RPC streams reset without a reply (deadline passed, reset by the peer, I/O error).")
	descOvRtLookups    = overlayDesc("router_lookups_total", "DHT provider lookups started by the zone router, in the background or on the query path.")
	descOvRtBg         = overlayDesc("router_background_lookups_total", "Of router_lookups_total, those no query waited for (longer suffixes, refreshes).")
	descOvRtNegatives  = overlayDesc("router_negatives_total", "Of router_lookups_total, those that found no provider and were cached as negative.")
	descOvRtHits       = overlayDesc("router_cache_hits_total", "Name suffixes the zone router answered from its route cache, without the DHT.")
	descOvRtInflight   = overlayDesc("router_inflight_lookups", "DHT provider lookups running now.")
	descOvRtEntries    = overlayDesc("router_cache_entries", "Routes (positive and negative) in the zone router's cache.")
	descOvDHTPeers     = overlayDesc("dht_routing_table_peers", "Peers in the Kademlia DHT routing table.")
	descOvPeersScored  = overlayDesc("peers_scored", "Peers in the RPC client's score table (round-trip time and failures).")
	descOvPenalties    = overlayDesc("peer_penalties", "Penalties of all scored peers summed, as they decay (a peer is penalised for each answer refused by verification).")
)

// NewCollector returns the collector of the overlay's figures: ov is
// called at every scrape and returns the running overlay, or nil while it
// is off (nothing is reported then; the series are still described).
func NewCollector(ov func() *Overlay) prometheus.Collector {
	return &overlayCollector{ov: ov}
}

// overlayCollector reads the overlay's counters when scraped.
type overlayCollector struct {
	ov func() *Overlay
}

func (c *overlayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descOvRefused, descOvAnswers, descOvCacheEntries, descOvCacheBytes,
		descOvCliQueries, descOvCliAnswered, descOvCliAttempts, descOvCliHedges, descOvCliFailed, descOvCliSlow,
		descOvSrvRequests, descOvSrvRefused, descOvSrvBusy, descOvSrvFailures,
		descOvRtLookups, descOvRtBg, descOvRtNegatives, descOvRtHits, descOvRtInflight, descOvRtEntries,
		descOvDHTPeers, descOvPeersScored, descOvPenalties,
	} {
		ch <- d
	}
}

func (c *overlayCollector) Collect(ch chan<- prometheus.Metric) {
	o := c.ov()
	if o == nil {
		return
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	for k, v := range o.stats.refusals() {
		counter(descOvRefused, v, k.reason, strconv.Itoa(int(k.ede)))
	}
	counter(descOvAnswers, o.stats.cached.Load(), "cache")
	counter(descOvAnswers, o.stats.fetched.Load(), "fetched")
	entries, bytes := o.cache.Len()
	gauge(descOvCacheEntries, float64(entries))
	gauge(descOvCacheBytes, float64(bytes))

	cs := o.client.Stats()
	counter(descOvCliQueries, cs.Queries)
	counter(descOvCliAnswered, cs.Answered)
	counter(descOvCliAttempts, cs.Attempts)
	counter(descOvCliHedges, cs.Hedges)
	counter(descOvCliFailed, cs.Failed)
	counter(descOvCliSlow, cs.Slow)

	ss := o.server.Stats()
	counter(descOvSrvRequests, ss.Queries, "query")
	counter(descOvSrvRequests, ss.Changes, "change")
	counter(descOvSrvRequests, ss.Pings, "ping")
	counter(descOvSrvRefused, ss.Refused)
	counter(descOvSrvBusy, ss.Busy)
	counter(descOvSrvFailures, ss.Failed)

	rs := o.router.Stats()
	counter(descOvRtLookups, rs.Lookups)
	counter(descOvRtBg, rs.Background)
	counter(descOvRtNegatives, rs.Negatives)
	counter(descOvRtHits, rs.Hits)
	gauge(descOvRtInflight, float64(rs.InFlight))
	gauge(descOvRtEntries, float64(rs.Entries))

	gauge(descOvDHTPeers, float64(o.host.RoutingTableSize()))
	scores := o.client.Scores().Snapshot()
	pen := 0.0
	for _, p := range scores {
		pen += p.Penalties
	}
	gauge(descOvPeersScored, float64(len(scores)))
	gauge(descOvPenalties, pen)
}
