package ops

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/ddnrs/ddnrs/node"
)

// Every member of a group bootstraps the overlay through the other
// members of its group and through every --bootstrap-peer given (issue
// 17: no single bootstrap peer), so a node joins when any of them is up.
func TestGroupBootstrapSeveralPeers(t *testing.T) {
	const (
		regPeer = "/ip4/127.0.0.1/udp/4001/quic-v1/p2p/12D3KooWKRQiyhg2BDGP624kdXW3brHK2HNhh8n8yjrkBGaJP7TZ"
		euPeer  = "/ip4/127.0.0.2/udp/4001/quic-v1/p2p/12D3KooWAD5SJwdZmVpvwQRkfXyTRPCCNTJ2mT1DjPvSmGpG3b6U"
	)
	res := bootstrapJSONRun(t, "--out", filepath.Join(t.TempDir(), "us"), "--name", "us", "--members", "4",
		"--overlay", "--bootstrap-peer", regPeer, "--bootstrap-peer", euPeer)
	if len(res.Members) != 4 {
		t.Fatalf("bootstrap made %d members, want 4", len(res.Members))
	}
	for i, m := range res.Members {
		cfg, err := node.LoadConfig(m.Config)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for k := 1; k < 4; k++ {
			want = append(want, res.Members[(i+k)%4].Overlay)
		}
		want = append(want, regPeer, euPeer)
		if !slices.Equal(cfg.Overlay.Bootstrap, want) {
			t.Errorf("%s: overlay.bootstrap = %q, want the other members then the given peers %q", m.ID, cfg.Overlay.Bootstrap, want)
		}
	}
}
