package node

// overlay_admit.go: overlay admission ([overlay] admit, issue 14 item 3).
// With "directory" (the default for a node that follows the registry's
// log) the overlay accepts only the libp2p peers the registry's node
// directory admitted: the "peer=" address of the log's node-admission
// entries (client.LogState.Peers, handed over in logfollow.View.Peers).
// Any other peer's connection is refused after the TLS handshake, in
// both directions (overlay.HostOptions.AllowPeer), so it can neither
// announce a zone to this node nor answer one of its queries, and a
// router drops it from every provider list. When the follower learns a
// change (a node admitted, moved or given a new overlay key), the host
// drops the peers no longer admitted, rejoins through its bootstrap
// peers if it was left alone, and dials the newly admitted ones. A new
// node is accepted by the others within one heartbeat_interval (its
// admission is logged) plus one follow_interval (they read it):
// docs/architecture.md, "Overlay admission".

import (
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddnrs/ddnrs/client"
)

// Values of [overlay] admit.
const (
	// AdmitDirectory accepts only the node directory's peers.
	AdmitDirectory = "directory"
	// AdmitAny accepts any peer that speaks the overlay's protocols; the
	// answers it relays are still verified against the owners' keys.
	AdmitAny = "any"
)

// admission is the node's view of the admitted peers.
type admission struct {
	peers atomic.Pointer[map[string]client.LogPeer] // as the follower last handed them over
	// lastPoll is when a refused peer last asked for a poll (Unix ns).
	lastPoll atomic.Int64
}

// overlayAdmit returns the effective admission mode: Admit, or when
// unset, AdmitDirectory for a node that follows the registry's log and
// AdmitAny for one that has no directory to admit by.
func (c Config) overlayAdmit() string {
	switch {
	case c.Overlay.Admit != "":
		return c.Overlay.Admit
	case c.Registry.LogVerifier != "":
		return AdmitDirectory
	default:
		return AdmitAny
	}
}

// validateAdmit checks [overlay] admit against the rest of the
// configuration.
func (c Config) validateAdmit() []error {
	switch c.Overlay.Admit {
	case "", AdmitAny:
	case AdmitDirectory:
		if c.Registry.LogVerifier == "" {
			return []error{fmt.Errorf("overlay.admit = %q needs the registry's log to learn the directory from: set [registry] log_verifier (and urls, or member)", AdmitDirectory)}
		}
	default:
		return []error{fmt.Errorf("overlay.admit: %q, want %q (only the registry's node directory) or %q (any peer)", c.Overlay.Admit, AdmitDirectory, AdmitAny)}
	}
	return nil
}

// admitPeer reports whether the node directory, as this node last read
// it from the log, admitted p. Called on libp2p's goroutines.
func (n *Node) admitPeer(p peer.ID) bool {
	m := n.admission.peers.Load()
	ok := false
	if m != nil {
		_, ok = (*m)[p.String()]
	}
	if !ok {
		n.pollForRefused()
	}
	return ok
}

// allowPeer is the overlay host's AllowPeer for this node's
// configuration: nil (any peer) or admitPeer.
func (n *Node) allowPeer() func(peer.ID) bool {
	if n.cfg.overlayAdmit() != AdmitDirectory {
		return nil
	}
	return n.admitPeer
}

// refusedPollGap is the least time between two polls of the log that
// refused peers ask for.
const refusedPollGap = time.Second

// pollForRefused asks the follower to poll the log soon: a refused peer
// may be a node admitted since the last poll (a new node's first
// connections come right after its first heartbeat). At most one poll per
// refusedPollGap comes from here, however many peers are refused.
func (n *Node) pollForRefused() {
	f := n.fol
	if f == nil {
		return
	}
	now := time.Now().UnixNano()
	last := n.admission.lastPoll.Load()
	if now-last < int64(refusedPollGap) || !n.admission.lastPoll.CompareAndSwap(last, now) {
		return
	}
	f.Nudge()
}

// maxDialAdmitted bounds how many newly admitted peers one change dials;
// the DHT finds the others.
const maxDialAdmitted = 8

// learnPeers takes the directory's peers from the follower (nil: not
// known yet, keep what was there). When they changed, the overlay drops
// the peers no longer admitted (and rejoins if it is left alone) and
// dials the newly admitted ones: the side that learns of the other last
// is the one whose dial succeeds. Called on the follower's goroutine.
func (n *Node) learnPeers(peers map[string]client.LogPeer) {
	if peers == nil {
		return
	}
	old := n.admission.peers.Load()
	if old != nil && maps.EqualFunc(*old, peers, func(a, b client.LogPeer) bool {
		return a.Node == b.Node && a.Group == b.Group && slices.Equal(a.Addrs, b.Addrs)
	}) {
		return
	}
	n.admission.peers.Store(&peers)
	o := n.ov.Load()
	if o == nil || n.cfg.overlayAdmit() != AdmitDirectory {
		return
	}
	if gone := o.Readmit(); len(gone) > 0 {
		n.log.Info("overlay: disconnected peers the directory no longer admits", "peers", gone)
	}
	if old == nil {
		return
	}
	var addrs []string
	for id, p := range peers {
		if _, was := (*old)[id]; !was {
			addrs = append(addrs, p.Addrs...)
		}
	}
	o.ConnectPeers(addrs, maxDialAdmitted)
}
