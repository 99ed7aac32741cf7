package intergroup

import (
	"crypto/rand"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/ddnrs/ddnrs/client"
)

func newPeerID(t *testing.T) peer.ID {
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

// TestDirectory: a zone the log places on a group routes to that group's
// admitted peers with the overlay addresses their admission gave (an
// address naming another peer, or not parsing, is left out); zones the
// log does not name, groups without peers, peers without a group or with
// a bad id give nothing; peers not known yet (nil) keep the members as
// they were.
func TestDirectory(t *testing.T) {
	a, b, c := newPeerID(t), newPeerID(t), newPeerID(t)
	peers := map[string]client.LogPeer{
		a.String(): {Node: "a", Group: "g1", Addrs: []string{"/ip4/10.0.0.1/udp/4001/quic-v1/p2p/" + a.String(), "/ip4/10.0.0.9/udp/1/quic-v1/p2p/" + b.String(), "not an address"}},
		b.String(): {Node: "b", Group: "g1", Addrs: []string{"/ip4/10.0.0.2/udp/4001/quic-v1"}},
		c.String(): {Node: "c", Group: ""},
		"bad-id":   {Node: "x", Group: "g1"},
	}
	var d Directory
	if got := d.Providers("example."); got != nil {
		t.Fatalf("empty directory: Providers = %v, want nil", got)
	}
	d.Learn(map[string]string{"Example.": "g1", "lonely.": "g2"}, peers)
	got := d.Providers("example.")
	if len(got) != 2 {
		t.Fatalf("Providers(example.) = %v, want a and b", got)
	}
	for _, ai := range got {
		want := map[peer.ID]string{a: "/ip4/10.0.0.1/udp/4001/quic-v1", b: "/ip4/10.0.0.2/udp/4001/quic-v1"}[ai.ID]
		if len(ai.Addrs) != 1 || ai.Addrs[0].String() != want {
			t.Errorf("Providers(example.): %s addrs %v, want [%s]", ai.ID, ai.Addrs, want)
		}
	}
	for _, z := range []string{"lonely.", "other.", ""} {
		if got := d.Providers(z); got != nil {
			t.Errorf("Providers(%q) = %v, want nil", z, got)
		}
	}
	d.Learn(map[string]string{"example.": "g1", "new.": "g1"}, nil)
	if got := d.Providers("new."); len(got) != 2 {
		t.Errorf("after Learn with peers unknown: Providers(new.) = %v, want the members kept", got)
	}
	var nilDir *Directory
	if got := nilDir.Providers("example."); got != nil {
		t.Errorf("nil Directory: Providers = %v", got)
	}
}
