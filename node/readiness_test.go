package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/standing"
)

// TestRemovedMemberFindsOut is the path of issue 17 item 6 that needs no
// leader's notice (integration TestRemovedMemberStopsServing has the
// notice): a member removed by Raft alone (Group.RemoveServer, so nobody
// tells it) hears from no leader, asks the members of its last
// configuration after group.removed_check, finds itself out of the
// leader's, and stops answering for the group's zones (REFUSED without
// the overlay) with /readyz saying why; added back, it serves again.
func TestRemovedMemberFindsOut(t *testing.T) {
	p := newTestPKI(t)
	cfgOf := func(id string) Config {
		c := groupConfig(t, p, id)
		c.Group.RemovedCheck = 300 * time.Millisecond
		return c
	}
	nodes := []*Node{runNode(t, cfgOf("n1"))}
	for i := 2; i <= 4; i++ {
		cfg := cfgOf(fmt.Sprintf("n%d", i))
		cfg.Group.Bootstrap = false
		cfg.Group.Join = []string{nodes[0].AdminAddr()}
		nodes = append(nodes, runNode(t, cfg))
	}
	z, _, _ := demoCommand(t)
	gone := nodes[3]
	waitFor(t, "the zone published", func() error {
		l, _ := leaderOf(t, nodes)
		if l == gone {
			// Removing the leader is a hand-over first: not this test.
			return l.group.TransferLeadership(context.Background(), "")
		}
		return l.Publish(z)
	})
	waitFor(t, "n4 serves the zone and is ready", func() error {
		if _, err := dnsSOASerial(gone, z.Origin); err != nil {
			return err
		}
		return gone.Ready()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Under load an election may interrupt the change: ask the leader
	// of the moment until one commits it.
	waitFor(t, "n4 removed", func() error {
		l, _ := leaderOf(t, nodes[:3])
		return l.group.RemoveServer(ctx, gone.ID())
	})
	waitFor(t, "n4 finds out it was removed", func() error {
		if err := gone.Ready(); !errors.Is(err, standing.ErrRemoved) {
			return fmt.Errorf("Ready() = %v, want ErrRemoved", err)
		}
		return nil
	})
	if s, err := dnsSOASerial(gone, z.Origin); err == nil {
		t.Errorf("n4, removed, still answers %s with serial %d from its copy", z.Origin, s)
	}
	if st := (adminNode{gone}).Status(); st.Removed == "" || st.Zones != 0 {
		t.Errorf("n4's status = removed %q, %d zones; want why, 0 zones", st.Removed, st.Zones)
	}
	// The members left must not think themselves removed, and are ready
	// once caught up: right after an election (load) a member is briefly
	// "catching up" until it learns the new leader's commit index.
	for _, n := range nodes[:3] {
		waitFor(t, n.ID()+", still a member, ready", func() error {
			err := n.Ready()
			if errors.Is(err, standing.ErrRemoved) {
				t.Fatalf("%s, still a member: Ready() = %v", n.ID(), err)
			}
			return err
		})
	}

	waitFor(t, "n4 added back", func() error {
		l, _ := leaderOf(t, nodes[:3])
		return l.group.AddVoter(ctx, gone.ID(), gone.RaftAddr())
	})
	waitFor(t, "n4, added back, serves again", func() error {
		if err := gone.Ready(); err != nil {
			return err
		}
		_, err := dnsSOASerial(gone, z.Origin)
		return err
	})
}
