package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/miekg/dns"

	raftbench "github.com/ddnrs/ddnrs/bench/raft"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// startGroup starts a 7-member group of real `ddnrs node` processes and
// kills them all when the test ends, logging their output if it failed.
func startGroup(t *testing.T, ctx context.Context) *raftbench.Cluster {
	t.Helper()
	return startGroupOf(t, ctx, 0)
}

// startGroupOf is startGroup with members members (0: raftbench's
// default of 7).
func startGroupOf(t *testing.T, ctx context.Context, members int) *raftbench.Cluster {
	t.Helper()
	needBinary(t)
	c, err := raftbench.Start(ctx, raftbench.Options{Bin: ddnrsBin, Dir: t.TempDir(), Members: members, Logf: t.Logf})
	if err != nil {
		t.Fatalf("starting the group: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			for _, m := range c.Members {
				t.Logf("%s output:\n%s", m.ID, m.Output())
			}
		}
	})
	return c
}

// history collects the records of every owner's writes.
type history struct {
	mu   sync.Mutex
	recs []raftbench.Record
}

func (h *history) add(r raftbench.Record) {
	h.mu.Lock()
	h.recs = append(h.recs, r)
	h.mu.Unlock()
}

func (h *history) snapshot() []raftbench.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.recs)
}

// firstOKAfter returns the first acknowledged write called at or after t.
func (h *history) firstOKAfter(t time.Time) (raftbench.Record, bool) {
	var best raftbench.Record
	found := false
	for _, r := range h.snapshot() {
		if r.Outcome == raftbench.OK && !r.Call.Before(t) && (!found || r.Return.Before(best.Return)) {
			best, found = r, true
		}
	}
	return best, found
}

// okCount is the number of acknowledged writes called at or after t.
func (h *history) okCount(t time.Time) int {
	n := 0
	for _, r := range h.snapshot() {
		if r.Outcome == raftbench.OK && !r.Call.Before(t) {
			n++
		}
	}
	return n
}

// writer publishes one owner's changes to random running members until
// ctx ends, recording every call.
type writer struct {
	o    *raftbench.Owner
	c    *raftbench.Cluster
	h    *history
	done chan struct{}
	err  error // ErrDiverged or a signing failure; set before done closes
}

func startWriter(ctx context.Context, c *raftbench.Cluster, o *raftbench.Owner, h *history, seed uint64) *writer {
	w := &writer{o: o, c: c, h: h, done: make(chan struct{})}
	rng := rand.New(rand.NewPCG(seed, 1))
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			alive := c.Alive()
			if len(alive) == 0 {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			m := alive[rng.IntN(len(alive))]
			cctx, cancel := context.WithTimeout(ctx, 8*time.Second)
			rec, err := o.Publish(cctx, m.Admin)
			cancel()
			if rec.Call.IsZero() && err != nil {
				w.err = err
				return
			}
			if ctx.Err() != nil && rec.Outcome == raftbench.Unknown {
				// Cut short by the test, not the group: still a write
				// that may commit, so it stays in the history.
				h.add(rec)
				return
			}
			h.add(rec)
			if err != nil {
				w.err = err
				return
			}
			if rec.Outcome != raftbench.OK {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	return w
}

// settle publishes o's pending change (if any) until the group gives a
// verdict, so the owner knows the zone's final state.
func settle(t *testing.T, ctx context.Context, c *raftbench.Cluster, o *raftbench.Owner, h *history) {
	t.Helper()
	for range 50 {
		l, err := c.WaitLeader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := o.Publish(ctx, l.Admin)
		h.add(rec)
		if err != nil {
			t.Fatalf("%s: %v", o.Origin, err)
		}
		if rec.Outcome == raftbench.OK {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: no write committed after 50 tries", o.Origin)
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

// checkAcked checks, by DNS, that every write acknowledged to o is on
// every member in ms: the name it added, and a serial at least o's.
func checkAcked(t *testing.T, ctx context.Context, o *raftbench.Owner, ms []*raftbench.Member) {
	t.Helper()
	acked := o.Acked()
	for _, m := range ms {
		if err := raftbench.WaitSerial(ctx, m.DNS, o.Origin, o.Serial()); err != nil {
			t.Errorf("%s: %v", m.ID, err)
		}
		serial, err := raftbench.SOASerial(ctx, m.DNS, o.Origin)
		if err != nil {
			t.Errorf("%s: %v", m.ID, err)
			continue
		}
		if want := o.Serial(); serial != want && serialBefore(serial, want) {
			t.Errorf("%s serves %s serial %d, below the acknowledged %d", m.ID, o.Origin, serial, want)
		}
		missing := 0
		for _, r := range acked {
			name := fmt.Sprintf("w%d.%s", r.Seq, o.Origin)
			v, ok, err := raftbench.TXT(ctx, m.DNS, name)
			switch {
			case err != nil:
				t.Errorf("%s: %v", m.ID, err)
			case !ok || v != r.Value:
				missing++
				if missing <= 3 {
					t.Errorf("%s: acknowledged write %d (serial %d, index %d) missing: %s TXT = %q, %v", m.ID, r.Seq, r.Serial, r.Index, name, v, ok)
				}
			}
		}
		if missing > 0 {
			t.Errorf("%s: %d of %d acknowledged writes to %s missing", m.ID, missing, len(acked), o.Origin)
		}
	}
}

func serialBefore(a, b uint32) bool { return a != b && b-a < 1<<31 }

// TestGroupSurvivesKills is issue 3's fault test: two owners publish
// signed changes to random members of a 7-member group while the test
// SIGKILLs the leader, then the new leader and a follower (three down:
// writes go on), then a fourth member (no quorum: writes fail with a
// clear error while the three survivors keep answering DNS), then
// restarts all four. Every acknowledged change must be on every running
// member, and the whole write history must be linearizable.
func TestGroupSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 7 node processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	t0 := time.Now()
	c := startGroup(t, ctx)
	t.Logf("7 members up and joined in %v", time.Since(t0).Round(time.Millisecond))

	h := &history{}
	var owners []*raftbench.Owner
	for i, origin := range []string{"a.test.", "b.test.", "q.test."} {
		o, err := c.NewOwner(i, origin, true)
		if err != nil {
			t.Fatal(err)
		}
		settle(t, ctx, c, o, h) // creates the zone
		owners = append(owners, o)
	}
	if err := c.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	prober := c.StartProber(ctx, "a.test.")
	proberStopped := false
	defer func() {
		if !proberStopped {
			prober.Stop()
		}
	}()

	wctx, stopWriters := context.WithCancel(ctx)
	defer stopWriters()
	writers := []*writer{
		startWriter(wctx, c, owners[0], h, 1),
		startWriter(wctx, c, owners[1], h, 2),
	}
	stopAll := func() {
		stopWriters()
		for _, w := range writers {
			<-w.done
			if w.err != nil {
				t.Fatalf("writer %s: %v", w.o.Origin, w.err)
			}
		}
	}
	progress := func(since time.Time, n int) {
		t.Helper()
		waitFor(t, ctx, fmt.Sprintf("%d writes acknowledged", n), func() bool {
			for _, w := range writers {
				select {
				case <-w.done:
					t.Fatalf("writer %s stopped: %v", w.o.Origin, w.err)
				default:
				}
			}
			return h.okCount(since) >= n
		})
	}
	progress(time.Time{}, 10)

	// 1. The leader dies.
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	killed := []*raftbench.Member{leader}
	kill := time.Now()
	leader.Kill()
	progress(kill, 10)
	first, _ := h.firstOKAfter(kill)
	t.Logf("killed leader %s: next committed write %v after the SIGKILL", leader.ID, first.Return.Sub(kill).Round(time.Millisecond))

	// 2. The new leader and a follower die: three of seven down.
	leader2, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kill = time.Now()
	leader2.Kill()
	killed = append(killed, leader2)
	progress(kill, 5)
	first, _ = h.firstOKAfter(kill)
	t.Logf("killed leader %s: next committed write %v after the SIGKILL", leader2.ID, first.Return.Sub(kill).Round(time.Millisecond))
	for _, m := range c.Alive() {
		if l := c.Leader(ctx); l == nil || m != l {
			m.Kill()
			killed = append(killed, m)
			break
		}
	}
	kill = time.Now()
	progress(kill, 10)
	alive := c.Alive()
	if len(alive) != 4 {
		t.Fatalf("%d members running, want 4", len(alive))
	}
	if err := c.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	// Writers go on; what was acknowledged so far is applied by the
	// leader's commit index the wait above saw... and by nothing later,
	// so check only what was acknowledged before it.
	for _, o := range owners[:2] {
		checkAckedBefore(t, ctx, c, o, alive)
	}

	// 3. A fourth member dies: no quorum.
	var fourth *raftbench.Member
	for _, m := range alive {
		if l := c.Leader(ctx); l == nil || m != l {
			fourth = m
			break
		}
	}
	fourth.Kill()
	killed = append(killed, fourth)
	kill = time.Now()
	survivors := c.Alive()
	quorumLost := time.Now()
	// Writes through each survivor fail with a clear error in bounded
	// time (apply_timeout 2s, leader_wait 2s, plus forwarding).
	q := owners[2]
	for _, m := range survivors {
		qctx, qcancel := context.WithTimeout(ctx, 15*time.Second)
		rec, err := q.Publish(qctx, m.Admin)
		qcancel()
		h.add(rec)
		if err != nil {
			t.Fatalf("write through %s with 4 of 7 down: %v", m.ID, err)
		}
		if rec.Outcome != raftbench.Unknown {
			t.Fatalf("write through %s with 4 of 7 down: %s, want a failure", m.ID, rec.Outcome)
		}
		if !errors.Is(rec.Err, raftfsm.ErrNoQuorum) && !errors.Is(rec.Err, raftfsm.ErrNoLeader) {
			t.Errorf("write through %s with 4 of 7 down failed with %v, want no_quorum or no_leader", m.ID, rec.Err)
		}
		t.Logf("write through %s with 4 of 7 down: %v after %v", m.ID, rec.Err, rec.Return.Sub(rec.Call).Round(time.Millisecond))
	}
	// ...while every survivor answers DNS from what it has.
	for _, m := range survivors {
		for _, o := range owners[:2] {
			if _, err := raftbench.SOASerial(ctx, m.DNS, o.Origin); err != nil {
				t.Errorf("survivor %s with 4 of 7 down: %v", m.ID, err)
			}
		}
	}
	t.Logf("no quorum for %v", time.Since(quorumLost).Round(time.Millisecond))

	// 4. The four come back and catch up; writes go on.
	for _, m := range killed {
		if err := c.StartMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	back := time.Now()
	progress(back, 10)
	first, _ = h.firstOKAfter(back)
	t.Logf("restarted %d members: first committed write %v later", len(killed), first.Return.Sub(back).Round(time.Millisecond))
	stopAll()
	stats := prober.Stop()
	proberStopped = true
	for _, o := range owners {
		settle(t, ctx, c, o, h)
	}
	if err := c.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	for _, o := range owners {
		checkAcked(t, ctx, o, c.Members)
	}
	for _, m := range c.Members {
		s := stats[m.ID]
		t.Logf("DNS probe of %s: %d queries, %d answers, longest gap while up %v, first answer %v after a restart", m.ID, s.Queries, s.Answers, s.LongestGap.Round(time.Millisecond), s.Startup.Round(time.Millisecond))
		if s.Answers == 0 {
			t.Errorf("%s never answered the DNS probe", m.ID)
		}
		for _, f := range s.Failures {
			t.Logf("  %s unanswered: %s", m.ID, f)
		}
		// A live member answers reads through every fault of its group
		// (a replica cut off from its leader still answers).
		if s.Unanswered > 0 {
			t.Errorf("%s left %d probe queries unanswered (retry included) while up and serving", m.ID, s.Unanswered)
		}
	}
	for _, m := range survivors {
		if stats[m.ID].Answers == 0 {
			t.Errorf("survivor %s answered no probe", m.ID)
		}
	}

	checkLinearizable(t, ctx, c, owners, h, t0)
}

// checkAckedBefore checks the writes acknowledged so far on ms after
// every member in ms applied the leader's commit index.
func checkAckedBefore(t *testing.T, ctx context.Context, c *raftbench.Cluster, o *raftbench.Owner, ms []*raftbench.Member) {
	t.Helper()
	acked := o.Acked()
	if err := c.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if len(acked) > 0 {
			if err := raftbench.WaitSerial(ctx, m.DNS, o.Origin, acked[len(acked)-1].Serial); err != nil {
				t.Errorf("%s: %v", m.ID, err)
			}
		}
		missing := 0
		for _, r := range acked {
			name := fmt.Sprintf("w%d.%s", r.Seq, o.Origin)
			v, ok, err := raftbench.TXT(ctx, m.DNS, name)
			if err != nil {
				t.Errorf("%s: %v", m.ID, err)
				continue
			}
			if !ok || v != r.Value {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%s with 3 of 7 down: %d of %d acknowledged writes to %s missing", m.ID, missing, len(acked), o.Origin)
		}
	}
}

// checkLinearizable adds a read of every zone on every member (all
// running and caught up, no write in flight) to the write history and
// checks it with porcupine.
func checkLinearizable(t *testing.T, ctx context.Context, c *raftbench.Cluster, owners []*raftbench.Owner, h *history, t0 time.Time) {
	t.Helper()
	v, err := raftbench.CheckLinearizable(ctx, c.Members, owners, h.snapshot(), t0, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("history: %s", v.Summary)
	switch v.Result {
	case porcupine.Ok:
	case porcupine.Unknown:
		t.Errorf("porcupine timed out: %s", v.Summary)
	default:
		t.Errorf("the write history is not linearizable; longest partial linearizations: %v", v.Partial)
	}
}

// TestGroupPublishCLI publishes with the owner's real CLI: `ddnrs zone
// publish` of the fixture zone through one follower (a create), then of
// an edited file through another (a change re-signed incrementally);
// every member of the 7-member group must serve the result, signed, at
// the serial publish printed.
func TestGroupPublishCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 7 node processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := startGroup(t, ctx)
	sz := signFixture(t)
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var followers []*raftbench.Member
	for _, m := range c.Members {
		if m != leader {
			followers = append(followers, m)
		}
	}
	type published struct {
		Zone   string `json:"zone"`
		Action string `json:"action"`
		Serial uint32 `json:"serial"`
		Index  uint64 `json:"index"`
	}
	publish := func(m *raftbench.Member, file string) published {
		t.Helper()
		args := []string{"zone", "publish", "--server", m.Admin, "--ca", c.CACert, "--cert", c.OpsCert,
			"--tls-key", c.OpsKey, "--key", sz.Key, "--output", "json", file}
		out := runCmd(t, "", ddnrsBin, args...)
		var p published
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("ddnrs zone publish --output json printed %q: %v", out, err)
		}
		if p.Serial == 0 || p.Index == 0 {
			t.Fatalf("ddnrs zone publish through %s: %+v, want a serial and a log index", m.ID, p)
		}
		return p
	}
	checkAll := func(name, want string, serial uint32) {
		t.Helper()
		if err := c.WaitCaughtUp(ctx); err != nil {
			t.Fatal(err)
		}
		for _, m := range c.Members {
			w := time.Now()
			if err := raftbench.WaitSerial(ctx, m.DNS, sz.Origin, serial); err != nil {
				t.Errorf("%s: %v", m.ID, err)
			}
			if d := time.Since(w); d > 50*time.Millisecond {
				t.Logf("%s served serial %d only %v after reporting the commit applied", m.ID, serial, d.Round(time.Millisecond))
			}
			got, err := raftbench.SOASerial(ctx, m.DNS, sz.Origin)
			if err != nil || got != serial {
				t.Errorf("%s: %s SOA serial %d (%v), want %d", m.ID, sz.Origin, got, err, serial)
			}
			r, err := raftbench.Query(ctx, m.DNS, name, dns.TypeTXT)
			if err != nil {
				t.Fatal(err)
			}
			var txt, sigs int
			for _, rr := range r.Answer {
				switch rr := rr.(type) {
				case *dns.TXT:
					if strings.Join(rr.Txt, "") == want {
						txt++
					}
				case *dns.RRSIG:
					sigs++
				}
			}
			if txt != 1 || sigs == 0 {
				t.Errorf("%s: %s TXT: %d matching %q, %d RRSIGs; want 1 and signed:\n%v", m.ID, name, txt, want, sigs, r)
			}
		}
	}
	first := publish(followers[0], sz.Unsigned)
	t.Logf("publish through %s: %+v", followers[0].ID, first)
	checkAll("example.", "v=spf1 -all", first.Serial)

	src, err := os.ReadFile(sz.Unsigned)
	if err != nil {
		t.Fatal(err)
	}
	edited := filepath.Join(t.TempDir(), "example.zone")
	if err := os.WriteFile(edited, append(src, []byte("\nadded 300 IN TXT \"published through the group\"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	second := publish(followers[len(followers)-1], edited)
	t.Logf("publish through %s: %+v", followers[len(followers)-1].ID, second)
	if !serialBefore(first.Serial, second.Serial) || second.Index <= first.Index {
		t.Errorf("second publish %+v is not after the first %+v", second, first)
	}
	checkAll("added.example.", "published through the group", second.Serial)
}
