package node

// metrics.go: the glue between the node and its metrics (package
// metrics): the registry every part registers into, and the plain-HTTP
// listener of [metrics] listen.

import (
	"net"

	"github.com/ddnrs/ddnrs/metrics"
)

// Metrics are one node's Prometheus metrics (metrics.Metrics lists the
// series).
type Metrics = metrics.Metrics

// ErrMetricsPortInUse is returned by Start when [metrics] listen is taken
// by another socket (metrics.ErrPortInUse).
var ErrMetricsPortInUse = metrics.ErrPortInUse

// listenMetrics binds [metrics] listen (nil when it is off).
func (n *Node) listenMetrics() (net.Listener, error) {
	if !n.cfg.Metrics.Enabled() {
		return nil, nil
	}
	return metrics.Listen(n.cfg.Metrics.Listen, n.log)
}

// MetricsAddr returns the metrics listener's bound address, "" when it is
// off or the node is not running.
func (n *Node) MetricsAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.metricsSrv.Addr()
}
