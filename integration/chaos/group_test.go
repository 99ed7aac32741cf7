package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	raftbench "github.com/ddnrs/ddnrs/bench/raft"
	"github.com/ddnrs/ddnrs/internal/netlab"
)

// labNet puts a raftbench cluster's member i on the lab's host i.
type labNet struct{ lab *netlab.Lab }

func (n labNet) IP(i int) string { return n.lab.Hosts[i-1].IP }
func (n labNet) Command(i int, name string, args ...string) *exec.Cmd {
	return n.lab.Command(n.lab.Hosts[i-1], name, args...)
}

// group is a Raft group of real node processes, one per namespace, with
// its owners publishing and their history.
type group struct {
	t      *testing.T
	ctx    context.Context // the test's
	lab    *netlab.Lab
	c      *raftbench.Cluster
	dir    string
	owners []*raftbench.Owner
	prep   any // what the fault's prepare returned

	mu   sync.Mutex
	recs []raftbench.Record
}

// startGroup builds a lab of opts.Members hosts and starts a group of
// that many members on it (opts' Bin, Dir, Net and Logf are set here);
// prepare (may be nil) runs first with the cluster's directory (to
// mount a small disk at a member's data dir).
func startGroup(t *testing.T, ctx context.Context, opts raftbench.Options, prepare func(dir string) any) *group {
	t.Helper()
	netlab.Need(t)
	needBinary(t)
	lab := netlab.New(t, opts.Members)
	dir := t.TempDir()
	var prep any
	if prepare != nil {
		prep = prepare(dir)
	}
	opts.Bin, opts.Dir, opts.Net, opts.Logf = ddnrsBin, dir, labNet{lab}, t.Logf
	c, err := raftbench.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() || os.Getenv("CHAOS_LOGS") != "" {
			for _, m := range c.Members {
				t.Logf("%s output:\n%s", m.ID, m.Output())
			}
		}
	})
	g := &group{t: t, ctx: ctx, lab: lab, c: c, dir: dir, prep: prep}
	for i := range 2 {
		o, err := c.NewOwner(i, fmt.Sprintf("z%d.chaos.test.", i), true)
		if err != nil {
			t.Fatal(err)
		}
		g.owners = append(g.owners, o)
		g.settle(ctx, o) // creates the zone
	}
	return g
}

// host is member m's lab host.
func (g *group) host(m *raftbench.Member) *netlab.Host {
	for i, x := range g.c.Members {
		if x == m {
			return g.lab.Hosts[i]
		}
	}
	panic("not a member: " + m.ID)
}

func (g *group) hosts(ms []*raftbench.Member) []*netlab.Host {
	var hs []*netlab.Host
	for _, m := range ms {
		hs = append(hs, g.host(m))
	}
	return hs
}

func (g *group) add(r raftbench.Record) {
	g.mu.Lock()
	g.recs = append(g.recs, r)
	g.mu.Unlock()
}

func (g *group) history() []raftbench.Record {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.recs)
}

// okAfter counts the acknowledged writes called at or after t.
func (g *group) okAfter(t time.Time) int {
	n := 0
	for _, r := range g.history() {
		if r.Outcome == raftbench.OK && !r.Call.Before(t) {
			n++
		}
	}
	return n
}

// ackAfter returns the first write acknowledged at or after t (called
// before or after it); ok is false when none yet.
func (g *group) ackAfter(t time.Time) (first raftbench.Record, ok bool) {
	for _, r := range g.history() {
		if r.Outcome == raftbench.OK && !r.Return.Before(t) && (!ok || r.Return.Before(first.Return)) {
			first, ok = r, true
		}
	}
	return first, ok
}

// lastIndex is the highest Raft index of an acknowledged write.
func (g *group) lastIndex() uint64 {
	var i uint64
	for _, r := range g.history() {
		if r.Outcome == raftbench.OK && r.Index > i {
			i = r.Index
		}
	}
	return i
}

// settle publishes o's next (or pending) change to the leader until it
// gets a verdict, so the owner knows its zone's state.
func (g *group) settle(ctx context.Context, o *raftbench.Owner) {
	g.t.Helper()
	for range 100 {
		l, err := g.c.WaitLeader(ctx)
		if err != nil {
			g.t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 8*time.Second)
		rec, err := o.Publish(cctx, l.Admin)
		cancel()
		g.add(rec)
		if err != nil {
			g.t.Fatalf("%s: %v", o.Origin, err)
		}
		if rec.Outcome == raftbench.OK {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.t.Fatalf("%s: no write committed after 100 tries", o.Origin)
}

// write publishes every owner's changes to random members (the client
// reaches them all, whatever the fault between members) until ctx ends;
// the returned function waits for the writers and returns the first
// error that is a bug (ErrDiverged), nil otherwise.
func (g *group) write(ctx context.Context) (wait func() error) {
	var wg sync.WaitGroup
	errs := make([]error, len(g.owners))
	for i, o := range g.owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for ctx.Err() == nil {
				m := g.c.Members[rng.IntN(len(g.c.Members))]
				if !m.Alive() {
					continue
				}
				// A client gives up on a member after 2 s and tries
				// another: a member cut off from its leader holds a
				// forwarded write up to forward_timeout (7 s).
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				rec, err := o.Publish(cctx, m.Admin)
				cancel()
				if rec.Call.IsZero() {
					errs[i] = err
					return
				}
				g.add(rec) // an unknown write cut short by ctx may still commit: it stays
				if err != nil {
					errs[i] = err
					return
				}
				if rec.Outcome != raftbench.OK {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	return func() error {
		wg.Wait()
		return errors.Join(errs...)
	}
}

// checkAcked checks, by DNS on every member, that every write
// acknowledged to every owner is there: the name it added and a serial
// at least the owner's.
func (g *group) checkAcked(ctx context.Context) {
	g.t.Helper()
	for _, o := range g.owners {
		acked := o.Acked()
		for _, m := range g.c.Members {
			if err := raftbench.WaitSerial(ctx, m.DNS, o.Origin, o.Serial()); err != nil {
				g.t.Errorf("%s: %v", m.ID, err)
				continue
			}
			missing := 0
			for _, r := range acked {
				name := fmt.Sprintf("w%d.%s", r.Seq, o.Origin)
				v, ok, err := raftbench.TXT(ctx, m.DNS, name)
				if err != nil {
					g.t.Errorf("%s: %v", m.ID, err)
					continue
				}
				if !ok || v != r.Value {
					if missing++; missing <= 3 {
						g.t.Errorf("%s: acknowledged write %d of %s (serial %d, index %d) missing: %s TXT = %q, %v", m.ID, r.Seq, o.Origin, r.Serial, r.Index, name, v, ok)
					}
				}
			}
			if missing > 0 {
				g.t.Errorf("%s: %d of %d acknowledged writes to %s lost", m.ID, missing, len(acked), o.Origin)
			}
		}
	}
}
