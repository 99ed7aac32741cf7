package overlay

import (
	"context"
	"fmt"
	"sync"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ProtocolPrefix is the DHT protocol prefix: the overlay's Kademlia speaks
// /ddnrs/kad/1.0.0 and never joins the public IPFS DHT (/ipfs/kad/1.0.0).
const ProtocolPrefix = "/ddnrs"

// newDHT starts a Kademlia DHT in server mode on h. Server mode is forced:
// in auto mode a host on loopback or a private network never becomes a
// server and routing tables stay empty. boot is handed to the DHT so that
// its low-peers routine reconnects to them whenever the routing table is
// empty (every 2 minutes); an empty list means no such retry, never the
// public IPFS bootstrappers. Values are disabled: the overlay only stores
// provider records.
//
// avoid, when set, names peers the DHT's searches must not ask (dead or
// silent ones): a search that learns of such a peer from another's
// answer skips it, so it never waits on it (a dial to a dead peer takes
// seconds to fail, a silent one is waited for up to 10 s). Host.pruneAvoided
// drops them from the routing table, the searches' starting set.
//
// admit, when set, is the admission rule (HostOptions.AllowPeer): a peer
// it refuses never enters the routing table, even when an event of a
// connection made before its removal (identify, a DHT message in flight)
// arrives after Readmit dropped it, and searches do not ask it.
func newDHT(h host.Host, boot []peer.AddrInfo, avoid, admit func(peer.ID) bool) (*dht.IpfsDHT, error) {
	opts := []dht.Option{
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix(ProtocolPrefix),
		dht.BootstrapPeers(boot...),
		dht.DisableValues(),
	}
	if avoid != nil || admit != nil {
		opts = append(opts, dht.QueryFilter(func(_ any, ai peer.AddrInfo) bool {
			return (avoid == nil || !avoid(ai.ID)) && (admit == nil || admit(ai.ID))
		}))
	}
	if admit != nil {
		opts = append(opts, dht.RoutingTableFilter(func(_ any, p peer.ID) bool { return admit(p) }))
	}
	d, err := dht.New(h, opts...)
	if err != nil {
		return nil, fmt.Errorf("overlay: start DHT: %w", err)
	}
	return d, nil
}

// bootstrap connects to the bootstrap peers in parallel and returns once
// one of them has entered the routing table (or all connections were
// tried, or ctx ended), then refreshes the table so this host learns the
// peers near it. It does not wait for the other dials: with several
// peers configured or remembered, a dead one (whose dial takes seconds
// to fail) costs nothing while another answers. Every failure here is
// logged and tolerated: with no peer reachable the host runs alone, the
// DHT keeps retrying the bootstrap peers, and Provide keeps retrying its
// announcements.
func (h *Host) bootstrap(ctx context.Context, boot []peer.AddrInfo) {
	if len(boot) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()                     // stops the dials still running
	left := make(chan bool, len(boot)) // one per dial: connected or not
	n, connected := 0, 0
	for _, ai := range boot {
		if ai.ID == h.p2p.ID() {
			continue
		}
		n++
		wg.Go(func() {
			err := h.p2p.Connect(ctx, ai)
			if err != nil && ctx.Err() == nil {
				h.log.Warn("bootstrap peer unreachable", "bootstrap", ai.ID.String(), "err", err)
			}
			left <- err == nil
		})
	}
	// The DHT adds a peer once identify shows it speaks our DHT protocol,
	// which happens just after Connect returns.
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for h.dht.RoutingTable().Size() == 0 {
		select {
		case <-ctx.Done():
			h.log.Warn("no bootstrap peer joined the routing table", "err", ctx.Err())
			return
		case ok := <-left:
			n--
			if ok {
				connected++
			}
			if n == 0 {
				if connected == 0 {
					h.log.Warn("no bootstrap peer reachable", "tried", len(boot))
					return
				}
				// Every dial is over; identify may still be adding a
				// connected peer: keep waiting, within ctx.
				left = nil
			}
		case <-t.C:
		}
	}
	// The refresh asks the peers near this host for theirs; it may run
	// into a dead peer the others still list (seconds to fail), so it is
	// waited for only briefly and goes on in the DHT's own goroutine.
	t2 := time.NewTimer(refreshWait)
	defer t2.Stop()
	select {
	case err := <-h.dht.RefreshRoutingTable():
		if err != nil {
			h.log.Warn("routing table refresh failed", "err", err)
		}
	case <-t2.C:
	case <-ctx.Done():
	}
}

// refreshWait bounds how long bootstrap waits for the first routing
// table refresh.
const refreshWait = time.Second

// KnownPeers returns the peers in the routing table with the addresses
// this host knows for them, as full multiaddrs ending in /p2p/ID (the
// form HostOptions.Bootstrap takes), at most max of them (0: all). A node
// persists them so it can rejoin through any of them after a restart.
func (h *Host) KnownPeers(max int) []string {
	var out []string
	for _, p := range h.dht.RoutingTable().ListPeers() {
		ai := peer.AddrInfo{ID: p, Addrs: h.p2p.Peerstore().Addrs(p)}
		full, err := peer.AddrInfoToP2pAddrs(&ai)
		if err != nil {
			continue
		}
		for _, m := range full {
			if quicOnly(m) {
				out = append(out, m.String())
			}
		}
		if max > 0 && len(out) >= max {
			break
		}
	}
	return out
}

// pruneAvoided removes from the routing table the peers
// HostOptions.Avoid names, so a search does not start with them; a peer
// comes back once it answers a search or connects again, and the DHT
// refills an empty table from the bootstrap peers.
func (h *Host) pruneAvoided() {
	if h.opts.Avoid == nil {
		return
	}
	rt := h.dht.RoutingTable()
	for _, p := range rt.ListPeers() {
		if h.opts.Avoid(p) {
			rt.RemovePeer(p)
		}
	}
}
