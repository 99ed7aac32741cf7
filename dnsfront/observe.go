package dnsfront

// observe.go: what the Handler tells the operator about the queries it
// answers: Prometheus metrics (Metrics) and the dnstap query log (Tap,
// dnstap.go). Both are off unless set in Options; then the hot path pays
// one branch on a bool (the benchmark BenchmarkHandleObserve measures it).

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Source says where an answer came from.
type Source uint8

// The sources of an answer.
const (
	// SourceLocal: a zone this node's group holds, or the node itself
	// (REFUSED, FORMERR, NOTIMP...).
	SourceLocal Source = iota
	// SourceRelayed: fetched from another group and verified.
	SourceRelayed
	// SourceCache: the cache of verified answers of other groups.
	SourceCache
	nSources
)

var sourceNames = [...]string{"local", "relayed", "cache"}

func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "Source(" + strconv.Itoa(int(s)) + ")"
}

// relayInfo is how an answer from another group came: its source, the
// member that answered (a trace's TraceMember hop) and, for the query
// log, the answer as that group gave it.
type relayInfo struct {
	source   Source
	member   string
	upstream []byte
}

const nTransports = 5 // UDP .. QUIC

// observe records one answered query: raw and out are the query and the
// reply as sent (out empty: none sent), start its arrival, from the
// client (zero when unknown). It runs on the query's goroutine; it must
// not keep raw or out.
func (h *Handler) observe(tr Transport, raw, out []byte, via relayInfo, zone string, start time.Time, from netip.AddrPort) {
	if h.metrics != nil {
		h.metrics.count(tr, via.source, raw, out, zone, time.Since(start))
	}
	if h.tap != nil {
		h.tap.log(tr, raw, out, via, zone, start, from)
	}
}

// MetricsOptions tunes NewMetrics. The zero value is usable.
type MetricsOptions struct {
	// MaxZones bounds the zone label of ddnrs_dns_zone_queries_total:
	// the first MaxZones zones answered from get their own series, later
	// ones count under zone="other". Default 100.
	MaxZones int
}

// Metrics counts the queries of one or more Handlers (Options.Metrics)
// for Prometheus, by transport, answer source, rcode, query type and
// zone, with a histogram of the time to answer. It is a
// prometheus.Collector; the counters are atomics read at scrape time, so
// counting takes a few atomic adds and no lock. Names (namespace ddnrs,
// subsystem dns) in docs/monitoring.md.
type Metrics struct {
	maxZones int
	queries  [nTransports][nSources][16]atomic.Uint64 // by header rcode
	qtypes   [len(metricQtypes) + 1]atomic.Uint64     // last: other
	dur      [nTransports][nSources]durHist

	zmu    sync.Mutex // guards adding to zones
	zones  sync.Map   // zone origin -> *atomic.Uint64
	nzones atomic.Int32
	zother atomic.Uint64 // beyond MaxZones
	znone  atomic.Uint64 // no local zone (other groups, REFUSED, FORMERR)
}

// durBounds are the histogram's upper bounds in nanoseconds: 10 µs to
// about 2.6 s, ×4 each.
var durBounds = [...]int64{10e3, 40e3, 160e3, 640e3, 2.56e6, 10.24e6, 40.96e6, 163.84e6, 655.36e6, 2621.44e6}

type durHist struct {
	buckets [len(durBounds) + 1]atomic.Uint64 // not cumulative; last: +Inf
	sum     atomic.Uint64                     // nanoseconds
}

// metricQtypes are the query types with their own label value; others
// count as "other".
var metricQtypes = [...]uint16{
	dns.TypeA, dns.TypeAAAA, dns.TypeNS, dns.TypeSOA, dns.TypeCNAME, dns.TypeMX, dns.TypeTXT,
	dns.TypePTR, dns.TypeSRV, dns.TypeDS, dns.TypeDNSKEY, dns.TypeRRSIG, dns.TypeNSEC,
	dns.TypeCAA, dns.TypeSVCB, dns.TypeHTTPS, dns.TypeANY, dns.TypeAXFR, dns.TypeIXFR,
}

func qtypeIndex(t uint16) int {
	for i, q := range metricQtypes {
		if q == t {
			return i
		}
	}
	return len(metricQtypes)
}

// NewMetrics returns the metrics to pass in Options.Metrics, registered
// with reg (nil: not registered; register it yourself).
func NewMetrics(reg prometheus.Registerer, opt MetricsOptions) (*Metrics, error) {
	if opt.MaxZones <= 0 {
		opt.MaxZones = 100
	}
	m := &Metrics{maxZones: opt.MaxZones}
	if reg != nil {
		if err := reg.Register(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) count(tr Transport, src Source, raw, out []byte, zone string, d time.Duration) {
	if int(tr) >= nTransports || src >= nSources {
		return
	}
	rcode := 0
	if len(out) >= headerLen {
		rcode = int(out[3] & 0xF)
	} else {
		rcode = dns.RcodeServerFailure // nothing sent: a query dropped on the floor
	}
	m.queries[tr][src][rcode].Add(1)
	qt := len(metricQtypes)
	if off := skipName(raw, headerLen); off > 0 && off+2 <= len(raw) && binary.BigEndian.Uint16(raw[4:]) > 0 {
		qt = qtypeIndex(binary.BigEndian.Uint16(raw[off:]))
	}
	m.qtypes[qt].Add(1)
	m.countZone(zone)
	h := &m.dur[tr][src]
	ns := d.Nanoseconds()
	i := 0
	for i < len(durBounds) && ns > durBounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sum.Add(uint64(max(ns, 0)))
}

func (m *Metrics) countZone(zone string) {
	if zone == "" {
		m.znone.Add(1)
		return
	}
	if c, ok := m.zones.Load(zone); ok {
		c.(*atomic.Uint64).Add(1)
		return
	}
	m.zmu.Lock()
	defer m.zmu.Unlock()
	if c, ok := m.zones.Load(zone); ok {
		c.(*atomic.Uint64).Add(1)
		return
	}
	if int(m.nzones.Load()) >= m.maxZones {
		m.zother.Add(1)
		return
	}
	c := new(atomic.Uint64)
	c.Add(1)
	m.zones.Store(zone, c)
	m.nzones.Add(1)
}

func dnsDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName("ddnrs", "dns", name), help, labels, nil)
}

var (
	descQueries = dnsDesc("queries_total", "DNS queries answered, by transport, answer source (local, relayed, cache) and rcode.", "transport", "source", "rcode")
	descQtypes  = dnsDesc("query_types_total", "DNS queries answered, by query type (types without their own series: other).", "qtype")
	descZones   = dnsDesc("zone_queries_total", "DNS queries answered from a local zone, by zone (beyond the first MaxZones zones: other; no local zone: none).", "zone")
	descDur     = dnsDesc("answer_duration_seconds", "Time from a query's arrival to its reply being built, by transport and answer source.", "transport", "source")
)

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueries, descQtypes, descZones, descDur} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Series that never counted are
// left out.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		if v > 0 {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
		}
	}
	for tr := range nTransports {
		for src := range nSources {
			for rc := range 16 {
				counter(descQueries, m.queries[tr][src][rc].Load(), Transport(tr).String(), Source(src).String(), rcodeName(rc))
			}
			h := &m.dur[tr][src]
			var n uint64
			cum := make(map[float64]uint64, len(durBounds))
			for i, b := range durBounds {
				n += h.buckets[i].Load()
				cum[float64(b)/1e9] = n
			}
			n += h.buckets[len(durBounds)].Load()
			if n > 0 {
				ch <- prometheus.MustNewConstHistogram(descDur, n, float64(h.sum.Load())/1e9, cum, Transport(tr).String(), Source(src).String())
			}
		}
	}
	for i := range m.qtypes {
		name := "other"
		if i < len(metricQtypes) {
			name = dns.TypeToString[metricQtypes[i]]
		}
		counter(descQtypes, m.qtypes[i].Load(), name)
	}
	m.zones.Range(func(k, v any) bool {
		counter(descZones, v.(*atomic.Uint64).Load(), k.(string))
		return true
	})
	counter(descZones, m.zother.Load(), "other")
	counter(descZones, m.znone.Load(), "none")
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return strconv.Itoa(rc)
}
