package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestOverlayRejoinWithoutBootstrapPeer (issue 17, item 1): a node of
// another group configured with a single bootstrap peer remembers the
// peers it has seen; with that peer killed, the node restarts and still
// answers the zones of the peer's group, having rejoined through the
// peers it remembered.
func TestOverlayRejoinWithoutBootstrapPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 node processes")
	}
	gs, _, _ := startOverlayGroupsOf(t, []int{3, 1})
	owner, entry := gs[0], gs[1].members[0]
	answers := func() error {
		r, err := askErr(entry.DNS, "www."+owner.zone, dns.TypeA, true)
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			return fmt.Errorf("rcode %s, %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
		}
		return nil
	}
	waitUntil(t, entry.name+" answers "+owner.zone, answers)
	// The node writes the peers it knows a few seconds after it starts.
	peers := filepath.Join(filepath.Dir(entry.config), "data", "overlay-peers.json")
	waitUntil(t, entry.name+" remembers its peers", func() error {
		_, err := os.Stat(peers)
		return err
	})
	// Every node of the test bootstraps through owner's first member.
	boot := owner.members[0]
	t.Logf("stopping %s, killing %s (the only configured bootstrap peer)", entry.name, boot.name)
	if err := entry.p.stop(); err != nil {
		t.Fatalf("stopping %s: %v", entry.name, err)
	}
	if err := boot.p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-boot.p.done
	if err := os.Remove(entry.ready); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	entry.p = startProc(t, "", ddnrsBin, "node", "--config", entry.config, "--ready-file", entry.ready)
	waitOverlayReady(t, entry)
	// No retry loop: the first query after the restart must be answered.
	if err := answers(); err != nil {
		t.Fatalf("after the restart without its bootstrap peer, %s: www.%s: %v", entry.name, owner.zone, err)
	}
	t.Logf("restarted and answered in %v", time.Since(t0).Round(time.Millisecond))
}
