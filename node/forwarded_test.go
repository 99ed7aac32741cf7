package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
)

// A write forwarded to a member that does not lead comes back at once as
// not_leader naming the leader, so that the sender (which may forward)
// sends it there. It used to wait on that member for a leader for up to
// LeaderWait while the sender's own LeaderWait ran out too: under load a
// leader change during a forward failed heartbeats and registry writes
// with not_leader (TestHeartbeatsCommitOnlyChanges,
// TestRegistryProposeThroughFollower). Here LeaderWait is 5 minutes and
// the answer must come within the 60 s hang bound.
func TestForwardedWriteToFollowerAnswersNotLeader(t *testing.T) {
	p := newTestPKI(t)
	skey, vkey, err := translog.GenerateKey(translog.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "log.key")
	if err := os.WriteFile(keyFile, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var nodes []*Node
	for i := 1; i <= 3; i++ {
		cfg := groupConfig(t, p, fmt.Sprintf("r%d", i))
		cfg.Group.Name = "registry"
		cfg.Admin.RequestTimeout = 10 * time.Minute
		cfg.Admin.LeaderWait = 5 * time.Minute
		cfg.Registry = RegistryConfig{Member: true, LogKeyFile: keyFile, LogVerifier: vkey, LogOrigin: translog.DefaultOrigin,
			FollowInterval: time.Hour, HeartbeatInterval: time.Hour}
		if i > 1 {
			cfg.Group.Bootstrap = false
			cfg.Group.Join = []string{nodes[0].AdminAddr()}
		}
		nodes = append(nodes, runNode(t, cfg))
	}
	waitFor(t, "three members in the directory", func() error {
		for _, n := range nodes {
			rs, err := n.Registry()
			if err != nil {
				return err
			}
			if len(rs.Nodes()) != 3 {
				return fmt.Errorf("%s: %d nodes", n.ID(), len(rs.Nodes()))
			}
		}
		return nil
	})
	ac := p.client(t, "ops")
	_, _, cmd := demoCommand(t)
	claims := 0
	sends := []struct {
		name string
		send func(ctx context.Context, addr string) error
	}{
		{"registry command", func(ctx context.Context, addr string) error {
			// A new name each time: should the follower have become
			// leader meanwhile, its commit does not refuse the next.
			claims++
			name := fmt.Sprintf("c%d.example.org.", claims)
			reg, err := raftfsm.EncodeCommand(&raftfsm.ClaimZone{Zone: name, Owner: ownerKey(t, name), Actor: "test", Time: nodes[0].Now()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = ac.ProposeRegistry(ctx, addr, reg)
			return err
		}},
		{"zone change", func(ctx context.Context, addr string) error {
			_, err := ac.SubmitChangeForwarded(ctx, addr, demo.Origin, cmd)
			return err
		}},
	}
	for _, s := range sends {
		t.Run(s.name, func(t *testing.T) {
			// A leader change between finding the follower and asking it
			// makes it the leader (it then commits) or names another:
			// ask until a follower that names a leader answered.
			waitFor(t, "a follower's not_leader naming the leader", func() error {
				leader, followers := leaderOf(t, nodes)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				err := s.send(ctx, followers[0].AdminAddr())
				if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
					t.Fatalf("forwarded %s to follower %s: still waiting after a minute (%v): it waits for a leader instead of naming it", s.name, followers[0].ID(), err)
				}
				ae := admin.ErrorOf(err)
				if ae.Code != admin.CodeNotLeader || ae.LeaderID == "" {
					return fmt.Errorf("forwarded %s to follower %s = %v, want not_leader naming the leader", s.name, followers[0].ID(), err)
				}
				if ae.LeaderID != leader.ID() {
					return fmt.Errorf("not_leader names %s, the leader was %s (it may have moved)", ae.LeaderID, leader.ID())
				}
				return nil
			})
		})
	}
}
