// Package raftfsmtest starts real Raft replica groups for tests: N members
// in one process, each with its own temporary directory, real mutual TLS
// 1.3 on 127.0.0.1 ports the kernel picks, and short timeouts. Everything
// a group starts is stopped by t.Cleanup.
package raftfsmtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/internal/testlog"
	"github.com/ddnrs/ddnrs/internal/testnet"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// Test timeouts: the production defaults, already short (LAN failover
// under a second); 250 ms lost leadership spuriously with seven members
// on two busy cores. ApplyTimeout is long for the same reason.
const (
	HeartbeatTimeout   = raftfsm.DefaultHeartbeatTimeout
	ElectionTimeout    = raftfsm.DefaultElectionTimeout
	LeaderLeaseTimeout = raftfsm.DefaultLeaderLeaseTimeout
	CommitTimeout      = 10 * time.Millisecond
	ApplyTimeout       = 10 * time.Second
)

// WaitTimeout bounds every wait of the helper (a leader, an index
// applied everywhere). It is a safety net against hangs, not a
// performance assertion.
const WaitTimeout = 60 * time.Second

// Option changes how NewGroup builds a group.
type Option func(*config)

type config struct {
	nonvoters int
	logger    func(testing.TB) *slog.Logger
	tweak     func(*raftfsm.GroupOptions)
}

// WithNonvoters adds k non-voting members after the n voters.
func WithNonvoters(k int) Option { return func(c *config) { c.nonvoters = k } }

// WithLogger sends every member's logs to the logger f returns (default:
// warnings and errors to t.Log).
func WithLogger(f func(testing.TB) *slog.Logger) Option { return func(c *config) { c.logger = f } }

// WithGroupOptions lets the test change each member's options before it
// opens (timeouts, snapshot threshold).
func WithGroupOptions(f func(*raftfsm.GroupOptions)) Option {
	return func(c *config) { c.tweak = f }
}

// Member is one member of a test group.
type Member struct {
	ID    string
	Dir   string // the member's data directory: Raft state and zone store
	Addr  string // its Raft address, the same across restarts
	Pair  *pki.Pair
	Voter bool

	mu    sync.Mutex
	group *raftfsm.Group // nil while stopped
	store *raftfsm.Store
	fsm   *raftfsm.FSM
}

// Group returns the member's running group, or nil while it is stopped.
func (m *Member) Group() *raftfsm.Group {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.group
}

// FSM returns the member's state machine, or nil while it is stopped.
func (m *Member) FSM() *raftfsm.FSM {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fsm
}

// Store returns the member's zone store, or nil while it is stopped.
func (m *Member) Store() *raftfsm.Store {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.store
}

// Cluster is a running test group.
type Cluster struct {
	t       testing.TB
	log     *slog.Logger
	cfg     config
	CA      *pki.CA
	Members []*Member
}

// NewGroup starts a group of n voters (plus WithNonvoters non-voters):
// member 0 bootstraps, the others are added by the leader one by one. It
// returns once every member is in the configuration. Each member runs
// R1's FSM over its own zone store.
func NewGroup(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	c := &Cluster{t: t, cfg: config{logger: testLogger}}
	for _, o := range opts {
		o(&c.cfg)
	}
	c.log = c.cfg.logger(t) // before the stop cleanup, so it logs the shutdown
	ca, err := pki.NewCA("raftfsmtest")
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	c.CA = ca
	for i := range n + c.cfg.nonvoters {
		id := fmt.Sprintf("m%d", i)
		pair, err := pki.IssueNode(ca, id, []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
		if err != nil {
			t.Fatalf("IssueNode: %v", err)
		}
		c.Members = append(c.Members, &Member{ID: id, Dir: filepath.Join(t.TempDir(), id), Pair: pair, Voter: i < n})
	}
	t.Cleanup(func() {
		for _, m := range c.Members {
			if err := c.stop(m); err != nil {
				t.Errorf("closing member %s: %v", m.ID, err)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	for i, m := range c.Members {
		if err := c.start(ctx, m, i == 0); err != nil {
			t.Fatalf("starting member %s: %v", m.ID, err)
		}
		if i == 0 {
			if _, err := c.Leader(ctx); err != nil {
				t.Fatalf("first member never became leader: %v", err)
			}
			continue
		}
		if err := c.join(ctx, m); err != nil {
			t.Fatalf("adding member %s: %v", m.ID, err)
		}
	}
	return c
}

// testLogger sends warnings and errors to t.Log until the test ends:
// Raft's transport has goroutines Close does not wait for, which may log
// later, and t.Log after the end of a test is a race.
func testLogger(t testing.TB) *slog.Logger { return testlog.New(t, slog.LevelWarn) }

// TLS returns the mutual TLS configuration of member m.
func (c *Cluster) TLS(m *Member) *tls.Config { return pki.MutualTLS(m.Pair, c.CA.Pool()) }

// start opens member m's store, FSM and group.
func (c *Cluster) start(ctx context.Context, m *Member, bootstrap bool) error {
	if err := os.MkdirAll(m.Dir, 0o700); err != nil {
		return err
	}
	store, err := raftfsm.OpenStore(raftfsm.StorePath(m.Dir))
	if err != nil {
		return err
	}
	fsm, err := raftfsm.NewFSM(store, raftfsm.FSMOptions{Logger: c.log.With("member", m.ID)})
	if err != nil {
		return errors.Join(err, store.Close())
	}
	bind := m.Addr
	if bind == "" {
		// Outside the ephemeral range, so that nothing else takes the
		// port while the member is stopped and Restart can bind it again.
		bind = net.JoinHostPort("127.0.0.1", strconv.Itoa(testnet.FreePort(c.t, "127.0.0.1", false)))
	}
	opts := raftfsm.GroupOptions{
		ID:                 m.ID,
		Dir:                filepath.Join(m.Dir, "raft"),
		Bind:               bind,
		TLS:                pki.MutualTLS(m.Pair, c.CA.Pool()),
		Bootstrap:          bootstrap,
		Logger:             c.log,
		HeartbeatTimeout:   HeartbeatTimeout,
		ElectionTimeout:    ElectionTimeout,
		LeaderLeaseTimeout: LeaderLeaseTimeout,
		CommitTimeout:      CommitTimeout,
		ApplyTimeout:       ApplyTimeout,
		FSM:                fsm,
	}
	if c.cfg.tweak != nil {
		c.cfg.tweak(&opts)
	}
	g, err := raftfsm.OpenGroup(ctx, opts)
	if err != nil {
		return errors.Join(err, store.Close())
	}
	m.mu.Lock()
	m.group, m.store, m.fsm, m.Addr = g, store, fsm, g.Addr()
	m.mu.Unlock()
	return nil
}

// stop closes member m's group and store; a stopped member is left alone.
func (c *Cluster) stop(m *Member) error {
	m.mu.Lock()
	g, store := m.group, m.store
	m.group, m.store, m.fsm = nil, nil, nil
	m.mu.Unlock()
	if g == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	return errors.Join(g.Close(ctx), store.Close())
}

// join adds member m through the leader, retrying while leadership moves
// and when a change was not committed in time (adding a member twice is
// harmless).
func (c *Cluster) join(ctx context.Context, m *Member) error {
	for {
		err := c.retry(ctx, func(g *raftfsm.Group) error {
			if m.Voter {
				return g.AddVoter(ctx, m.ID, m.Addr)
			}
			return g.AddNonvoter(ctx, m.ID, m.Addr)
		})
		if !errors.Is(err, raftfsm.ErrNoQuorum) || ctx.Err() != nil {
			return err
		}
	}
}

// RemoveServer removes member id through the leader, retrying while
// leadership moves and when the change was not committed in time (a
// leader change under load; removing a member twice is harmless), as join
// does for adding.
func (c *Cluster) RemoveServer(ctx context.Context, id string) error {
	for {
		err := c.retry(ctx, func(g *raftfsm.Group) error { return g.RemoveServer(ctx, id) })
		if !errors.Is(err, raftfsm.ErrNoQuorum) || ctx.Err() != nil {
			return err
		}
		c.t.Logf("RemoveServer(%s) = %v; sending it again", id, err)
	}
}

// Stop closes member m as a crash would end it, as far as its peers can
// tell (its directory is kept). Stopping a stopped member does nothing.
func (c *Cluster) Stop(m *Member) {
	c.t.Helper()
	if err := c.stop(m); err != nil {
		c.t.Fatalf("stopping %s: %v", m.ID, err)
	}
}

// Restart starts a stopped member again from its directory, on the same
// address. Should another process have bound that address meanwhile (the
// ports are picked outside the ephemeral range, so only another test's
// explicit choice can), the member starts on a new port and the leader
// updates its address, as an operator would after moving a member; that
// needs a quorum without it.
func (c *Cluster) Restart(m *Member) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	err := c.start(ctx, m, false)
	if errors.Is(err, syscall.EADDRINUSE) {
		c.t.Logf("restarting %s: %s is taken (%v); moving it to a new port", m.ID, m.Addr, err)
		m.mu.Lock()
		m.Addr = ""
		m.mu.Unlock()
		if err = c.start(ctx, m, false); err == nil {
			err = c.join(ctx, m)
		}
	}
	if err != nil {
		c.t.Fatalf("restarting %s: %v", m.ID, err)
	}
}

// Running returns the members that are not stopped.
func (c *Cluster) Running() []*Member {
	var out []*Member
	for _, m := range c.Members {
		if m.Group() != nil {
			out = append(out, m)
		}
	}
	return out
}

// Leader waits until a running member is leader and returns it.
func (c *Cluster) Leader(ctx context.Context) (*Member, error) {
	var found *Member
	err := poll(ctx, func() bool {
		for _, m := range c.Running() {
			if g := m.Group(); g != nil && g.IsLeader() {
				found = m
				return true
			}
		}
		return false
	})
	return found, err
}

// Apply sends cmd to the current leader, retrying on ErrNoLeader and
// *NotLeaderError while leadership moves, until ctx ends. Other errors
// are returned at once: *RejectedError, and ErrNoQuorum, after which the
// command may or may not be committed.
func (c *Cluster) Apply(ctx context.Context, cmd []byte) (*raftfsm.ApplyResult, error) {
	var res *raftfsm.ApplyResult
	err := c.retry(ctx, func(g *raftfsm.Group) error {
		var err error
		res, err = g.Apply(ctx, cmd)
		return err
	})
	return res, err
}

// retry runs f on the leader until it succeeds, fails with an error other
// than a leadership change, or ctx ends.
func (c *Cluster) retry(ctx context.Context, f func(*raftfsm.Group) error) error {
	for {
		l, err := c.Leader(ctx)
		if err != nil {
			return err
		}
		g := l.Group()
		if g == nil {
			continue
		}
		err = f(g)
		var nl *raftfsm.NotLeaderError
		if !errors.Is(err, raftfsm.ErrNoLeader) && !errors.As(err, &nl) && !errors.Is(err, raftfsm.ErrClosed) {
			return err
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// WaitApplied waits until the state machine of every running member has
// processed index (FSM.Processed: applied, rejected, skipped, or a
// repeat of a change it already holds). (Raft's own applied index counts
// entries handed to the FSM, which may not have applied them yet; the
// FSM's AppliedIndex counts only entries that changed the state, so it
// never reaches the index of a resent change whose first try committed.)
func (c *Cluster) WaitApplied(ctx context.Context, index uint64) error {
	err := poll(ctx, func() bool {
		for _, m := range c.Running() {
			if f := m.FSM(); f == nil || f.Processed() < index {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w; members: %s", err, c.describe())
	}
	return nil
}

// describe says where each running member stands, for a wait's error.
func (c *Cluster) describe() string {
	var b []byte
	for _, m := range c.Running() {
		g, f := m.Group(), m.FSM()
		if g == nil || f == nil {
			continue
		}
		st := g.Stats()
		b = fmt.Appendf(b, "[%s %s term %d last %d commit %d raft-applied %d fsm-processed %d fsm-applied %d leader %q] ",
			m.ID, st.State, st.Term, st.LastIndex, st.CommitIndex, st.AppliedIndex, f.Processed(), f.AppliedIndex(), st.LeaderID)
	}
	return string(b)
}

// Poll calls cond every 10 ms until it is true or ctx ends.
func (c *Cluster) Poll(ctx context.Context, cond func() bool) error { return poll(ctx, cond) }

// poll calls cond every 10 ms until it is true or ctx ends.
func poll(ctx context.Context, cond func() bool) error {
	for !cond() {
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
