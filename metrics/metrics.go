// Package metrics is a node's Prometheus metrics: its own registry
// (several nodes run in one process in tests and ddnrs dev), the Raft
// figures read at scrape time, the write path's counters, the
// signature-expiry gauge and warnings of the served zones
// (signatures.go), and the plain-HTTP listener that serves /metrics,
// /healthz and /readyz (listen.go). Other packages register their own
// series into Registry (intergroup, logfollow, dnsfront's query metrics).
// docs/monitoring.md lists the series and the alerts built on them.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace is the Prometheus namespace of every DDNRS metric.
const Namespace = "ddnrs"

// RaftStats is what the Raft collector reads at scrape time: the group's
// counters plus what the node knows about its leader.
type RaftStats struct {
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
// per served zone (Signatures, signatures.go):
//
//	ddnrs_zone_signatures_expire_timestamp_seconds{zone}  Unix time of the zone's first RRSIG expiry
//
// and, with the overlay on, read from it at scrape time (intergroup.NewCollector):
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
	reg *prometheus.Registry
	// Apply, Rejected and Forwarded are counted by the write path
	// (writes.Options) and the admin endpoint.
	Apply     prometheus.Histogram   // ddnrs_raft_apply_seconds
	Rejected  *prometheus.CounterVec // ddnrs_raft_rejected_changes_total{reason}
	Forwarded *prometheus.CounterVec // ddnrs_admin_forwarded_total{result}
}

// New builds the registry; stats is called at every scrape and returns
// false when the node has no Raft group (not started or closed). more
// are registered too (the overlay's collector, the signatures' gauge).
func New(stats func() (RaftStats, bool), more ...prometheus.Collector) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		Apply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "raft", Name: "apply_seconds",
			Help:    "Time from handing a write to Raft on the leader until it is committed and applied.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5ms .. 16s
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "raft", Name: "rejected_changes_total",
			Help: "Writes the state machine refused, by reason.",
		}, []string{"reason"}),
		Forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "admin", Name: "forwarded_total",
			Help: "Writes forwarded to the leader's admin endpoint, by result code.",
		}, []string{"result"}),
	}
	m.reg.MustRegister(
		m.Apply, m.Rejected, m.Forwarded,
		&raftCollector{stats: stats},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: Namespace}),
	)
	m.reg.MustRegister(more...)
	return m
}

// Registry returns the node's registry, for the /metrics handler and for
// components that register their own metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// raftCollector reads the Raft figures when scraped.
type raftCollector struct {
	stats func() (RaftStats, bool)
}

func raftDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "raft", name), help, labels, nil)
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
