package overlay

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// admitSet is a membership list that changes while hosts run, as the
// node directory does.
type admitSet struct {
	mu  sync.Mutex
	ids map[peer.ID]bool
}

func (s *admitSet) allow(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[p]
}

func (s *admitSet) set(ps ...peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = map[peer.ID]bool{}
	for _, p := range ps {
		s.ids[p] = true
	}
}

// waitFor polls cond until it holds, failing after a bound that only
// catches a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Readmit disconnects a peer the list no longer admits, drops it from the
// routing table, and rejoins through the bootstrap peers once the list
// admits them again.
func TestReadmitFollowsTheList(t *testing.T) {
	boot := newTestHost(t, HostOptions{})
	var list admitSet
	list.set(boot.ID())
	h := newTestHost(t, HostOptions{Bootstrap: boot.Addrs(), AllowPeer: list.allow})
	if n := h.RoutingTableSize(); n != 1 {
		t.Fatalf("RoutingTableSize = %d after bootstrap through an admitted peer, want 1", n)
	}
	if gone := h.Readmit(); len(gone) != 0 {
		t.Errorf("Readmit with the list unchanged disconnected %v, want none", gone)
	}
	list.set() // the bootstrap peer removed from the directory
	if gone := h.Readmit(); len(gone) != 1 || gone[0] != boot.ID() {
		t.Fatalf("Readmit after removal disconnected %v, want [%s]", gone, boot.ID())
	}
	if h.P2P().Network().Connectedness(boot.ID()) == network.Connected {
		t.Error("still connected to a peer no longer admitted")
	}
	if n := h.RoutingTableSize(); n != 0 {
		t.Errorf("RoutingTableSize = %d after removal, want 0", n)
	}
	// Readmit with an empty table tried the bootstrap peer, refused by the
	// list: still alone.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Connect(ctx, boot.AddrInfo()); err == nil {
		t.Error("Connect to a peer no longer admitted succeeded")
	}
	list.set(boot.ID()) // admitted again
	h.Readmit()
	waitFor(t, "rejoin through the bootstrap peer after it is admitted again", func() bool { return h.RoutingTableSize() == 1 })
}

// A provider the list does not admit is no provider: a router drops it
// even when an admitted peer's DHT store hands its record over (it was
// admitted there).
func TestRouterDropsProvidersNotAdmitted(t *testing.T) {
	hub := newTestHost(t, HostOptions{}) // admits anyone
	foreign := newTestHost(t, HostOptions{Bootstrap: hub.Addrs()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := foreign.Provide(ctx, "taken.test."); err != nil {
		t.Fatalf("Provide by the foreign peer: %v", err)
	}
	var list admitSet
	list.set(hub.ID())
	h := newTestHost(t, HostOptions{Bootstrap: hub.Addrs(), AllowPeer: list.allow})
	r := NewRouter(h, RouterOptions{})
	t.Cleanup(func() { r.Close() })
	z, provs, err := r.FindZone(ctx, "www.taken.test.")
	if !errors.Is(err, ErrNoZone) {
		t.Errorf("FindZone(www.taken.test.) = %q, %v, %v; want ErrNoZone: its only provider is not admitted", z, provs, err)
	}
	// The same lookup from a host that admits it finds it: the record is
	// there, the filter is what dropped it.
	open := newTestHost(t, HostOptions{Bootstrap: hub.Addrs()})
	ro := NewRouter(open, RouterOptions{})
	t.Cleanup(func() { ro.Close() })
	z, provs, err = ro.FindZone(ctx, "www.taken.test.")
	if err != nil || z != "taken.test." || len(provs) != 1 || provs[0].ID != foreign.ID() {
		t.Errorf("FindZone from a host admitting everyone = %q, %v, %v; want taken.test. provided by the foreign peer", z, provs, err)
	}
}

// ConnectPeers dials the admitted peers it is given and skips the others.
func TestConnectPeersDialsAdmittedOnly(t *testing.T) {
	a, b := newTestHost(t, HostOptions{}), newTestHost(t, HostOptions{})
	var list admitSet
	list.set(a.ID())
	h := newTestHost(t, HostOptions{AllowPeer: list.allow})
	h.ConnectPeers(append(append([]string{"/not/a/multiaddr"}, b.Addrs()...), a.Addrs()...), 8)
	h.ConnectPeers(append(b.Addrs(), a.Addrs()...), 8)
	waitFor(t, "a connection to the admitted peer", func() bool {
		return h.P2P().Network().Connectedness(a.ID()) == network.Connected
	})
	if h.P2P().Network().Connectedness(b.ID()) == network.Connected {
		t.Error("ConnectPeers dialled a peer the list does not admit")
	}
}
