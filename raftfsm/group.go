package raftfsm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
)

// Errors returned by the Group. *NotLeaderError and the FSM's
// *RejectedError are the typed ones.
var (
	// ErrNoLeader is returned (wrapped) by Apply and the membership
	// methods when this member lost leadership to a transfer in progress
	// and knows no new leader yet. Retry shortly, against any member.
	// (When no leader is known at all they wait for an election until
	// ApplyTimeout or ctx ends, and then return ErrNoQuorum.)
	ErrNoLeader = errors.New("the group has no leader")
	// ErrNoQuorum is returned (wrapped, with the cause) by Apply and the
	// membership methods when the leader could not commit the entry
	// within GroupOptions.ApplyTimeout or the caller's context: a
	// majority of voters is unreachable, or leadership was lost while the
	// entry was in flight. The entry may still be committed later: the
	// outcome is unknown, not failed.
	ErrNoQuorum = errors.New("no quorum: the change was not committed in time")
	// ErrClosed is returned by every method of a Group after Close, and
	// by calls Close interrupted.
	ErrClosed = errors.New("raft group is closed")
	// ErrUnknownMember is returned by TransferLeadership when the target
	// ID is not a voter of the group.
	ErrUnknownMember = errors.New("no such voter in the group")
)

// NotLeaderError is returned by Apply and the membership methods on a
// follower that knows the leader: send the request there.
type NotLeaderError struct {
	LeaderID   string // the leader's server ID
	LeaderAddr string // the leader's Raft address
}

func (e *NotLeaderError) Error() string {
	return fmt.Sprintf("not the leader; the leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// Default timeouts: a LAN leader failover in well under a second without
// spurious elections. Measured with seven ddnrs node processes on one
// 2-core machine (bench/README.md, go run ./bench/cmd/failover -quiet):
// 300 ms fails over in 0.5-0.8 s (median ~0.63 s) and an idle group held
// its leader for minutes under load; 250 ms failed over in ~0.55 s but
// held 14 elections in an idle minute; 500 ms took 0.8-1.2 s.
const (
	DefaultHeartbeatTimeout   = 300 * time.Millisecond
	DefaultElectionTimeout    = 300 * time.Millisecond
	DefaultLeaderLeaseTimeout = 150 * time.Millisecond
	DefaultCommitTimeout      = 50 * time.Millisecond
	DefaultApplyTimeout       = 5 * time.Second
)

// File names inside GroupOptions.Dir.
const (
	// RaftLogFile holds Raft's log and stable store (raft-boltdb/v2).
	RaftLogFile = "raft.db"
	// SnapshotDir holds Raft's snapshots (two are retained).
	SnapshotDir = "snapshots"
)

// GroupOptions configure OpenGroup.
type GroupOptions struct {
	// ID is this member's Raft server ID; required, stable for the life of
	// its data directory.
	ID string
	// Dir is the member's Raft directory (RaftLogFile, SnapshotDir);
	// created with mode 0700 if missing. Required.
	Dir string
	// Bind is the Raft listen address; "127.0.0.1:0" picks a free port.
	// Required.
	Bind string
	// Advertise is the address peers reach this member at; default: the
	// address bound (which then must not be 0.0.0.0 or ::). It must be
	// named by this member's certificate.
	Advertise string
	// TLS is the mutual TLS configuration (pki.MutualTLS): this member's
	// certificate, peers verified against the cluster CA both ways.
	// Required; the Group forces TLS 1.3.
	TLS *tls.Config
	// Bootstrap makes this member the single voter of a new group when
	// its directory holds no Raft state; ignored otherwise.
	Bootstrap bool
	// Logger receives Raft's logs (component=raft). Default: discard.
	Logger *slog.Logger
	// Raft timeouts. Defaults: DefaultHeartbeatTimeout,
	// DefaultElectionTimeout, DefaultLeaderLeaseTimeout,
	// DefaultCommitTimeout.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout, CommitTimeout time.Duration
	// ApplyTimeout bounds Apply and membership changes when the caller's
	// context has no earlier deadline. Default DefaultApplyTimeout.
	ApplyTimeout time.Duration
	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger the next (checked every two minutes, raft's
	// SnapshotInterval); default raft's (8192).
	SnapshotThreshold uint64
	// TrailingLogs is how many entries a snapshot leaves in the log, so a
	// follower a little behind catches up from the log rather than a
	// whole snapshot; default raft's (10240).
	TrailingLogs uint64
	// FSM is the state machine (NewFSM). Required. Its Apply results are
	// what Apply returns: an *ApplyResult, or an error such as
	// *RejectedError.
	FSM raft.FSM
}

func (o *GroupOptions) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.HeartbeatTimeout, DefaultHeartbeatTimeout)
	def(&o.ElectionTimeout, DefaultElectionTimeout)
	def(&o.LeaderLeaseTimeout, DefaultLeaderLeaseTimeout)
	def(&o.CommitTimeout, DefaultCommitTimeout)
	def(&o.ApplyTimeout, DefaultApplyTimeout)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func (o *GroupOptions) validate() error {
	var problems []error
	if o.ID == "" {
		problems = append(problems, errors.New("group: ID is required"))
	}
	if o.Dir == "" {
		problems = append(problems, errors.New("group: Dir is required"))
	}
	if o.Bind == "" {
		problems = append(problems, errors.New("group: Bind is required"))
	}
	if o.FSM == nil {
		problems = append(problems, errors.New("group: FSM is required"))
	}
	if o.ApplyTimeout < 0 {
		problems = append(problems, errors.New("group: ApplyTimeout is negative"))
	}
	return errors.Join(problems...)
}

// Group is this node's member of a Raft replica group: hashicorp/raft
// with raft-boltdb/v2 for the log and stable store, a FileSnapshotStore,
// and a NetworkTransport over mutual TLS 1.3. Its methods are safe for
// concurrent use; every one that waits takes a ctx and returns when it is
// done. Close shuts it down.
type Group struct {
	id      string
	raft    *raft.Raft
	trans   *raft.NetworkTransport
	stream  *tlsStreamLayer
	store   *raftboltdb.BoltStore
	log     *slog.Logger
	hlog    *hclogAdapter // Raft's logger; quieted for Close
	applyTO time.Duration
	dir     string
	fsm     raft.FSM

	handingOff atomic.Bool    // a leadership transfer of handOff runs
	mu         sync.Mutex     // guards closed and wg.Add against Close's wg.Wait
	closed     bool           // Close has started
	wg         sync.WaitGroup // future waiters
	closing    chan struct{}  // closed when Close starts
	closeOnce  sync.Once
	closeDone  chan struct{} // closed when Close finished
	closeErr   error

	nudging    bool // a Nudge barrier is in flight (guarded by mu)
	nudgeAgain bool // another Nudge came meanwhile: one more barrier after it
}

// DropConns closes every open Raft connection, accepted or dialled, whose
// peer certificate match reports (a certificate revoked since the
// handshake) and returns how many it closed. Raft dials again when it
// needs the peer, and the TLS configuration's checks refuse the
// handshake then. Safe from any goroutine.
func (g *Group) DropConns(match func(*x509.Certificate) bool) int {
	return g.stream.dropConns(match)
}

// OpenGroup opens (or creates) the member's Raft state in opts.Dir,
// starts listening on opts.Bind, and starts Raft. With opts.Bootstrap and
// no existing state it bootstraps a group whose single voter is this
// member. It returns once Raft runs, not once a leader is known.
func OpenGroup(ctx context.Context, opts GroupOptions) (g *Group, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opts.defaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := checkMutualTLS(opts.TLS)
	if err != nil {
		return nil, err
	}
	// "member", not "id": Raft logs snapshot IDs under "id".
	log := opts.Logger.With("component", "raft", "member", opts.ID)

	var cleanup []func() error
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				err = errors.Join(err, cleanup[i]())
			}
		}
	}()

	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("raft directory: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(opts.Dir, RaftLogFile),
		BoltOptions: &bolt.Options{Timeout: lockTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("raft log %s: %w", filepath.Join(opts.Dir, RaftLogFile), err)
	}
	cleanup = append(cleanup, store.Close)
	var logs raft.LogStore = newLogCache(store, logCacheEntries, logCacheEntryBytes)
	if p, ok := opts.FSM.(preverifying); ok {
		logs = &preverifyingLogs{LogStore: logs, pre: p}
	}
	hlog := newHclog(log).(*hclogAdapter)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(opts.Dir, 2, hlog.Named("snapshots"))
	if err != nil {
		return nil, fmt.Errorf("raft snapshots: %w", err)
	}
	stream, err := newTLSStreamLayer(opts.Bind, opts.Advertise, tlsCfg, log)
	if err != nil {
		return nil, err
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hlog.Named("transport"),
	})
	cleanup = append(cleanup, trans.Close)

	cfg := raft.DefaultConfig()
	cfg.LocalID = raft.ServerID(opts.ID)
	cfg.HeartbeatTimeout = opts.HeartbeatTimeout
	cfg.ElectionTimeout = opts.ElectionTimeout
	cfg.LeaderLeaseTimeout = opts.LeaderLeaseTimeout
	cfg.CommitTimeout = opts.CommitTimeout
	// Concurrent Applys wait in a buffered channel (MaxAppendEntries,
	// 64) rather than each handing its entry to the leader loop in turn,
	// so the loop takes them as one batch: one log write, one
	// AppendEntries, one FSM batch (issue 11 item 5, bench/README.md).
	cfg.BatchApplyCh = true
	if opts.SnapshotThreshold > 0 {
		cfg.SnapshotThreshold = opts.SnapshotThreshold
	}
	if opts.TrailingLogs > 0 {
		cfg.TrailingLogs = opts.TrailingLogs
	}
	cfg.Logger = hlog
	if err := raft.ValidateConfig(cfg); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}

	if opts.Bootstrap {
		has, err := raft.HasExistingState(logs, store, snaps)
		if err != nil {
			return nil, fmt.Errorf("raft state: %w", err)
		}
		if !has {
			conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: cfg.LocalID, Address: trans.LocalAddr()}}}
			if err := raft.BootstrapCluster(cfg, logs, store, snaps, trans, conf); err != nil {
				return nil, fmt.Errorf("raft bootstrap: %w", err)
			}
			log.Info("bootstrapped a new group", "addr", trans.LocalAddr())
		}
	}
	r, err := raft.NewRaft(cfg, opts.FSM, logs, store, snaps, trans)
	if err != nil {
		return nil, fmt.Errorf("starting raft: %w", err)
	}
	return &Group{
		id:        opts.ID,
		raft:      r,
		trans:     trans,
		stream:    stream,
		store:     store,
		log:       log,
		hlog:      hlog,
		applyTO:   opts.ApplyTimeout,
		dir:       opts.Dir,
		fsm:       opts.FSM,
		closing:   make(chan struct{}),
		closeDone: make(chan struct{}),
	}, nil
}

// ID returns this member's server ID.
func (g *Group) ID() string { return g.id }

// Addr returns this member's advertised Raft address.
func (g *Group) Addr() string { return string(g.trans.LocalAddr()) }

// Leader returns the leader's ID and address as this member knows them,
// or empty strings when it knows of none.
func (g *Group) Leader() (id, addr string) {
	a, i := g.raft.LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this member is the leader.
func (g *Group) IsLeader() bool { return g.raft.State() == raft.Leader }

// Nudge has the leader tell its followers its commit index now: Raft
// sends it with the next entries, or after CommitTimeout (50 ms) when
// none come, and a follower applies an entry only once it knows it is
// committed. Nudge appends a barrier entry (never handed to the state
// machine), which is replicated at once, and does not wait for it. A
// writer that waits for the members to apply its entry calls it (node's
// read-your-writes); on a follower it does nothing. Nudges coalesce: with
// a barrier in flight, the Nudges that come meanwhile make one more
// barrier once it is done, not one each (a barrier costs every member a
// log write and an fsync; concurrent writers would double the entries).
func (g *Group) Nudge() {
	if g.raft.State() != raft.Leader {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	if g.nudging {
		g.nudgeAgain = true
		return
	}
	g.nudging = true
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			g.raft.Barrier(100 * time.Millisecond).Error()
			g.mu.Lock()
			again := g.nudgeAgain && !g.closed && g.raft.State() == raft.Leader
			g.nudgeAgain = false
			g.nudging = again
			g.mu.Unlock()
			if !again {
				return
			}
		}
	}()
}

// preverifying is a state machine that checks commands ahead of their
// apply (FSM.Preverify).
type preverifying interface{ Preverify(cmd []byte) }

// Apply commits cmd through Raft and returns the FSM's result once the
// entry is applied on this member (the leader). It returns
// *NotLeaderError on a follower that knows the leader (no leader known:
// it waits for an election, see ErrNoLeader); ErrNoQuorum (wrapped)
// when the entry is not committed within ApplyTimeout or ctx, whichever
// ends first; the FSM's error (*RejectedError, ErrHalted) when the FSM
// refused the command; ErrClosed after Close. A command above
// MaxEntryBytes is refused with ReasonTooLarge before it is proposed.
func (g *Group) Apply(ctx context.Context, cmd []byte) (*ApplyResult, error) {
	if len(cmd) > MaxEntryBytes {
		return nil, &RejectedError{Reason: ReasonTooLarge, Err: fmt.Errorf("a command of %d bytes is above the %d-byte bound of a raft log entry; send the zone as a staged upload", len(cmd), MaxEntryBytes)}
	}
	ctx, cancel := g.bound(ctx)
	defer cancel()
	if err := g.leaderCheck(ctx); err != nil {
		return nil, err
	}
	if p, ok := g.fsm.(preverifying); ok {
		p.Preverify(cmd)
	}
	f := g.raft.Apply(cmd, g.enqueueTimeout(ctx))
	if err := g.wait(ctx, f); err != nil {
		return nil, err
	}
	switch r := f.Response().(type) {
	case *ApplyResult:
		return r, nil
	case error:
		if errors.Is(r, ErrStoreFailed) {
			g.handOff()
		}
		return nil, r
	default:
		return nil, fmt.Errorf("raft FSM returned %T, want *ApplyResult or an error", r)
	}
}

// AddVoter adds (or promotes) the member id at addr as a voter, once the
// change is committed.
func (g *Group) AddVoter(ctx context.Context, id, addr string) error {
	return g.change(ctx, func(to time.Duration) raft.Future {
		return g.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, to)
	})
}

// AddNonvoter adds the member id at addr as a non-voter: it receives the
// log (a read replica) but does not vote or count for quorum.
func (g *Group) AddNonvoter(ctx context.Context, id, addr string) error {
	return g.change(ctx, func(to time.Duration) raft.Future {
		return g.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, to)
	})
}

// RemoveServer removes the member id from the group.
func (g *Group) RemoveServer(ctx context.Context, id string) error {
	return g.change(ctx, func(to time.Duration) raft.Future {
		return g.raft.RemoveServer(raft.ServerID(id), 0, to)
	})
}

// TransferLeadership hands leadership to the voter id, or to the most
// up-to-date voter when id is "". It returns when the transfer is done;
// at once, with nil, when id already leads (hashicorp/raft refuses a
// transfer to itself, but the operator's wish is met).
func (g *Group) TransferLeadership(ctx context.Context, id string) error {
	ctx, cancel := g.bound(ctx)
	defer cancel()
	if err := g.leaderCheck(ctx); err != nil {
		return err
	}
	if id == g.id {
		return nil
	}
	if id == "" {
		return g.wait(ctx, g.raft.LeadershipTransfer())
	}
	members, err := g.Members(ctx)
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.ID == id && m.Voter {
			return g.wait(ctx, g.raft.LeadershipTransferToServer(raft.ServerID(m.ID), raft.ServerAddress(m.Addr)))
		}
	}
	return fmt.Errorf("transfer leadership to %q: %w", id, ErrUnknownMember)
}

// TakeSnapshot snapshots the FSM now and compacts the log (keeping
// TrailingLogs entries), as Raft otherwise does every SnapshotThreshold
// entries. With nothing new since the last snapshot it does nothing.
func (g *Group) TakeSnapshot(ctx context.Context) error {
	ctx, cancel := g.bound(ctx)
	defer cancel()
	err := g.wait(ctx, g.raft.Snapshot())
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	return err
}

// SnapshotVerifier is the capability Restore needs of the FSM: it calls
// VerifySnapshot on the uploaded snapshot before Raft stores it. Raft
// v1.7.3 panics when the FSM refuses a user restore, so without it
// Restore refuses to run.
type SnapshotVerifier interface {
	VerifySnapshot(r io.Reader) error
}

// Restore replaces the group's whole state with the snapshot read from r
// (as the FSM writes them). It runs on the leader: Raft stores the
// snapshot, restores the FSM from it, and sends it to every follower; it
// returns once a no-op entry after it has committed, i.e. a quorum holds
// the restored state. The snapshot is spooled to a file in the Raft
// directory first (Raft needs its size) and verified by the FSM (a
// SnapshotVerifier) before Raft sees it.
func (g *Group) Restore(ctx context.Context, r io.Reader) error {
	ctx, cancel := g.bound(ctx)
	defer cancel()
	if err := g.leaderCheck(ctx); err != nil {
		return err
	}
	f, err := os.CreateTemp(g.dir, "restore-*.tmp")
	if err != nil {
		return fmt.Errorf("spooling snapshot: %w", err)
	}
	discard := func() { f.Close(); os.Remove(f.Name()) }
	size, err := io.Copy(f, r)
	if err != nil {
		discard()
		return fmt.Errorf("spooling snapshot: %w", err)
	}
	v, ok := g.fsm.(SnapshotVerifier)
	if !ok {
		discard()
		return fmt.Errorf("restore: the state machine (%T) cannot verify snapshots, and Raft panics on one it cannot restore", g.fsm)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		discard()
		return err
	}
	if err := v.VerifySnapshot(f); err != nil {
		discard()
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		discard()
		return err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: size}
	timeout := g.enqueueTimeout(ctx)
	// The waiting goroutine owns the file from here: Raft may still read
	// it after ctx ends and this returns.
	return g.wait(ctx, errFuture(func() error {
		defer discard()
		return g.raft.Restore(meta, f, timeout)
	}))
}

// errFuture runs f in the goroutine that wait starts and reports its
// error as a raft.Future's.
type errFuture func() error

func (f errFuture) Error() error { return f() }

// Member is one server of the group's configuration.
type Member struct {
	ID     string
	Addr   string
	Voter  bool // false: a non-voting read replica
	Leader bool // this member believes it is the leader
}

// Members returns the latest configuration this member knows (which may
// be uncommitted), leader marked.
func (g *Group) Members(ctx context.Context) ([]Member, error) {
	f := g.raft.GetConfiguration()
	if err := g.wait(ctx, f); err != nil {
		return nil, err
	}
	_, leader := g.raft.LeaderWithID()
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter, Leader: s.ID == leader})
	}
	return out, nil
}

// GroupStats is a point-in-time view of this member's Raft state.
type GroupStats struct {
	State        string // Follower, Candidate, Leader or Shutdown
	Term         uint64
	LastIndex    uint64    // last log index stored
	CommitIndex  uint64    // last index known committed
	AppliedIndex uint64    // last index handed to the FSM (it may still be applying it)
	LastContact  time.Time // last contact with the leader; zero on the leader or never
	LeaderID     string    // "" when no leader is known
	LeaderAddr   string
}

// Stats returns this member's Raft state without waiting on Raft.
func (g *Group) Stats() GroupStats {
	addr, id := g.raft.LeaderWithID()
	return GroupStats{
		State:        g.raft.State().String(),
		Term:         g.raft.CurrentTerm(),
		LastIndex:    g.raft.LastIndex(),
		CommitIndex:  g.raft.CommitIndex(),
		AppliedIndex: g.raft.AppliedIndex(),
		LastContact:  g.raft.LastContact(),
		LeaderID:     string(id),
		LeaderAddr:   string(addr),
	}
}

// Close shuts Raft down (without handing leadership over: do that first
// with TransferLeadership), then closes the transport and the log store.
// From the start of Close, Raft's warnings and errors that only report
// its own shutdown log at Debug. It is idempotent; a later call returns
// the first call's result. If ctx
// ends first Close returns its error and the shutdown finishes in the
// background.
func (g *Group) Close(ctx context.Context) error {
	g.closeOnce.Do(func() {
		g.mu.Lock()
		g.closed = true
		g.mu.Unlock()
		close(g.closing)
		g.hlog.stop()
		go func() {
			defer close(g.closeDone)
			err := g.raft.Shutdown().Error()
			g.waitFutures()
			g.closeErr = errors.Join(err, g.trans.Close(), g.store.Close())
		}()
	})
	select {
	case <-g.closeDone:
		return g.closeErr
	case <-ctx.Done():
		return fmt.Errorf("closing raft group: %w", ctx.Err())
	}
}

// futureGrace bounds how long Close waits, once Raft is down, for the
// goroutines waiting on Raft futures.
const futureGrace = 2 * time.Second

// waitFutures waits for the goroutines of wait to see their futures
// answered. hashicorp/raft v1.7.3 answers nearly every future by the time
// Shutdown returns, but not one enqueued just as it shut down (seen under
// load: a Close waiting on it forever). Nothing of Raft runs any more and
// those goroutines touch no store, so after futureGrace Close goes on and
// they are left blocked: at most one per unanswered future, at shutdown.
func (g *Group) waitFutures() {
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(futureGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		g.log.Warn("raft left futures unanswered at shutdown; closing without them", "waited", futureGrace)
	}
}

// leaderCheck returns nil on the leader, *NotLeaderError when another
// member is known to lead, ErrClosed after Close. While no leader is
// known (an election is running) it waits for one until ctx ends, then
// returns ErrNoQuorum: a group that cannot elect a leader in that time
// has lost its quorum.
func (g *Group) leaderCheck(ctx context.Context) error {
	for {
		select {
		case <-g.closing:
			return ErrClosed
		default:
		}
		if g.raft.State() == raft.Leader {
			return nil
		}
		addr, id := g.raft.LeaderWithID()
		if id != "" && string(id) != g.id {
			return &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
		}
		t := time.NewTimer(leaderPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: no leader was elected in time: %w", ErrNoQuorum, ctx.Err())
		case <-g.closing:
			t.Stop()
			return ErrClosed
		case <-t.C:
		}
	}
}

// leaderPoll is how often leaderCheck looks for a new leader.
const leaderPoll = 10 * time.Millisecond

// bound returns ctx limited by ApplyTimeout.
func (g *Group) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.applyTO)
}

// enqueueTimeout is how long Raft may wait to enqueue an entry: what is
// left of ctx.
func (g *Group) enqueueTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		if left := time.Until(d); left > 0 {
			return left
		}
		return time.Nanosecond
	}
	return g.applyTO
}

// change runs a membership change on the leader.
func (g *Group) change(ctx context.Context, start func(timeout time.Duration) raft.Future) error {
	ctx, cancel := g.bound(ctx)
	defer cancel()
	if err := g.leaderCheck(ctx); err != nil {
		return err
	}
	return g.wait(ctx, start(g.enqueueTimeout(ctx)))
}

// wait waits for f, or for ctx, and maps Raft's errors to ours. The
// goroutine that waits on the future is tracked by g.wg; Raft answers
// every future by the time Shutdown returns, so Close can wait for it.
func (g *Group) wait(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
	}
	g.wg.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.wg.Done()
		done <- f.Error()
	}()
	select {
	case err := <-done:
		return g.mapErr(err)
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNoQuorum, ctx.Err())
	case <-g.closing:
		return ErrClosed
	}
}

// handOff hands leadership to another voter once this leader's zone
// store has failed (ErrStoreFailed): its state machine has halted, so it
// could acknowledge no write until restarted, while the others, with
// disks of their own, can. Without it a leader whose disk filled kept
// leading and failing every write (integration/chaos TestZoneStoreFull).
// One transfer at a time, in a goroutine Close waits for; called from
// Apply.
func (g *Group) handOff() {
	if !g.handingOff.CompareAndSwap(false, true) {
		return
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		g.handingOff.Store(false)
		return
	}
	g.wg.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.wg.Done()
		defer g.handingOff.Store(false)
		err := g.raft.LeadershipTransfer().Error()
		g.log.Error("state machine halted: handing leadership to another member", "transfer_err", err)
	}()
}

// mapErr turns Raft's future errors into the Group's.
func (g *Group) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		if addr, id := g.raft.LeaderWithID(); id != "" && string(id) != g.id {
			return &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
		}
		return fmt.Errorf("%w: %w", ErrNoLeader, err)
	case errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %w", ErrNoQuorum, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	default:
		return err
	}
}
