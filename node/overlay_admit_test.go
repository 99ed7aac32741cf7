package node

import (
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// waitAdmitted waits until every node in nodes has read from the
// registry's log the admission of every node's overlay peer: with
// [overlay] admit = directory (the default with a log to follow), a node
// refuses the peers it has not read yet.
func waitAdmitted(t testing.TB, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		for _, o := range nodes {
			id, _ := o.OverlayID()
			pid, err := peer.Decode(id)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, fmt.Sprintf("%s admits %s's overlay peer", n.ID(), o.ID()), func() error {
				if !n.admission.Admit(pid) {
					return fmt.Errorf("not yet")
				}
				if st := n.FollowState(); !st.Admits(id) {
					return fmt.Errorf("published but not in follow.json")
				}
				return nil
			})
		}
	}
}

// TestOverlayAdmitsTheDirectory: a node following the registry's log
// admits the peers of the directory, itself and the other group's node
// included, and no other peer id.
func TestOverlayAdmitsTheDirectory(t *testing.T) {
	f := startRegistryPair(t)
	for _, n := range []*Node{f.reg, f.east} {
		if n.cfg.overlayAdmit() != AdmitDirectory {
			t.Fatalf("%s: admit %q, want %q by default with a log to follow", n.ID(), n.cfg.overlayAdmit(), AdmitDirectory)
		}
		for _, o := range []*Node{f.reg, f.east} {
			id, _ := o.OverlayID()
			pid, err := peer.Decode(id)
			if err != nil {
				t.Fatal(err)
			}
			if !n.admission.Admit(pid) {
				t.Errorf("%s does not admit %s's peer %s", n.ID(), o.ID(), id)
			}
		}
		stranger, err := peer.Decode("12D3KooWPLUrU1eix7zHbLFdtuPXK7zBXSucKKmQXje6Mw4wTjWg")
		if err != nil {
			t.Fatal(err)
		}
		if n.admission.Admit(stranger) {
			t.Errorf("%s admits a peer no admission entry names", n.ID())
		}
	}
}
