package overlay

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The identity key is created once with mode 0600 and reused: a restarted
// host keeps its peer id.
func TestIdentityPersistsAcrossRestart(t *testing.T) {
	key := filepath.Join(t.TempDir(), "overlay.key")
	h1, err := NewHost(context.Background(), HostOptions{KeyFile: key})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	id := h1.ID()
	if err := h1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	fi, err := os.Stat(key)
	if err != nil {
		t.Fatalf("Stat(key): %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	h2 := newTestHost(t, HostOptions{KeyFile: key})
	if h2.ID() != id {
		t.Errorf("ID after restart = %s, want %s", h2.ID(), id)
	}
	other := newTestHost(t, HostOptions{})
	if other.ID() == id {
		t.Errorf("a host with another key file has the same ID %s", id)
	}
}

func TestNewHostRejects(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.key")
	h, err := NewHost(context.Background(), HostOptions{KeyFile: loose})
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	h.Close()
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.key")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "fresh.key")
	tests := []struct {
		name string
		opts HostOptions
		want error // nil: any error
	}{
		{"no key file", HostOptions{}, ErrNoKeyFile},
		{"key readable by others", HostOptions{KeyFile: loose}, ErrKeyPermissions},
		{"key not a key", HostOptions{KeyFile: garbage}, nil},
		{"TCP listen", HostOptions{KeyFile: fresh, Listen: []string{"/ip4/127.0.0.1/tcp/0"}}, ErrNotQUIC},
		{"QUIC draft-29 listen", HostOptions{KeyFile: fresh, Listen: []string{"/ip4/127.0.0.1/udp/0/quic"}}, ErrNotQUIC},
		{"TCP bootstrap", HostOptions{KeyFile: fresh, Bootstrap: []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWLRPJAA5o6Z6ATC2bFhv6LJeuTrK3D2LDdqoKt2fVKVbU"}}, ErrNotQUIC},
		{"bootstrap without peer id", HostOptions{KeyFile: fresh, Bootstrap: []string{"/ip4/127.0.0.1/udp/4001/quic-v1"}}, nil},
	}
	for _, tc := range tests {
		h, err := NewHost(context.Background(), tc.opts)
		if err == nil {
			h.Close()
			t.Errorf("%s: NewHost succeeded, want error %v", tc.name, tc.want)
			continue
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: NewHost error = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// A bootstrap peer that does not answer is tolerated: the host starts
// alone and its router still finds the zones it provides itself.
func TestBootstrapUnreachable(t *testing.T) {
	gone := newTestHost(t, HostOptions{})
	addrs := gone.Addrs()
	if err := gone.Close(); err != nil {
		t.Fatal(err)
	}
	h := newTestHost(t, HostOptions{Bootstrap: addrs, BootstrapTimeout: 500 * time.Millisecond})
	if n := h.RoutingTableSize(); n != 0 {
		t.Fatalf("RoutingTableSize = %d with the only bootstrap peer gone, want 0", n)
	}
	_ = h.Provide(context.Background(), "self.test.") // fails: nobody to tell
	r := NewRouter(h, RouterOptions{})
	t.Cleanup(func() { r.Close() })
	z, provs, err := r.FindZone(context.Background(), "www.self.test.")
	if err != nil || z != "self.test." || len(provs) != 1 || provs[0].ID != h.ID() {
		t.Fatalf("FindZone(www.self.test.) = %q, %v, %v; want self.test. provided by itself", z, provs, err)
	}
	if _, _, err := r.FindZone(context.Background(), "other.test."); !errors.Is(err, ErrNoZone) {
		t.Fatalf("FindZone(other.test.) error = %v, want ErrNoZone", err)
	}
	// Alone, a negative is not cached: a second call looks again.
	before := r.Stats().Lookups
	r.FindZone(context.Background(), "other.test.")
	if after := r.Stats().Lookups; after == before {
		t.Errorf("negative found alone was cached (lookups %d -> %d)", before, after)
	}
}

// AllowPeer keeps peers outside the membership list out: their handshake
// is refused and they never reach the routing table.
func TestGaterRefusesUnlistedPeers(t *testing.T) {
	outsider := newTestHost(t, HostOptions{})
	member := newTestHost(t, HostOptions{AllowPeer: func(p peer.ID) bool { return p != outsider.ID() }})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := member.Connect(ctx, outsider.AddrInfo()); err == nil {
		t.Error("member dialled an unlisted peer")
	}
	if err := outsider.Connect(ctx, member.AddrInfo()); err == nil {
		// QUIC may complete the client side before the server's gater
		// closes the connection; the connection must not survive.
		if member.P2P().Network().Connectedness(outsider.ID()) == network.Connected {
			t.Error("member kept a connection from an unlisted peer")
		}
	}
	if n := member.RoutingTableSize(); n != 0 {
		t.Errorf("member RoutingTableSize = %d, want 0", n)
	}
	friend := newTestHost(t, HostOptions{Bootstrap: member.Addrs()})
	if n := friend.RoutingTableSize(); n != 1 {
		t.Errorf("listed peer RoutingTableSize = %d after bootstrap, want 1", n)
	}
}
