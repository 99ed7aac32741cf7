package overlay

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
)

func TestZoneKey(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"example.org.", "example.org.", true},
		{"Example.ORG", "example.org.", true},
		{"example.org", "example.org.", true},
		{"example.org.", "example.com.", false},
		{"sub.example.org.", "example.org.", false},
	}
	for _, tc := range tests {
		if got := ZoneKey(tc.a).Equals(ZoneKey(tc.b)); got != tc.same {
			t.Errorf("ZoneKey(%q) == ZoneKey(%q) is %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
	k := ZoneKey("Example.ORG")
	if k.Version() != 1 || k.Type() != cid.Raw {
		t.Errorf("ZoneKey version %d codec %#x, want CIDv1 raw", k.Version(), k.Type())
	}
	dec, err := multihash.Decode(k.Hash())
	if err != nil {
		t.Fatalf("multihash.Decode: %v", err)
	}
	want := sha256.Sum256([]byte("example.org."))
	if dec.Code != multihash.SHA2_256 || string(dec.Digest) != string(want[:]) {
		t.Errorf("ZoneKey digest = %x (code %#x), want sha256(\"example.org.\") = %x", dec.Digest, dec.Code, want)
	}
}

func TestSuffixes(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"www.a.example.", []string{"www.a.example.", "a.example.", "example."}},
		{"WWW.Example.ORG", []string{"www.example.org.", "example.org.", "org."}},
		{"org.", []string{"org."}},
		{".", nil},
		{`a\.b.example.`, []string{`a\.b.example.`, "example."}},
		{`x\\.example.`, []string{`x\\.example.`, "example."}},
	}
	for _, tc := range tests {
		if got := Suffixes(tc.name); !slices.Equal(got, tc.want) {
			t.Errorf("Suffixes(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// localProviders returns the providers of zone in h's own DHT provider
// store, which is where records other hosts announce land.
func localProviders(t *testing.T, h *Host, zone string) []peer.ID {
	t.Helper()
	ais, err := h.dht.ProviderStore().GetProviders(context.Background(), ZoneKey(zone).Hash())
	if err != nil {
		t.Fatalf("GetProviders: %v", err)
	}
	var ids []peer.ID
	for _, ai := range ais {
		ids = append(ids, ai.ID)
	}
	return ids
}

// waitStored waits until h's provider store lists p for zone; it fails the
// test after 15 s.
func waitStored(t *testing.T, h *Host, zone string, p peer.ID) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !slices.Contains(localProviders(t, h, zone), p) {
		if time.Now().After(deadline) {
			t.Fatalf("host %s never stored %s as provider of %s", h.ID(), p, zone)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newTestHost(t *testing.T, o HostOptions) *Host {
	t.Helper()
	if o.KeyFile == "" {
		o.KeyFile = filepath.Join(t.TempDir(), "id.key")
	}
	h, err := NewHost(context.Background(), o)
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// A host alone cannot announce a zone: Provide says so, keeps the zone, and
// retries until a peer has joined, which then holds the record.
func TestProvideRetriesUntilPeersJoin(t *testing.T) {
	a := newTestHost(t, HostOptions{RetryInterval: 100 * time.Millisecond})
	if err := a.Provide(context.Background(), "alone.test."); err == nil {
		t.Fatal("Provide with an empty routing table succeeded, want an error")
	}
	if !a.Provides("alone.test.") {
		t.Fatal("Provides(alone.test.) = false after a failed Provide, want true (kept for retry)")
	}
	b := newTestHost(t, HostOptions{Bootstrap: a.Addrs()})
	waitStored(t, b, "alone.test.", a.ID())
}

// Zones are announced again on the timer: a host that joins after the
// first announcement receives the record at the next round.
func TestReprovideOnTimer(t *testing.T) {
	a := newTestHost(t, HostOptions{ReprovideInterval: 200 * time.Millisecond})
	b := newTestHost(t, HostOptions{Bootstrap: a.Addrs()})
	// b's NewHost returns once a is in b's table; a adds b when its own
	// side of identify is done, which under load can be later.
	waitFor(t, "b in a's routing table", func() bool { return a.RoutingTableSize() == 1 })
	if err := a.Provide(context.Background(), "timer.test."); err != nil {
		t.Fatalf("Provide: %v", err)
	}
	waitStored(t, b, "timer.test.", a.ID())
	c := newTestHost(t, HostOptions{Bootstrap: b.Addrs()})
	// kad-dht does not replicate provider records between peers: only
	// a's own ADD_PROVIDER, sent by the re-provide round, reaches c.
	waitStored(t, c, "timer.test.", a.ID())
	if got := a.Providing(); !slices.Equal(got, []string{"timer.test."}) {
		t.Errorf("Providing() = %q, want [timer.test.]", got)
	}
}
