// Package writes is a node's write path: every write a node receives,
// decoded once, checked, and sent where it belongs — to this group's
// leader, to the group of another zone over DDNRS-RPC, or to the
// registry group — with the registry claims an operator's create, delete
// or key rotation needs first (claims.go). write.go reads top to bottom:
// the four doors a command enters by, then the three routes.
// docs/architecture.md, "A write", tells the story.
//
// The package sees its node through the small Replica interface (the
// running state machine and Raft group, the member directory, the
// overlay, the registry's state and log); node implements it.
package writes

import (
	"context"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/internal/wallclock"
	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// Replica is what the write path needs of its node. The methods may be
// called from any goroutine.
type Replica interface {
	// Running returns the state machine and Raft group while the node
	// runs, else an error (an admin.ErrUnavailable).
	Running() (*raftfsm.FSM, *raftfsm.Group, error)
	// Client is the admin client this node forwards writes with.
	Client() *admin.Client
	// Stored returns the local replica's zone origin, or an error
	// wrapping raftfsm.ErrNoZone.
	Stored(origin string) (*zone.Zone, error)
	// Held reports whether this node serves the zone origin.
	Held(origin string) bool
	// Member returns the addresses member id announced to the group.
	Member(id string) (admin.MemberAddrs, bool)
	// Overlay is the node's overlay, nil (an untyped nil) while off.
	Overlay() Overlay
	// Registry is the local replica's registry state on a registry
	// member, else an error (api.ErrNotRegistry).
	Registry() (*raftfsm.RegistryState, error)
	// Log is the registry's log as this node follows it, nil (an
	// untyped nil) when it follows none.
	Log() Log
	// Heartbeat reports this node to the registry's node directory now.
	Heartbeat(ctx context.Context) error
}

// Overlay is what the write path needs of the overlay: the members of
// another group and a way to send them a change.
type Overlay interface {
	// ID is this node's peer id (skipped among the members).
	ID() peer.ID
	// Providers returns the members of the group that holds zone
	// origin itself (overlay.ErrNoZone when none).
	Providers(ctx context.Context, origin string) ([]peer.AddrInfo, error)
	// SubmitChange sends a change (or dry run) to one member.
	SubmitChange(ctx context.Context, p peer.AddrInfo, req *overlay.SubmitChangeRequest) (*overlay.SubmitChangeResponse, error)
}

// Log is the registry's log as this node follows it.
type Log interface {
	// Sync polls the log now and returns once the new entries are
	// applied (or why not).
	Sync(ctx context.Context) error
	// Nudge asks for a poll soon, without waiting.
	Nudge()
	// Claim returns the group and owner key of origin's claim as last
	// followed (owner nil when its key is not usable); ok is false when
	// the log names no group for it.
	Claim(origin string) (group string, owner *dns.DNSKEY, ok bool)
}

// Options configure a Path. The durations are the node's [admin]
// settings (node.AdminConfig documents them and their defaults).
type Options struct {
	Group  string // this node's group name ([group] name)
	NodeID string // this node's id ([group] id), the actor of its claims

	// RegistryMember: this node is a member of the registry group.
	RegistryMember bool
	// RegistryEnabled: this node takes part in the registry (a member,
	// or [registry] admin set).
	RegistryEnabled bool
	// FollowsRegistry: [registry] urls is set (the node follows the
	// registry's log from outside).
	FollowsRegistry bool
	// RegistryAdmin are the registry members' admin endpoints.
	RegistryAdmin []string

	LeaderWait     time.Duration // how long a write waits for a leader
	ForwardTimeout time.Duration // bounds one forward to another node
	RequestTimeout time.Duration // bounds the release of a claim after a failed create

	Limits ZoneLimits // [admin] zone limits

	// Metrics the path counts into (the node's registry).
	Apply     prometheus.Observer    // ddnrs_raft_apply_seconds
	Rejected  *prometheus.CounterVec // ddnrs_raft_rejected_changes_total{reason}
	Forwarded *prometheus.CounterVec // ddnrs_admin_forwarded_total{result}

	// AckWait bounds how long the leader waits, after it committed a
	// zone change, for the other members to have processed it before
	// the change is answered (read-your-writes, ack.go; [group]
	// ack_wait). 0: answered at once.
	AckWait time.Duration

	// Now is the clock of the registry commands' times; nil: time.Now
	// in UTC, to the second.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// Path is a node's write path. Its methods may be called from any
// goroutine; before the node runs and after it stops they return the
// Replica's Running error.
type Path struct {
	r    Replica
	o    Options
	log  *slog.Logger
	acks memberAcks // what the other members reported processed (ack.go)
}

// New returns the write path of the node r.
func New(r Replica, o Options) *Path {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = func() time.Time { return wallclock.Now().UTC().Truncate(time.Second) }
	}
	return &Path{r: r, o: o, log: log}
}

func (w *Path) running() (*raftfsm.FSM, *raftfsm.Group, error) { return w.r.Running() }

func (w *Path) now() time.Time { return w.o.Now() }
