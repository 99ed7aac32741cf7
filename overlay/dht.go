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
func newDHT(h host.Host, boot []peer.AddrInfo) (*dht.IpfsDHT, error) {
	d, err := dht.New(h,
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix(ProtocolPrefix),
		dht.BootstrapPeers(boot...),
		dht.DisableValues(),
	)
	if err != nil {
		return nil, fmt.Errorf("overlay: start DHT: %w", err)
	}
	return d, nil
}

// bootstrap connects to the bootstrap peers in parallel, waits (bounded by
// ctx) for at least one of them to enter the routing table, and refreshes
// the table so this host learns the peers near it. Every failure here is
// logged and tolerated: with no peer reachable the host runs alone, the
// DHT keeps retrying the bootstrap peers, and Provide keeps retrying its
// announcements.
func (h *Host) bootstrap(ctx context.Context, boot []peer.AddrInfo) {
	if len(boot) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, ai := range boot {
		if ai.ID == h.p2p.ID() {
			continue
		}
		wg.Go(func() {
			if err := h.p2p.Connect(ctx, ai); err != nil {
				h.log.Warn("bootstrap peer unreachable", "bootstrap", ai.ID.String(), "err", err)
			}
		})
	}
	wg.Wait()
	// The DHT adds a peer once identify shows it speaks our DHT protocol,
	// which happens just after Connect returns.
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for h.dht.RoutingTable().Size() == 0 {
		select {
		case <-ctx.Done():
			h.log.Warn("no bootstrap peer joined the routing table", "err", ctx.Err())
			return
		case <-t.C:
		}
	}
	select {
	case err := <-h.dht.RefreshRoutingTable():
		if err != nil {
			h.log.Warn("routing table refresh failed", "err", err)
		}
	case <-ctx.Done():
	}
}
