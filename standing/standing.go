// Package standing is a member's standing in its replica group, what
// decides whether it may answer for the group's zones as a member
// (issue 17 item 6): it has caught up after a restart (catchup.go), and
// it is still in the group's Raft configuration (removed.go).
//
// A Standing is made by the node once its Raft group is open, run on one
// goroutine (Run) until the node closes, and asked from any goroutine
// (Ready, Removed, Check). It reaches the other members only through
// their admin endpoints (package admin).
package standing

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/raftfsm"
)

var (
	// ErrCatchingUp is what Ready reports while the member has not
	// applied up to the leader's commit index as of its start, or does
	// not know that index yet.
	ErrCatchingUp = errors.New("catching up with the leader")
	// ErrRemoved is what Ready reports once the group's leader has said
	// that its configuration no longer holds this member (wrapped, with
	// the leader that said so).
	ErrRemoved = errors.New("removed from the group")
	// ErrNoLeaderFound is returned by Check when no member it could ask
	// knew a leader that answered.
	ErrNoLeaderFound = errors.New("no member reachable that knows a leader")
)

// DefaultRemovedCheck is Options.RemovedCheck's default.
const DefaultRemovedCheck = 10 * time.Second

// Group is what a Standing needs of the member's Raft group
// (*raftfsm.Group satisfies it).
type Group interface {
	Leader() (id, addr string)
	Members(ctx context.Context) ([]raftfsm.Member, error)
	Stats() raftfsm.GroupStats
}

// Asker asks other members' admin endpoints (*admin.Client satisfies it).
type Asker interface {
	Status(ctx context.Context, addr string) (*admin.Status, error)
	MembersForwarded(ctx context.Context, addr string) ([]admin.MemberStatus, error)
}

// Options configure a Standing. Group, Self, Admin and Client are
// required.
type Options struct {
	// Self is this member's Raft server ID.
	Self  string
	Group Group
	// Processed is the state machine's processed index
	// (raftfsm.FSM.Processed); nil counts Raft's applied index only.
	Processed func() uint64
	// Admin returns the admin address member id announced (the group's
	// member directory).
	Admin  func(id string) (string, bool)
	Client Asker
	// AskTimeout bounds each request to another member. Default 2s.
	AskTimeout time.Duration
	// ReadyLag is how many entries the member may still have to apply
	// when it first says ready ([group] ready_lag). Default 0.
	ReadyLag uint64
	// RemovedCheck is how long the member hears from no leader before it
	// asks the other members whether it was removed, and how often it
	// asks again while removed (to learn it was added back) ([group]
	// removed_check). 0: DefaultRemovedCheck; negative: never asks on
	// its own (a leader's notice, Check, still works).
	RemovedCheck time.Duration
	// OnRemoved is called when the member learns it was removed
	// (removed true) or, once removed, that the configuration holds it
	// again (false), on the goroutine that learnt it; it must not block
	// for long. nil: nothing is called.
	OnRemoved func(removed bool)
	// Log; nil discards.
	Log *slog.Logger
}

// Standing follows a member's standing in its group. Its methods may be
// called from any goroutine.
type Standing struct {
	o       Options
	catchUp catchUp

	mu      sync.Mutex
	removed error // non-nil (wrapping ErrRemoved) while removed
	checkMu sync.Mutex
}

// New returns a Standing for o; Run starts following.
func New(o Options) *Standing {
	if o.AskTimeout <= 0 {
		o.AskTimeout = 2 * time.Second
	}
	if o.RemovedCheck == 0 {
		o.RemovedCheck = DefaultRemovedCheck
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Standing{o: o}
}

// Run learns the leader's commit index as of the start (catch-up) and
// watches for the member's removal until ctx ends. Call it once, on its
// own goroutine.
func (s *Standing) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.learnCommitTarget(ctx) })
	if s.o.RemovedCheck > 0 {
		wg.Go(func() { s.watchRemoval(ctx) })
	}
	wg.Wait()
}

// Ready returns nil when the member may say ready as far as its standing
// goes: not removed, and caught up (ErrRemoved or ErrCatchingUp, wrapped,
// else). The node checks the rest (listeners, a known leader).
func (s *Standing) Ready() error {
	if err := s.Removed(); err != nil {
		return err
	}
	var processed uint64
	if s.o.Processed != nil {
		processed = s.o.Processed()
	}
	return s.catchUp.check(s.o.Group.Stats().AppliedIndex, processed, s.o.ReadyLag)
}

// Removed returns nil while the member is in the group's configuration
// as far as it knows, else ErrRemoved wrapped with the leader that said
// so.
func (s *Standing) Removed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removed
}
