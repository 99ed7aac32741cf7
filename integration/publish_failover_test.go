package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	raftbench "github.com/ddnrs/ddnrs/bench/raft"
)

// TestPublishRidesOutLeaderDeath (issue 17, item 8): right after the
// leader is killed, `ddnrs zone publish --server FOLLOWER` still
// publishes: it finds the dead leader unreachable (or no leader yet) and
// sends the change again through the other members until the new leader
// commits it. The time from the kill to the acknowledged publish (the
// write unavailability) is reported, not asserted.
func TestPublishRidesOutLeaderDeath(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 node processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := startGroupOf(t, ctx, 3)
	sz := signFixture(t)
	publish := func(m *raftbench.Member, file string) (string, string, error) {
		return tryCmd("", ddnrsBin, "zone", "publish", "--server", m.Admin, "--ca", c.CACert, "--cert", c.OpsCert,
			"--tls-key", c.OpsKey, "--key", sz.Key, "--timeout", "20s", file)
	}
	src, err := os.ReadFile(sz.Unsigned)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		leader, err := c.WaitLeader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var via *raftbench.Member
		for _, m := range c.Members {
			if m != leader && m.Alive() {
				via = m
				break
			}
		}
		if round == 0 {
			if out, errOut, err := publish(via, sz.Unsigned); err != nil {
				t.Fatalf("first publish: %v\n%s%s", err, out, errOut)
			}
			if err := c.WaitCaughtUp(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		edited := filepath.Join(t.TempDir(), "example.zone")
		if err := os.WriteFile(edited, append(src, fmt.Appendf(nil, "\nround%d 300 IN TXT \"after the leader's death\"\n", round)...), 0o644); err != nil {
			t.Fatal(err)
		}
		leader.Kill()
		killed := time.Now()
		out, errOut, err := publish(via, edited)
		if err != nil {
			t.Fatalf("publish through %s right after the leader %s was killed: %v\n%s%s", via.ID, leader.ID, err, out, errOut)
		}
		t.Logf("leader %s killed; publish through %s acknowledged %v later: %s", leader.ID, via.ID, time.Since(killed).Round(time.Millisecond), out)
	}
}
