package node

// readiness.go: the node's glue to package standing (issue 17 item 6):
// /readyz waits until the member caught up after a restart, and a member
// removed from the group stops answering for the group's zones as a
// member (standing/removed.go).

import (
	"github.com/ddnrs/ddnrs/standing"
)

// newStanding makes the member's standing once the group and the admin
// client exist (Start, under n.mu).
func (n *Node) newStanding() *standing.Standing {
	return standing.New(standing.Options{
		Self: n.cfg.Group.ID, Group: n.group, Processed: n.processed, Client: n.client,
		Admin: func(id string) (string, bool) {
			m, ok := n.lookupMember(id)
			return m.Admin, ok
		},
		AskTimeout: n.cfg.Admin.ForwardTimeout, ReadyLag: n.cfg.Group.ReadyLag,
		RemovedCheck: n.cfg.Group.RemovedCheck, OnRemoved: n.withdraw,
		Log: n.log.With("component", "standing"),
	})
}

// withdraw stops answering for the group's zones as a member once the
// member learnt it was removed (removed true): DNS and DDNRS-RPC see no
// local zone (Served.Withdraw), the DHT no longer lists this node for
// them, and a query for them is asked of the group's members over the
// overlay and verified, as on any node (REFUSED without the overlay). A
// member added back serves and provides them again (false).
func (n *Node) withdraw(removed bool) {
	origins := n.served.Origins()
	n.served.Withdraw(removed)
	ov := n.ov.Load()
	if ov == nil {
		return
	}
	if !removed {
		ov.ProvideAll()
		return
	}
	for _, o := range origins {
		ov.OnZone(o, nil)
	}
}
