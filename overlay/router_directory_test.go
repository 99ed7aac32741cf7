package overlay_test

import (
	"context"
	"crypto/rand"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/overlay/overlaytest"
)

// TestRouterDirectory: a zone RouterOptions.Directory names is routed to
// the peers it gives with no DHT search (the registry's log names the
// group even when no member provides the zone in the DHT), this host left
// out; a zone it does not name is searched in the DHT as before; a zone
// the DHT knows under other providers still takes the directory's, which
// is the registry's word.
func TestRouterDirectory(t *testing.T) {
	hosts := overlaytest.NewHosts(t, 4)
	provide(t, hosts[2], "dht.example.", "both.example.")
	dir := map[string][]peer.AddrInfo{
		"log.example.":  {hosts[0].AddrInfo(), hosts[1].AddrInfo(), hosts[3].AddrInfo()},
		"both.example.": {hosts[3].AddrInfo()},
		"self.example.": {hosts[0].AddrInfo()}, // only this host: no route from the directory
	}
	var asked atomic.Int64
	r := newRouter(t, hosts[0], overlay.RouterOptions{Directory: func(z string) []peer.AddrInfo {
		asked.Add(1)
		return dir[z]
	}})
	ctx := context.Background()

	tests := []struct {
		qname, zone string
		provs       []string
		dhtSearch   bool // whether the route needs a DHT lookup
	}{
		{"www.log.example.", "log.example.", ids(dir["log.example."][1:]), false},
		{"both.example.", "both.example.", ids(dir["both.example."]), false},
		{"a.dht.example.", "dht.example.", ids([]peer.AddrInfo{hosts[2].AddrInfo()}), true},
	}
	for _, tt := range tests {
		before := r.Stats()
		rt, err := r.FindRoute(ctx, tt.qname)
		if err != nil {
			t.Fatalf("FindRoute(%s): %v", tt.qname, err)
		}
		if rt.Zone != tt.zone || !equal(ids(rt.Providers), tt.provs) {
			t.Errorf("FindRoute(%s) = %s %v, want %s %v", tt.qname, rt.Zone, ids(rt.Providers), tt.zone, tt.provs)
		}
		after := r.Stats()
		// The shorter suffixes (example., .) are searched in the DHT when
		// the zone itself is not cached: count the zone's own lookup.
		searched := after.Directory == before.Directory
		if searched != tt.dhtSearch {
			t.Errorf("FindRoute(%s): directory answers %d -> %d, want a DHT search %v", tt.qname, before.Directory, after.Directory, tt.dhtSearch)
		}
	}
	if asked.Load() == 0 {
		t.Fatal("the directory was never asked")
	}
	// A directory that names only this host gives no route: the DHT is
	// asked, and nobody provides the zone there.
	if _, err := r.Providers(ctx, "self.example."); !errors.Is(err, overlay.ErrNoZone) {
		t.Errorf("Providers(self.example.) err = %v, want ErrNoZone", err)
	}
	// Cached afterwards: a second FindRoute asks neither.
	before := r.Stats()
	if _, err := r.FindRoute(ctx, "log.example."); err != nil {
		t.Fatal(err)
	}
	if after := r.Stats(); after.Directory != before.Directory || after.Lookups != before.Lookups {
		t.Errorf("warm FindRoute: stats %+v -> %+v, want only a cache hit", before, after)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRouterDirectorySpreadsFirstMember: the directory gives a group's
// members in one order everywhere; the routes built from it must not
// all put the same member first, or every node's first query for the
// group's zones would go to that member (the RPC client keeps the order
// of peers it has no score for).
func TestRouterDirectorySpreadsFirstMember(t *testing.T) {
	hosts := overlaytest.NewHosts(t, 1)
	var members []peer.AddrInfo
	for range 7 {
		members = append(members, peer.AddrInfo{ID: newID(t)})
	}
	r := newRouter(t, hosts[0], overlay.RouterOptions{Directory: func(string) []peer.AddrInfo { return members }})
	first := map[peer.ID]bool{}
	for range 50 {
		r.Forget("g.example.")
		provs, err := r.Providers(context.Background(), "g.example.")
		if err != nil || len(provs) != len(members) {
			t.Fatalf("Providers = %v, %v; want the %d members", provs, err, len(members))
		}
		first[provs[0].ID] = true
	}
	if len(first) < 2 {
		t.Errorf("50 routes put the same member first every time: %v", first)
	}
}

func newID(t *testing.T) peer.ID {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
