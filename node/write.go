package node

// write.go: the glue between the node and its write path (package
// writes): the node is the writes.Replica the path sees, and its doors
// (Submit, the api.Backend and admin.Node methods, DDNRS-RPC) hand
// every write to the path.

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/writes"
	"github.com/ddnrs/ddnrs/zone"
)

// ZoneLimits bound the zones a node accepts writes for ([admin.limits]).
type ZoneLimits = writes.ZoneLimits

// DefaultZoneLimits are the limits of Default().
func DefaultZoneLimits() ZoneLimits { return writes.DefaultZoneLimits() }

// newWrites makes the node's write path (New calls it).
func (n *Node) newWrites() *writes.Path {
	c := n.cfg
	return writes.New(replica{n}, writes.Options{
		Group:           c.Group.Name,
		NodeID:          c.Group.ID,
		RegistryMember:  c.Registry.Member,
		RegistryEnabled: c.Registry.Enabled(),
		FollowsRegistry: len(c.Registry.URLs) > 0,
		RegistryAdmin:   c.Registry.Admin,
		LeaderWait:      c.Admin.LeaderWait,
		ForwardTimeout:  c.Admin.ForwardTimeout,
		RequestTimeout:  c.Admin.RequestTimeout,
		Limits:          c.Admin.Limits,
		Apply:           n.metrics.Apply,
		Rejected:        n.metrics.Rejected,
		Forwarded:       n.metrics.Forwarded,
		AckWait:         c.Group.AckWait, // read-your-writes (writes/ack.go)
		Now:             n.Now,
		Logger:          n.log,
	})
}

// Submit sends an encoded raftfsm command for the zone origin to the
// group: applied here when this node leads, else forwarded once to the
// leader. It returns after the command is committed and applied on the
// leader, or a typed error (admin.ErrorOf gives the codes). ctx bounds it.
func (n *Node) Submit(ctx context.Context, origin string, cmd []byte) (*admin.ChangeResult, error) {
	return n.writes.Submit(ctx, origin, cmd)
}

// SubmitRemote sends an encoded raftfsm command for a zone another group
// holds to a member of that group (found in the DHT), trying each member
// until one accepts or refuses it for good. It returns ErrNotHosted
// (wrapped) when the overlay is off or no group holds the zone.
func (n *Node) SubmitRemote(ctx context.Context, origin string, cmd []byte) (*admin.ChangeResult, error) {
	return n.writes.SubmitRemote(ctx, origin, cmd)
}

// ProposeRegistry proposes a registry command through the registry
// group (writes.Path.ProposeRegistry): on a registry member only, else
// api.ErrNotRegistry.
func (n *Node) ProposeRegistry(ctx context.Context, cmd []byte) error {
	return n.writes.ProposeRegistry(ctx, cmd)
}

// Change implements admin.Node (writes.Path.Change).
func (a adminNode) Change(ctx context.Context, origin string, cmd raftfsm.Encoded, forwarded bool) (*admin.ChangeResult, error) {
	return a.n.writes.Change(ctx, origin, cmd, forwarded)
}

// ProposeRegistry implements admin.Node (writes.Path.ProposeRegistryAdmin).
func (a adminNode) ProposeRegistry(ctx context.Context, cmd []byte, forwarded bool) (uint64, error) {
	return a.n.writes.ProposeRegistryAdmin(ctx, cmd, forwarded)
}

// Register implements admin.Node (writes.Path.Register).
func (a adminNode) Register(ctx context.Context, c raftfsm.Command) error {
	return a.n.writes.Register(ctx, c)
}

// Heartbeat implements admin.Heartbeater: a heartbeat a node of another
// group posted, or another member passed on (node/liveness.go).
func (a adminNode) Heartbeat(ctx context.Context, rec raftfsm.NodeRecord, forwarded bool) error {
	return a.n.noteHeartbeat(ctx, rec, forwarded)
}

// replica is the node as its write path sees it (writes.Replica).
type replica struct{ n *Node }

var _ writes.Replica = replica{}

func (r replica) Running() (*raftfsm.FSM, *raftfsm.Group, error) {
	fsm, grp, _, err := r.n.runningParts()
	return fsm, grp, err
}

func (r replica) Client() *admin.Client {
	r.n.mu.Lock()
	defer r.n.mu.Unlock()
	return r.n.client
}

func (r replica) Stored(origin string) (*zone.Zone, error) { return r.n.Stored(origin) }

func (r replica) Held(origin string) bool { return r.n.served.Get(origin) != nil }

func (r replica) Member(id string) (admin.MemberAddrs, bool) { return r.n.lookupMember(id) }

func (r replica) Overlay() writes.Overlay {
	if o := r.n.ov.Load(); o != nil {
		return overlayWrites{o.ID(), o.Router(), o.Client()}
	}
	return nil
}

func (r replica) Registry() (*raftfsm.RegistryState, error) { return r.n.Registry() }

func (r replica) Log() writes.Log {
	if r.n.fol == nil {
		return nil
	}
	return followedLog{r.n}
}

func (r replica) Heartbeat(ctx context.Context) error { return r.n.heartbeat(ctx) }

// overlayWrites is the overlay as the write path sees it.
type overlayWrites struct {
	id     peer.ID
	router *overlay.Router
	client *overlay.Client
}

func (o overlayWrites) ID() peer.ID { return o.id }

func (o overlayWrites) Providers(ctx context.Context, origin string) ([]peer.AddrInfo, error) {
	return o.router.Providers(ctx, origin)
}

func (o overlayWrites) SubmitChange(ctx context.Context, p peer.AddrInfo, req *overlay.SubmitChangeRequest) (*overlay.SubmitChangeResponse, error) {
	return o.client.SubmitChange(ctx, p, req)
}

// followedLog is the registry's log as the node follows it (writes.Log).
type followedLog struct{ n *Node }

func (l followedLog) Sync(ctx context.Context) error { return l.n.fol.Sync(ctx) }

func (l followedLog) Nudge() { l.n.fol.Nudge() }

func (l followedLog) Claim(origin string) (group string, owner *dns.DNSKEY, ok bool) {
	if g := l.n.logGroups.Load(); g != nil {
		group, ok = (*g)[origin]
	}
	if a := l.n.logAnchors.Load(); a != nil {
		if k := (*a)[origin]; k != nil {
			owner = k.DNSKEY
		}
	}
	return group, owner, ok
}
