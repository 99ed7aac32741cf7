package intergroup

// admit.go: overlay admission ([overlay] admit = directory, issue 14
// item 3). The overlay accepts only the libp2p peers the registry's node
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
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddnrs/ddnrs/client"
)

// Admission is a node's view of the peers the directory admitted. Set
// the exported fields before use; the methods are safe for concurrent
// use.
type Admission struct {
	// Directory: admit only the directory's peers ([overlay] admit =
	// directory); otherwise any peer is accepted and Learn only records.
	Directory bool
	// Poll asks the log follower to poll soon (nil: nothing to ask).
	Poll func()
	// Overlay returns the running overlay (nil before it starts).
	Overlay func() *Overlay
	// Log receives the disconnections of peers no longer admitted.
	Log *slog.Logger

	peers atomic.Pointer[map[string]client.LogPeer] // as the follower last handed them over
	// lastPoll is when a refused peer last asked for a poll (Unix ns).
	lastPoll atomic.Int64
}

// Admit reports whether the node directory, as this node last read it
// from the log, admitted p. Called on libp2p's goroutines.
func (a *Admission) Admit(p peer.ID) bool {
	m := a.peers.Load()
	ok := false
	if m != nil {
		_, ok = (*m)[p.String()]
	}
	if !ok {
		a.pollForRefused()
	}
	return ok
}

// AllowPeer is the overlay host's AllowPeer: nil (any peer) unless
// Directory, then Admit.
func (a *Admission) AllowPeer() func(peer.ID) bool {
	if !a.Directory {
		return nil
	}
	return a.Admit
}

// refusedPollGap is the least time between two polls of the log that
// refused peers ask for.
const refusedPollGap = time.Second

// pollForRefused asks the follower to poll the log soon: a refused peer
// may be a node admitted since the last poll (a new node's first
// connections come right after its first heartbeat). At most one poll per
// refusedPollGap comes from here, however many peers are refused.
func (a *Admission) pollForRefused() {
	if a.Poll == nil {
		return
	}
	now := time.Now().UnixNano()
	last := a.lastPoll.Load()
	if now-last < int64(refusedPollGap) || !a.lastPoll.CompareAndSwap(last, now) {
		return
	}
	a.Poll()
}

// maxDialAdmitted bounds how many newly admitted peers one change dials;
// the DHT finds the others.
const maxDialAdmitted = 8

// Learn takes the directory's peers from the follower (nil: not known
// yet, keep what was there). When they changed, the overlay drops the
// peers no longer admitted (and rejoins if it is left alone) and dials
// the newly admitted ones: the side that learns of the other last is the
// one whose dial succeeds. Called on the follower's goroutine.
func (a *Admission) Learn(peers map[string]client.LogPeer) {
	if peers == nil {
		return
	}
	old := a.peers.Load()
	if old != nil && maps.EqualFunc(*old, peers, func(x, y client.LogPeer) bool {
		return x.Node == y.Node && x.Group == y.Group && slices.Equal(x.Addrs, y.Addrs)
	}) {
		return
	}
	a.peers.Store(&peers)
	var o *Overlay
	if a.Overlay != nil {
		o = a.Overlay()
	}
	if o == nil || !a.Directory {
		return
	}
	if gone := o.Readmit(); len(gone) > 0 && a.Log != nil {
		a.Log.Info("overlay: disconnected peers the directory no longer admits", "peers", gone)
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
