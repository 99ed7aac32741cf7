package stub

import "github.com/prometheus/client_golang/prometheus"

// metrics are the stub's Prometheus series (namespace ddnrs, subsystem
// stub):
//
//	ddnrs_stub_answers_total{path}          answers by path: verified (DDNRS, verified now),
//	                                         cached (DDNRS, verified earlier), forwarded
//	                                         (outside DDNRS, NOT verified), failed, refused
//	ddnrs_stub_refused_answers_total{node}  node answers that did not verify (lies, rollbacks)
//	ddnrs_stub_unanswered_total{node}       queries a node left unanswered until another node's
//	                                         answer verified (it then ranks down)
//	ddnrs_stub_cache_dropped_total          cache-file entries that no longer verified at load
//	ddnrs_stub_cache_disk_skipped_total     verified answers not written to disk (writer behind)
type metrics struct {
	answers          *prometheus.CounterVec
	refused          *prometheus.CounterVec
	unanswered       *prometheus.CounterVec
	cacheDropped     prometheus.Counter
	cacheDiskSkipped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ddnrs", Subsystem: "stub", Name: "answers_total",
			Help: "Answers by path: verified and cached are DDNRS answers verified against the owner's key; forwarded ones (names outside DDNRS) are not."}, []string{"path"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ddnrs", Subsystem: "stub", Name: "refused_answers_total",
			Help: "Answers of entry nodes that did not verify (forged records or signatures, an older serial), by node."}, []string{"node"}),
		unanswered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ddnrs", Subsystem: "stub", Name: "unanswered_total",
			Help: "Queries an entry node had not answered, past its hedge delay, when another node's answer verified; such a node ranks behind those that answer until it answers again."}, []string{"node"}),
		cacheDropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "ddnrs", Subsystem: "stub", Name: "cache_dropped_total",
			Help: "Answers in the cache file that no longer verified when loaded (altered, or older than a serial seen since)."}),
		cacheDiskSkipped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "ddnrs", Subsystem: "stub", Name: "cache_disk_skipped_total",
			Help: "Verified answers kept in memory only because the cache file's writer was behind."}),
	}
	if reg != nil {
		reg.MustRegister(m.answers, m.refused, m.unanswered, m.cacheDropped, m.cacheDiskSkipped)
	}
	return m
}
