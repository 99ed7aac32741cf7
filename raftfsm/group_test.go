package raftfsm_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/raftfsm/raftfsmtest"
)

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), raftfsmtest.WaitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// write commits one change through the leader and waits until every
// running member holds it. When the group loses its leader under load and
// answers ErrNoQuorum (outcome unknown) it sends the change again; if the
// first try had committed after all, the second is reported done as a
// Repeat (its index changed no state: WaitApplied waits for it to be
// processed) or rejected as zone-exists, and the members' state decides.
func write(t *testing.T, ctx context.Context, c *raftfsmtest.Cluster, w testWrite) {
	t.Helper()
	res, err := c.Apply(ctx, w.cmd)
	retried := false
	for errors.Is(err, raftfsm.ErrNoQuorum) && ctx.Err() == nil {
		t.Logf("Apply(%s) = %v; sending it again", w.name, err)
		retried = true
		res, err = c.Apply(ctx, w.cmd)
	}
	var rej *raftfsm.RejectedError
	switch {
	case retried && errors.As(err, &rej) && rej.Reason == raftfsm.ReasonZoneExists:
		err = c.Poll(ctx, func() bool {
			for _, m := range c.Running() {
				if w.check(m) != nil {
					return false
				}
			}
			return true
		})
		if err != nil {
			t.Fatalf("waiting for %s everywhere: %v", w.name, err)
		}
	case err != nil:
		t.Fatalf("Apply(%s) = %v", w.name, err)
	default:
		if err := c.WaitApplied(ctx, res.Index); err != nil {
			t.Fatalf("waiting for index %d everywhere: %v", res.Index, err)
		}
	}
}

// checkAll fails unless every running member holds w.
func checkAll(t *testing.T, c *raftfsmtest.Cluster, w testWrite) {
	t.Helper()
	for _, m := range c.Running() {
		if err := w.check(m); err != nil {
			t.Errorf("member %s: %v", m.ID, err)
		}
	}
}

func TestGroupReplicates(t *testing.T) {
	for _, n := range []int{3, 7} {
		t.Run(fmt.Sprintf("%d voters", n), func(t *testing.T) {
			ctx := waitCtx(t)
			c := raftfsmtest.NewGroup(t, n)
			l, err := c.Leader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			members, err := l.Group().Members(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(members) != n {
				t.Fatalf("Members() = %d members, want %d", len(members), n)
			}
			leaders := 0
			for _, m := range members {
				if !m.Voter {
					t.Errorf("member %s is not a voter", m.ID)
				}
				if m.Leader {
					leaders++
					if m.ID != l.ID {
						t.Errorf("Members() marks %s as leader, want %s", m.ID, l.ID)
					}
				}
			}
			if leaders != 1 {
				t.Errorf("Members() marks %d leaders, want 1", leaders)
			}
			w := newWrite(t, 1)
			write(t, ctx, c, w)
			checkAll(t, c, w)
		})
	}
}

func TestGroupFollowerRefers(t *testing.T) {
	ctx := waitCtx(t)
	c := raftfsmtest.NewGroup(t, 3)
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Members {
		if m == l {
			continue
		}
		// A follower learns the leader from its heartbeats.
		var nl *raftfsm.NotLeaderError
		_, err := m.Group().Apply(ctx, newWrite(t, 1).cmd)
		if !errors.As(err, &nl) {
			t.Fatalf("Apply on follower %s = %v, want *NotLeaderError", m.ID, err)
		}
		if nl.LeaderID != l.ID || nl.LeaderAddr != l.Addr {
			t.Errorf("NotLeaderError names %s at %s, want %s at %s", nl.LeaderID, nl.LeaderAddr, l.ID, l.Addr)
		}
		var nl2 *raftfsm.NotLeaderError
		if err := m.Group().AddVoter(ctx, "x", "127.0.0.1:1"); !errors.As(err, &nl2) {
			t.Errorf("AddVoter on follower = %v, want *NotLeaderError", err)
		}
	}
}

// TestGroupSurvivesThreeOfSeven stops the leader, then two more members:
// writes keep committing. A fourth loss leaves no quorum: the write fails
// with ErrNoQuorum within ApplyTimeout; then a restarted member catches
// up and the group writes again.
func TestGroupSurvivesThreeOfSeven(t *testing.T) {
	ctx := waitCtx(t)
	c := raftfsmtest.NewGroup(t, 7)
	var writes []testWrite
	next := func() testWrite {
		w := newWrite(t, len(writes)+1)
		writes = append(writes, w)
		return w
	}
	write(t, ctx, c, next())

	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Stop(l)
	write(t, ctx, c, next())

	var stopped []*raftfsmtest.Member
	stopped = append(stopped, l)
	for range 2 {
		l, err := c.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range c.Running() {
			if m != l {
				c.Stop(m)
				stopped = append(stopped, m)
				break
			}
		}
		write(t, ctx, c, next())
	}
	if got := len(c.Running()); got != 4 {
		t.Fatalf("%d members running, want 4", got)
	}
	for _, w := range writes {
		checkAll(t, c, w)
	}

	// Four of seven down: no quorum.
	l, err = c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Running() {
		if m != l {
			c.Stop(m)
			stopped = append(stopped, m)
			break
		}
	}
	start := time.Now()
	_, err = l.Group().Apply(ctx, newWrite(t, 99).cmd)
	t.Logf("Apply with 4 of 7 down returned after %v: %v", time.Since(start), err)
	if !errors.Is(err, raftfsm.ErrNoQuorum) {
		t.Fatalf("Apply with 4 of 7 down = %v, want ErrNoQuorum", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Apply returned only when the test's own deadline passed: %v", err)
	}
	// Once the survivors know no leader, a write to any of them waits for
	// an election that cannot succeed and fails with ErrNoQuorum when its
	// context ends.
	survivors := c.Running()
	err = c.Poll(ctx, func() bool {
		for _, m := range survivors {
			if id, _ := m.Group().Leader(); id != "" {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("waiting for the survivors to forget the leader: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	_, err = survivors[len(survivors)-1].Group().Apply(short, newWrite(t, 98).cmd)
	cancel()
	if !errors.Is(err, raftfsm.ErrNoQuorum) {
		t.Fatalf("Apply on a survivor without a leader = %v, want ErrNoQuorum", err)
	}

	// Restart one: quorum is back, everyone catches up.
	c.Restart(stopped[len(stopped)-1])
	write(t, ctx, c, next())
	for _, m := range stopped[:len(stopped)-1] {
		c.Restart(m)
	}
	write(t, ctx, c, next())
	for _, w := range writes {
		checkAll(t, c, w)
	}
}

func TestGroupNonvoter(t *testing.T) {
	ctx := waitCtx(t)
	c := raftfsmtest.NewGroup(t, 3, raftfsmtest.WithNonvoters(1))
	nv := c.Members[3]
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	members, err := l.Group().Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range members {
		if m.ID == nv.ID {
			found = true
			if m.Voter {
				t.Errorf("member %s is a voter, want non-voter", m.ID)
			}
		}
	}
	if !found {
		t.Fatalf("Members() = %+v, want %s among them", members, nv.ID)
	}
	w := newWrite(t, 1)
	write(t, ctx, c, w)
	if err := w.check(nv); err != nil {
		t.Errorf("non-voter: %v", err)
	}
	if nv.Group().IsLeader() {
		t.Error("the non-voter is leader")
	}
}

func TestGroupTransferLeadership(t *testing.T) {
	ctx := waitCtx(t)
	c := raftfsmtest.NewGroup(t, 3)
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The target is the LAST follower in configuration order: hashicorp
	// raft's "transfer to anyone" picks the first most up-to-date one, so a
	// transfer that ignored its target would pick another member here.
	var target *raftfsmtest.Member
	for _, m := range c.Members {
		if m != l {
			target = m
		}
	}
	// Raft sends the target TimeoutNow once it has replicated what it
	// knows the target lacks; a target still being caught up after the
	// group's start can then lose its election. Transfer to a member that
	// holds the leader's whole log, as an operator's transfer would.
	// (write waits until every member applied it.)
	write(t, ctx, c, newWrite(t, 0))
	if l, err = c.Leader(ctx); err != nil {
		t.Fatal(err)
	}
	target = nil
	for _, m := range c.Members {
		if m != l {
			target = m
		}
	}
	if err := l.Group().TransferLeadership(ctx, target.ID); err != nil {
		t.Fatalf("TransferLeadership(%s) = %v", target.ID, err)
	}
	// Raft answers the transfer only once the old leader has left its
	// leader loop.
	if l.Group().IsLeader() {
		t.Errorf("%s still leads after TransferLeadership returned", l.ID)
	}
	// The target must lead, at least for a while: an election under load
	// may follow, but not within the milliseconds between two polls.
	if !becomesLeader(ctx, target) {
		t.Errorf("TransferLeadership(%s): %s never led afterwards", target.ID, target.ID)
	}
	nl, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// To the leader itself: already done (raft would refuse a transfer
	// to itself; an operator asking for it, or a test whose leader is
	// already the target, must not fail).
	if err := nl.Group().TransferLeadership(ctx, nl.ID); err != nil {
		t.Errorf("TransferLeadership(%s) by itself = %v, want nil", nl.ID, err)
	}
	if err := nl.Group().TransferLeadership(ctx, "nobody"); !errors.Is(err, raftfsm.ErrUnknownMember) {
		t.Errorf("TransferLeadership(nobody) = %v, want ErrUnknownMember", err)
	}
	if err := nl.Group().TransferLeadership(ctx, ""); err != nil {
		t.Errorf("TransferLeadership(any) = %v", err)
	}
	w := newWrite(t, 1)
	write(t, ctx, c, w)
	checkAll(t, c, w)
}

func TestGroupRemoveServer(t *testing.T) {
	ctx := waitCtx(t)
	c := raftfsmtest.NewGroup(t, 3)
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var victim *raftfsmtest.Member
	for _, m := range c.Members {
		if m != l {
			victim = m
			break
		}
	}
	// Through whoever leads: under load the leader can lose its
	// leadership while committing the change (ErrNoQuorum, outcome
	// unknown), and the change is sent again.
	if err := c.RemoveServer(ctx, victim.ID); err != nil {
		t.Fatalf("RemoveServer(%s) = %v", victim.ID, err)
	}
	if l, err = c.Leader(ctx); err != nil {
		t.Fatal(err)
	}
	members, err := l.Group().Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if m.ID == victim.ID {
			t.Errorf("Members() still lists %s after RemoveServer", victim.ID)
		}
	}
	c.Stop(victim)
	w := newWrite(t, 1)
	write(t, ctx, c, w)
	checkAll(t, c, w)
}

func TestGroupRestartFromDisk(t *testing.T) {
	ctx := waitCtx(t)
	c := raftfsmtest.NewGroup(t, 3, raftfsmtest.WithGroupOptions(func(o *raftfsm.GroupOptions) {
		o.TrailingLogs = 1
	}))
	// Some state comes back from a snapshot, some from the log after it.
	var writes []testWrite
	for i := range 10 {
		w := newWrite(t, i+1)
		writes = append(writes, w)
		write(t, ctx, c, w)
		if i == 4 {
			for _, m := range c.Members {
				if err := m.Group().TakeSnapshot(ctx); err != nil {
					t.Fatalf("TakeSnapshot on %s = %v", m.ID, err)
				}
			}
		}
	}
	for _, m := range c.Members {
		c.Stop(m)
	}
	for _, m := range c.Members {
		c.Restart(m)
	}
	// A new write commits only once a leader of the restarted group has
	// the old log; applying it everywhere means everything before it is
	// applied too.
	w := newWrite(t, 11)
	writes = append(writes, w)
	write(t, ctx, c, w)
	for _, w := range writes {
		checkAll(t, c, w)
	}
}

func TestGroupClose(t *testing.T) {
	ctx := waitCtx(t)
	c := raftfsmtest.NewGroup(t, 1)
	g := c.Members[0].Group()
	if err := g.Close(ctx); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := g.Close(ctx); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := g.Apply(ctx, newWrite(t, 1).cmd); !errors.Is(err, raftfsm.ErrClosed) {
		t.Errorf("Apply after Close = %v, want ErrClosed", err)
	}
	if _, err := g.Members(ctx); !errors.Is(err, raftfsm.ErrClosed) {
		t.Errorf("Members after Close = %v, want ErrClosed", err)
	}
}

// TestForeignCertRefused: a client whose certificate comes from another
// CA, or that has none, cannot complete a TLS handshake with a member's
// Raft port, so it can send no Raft traffic.
func TestForeignCertRefused(t *testing.T) {
	ctx := waitCtx(t)
	c := raftfsmtest.NewGroup(t, 1)
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	foreignCA, err := pki.NewCA("foreign")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := pki.IssueNode(foreignCA, "m9", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  *tls.Config
	}{
		{"foreign CA cert, trusting the cluster CA", pki.ClientTLS(stranger, c.CA.Pool())},
		{"no cert", &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: c.CA.Pool()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", l.Addr, tt.cfg)
			if err == nil {
				// TLS 1.3: the client hears of the rejection on its
				// first read. Were it accepted, Raft would wait for an
				// RPC: the deadline turns that into a failure.
				conn.SetReadDeadline(time.Now().Add(raftfsmtest.WaitTimeout))
				_, err = conn.Read(make([]byte, 1))
				conn.Close()
			}
			var ne net.Error
			if err == nil || errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("a client with %s talked to %s: %v", tt.name, l.Addr, err)
			}
		})
	}
	// The real member still works.
	w := newWrite(t, 1)
	write(t, ctx, c, w)
}

func TestOpenGroupOptions(t *testing.T) {
	ca, err := pki.NewCA("c")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := pki.IssueNode(ca, "a", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := pki.MutualTLS(pair, ca.Pool())
	noClientAuth := good.Clone()
	noClientAuth.ClientAuth = tls.VerifyClientCertIfGiven
	noRoots := good.Clone()
	noRoots.RootCAs = nil
	noCert := good.Clone()
	noCert.Certificates = nil
	tls12 := good.Clone()
	tls12.MaxVersion = tls.VersionTLS12
	serverOnlyCallback := noCert.Clone()
	serverOnlyCallback.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { c := pair.TLS(); return &c, nil }

	tests := []struct {
		name string
		tls  *tls.Config
		want error
	}{
		{"nil TLS", nil, raftfsm.ErrTLSConfig},
		{"client cert not required", noClientAuth, raftfsm.ErrTLSConfig},
		{"servers not verified", noRoots, raftfsm.ErrTLSConfig},
		{"no certificate", noCert, raftfsm.ErrTLSConfig},
		{"TLS 1.2", tls12, raftfsm.ErrTLSConfig},
		{"certificate callback for serving only", serverOnlyCallback, raftfsm.ErrTLSConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := raftfsm.OpenGroup(context.Background(), raftfsm.GroupOptions{
				ID: "a", Dir: t.TempDir(), Bind: "127.0.0.1:0", TLS: tt.tls, FSM: newFSM(t),
			})
			if err == nil {
				g.Close(context.Background())
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("OpenGroup = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := raftfsm.OpenGroup(context.Background(), raftfsm.GroupOptions{TLS: good}); err == nil {
		t.Error("OpenGroup without ID, Dir, Bind or FSM succeeded")
	}
}

// TestGroupRestore: a snapshot written before w3 is restored through the
// leader; every member then holds w1 and w2 and not w3, and new writes go
// on from there.
func TestGroupRestore(t *testing.T) {
	ctx := waitCtx(t)
	c := raftfsmtest.NewGroup(t, 3)
	w1, w2, w3 := newWrite(t, 1), newWrite(t, 2), newWrite(t, 3)
	write(t, ctx, c, w1)
	write(t, ctx, c, w2)
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if err := l.FSM().WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	write(t, ctx, c, w3)

	// Through whoever leads. Under load the leader can lose its
	// leadership before the restore (NotLeaderError, ErrNoLeader) or while
	// committing it (ErrNoQuorum: outcome unknown; at load 30 a follower
	// busy installing the snapshot can miss the 150 ms leader lease); the
	// restore is sent again then,
	// as an operator would: the same snapshot restored twice is the same
	// state, which the checks below judge.
	restore := func(b []byte) error {
		for {
			l, err := c.Leader(ctx)
			if err != nil {
				return err
			}
			err = l.Group().Restore(ctx, bytes.NewReader(b))
			var nl *raftfsm.NotLeaderError
			if (errors.Is(err, raftfsm.ErrNoQuorum) || errors.Is(err, raftfsm.ErrNoLeader) || errors.As(err, &nl)) && ctx.Err() == nil {
				t.Logf("Restore on %s = %v; sending it again", l.ID, err)
				continue
			}
			return err
		}
	}
	corrupt := bytes.Clone(snap.Bytes())
	corrupt[len(corrupt)/2] ^= 0xff
	if err := restore(corrupt); !errors.Is(err, raftfsm.ErrBadSnapshot) {
		t.Errorf("Restore(corrupt) = %v, want ErrBadSnapshot", err)
	}
	checkAll(t, c, w3)

	if err := restore(snap.Bytes()); err != nil {
		t.Fatalf("Restore = %v", err)
	}
	w4 := newWrite(t, 4)
	write(t, ctx, c, w4)
	for _, w := range []testWrite{w1, w2, w4} {
		checkAll(t, c, w)
	}
	for _, m := range c.Running() {
		if err := w3.check(m); err == nil {
			t.Errorf("member %s still holds %s after restoring a snapshot taken before it", m.ID, w3.name)
		}
	}
}

// TestGroupInstallSnapshot: a member that was down while the others
// compacted their logs catches up from a snapshot the leader sends over
// the TLS transport.
func TestGroupInstallSnapshot(t *testing.T) {
	ctx := waitCtx(t)
	c := raftfsmtest.NewGroup(t, 3, raftfsmtest.WithGroupOptions(func(o *raftfsm.GroupOptions) {
		o.TrailingLogs = 1
	}))
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var behind *raftfsmtest.Member
	for _, m := range c.Members {
		if m != l {
			behind = m
			break
		}
	}
	c.Stop(behind)
	var writes []testWrite
	for i := range 5 {
		w := newWrite(t, i+1)
		writes = append(writes, w)
		write(t, ctx, c, w)
	}
	for _, m := range c.Running() {
		if err := m.Group().TakeSnapshot(ctx); err != nil {
			t.Fatalf("TakeSnapshot on %s = %v", m.ID, err)
		}
	}
	c.Restart(behind)
	w := newWrite(t, 6)
	writes = append(writes, w)
	write(t, ctx, c, w)
	for _, w := range writes {
		if err := w.check(behind); err != nil {
			t.Errorf("member %s after catching up: %v", behind.ID, err)
		}
	}
	// It never took a snapshot itself (threshold 8192, every two
	// minutes): one in its store came from the leader.
	snaps, err := os.ReadDir(filepath.Join(behind.Dir, "raft", raftfsm.SnapshotDir))
	if err != nil || len(snaps) == 0 {
		t.Errorf("%s has no snapshot (%v): it did not catch up by InstallSnapshot", behind.ID, err)
	}
}

// TestForeignMemberCannotJoin: a one-member group adds a voter whose
// certificate comes from another CA. Raft commits that configuration
// entry with the old configuration (one voter), but from then on every
// write needs the stranger's acknowledgement, which it can never send:
// writes fail with ErrNoQuorum and the stranger has received no entry.
func TestForeignMemberCannotJoin(t *testing.T) {
	ctx := waitCtx(t)
	c := raftfsmtest.NewGroup(t, 1)
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	foreignCA, err := pki.NewCA("foreign")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := pki.IssueNode(foreignCA, "x", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The stranger trusts the cluster CA as a client and its own CA for
	// whoever dials it: the best it can do without a cluster certificate.
	cfg := pki.MutualTLS(pair, c.CA.Pool())
	cfg.ClientCAs = foreignCA.Pool()
	x, err := raftfsm.OpenGroup(ctx, raftfsm.GroupOptions{
		ID: "x", Dir: t.TempDir(), Bind: "127.0.0.1:0", TLS: cfg, FSM: newFSM(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close(context.Background()) })

	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := l.Group().AddVoter(short, "x", x.Addr()); err != nil {
		t.Fatalf("AddVoter(stranger) = %v", err)
	}
	if _, err := l.Group().Apply(short, newWrite(t, 1).cmd); !errors.Is(err, raftfsm.ErrNoQuorum) {
		t.Errorf("Apply with the stranger as second voter = %v, want ErrNoQuorum", err)
	}
	if st := x.Stats(); st.LastIndex != 0 || st.LeaderID != "" {
		t.Errorf("the stranger got log entries or a leader: %+v", st)
	}
}

// TestGroupRestartPortTaken: a member whose port another process took
// while it was down comes back on a new port, the leader learns the new
// address, and the member receives writes again.
func TestGroupRestartPortTaken(t *testing.T) {
	ctx := waitCtx(t)
	c := raftfsmtest.NewGroup(t, 3)
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var moved *raftfsmtest.Member
	for _, m := range c.Members {
		if m != l {
			moved = m
			break
		}
	}
	c.Stop(moved)
	old := moved.Addr
	squatter, err := net.Listen("tcp", old)
	if err != nil {
		t.Fatalf("taking %s: %v", old, err)
	}
	t.Cleanup(func() { squatter.Close() })
	c.Restart(moved)
	if moved.Addr == old {
		t.Fatalf("%s restarted on its taken address %s", moved.ID, old)
	}
	w := newWrite(t, 1)
	write(t, ctx, c, w)
	if err := c.Poll(ctx, func() bool { return w.check(moved) == nil }); err != nil {
		t.Fatalf("%s at %s never received the write: %v", moved.ID, moved.Addr, w.check(moved))
	}
	l, err = c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := l.Group().Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.ID == moved.ID && m.Addr != moved.Addr {
			t.Errorf("configuration has %s at %s, want %s", m.ID, m.Addr, moved.Addr)
		}
	}
}

// becomesLeader polls m every millisecond until it leads (true) or ctx
// ends (false).
func becomesLeader(ctx context.Context, m *raftfsmtest.Member) bool {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if m.Group().IsLeader() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}
