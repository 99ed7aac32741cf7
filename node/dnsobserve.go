package node

// dnsobserve.go: what the node tells its DNS handler about itself and how
// it observes queries: the id it names itself by in query traces, the
// query metrics and the dnstap log (issue 16; docs/monitoring.md).

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/metrics"
)

// dnsObservers are the node's query metrics and dnstap log.
type dnsObservers struct {
	metrics *dnsfront.Metrics // nil: query_metrics off
	tap     *dnsfront.Tap     // nil: dnstap off
}

// validateDnstap checks the dnstap setting: "", "unix:PATH" or "file:PATH".
func validateDnstap(v string) error {
	if v == "" {
		return nil
	}
	kind, path, _ := strings.Cut(v, ":")
	if (kind != "unix" && kind != "file") || path == "" {
		return fmt.Errorf("dnstap: %q, want \"unix:PATH\" (a collector's socket), \"file:PATH\" or \"\" (off)", v)
	}
	return nil
}

// handlerOptions are the options of the node's DNS handler. It starts the
// query metrics (registered once, on the node's registry) and the dnstap
// writer, which closeObservers stops.
func (n *Node) handlerOptions(others dnsfront.OtherGroups) (dnsfront.Options, error) {
	id := n.cfg.Group.ID
	if ov := n.ov.Load(); ov != nil {
		id = ov.ID().String()
	}
	if n.cfg.QueryMetrics && n.obs.metrics == nil {
		m, err := dnsfront.NewMetrics(n.metrics.Registry(), dnsfront.MetricsOptions{})
		if err != nil {
			return dnsfront.Options{}, fmt.Errorf("dns metrics: %w", err)
		}
		n.obs.metrics = m
	}
	if n.cfg.Dnstap != "" && n.obs.tap == nil {
		tap, err := dnsfront.NewTap(dnsfront.TapOptions{Dest: n.cfg.Dnstap, Identity: id})
		if err != nil {
			return dnsfront.Options{}, err
		}
		n.obs.tap = tap
		reg := n.metrics.Registry()
		for _, c := range []prometheus.Collector{
			prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "dns", Name: "dnstap_dropped_total",
				Help: "DNS queries left out of the dnstap log because its writer was behind."}, func() float64 { return float64(tap.Dropped()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "dns", Name: "dnstap_messages_total",
				Help: "dnstap messages written."}, func() float64 { return float64(tap.Written()) }),
		} {
			if err := reg.Register(c); err != nil {
				if _, again := err.(prometheus.AlreadyRegisteredError); !again {
					return dnsfront.Options{}, fmt.Errorf("dnstap metrics: %w", err)
				}
			}
		}
	}
	opt := dnsfront.Options{
		MaxUDPSize:   n.cfg.MaxUDPSize,
		TCPKeepalive: n.cfg.TCPIdleTimeout,
		OtherGroups:  others,
		Suspensions:  &n.susp,
		Cookies:      n.cfg.Cookies,
		NodeID:       id,
		NoTrace:      !n.cfg.QueryTrace,
		Metrics:      n.obs.metrics,
	}
	if n.obs.tap != nil {
		opt.Tap = n.obs.tap
	}
	return opt, nil
}

// closeObservers stops the dnstap writer, after the servers stopped
// answering. Idempotent.
func (n *Node) closeObservers() {
	if n.obs.tap != nil {
		n.obs.tap.Close()
	}
}
