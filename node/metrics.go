package node

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/zone"
)

// metricsNamespace is the Prometheus namespace of every DDNRS metric.
const metricsNamespace = "ddnrs"

// raftSnapshot is what the Raft collector reads at scrape time: the
// group's counters plus what the node knows about its leader.
type raftSnapshot struct {
	State        string // "Leader", "Follower", "Candidate", "Shutdown"
	Term         uint64
	LastIndex    uint64
	CommitIndex  uint64
	AppliedIndex uint64
	LastContact  time.Duration // since the leader was last heard; 0 on the leader
	HasLeader    bool
}

// raftStates are the values of the state label, so every state has a
// series (0 or 1) and a dashboard can graph transitions.
var raftStates = []string{"Follower", "Candidate", "Leader", "Shutdown"}

// Metrics are one node's Prometheus metrics in a registry of its own, so
// several nodes run in one process (tests, ddnrs dev). Raft figures are
// read from the group at scrape time; nothing runs in the background.
//
// Exported series (namespace ddnrs):
//
//	ddnrs_raft_state{state}            1 for the node's current Raft state, 0 for the others
//	ddnrs_raft_term                    current term
//	ddnrs_raft_last_index              last log index stored
//	ddnrs_raft_commit_index            highest index known committed
//	ddnrs_raft_applied_index           highest index applied to the zone store
//	ddnrs_raft_lag_entries             commit_index - applied_index: entries known committed, not yet applied
//	ddnrs_raft_has_leader              1 when a leader is known
//	ddnrs_raft_last_contact_seconds    since the leader was last heard (0 on the leader)
//	ddnrs_raft_apply_seconds           histogram: a write's Apply on the leader until committed and applied
//	ddnrs_raft_rejected_changes_total{reason}  writes the state machine refused, by reason
//	ddnrs_admin_forwarded_total{result}        writes forwarded to the leader, by result code ("ok" or an error code)
//
// with [registry] log_verifier set, from the log follower (logfollow):
//
//	ddnrs_registry_log_entries_followed_total  log entries verified and applied
//	ddnrs_registry_log_split_views_total       checkpoints contradicting a verified one (following stops)
//	ddnrs_registry_log_size                    the verified tree size
//	ddnrs_registry_log_last_success_timestamp_seconds  Unix time of the last verified checkpoint (0: none yet)
//
// per served zone (signatures.go):
//
//	ddnrs_zone_signatures_expire_timestamp_seconds{zone}  Unix time of the zone's first RRSIG expiry
//
// and, with the overlay on, read from it at scrape time (see overlayCollector):
//
//	ddnrs_overlay_refused_answers_total{reason,ede}  remote answers refused by verification
//	ddnrs_overlay_answers_total{source}              remote answers served, source "cache" or "fetched"
//	ddnrs_overlay_cache_entries / _cache_bytes       verified-answer cache size
//	ddnrs_overlay_client_{queries,answered,attempts,hedges,failed_attempts,slow_attempts}_total
//	ddnrs_overlay_server_requests_total{kind}        RPC requests handled: query, change, ping
//	ddnrs_overlay_server_{refused,busy,failures}_total
//	ddnrs_overlay_router_{lookups,background_lookups,negatives,cache_hits}_total
//	ddnrs_overlay_router_inflight_lookups / _router_cache_entries
//	ddnrs_overlay_dht_routing_table_peers            peers in the Kademlia routing table
//	ddnrs_overlay_peers_scored / _peer_penalties     peers in the score table, their decayed penalties summed
//
// plus the Go runtime and process collectors.
type Metrics struct {
	reg       *prometheus.Registry
	apply     prometheus.Histogram
	rejected  *prometheus.CounterVec
	forwarded *prometheus.CounterVec
}

// newMetrics builds the registry; stats is called at every scrape and
// returns false when the node has no Raft group (not started or closed).
// ov returns the running overlay or nil (the overlay is off or stopped).
func newMetrics(stats func() (raftSnapshot, bool), ov func() *overlayNode) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Subsystem: "raft", Name: "apply_seconds",
			Help:    "Time from handing a write to Raft on the leader until it is committed and applied.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5ms .. 16s
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: "raft", Name: "rejected_changes_total",
			Help: "Writes the state machine refused, by reason.",
		}, []string{"reason"}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: "admin", Name: "forwarded_total",
			Help: "Writes forwarded to the leader's admin endpoint, by result code.",
		}, []string{"result"}),
	}
	m.reg.MustRegister(
		m.apply, m.rejected, m.forwarded,
		&raftCollector{stats: stats},
		&overlayCollector{ov: ov},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: metricsNamespace}),
	)
	return m
}

// Registry returns the node's registry, for the /metrics handler and for
// components that register their own metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// raftCollector reads the Raft figures when scraped.
type raftCollector struct {
	stats func() (raftSnapshot, bool)
}

func raftDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "raft", name), help, labels, nil)
}

var (
	descState       = raftDesc("state", "1 for the node's current Raft state, 0 for the others.", "state")
	descTerm        = raftDesc("term", "Current Raft term.")
	descLastIndex   = raftDesc("last_index", "Last Raft log index stored.")
	descCommitIndex = raftDesc("commit_index", "Highest Raft log index known to be committed.")
	descApplied     = raftDesc("applied_index", "Highest Raft log index applied to the zone store.")
	descLag         = raftDesc("lag_entries", "Entries known committed but not yet applied here (commit_index - applied_index).")
	descHasLeader   = raftDesc("has_leader", "1 when the node knows a leader.")
	descLastContact = raftDesc("last_contact_seconds", "Seconds since the leader was last heard; 0 on the leader.")
)

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descTerm, descLastIndex, descCommitIndex, descApplied, descLag, descHasLeader, descLastContact} {
		ch <- d
	}
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	s, ok := c.stats()
	if !ok {
		return
	}
	for _, st := range raftStates {
		v := 0.0
		if st == s.State {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, st)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(descTerm, float64(s.Term))
	gauge(descLastIndex, float64(s.LastIndex))
	gauge(descCommitIndex, float64(s.CommitIndex))
	gauge(descApplied, float64(s.AppliedIndex))
	lag := 0.0
	if s.CommitIndex > s.AppliedIndex {
		lag = float64(s.CommitIndex - s.AppliedIndex)
	}
	gauge(descLag, lag)
	hl := 0.0
	if s.HasLeader {
		hl = 1
	}
	gauge(descHasLeader, hl)
	gauge(descLastContact, s.LastContact.Seconds())
}

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

// overlayCounters are the node-side overlay counters (the overlay
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
	return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "overlay", name), help, labels, nil)
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

// overlayCollector reads the overlay's counters when scraped; it reports
// nothing while the overlay is off.
type overlayCollector struct {
	ov func() *overlayNode
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
