package node

// dnsobserve.go: what the node tells its DNS handler about itself and how
// it observes queries: the id it names itself by in query traces.

import "github.com/ddnrs/ddnrs/dnsfront"

// handlerOptions are the options of the node's DNS handler.
func (n *Node) handlerOptions(others dnsfront.OtherGroups) dnsfront.Options {
	id := n.cfg.Group.ID
	if ov := n.ov.Load(); ov != nil {
		id = ov.ID().String()
	}
	return dnsfront.Options{
		MaxUDPSize:   n.cfg.MaxUDPSize,
		TCPKeepalive: n.cfg.TCPIdleTimeout,
		OtherGroups:  others,
		Suspensions:  &n.susp,
		Cookies:      n.cfg.Cookies,
		NodeID:       id,
	}
}
