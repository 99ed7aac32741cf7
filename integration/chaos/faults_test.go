package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	raftbench "github.com/ddnrs/ddnrs/bench/raft"
	"github.com/ddnrs/ddnrs/internal/netlab"
)

// fault is one scenario of the suite: what it does to a running group
// and what must still hold.
type fault struct {
	name string
	// apply starts the fault (leader is the group's leader just before)
	// and returns what ends it.
	apply func(g *group, leader *raftbench.Member) (heal func())
	// prepare, when set, runs before the group starts with its
	// directory (disk faults mount their disks there); what it returns
	// is the group's prep.
	prepare func(t *testing.T, dir string, members int) any
	// writes says the fault leaves a majority that can elect and
	// commit: writes must be acknowledged while it lasts.
	writes bool
	// moves says the leader must change during the fault (a leader cut
	// off, unable to hear its followers, or out of disk): the check
	// that the fault took hold.
	moves bool
	// heartbeat, when set, is the members' Raft heartbeat and election
	// timeout (leader lease half of it) instead of the node defaults.
	heartbeat time.Duration
	// env, when set, is the extra environment of member i's process
	// (raftbench.Options.Env), for the whole run.
	env func(i int) []string
	// setup, when set, runs once the group and its owners exist, before
	// the owners start writing.
	setup func(g *group)
}

// Hold times: the short scenarios run in `make test`, the full suite in
// `make chaos`.
const (
	shortMembers = 3
	fullMembers  = 7
	shortHold    = 4 * time.Second
	fullHold     = 8 * time.Second
)

func followers(g *group, leader *raftbench.Member) []*raftbench.Member {
	var fs []*raftbench.Member
	for _, m := range g.c.Members {
		if m != leader {
			fs = append(fs, m)
		}
	}
	return fs
}

var (
	// A minority of followers is cut off from the rest; the leader
	// keeps its majority.
	minority = fault{name: "minority partition", writes: true, apply: func(g *group, leader *raftbench.Member) func() {
		fs := followers(g, leader)
		cut := fs[:(len(g.c.Members)-1)/2]
		g.lab.Partition(g.hosts(cut), g.hosts(append([]*raftbench.Member{leader}, fs[len(cut):]...)))
		return g.lab.Heal
	}}
	// The leader is on the minority side: the majority elects another.
	majority = fault{name: "leader in the minority", writes: true, moves: true, apply: func(g *group, leader *raftbench.Member) func() {
		fs := followers(g, leader)
		with := fs[:(len(g.c.Members)-1)/2-1]
		g.lab.Partition(g.hosts(append([]*raftbench.Member{leader}, with...)), g.hosts(fs[len(with):]))
		return g.lab.Heal
	}}
	// Asymmetric: the leader's frames reach every follower, theirs
	// never reach it (it hears no acknowledgement, no vote).
	asymmetric = fault{name: "asymmetric: leader hears nobody", writes: true, moves: true, apply: func(g *group, leader *raftbench.Member) func() {
		for _, f := range followers(g, leader) {
			g.lab.Set(g.host(f), g.host(leader), netlab.Link{Down: true})
		}
		return g.lab.Heal
	}}
	// The leader alone is cut off from every other member (the client
	// still reaches it).
	isolatedLeader = fault{name: "partitioned leader", writes: true, moves: true, apply: func(g *group, leader *raftbench.Member) func() {
		g.lab.Partition(g.hosts([]*raftbench.Member{leader}), g.hosts(followers(g, leader)))
		return g.lab.Heal
	}}
	// Every link between members delays 100 ms each way and drops 5%
	// of frames: a group stretched across regions. Its Raft timeouts are
	// set for that round trip (heartbeat and election 1 s, lease 500 ms)
	// as its operator would: with the defaults (lease 150 ms, below the
	// 200 ms round trip) the leader steps down at every lease and no
	// write is acknowledged for as long as the delay lasts
	// (docs/chaos.md).
	delayLoss = fault{name: "100 ms delay, 5% loss", writes: true, heartbeat: time.Second, apply: func(g *group, leader *raftbench.Member) func() {
		hs := g.lab.Hosts
		g.lab.Between(hs, hs, netlab.Link{Delay: 100 * time.Millisecond, Loss: 0.05})
		return g.lab.Heal
	}}
)

// diskSize is the tmpfs mounted at every member's data directory in the
// disk-full scenario: room for the test's writes, small enough to fill
// at once.
const diskSize = 64 << 20

// leaderDiskFull fills the leader's data directory (a tmpfs of its own)
// to the last byte; healing removes the filler and restarts the member,
// as its operator must after a store failure (its state machine halts).
// Which write fails first, the Raft log's or the zone store's, varies.
var leaderDiskFull = fault{name: "leader's disk full", writes: true, moves: true,
	prepare: func(t *testing.T, dir string, members int) any { mountDisks(t, dir, members, false); return nil },
	apply:   func(g *group, leader *raftbench.Member) func() { return fillDisk(g, leader, false) }}

// storeFull is leaderDiskFull with the Raft log on a disk of its own
// (data/raft, not filled): the log takes the entries, the zone store
// fails, and the leader's state machine halts for certain
// (raftfsm.ErrHalted); its status must not say ready then, and it must
// hand leadership over (raftfsm.ErrStoreFailed) so the group writes on.
var storeFull = fault{name: "leader's zone store full", writes: true, moves: true,
	prepare: func(t *testing.T, dir string, members int) any { mountDisks(t, dir, members, true); return nil },
	apply:   func(g *group, leader *raftbench.Member) func() { return fillDisk(g, leader, true) }}

// mountDisks mounts a tmpfs at every member's data directory, and one at
// its data/raft too when raftApart.
func mountDisks(t *testing.T, dir string, members int, raftApart bool) {
	for i := 1; i <= members; i++ {
		d := raftbench.MemberDataDir(dir, i)
		netlab.MountTmpfs(t, d, diskSize)
		if raftApart {
			netlab.MountTmpfs(t, filepath.Join(d, "raft"), diskSize)
		}
	}
}

// fillDisk fills m's data directory and returns what heals it: the
// filler removed, m restarted. When halts, m's state machine must have
// halted by then (a zone store write failed) and its status must say so.
func fillDisk(g *group, m *raftbench.Member, halts bool) func() {
	filler := filepath.Join(m.DataDir(), "chaos-filler")
	if err := fill(filler); err != nil {
		g.t.Fatal(err)
	}
	return func() {
		st, err := g.c.Client.Status(g.ctx, m.Admin)
		if err != nil {
			g.t.Fatal(err)
		}
		halted := strings.Contains(m.Output(), "state machine halted")
		g.t.Logf("%s after its disk filled: state machine halted %v, ready %v, processed index %d, applied %d", m.ID, halted, st.Ready, st.ProcessedIndex, st.AppliedIndex)
		if halts && !halted {
			g.t.Errorf("%s: the state machine did not halt with its zone store full; the fault did not take hold", m.ID)
		}
		if halted && st.Ready {
			g.t.Errorf("%s: its state machine halted (its log says so) but its status says ready: /readyz hides a member serving a frozen state", m.ID)
		}
		if err := os.Remove(filler); err != nil {
			g.t.Error(err)
		}
		// A store that failed halts the member's state machine until
		// it restarts (raftfsm.ErrHalted): the operator's part, once
		// the disk has room again.
		m.Kill()
		if err := g.c.StartMember(g.ctx, m); err != nil {
			g.t.Fatal(err)
		}
	}
}

// slowDisk is how long every fsync of the slow-disk fault's leader
// takes: a disk far slower than any the design would run on.
const slowDisk = 200 * time.Millisecond

// leaderDiskSlow: every member's data directory is a netlab.SlowDisk
// (FUSE, a real file system path; the wait is added in user space); the
// leader's fsyncs take 200 ms more while the fault lasts.
var leaderDiskSlow = fault{name: "leader's disk slow (200 ms per fsync)", writes: true,
	prepare: func(t *testing.T, dir string, members int) any {
		var disks []*netlab.SlowDisk
		for i := 1; i <= members; i++ {
			disks = append(disks, netlab.MountSlowDisk(t, raftbench.MemberDataDir(dir, i), filepath.Join(dir, fmt.Sprintf("disk%d", i))))
		}
		return disks
	},
	apply: func(g *group, leader *raftbench.Member) func() {
		disk := g.prep.([]*netlab.SlowDisk)[slices.Index(g.c.Members, leader)]
		before := disk.Syncs()
		disk.SetDelay(slowDisk)
		return func() {
			disk.SetDelay(0)
			if n := disk.Syncs() - before; n == 0 {
				g.t.Errorf("%s: no fsync on its slowed disk during the fault: the fault did not take hold", leader.ID)
			} else {
				g.t.Logf("%s: %d fsyncs slowed by %v", leader.ID, n, slowDisk)
			}
		}
	}}

func TestLeaderDiskSlow(t *testing.T) { full(t); runFault(t, leaderDiskSlow, fullMembers, fullHold) }

// fill writes file until the disk is full (ENOSPC).
func fill(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				// The last partial block too.
				for len(buf) > 1 {
					buf = buf[:len(buf)/2]
					f.Write(buf)
				}
				return nil
			}
			return err
		}
	}
}

func TestLeaderDiskFull(t *testing.T) { full(t); runFault(t, leaderDiskFull, fullMembers, fullHold) }
func TestZoneStoreFull(t *testing.T)  { full(t); runFault(t, storeFull, fullMembers, fullHold) }

// TestPartitionShort and TestDelayShort are the suite's short version,
// run by the normal test command (as root): a 3-member group, a
// minority partition and 100 ms delay with 5% loss, held 4 s.
func TestPartitionShort(t *testing.T) { runFault(t, minority, shortMembers, shortHold) }
func TestDelayShort(t *testing.T)     { runFault(t, delayLoss, shortMembers, shortHold) }

func TestMinorityPartition(t *testing.T) { full(t); runFault(t, minority, fullMembers, fullHold) }
func TestMajorityPartition(t *testing.T) { full(t); runFault(t, majority, fullMembers, fullHold) }
func TestAsymmetricPartition(t *testing.T) {
	full(t)
	runFault(t, asymmetric, fullMembers, fullHold)
}
func TestPartitionedLeader(t *testing.T) { full(t); runFault(t, isolatedLeader, fullMembers, fullHold) }
func TestDelayAndLoss(t *testing.T)      { full(t); runFault(t, delayLoss, fullMembers, fullHold) }

// runFault runs one scenario on a group of n members: two owners
// publish to random members and a prober asks every member for a zone
// every 10 ms throughout; the fault starts after a second of steady
// writes and lasts hold. Then it checks:
//   - writes were acknowledged during the fault when a majority could
//     commit (f.writes);
//   - every member answered DNS the whole time (the client reaches all
//     of them, so all are reachable): no query left unanswered after a
//     retry;
//   - after healing, every acknowledged write is on every member;
//   - the whole write history, with a read of every zone on every
//     member at the end, is linearizable (porcupine);
//
// and prints the time from healing to the next acknowledged write (0
// when writes never stopped, as in a minority partition) and to every
// member caught up (applied the leader's commit index).
func runFault(t *testing.T, f fault, n int, hold time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var prepare func(string) any
	if f.prepare != nil {
		prepare = func(dir string) any { return f.prepare(t, dir, n) }
	}
	g := startGroup(t, ctx, raftbench.Options{Members: n, HeartbeatTimeout: f.heartbeat, ElectionTimeout: f.heartbeat, Env: f.env}, prepare)
	if f.setup != nil {
		f.setup(g)
	}
	t0 := time.Now()
	prober := g.c.StartProber(ctx, g.owners[0].Origin)
	wctx, stopWriters := context.WithCancel(ctx)
	wait := g.write(wctx)
	defer func() {
		stopWriters()
		wait()
	}()
	time.Sleep(time.Second)

	leader, err := g.c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	faultAt := time.Now()
	heal := f.apply(g, leader)
	t.Logf("%s: fault on at %v (leader was %s)", f.name, faultAt.Sub(t0).Round(time.Millisecond), leader.ID)
	time.Sleep(hold)
	if f.moves {
		// Another member must lead while the fault lasts (it stays on
		// until one does, for up to a minute). Leader is the member
		// with the highest term that says it leads: the old leader may
		// still believe it does, in an older term.
		mctx, mcancel := context.WithTimeout(ctx, time.Minute)
		l, err := g.c.WaitLeader(mctx)
		for err == nil && l == leader && mctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			l, err = g.c.WaitLeader(mctx)
		}
		mcancel()
		if err != nil || l == leader {
			t.Errorf("%s: the leader is still %s (%v) after a minute of fault: no other member took over", f.name, leader.ID, err)
		}
	}
	if f.writes {
		// A majority can commit: some write called during the fault
		// must be acknowledged before it ends. On a loaded machine the
		// two writers may both sit out a cut-off member's 2 s for the
		// whole hold, so the fault stays on until one is (bounded: a
		// minute, which only catches a group that never commits).
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		for g.okAfter(faultAt) == 0 && wctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		wcancel()
	}
	during := g.okAfter(faultAt)
	healAt := time.Now()
	heal()
	t.Logf("%s: healed after %v; %d writes acknowledged during the fault", f.name, healAt.Sub(faultAt).Round(time.Millisecond), during)
	if f.writes && during == 0 {
		t.Errorf("%s: no write acknowledged in a minute of fault, although a majority could commit", f.name)
	}

	// Recovery: the first write acknowledged after healing, and every
	// member's state machine holding it.
	var first raftbench.Record
	waitFor(t, ctx, "a write acknowledged after healing", func() bool {
		var ok bool
		first, ok = g.ackAfter(healAt)
		return ok
	})
	firstWrite := first.Return.Sub(healAt)
	if err := g.c.WaitProcessed(ctx, first.Index); err != nil {
		t.Fatal(err)
	}
	caughtUp := time.Since(healAt)

	stopWriters()
	if err := wait(); err != nil {
		// A write the group acknowledged but does not hold, or refused
		// although the owner's history allows it: the checks below say
		// more, so they run too.
		t.Errorf("writers: %v", err)
	} else {
		for _, o := range g.owners {
			g.settle(ctx, o)
		}
	}
	if err := g.c.WaitProcessed(ctx, g.lastIndex()); err != nil {
		t.Error(err) // checkAcked says which writes
	}
	stats := prober.Stop()
	g.checkAcked(ctx)

	unanswered, queries := 0, 0
	for _, m := range g.c.Members {
		s := stats[m.ID]
		unanswered += s.Unanswered
		queries += s.Queries
		if s.Answers == 0 || s.Unanswered > 0 {
			t.Errorf("%s: %d of %d DNS queries unanswered (after a retry) while it was reachable; first failures: %v", m.ID, s.Unanswered, s.Queries, s.Failures)
		}
	}
	v, err := raftbench.CheckLinearizable(ctx, g.c.Members, g.owners, g.history(), t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: history %s", f.name, v.Summary)
	switch v.Result {
	case porcupine.Ok:
	case porcupine.Unknown:
		t.Errorf("%s: porcupine timed out: %s", f.name, v.Summary)
	default:
		t.Errorf("%s: the write history is not linearizable; longest partial linearizations: %v", f.name, v.Partial)
	}
	figure("Faults (make chaos; a group of real nodes, one network namespace each)",
		"| fault | members | held | writes acked during | first write after heal | all caught up | DNS queries (unanswered) | linearizable |",
		fmt.Sprintf("| %s | %d | %v | %d | %v | %v | %d (%d) | %v |", f.name, n, hold, during,
			firstWrite.Round(time.Millisecond), caughtUp.Round(time.Millisecond), queries, unanswered, v.Result == porcupine.Ok))
	t.Logf("%s: first write %v after healing, all members caught up after %v", f.name, firstWrite.Round(time.Millisecond), caughtUp.Round(time.Millisecond))
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
