package intergroup

// directory.go: routes from the registry's log (issue 15 item 2). A node
// that follows the log knows each registered zone's group (registration
// entries) and each group's overlay peers (node-admission entries), so a
// zone of another group is routed to its members at once, with no DHT
// search: a cold lookup costs no round trip, where a Kademlia search
// costs several (bench/sim measures both; docs/scale.md). The DHT stays
// the route for zones the log does not name (pinned trust anchors, a
// node that follows no log) and the fallback when the log lists no
// member of the group.

import (
	"slices"
	"strings"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/zone"
)

// Directory is the zone-to-members map a node builds from the registry's
// log. The zero value knows nothing (every zone goes to the DHT). Safe
// for concurrent use: Learn replaces the whole map at once.
type Directory struct {
	m atomic.Pointer[directoryMap]
}

type directoryMap struct {
	groups  map[string]string          // zone (canonical) -> group
	members map[string][]peer.AddrInfo // group -> its admitted overlay peers, sorted by id
}

// Learn takes what the log follower read: the zones' groups
// (logfollow.View.Groups) and the admitted overlay peers with their
// groups and addresses (View.Peers; nil: not known yet, the members are
// kept as they were). Called on the follower's goroutine.
func (d *Directory) Learn(groups map[string]string, peers map[string]client.LogPeer) {
	next := &directoryMap{groups: make(map[string]string, len(groups))}
	for z, g := range groups {
		next.groups[zone.CanonicalName(z)] = g
	}
	if peers == nil {
		if old := d.m.Load(); old != nil {
			next.members = old.members
		}
	} else {
		next.members = membersByGroup(peers)
	}
	d.m.Store(next)
}

// Providers returns the overlay peers of the group the log places
// zoneName on, or nil when the log names no such zone or no member of
// its group. It is overlay.RouterOptions.Directory: a map lookup, called
// with the router's lock held. The caller must not modify the result.
func (d *Directory) Providers(zoneName string) []peer.AddrInfo {
	if d == nil {
		return nil
	}
	m := d.m.Load()
	if m == nil {
		return nil
	}
	g, ok := m.groups[zoneName]
	if !ok {
		g, ok = m.groups[zone.CanonicalName(zoneName)]
	}
	if !ok {
		return nil
	}
	return m.members[g]
}

// membersByGroup groups the admitted peers by their group, each with
// the overlay addresses its admission entry gave (those that do not
// parse, or name another peer, are left out: the peerstore may know
// better ones).
func membersByGroup(peers map[string]client.LogPeer) map[string][]peer.AddrInfo {
	out := make(map[string][]peer.AddrInfo)
	for id, p := range peers {
		pid, err := peer.Decode(id)
		if err != nil || p.Group == "" {
			continue
		}
		ai := peer.AddrInfo{ID: pid}
		for _, a := range p.Addrs {
			m, err := ma.NewMultiaddr(a)
			if err != nil {
				continue
			}
			if t, last := ma.SplitLast(m); last != nil && last.Protocol().Code == ma.P_P2P {
				if last.Value() != id {
					continue
				}
				m = t
			}
			ai.Addrs = append(ai.Addrs, m)
		}
		out[p.Group] = append(out[p.Group], ai)
	}
	for _, ms := range out {
		slices.SortFunc(ms, func(a, b peer.AddrInfo) int { return strings.Compare(string(a.ID), string(b.ID)) })
	}
	return out
}
